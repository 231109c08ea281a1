//! A backup in either form, told apart by its first bytes.

use std::io::{BufReader, Read, Seek, SeekFrom};

use super::jsonl::{JsonlReader, JsonlRecords, JSONL_PREFIX};
use super::read::{BackupReader, Records};
use super::{Manifest, Record};
use crate::error::Result;

/// An open backup: a `.bsnap` file or a jsonl file.
pub enum BackupFile<R: Read + Seek> {
    /// The checksummed binary form.
    Bsnap(BackupReader<R>),
    /// JSON lines (no checksum).
    Jsonl(JsonlReader<BufReader<R>>),
}

impl<R: Read + Seek> BackupFile<R> {
    /// Opens a backup in either form: a jsonl file by its first bytes
    /// (`{"manifest":`), anything else as a `.bsnap` file
    /// ([`Error::NotABackup`] when it has no BSNAP magic either).
    pub fn open(mut r: R) -> Result<Self> {
        r.seek(SeekFrom::Start(0))?;
        let mut head = [0u8; 12];
        let mut n = 0;
        while n < head.len() {
            match r.read(head.get_mut(n..).unwrap_or_default())? {
                0 => break,
                k => n += k,
            }
        }
        r.seek(SeekFrom::Start(0))?;
        if head.get(..n).is_some_and(|h| h.starts_with(JSONL_PREFIX)) {
            return Ok(BackupFile::Jsonl(JsonlReader::open(BufReader::new(r))?));
        }
        Ok(BackupFile::Bsnap(BackupReader::open(r)?))
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        match self {
            BackupFile::Bsnap(b) => b.manifest(),
            BackupFile::Jsonl(j) => j.manifest(),
        }
    }

    /// The number of records announced (trailer for `.bsnap`, manifest for
    /// jsonl).
    pub fn record_count(&self) -> u64 {
        match self {
            BackupFile::Bsnap(b) => b.record_count(),
            BackupFile::Jsonl(j) => j.record_count(),
        }
    }

    /// Whether the file carries a checksum over every byte (only `.bsnap`
    /// does).
    pub fn checksummed(&self) -> bool {
        matches!(self, BackupFile::Bsnap(_))
    }

    /// The form's name: `"bsnap"` or `"jsonl"`.
    pub fn format(&self) -> &'static str {
        match self {
            BackupFile::Bsnap(_) => "bsnap",
            BackupFile::Jsonl(_) => "jsonl",
        }
    }

    /// The records, in key order; the last item is an error when the file
    /// fails its checks.
    pub fn records(self) -> Result<AnyRecords<R>> {
        Ok(match self {
            BackupFile::Bsnap(b) => AnyRecords::Bsnap(b.records()?),
            BackupFile::Jsonl(j) => AnyRecords::Jsonl(j.records()),
        })
    }
}

/// The records of a [`BackupFile`].
pub enum AnyRecords<R: Read + Seek> {
    /// From a `.bsnap` file.
    Bsnap(Records<R>),
    /// From a jsonl file.
    Jsonl(JsonlRecords<BufReader<R>>),
}

impl<R: Read + Seek> Iterator for AnyRecords<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        match self {
            AnyRecords::Bsnap(r) => r.next(),
            AnyRecords::Jsonl(r) => r.next(),
        }
    }
}
