//! Reading and verifying backups in constant memory.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::{
    Manifest, Record, FORMAT_VERSION, MAGIC, MAX_FIELD, MAX_MANIFEST, TRAILER_LEN, TRAILER_MAGIC,
};
use crate::error::{Error, Result};

/// Hashes everything read through it.
struct Hashing<R: Read> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

fn damaged(what: impl Into<String>) -> Error {
    Error::Damaged(what.into())
}

/// An open backup: its manifest, then its records.
pub struct BackupReader<R: Read + Seek> {
    manifest: Manifest,
    version: u32,
    inner: R,
    head: Vec<u8>,
    records_len: u64,
    count: u64,
    digest: [u8; 32],
}

impl<R: Read + Seek> BackupReader<R> {
    /// Reads the header, manifest and trailer, and checks that they agree
    /// with the file length. Records are checked as they are read.
    pub fn open(mut r: R) -> Result<Self> {
        let file_len = r.seek(SeekFrom::End(0))?;
        r.seek(SeekFrom::Start(0))?;
        let mut head = [0u8; 16];
        let got = read_up_to(&mut r, &mut head)?;
        if got < 8 || head.get(..8) != Some(&MAGIC[..]) {
            return Err(Error::NotABackup);
        }
        if got < 16 {
            return Err(damaged(format!(
                "truncated: {file_len} bytes, shorter than the header"
            )));
        }
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if version > FORMAT_VERSION {
            return Err(Error::NewerFormat {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(damaged("format version 0"));
        }
        let mlen = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
        if mlen > MAX_MANIFEST || 16 + u64::from(mlen) + TRAILER_LEN as u64 > file_len {
            return Err(damaged(format!(
                "truncated or corrupt: manifest of {mlen} bytes does not fit in a file of {file_len} bytes"
            )));
        }
        let mut mbytes = Vec::new();
        (&mut r).take(u64::from(mlen)).read_to_end(&mut mbytes)?;
        let manifest: Manifest = serde_json::from_slice(&mbytes)
            .map_err(|e| damaged(format!("manifest is not valid JSON: {e}")))?;
        if manifest.format_version != version {
            return Err(damaged(format!(
                "manifest says format version {}, header says {version}",
                manifest.format_version
            )));
        }
        r.seek(SeekFrom::Start(file_len - TRAILER_LEN as u64))?;
        let mut t = [0u8; TRAILER_LEN];
        r.read_exact(&mut t)?;
        if t.get(..8) != Some(&TRAILER_MAGIC[..]) {
            return Err(damaged(
                "no trailer at the end of the file: it is truncated or was not written to the end",
            ));
        }
        let word = |i: usize| -> u64 {
            let mut a = [0u8; 8];
            a.copy_from_slice(t.get(i..i + 8).unwrap_or(&[0; 8]));
            u64::from_le_bytes(a)
        };
        let (count, records_len) = (word(8), word(16));
        let mut digest = [0u8; 32];
        digest.copy_from_slice(t.get(24..56).unwrap_or(&[0; 32]));
        let expect_len = 16 + u64::from(mlen) + records_len + TRAILER_LEN as u64;
        if expect_len != file_len {
            return Err(damaged(format!(
                "trailer says {records_len} bytes of records, the file holds {}",
                file_len as i128 - 16 - i128::from(mlen) - TRAILER_LEN as i128
            )));
        }
        r.seek(SeekFrom::Start(16 + u64::from(mlen)))?;
        let mut all_head = head.to_vec();
        all_head.extend_from_slice(&mbytes);
        Ok(BackupReader {
            manifest,
            version,
            inner: r,
            head: all_head,
            records_len,
            count,
            digest,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The format version the file is written in (1 to [`FORMAT_VERSION`]).
    pub fn format_version(&self) -> u32 {
        self.version
    }

    /// The record count the trailer announces.
    pub fn record_count(&self) -> u64 {
        self.count
    }

    /// The records, in key order. The last item is an error if the
    /// checksum, the count or the order is wrong.
    pub fn records(self) -> Result<Records<R>> {
        let mut hash = Sha256::new();
        hash.update(&self.head);
        let hashing = Hashing {
            inner: self.inner.take(self.records_len),
            hash,
        };
        let dec = zstd::Decoder::new(hashing).map_err(|e| damaged(format!("records: {e}")))?;
        Ok(Records {
            dec: Some(BufReader::new(dec)),
            expected: self.count,
            digest: self.digest,
            seen: 0,
            last: None,
            done: false,
        })
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default())? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

type Dec<R> = BufReader<zstd::Decoder<'static, BufReader<Hashing<io::Take<R>>>>>;

/// Iterator over the records of a backup.
pub struct Records<R: Read + Seek> {
    dec: Option<Dec<R>>,
    expected: u64,
    digest: [u8; 32],
    seen: u64,
    last: Option<Vec<u8>>,
    done: bool,
}

fn varint(r: &mut impl BufRead) -> Result<Option<u64>> {
    let mut v = 0u64;
    for i in 0..10 {
        let mut b = [0u8; 1];
        if r.read(&mut b)? == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(damaged("record cut short inside a number"))
            };
        }
        v |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] < 0x80 {
            return Ok(Some(v));
        }
    }
    Err(damaged("overlong number in a record"))
}

fn field(r: &mut impl BufRead, what: &str) -> Result<Vec<u8>> {
    let len = varint(r)?.ok_or_else(|| damaged(format!("record cut short before its {what}")))?;
    if len > MAX_FIELD {
        return Err(damaged(format!("{what} of {len} bytes")));
    }
    let mut v = Vec::new();
    r.take(len).read_to_end(&mut v)?;
    if v.len() as u64 != len {
        return Err(damaged(format!("record cut short inside its {what}")));
    }
    Ok(v)
}

impl<R: Read + Seek> Records<R> {
    fn next_record(&mut self) -> Result<Option<Record>> {
        let Some(dec) = self.dec.as_mut() else {
            return Ok(None);
        };
        let klen = match varint(dec) {
            Ok(Some(l)) => l,
            Ok(None) => return self.end().map(|_| None),
            Err(e) => return Err(e),
        };
        if klen > MAX_FIELD {
            return Err(damaged(format!("key of {klen} bytes")));
        }
        let mut key = Vec::new();
        dec.take(klen).read_to_end(&mut key)?;
        if key.len() as u64 != klen {
            return Err(damaged("record cut short inside its key"));
        }
        let value = field(dec, "value")?;
        let mut num =
            |what: &str| -> Result<i64> {
                Ok(varint(dec)?
                    .ok_or_else(|| damaged(format!("record cut short before its {what}")))?
                    as i64)
            };
        let (create_revision, mod_revision, version) = (
            num("create revision")?,
            num("mod revision")?,
            num("version")?,
        );
        if self
            .last
            .as_ref()
            .is_some_and(|l| l.as_slice() >= key.as_slice())
        {
            return Err(damaged(format!(
                "records out of key order at record {}",
                self.seen + 1
            )));
        }
        self.seen += 1;
        self.last = Some(key.clone());
        Ok(Some(Record {
            key,
            value,
            create_revision,
            mod_revision,
            version,
        }))
    }

    /// End of the record stream: everything hashed, counted and compared.
    fn end(&mut self) -> Result<()> {
        let Some(dec) = self.dec.take() else {
            return Ok(());
        };
        let zstd_dec = dec.into_inner();
        let mut rest = zstd_dec.finish();
        let mut tail = Vec::new();
        rest.read_to_end(&mut tail)?;
        let hashing = rest.into_inner();
        let actual: [u8; 32] = hashing.hash.finalize().into();
        if actual != self.digest {
            return Err(damaged(
                "checksum mismatch: the file was changed or corrupted after it was written",
            ));
        }
        if !tail.is_empty() {
            return Err(damaged(format!(
                "{} unexpected bytes after the records",
                tail.len()
            )));
        }
        if self.seen != self.expected {
            return Err(damaged(format!(
                "trailer announces {} records, {} found",
                self.expected, self.seen
            )));
        }
        Ok(())
    }
}

impl<R: Read + Seek> Iterator for Records<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                // A damaged stream often fails to decompress before the
                // checksum is reached: say "damaged" either way.
                Some(Err(match e {
                    Error::Io(io) => damaged(format!("records do not decompress: {io}")),
                    other => other,
                }))
            }
        }
    }
}

/// What [`verify`] found in a sound backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The manifest.
    pub manifest: Manifest,
    /// Records read.
    pub records: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
    /// `"bsnap"` or `"jsonl"`.
    pub format: &'static str,
    /// Whether every byte was checked against a checksum (`.bsnap`); a
    /// jsonl file has none: its lines, key order and counts are checked.
    pub checksummed: bool,
}

/// Whether a backup's bytes still match the SHA-256 its trailer carries:
/// `Some(false)` when they were changed after it was written, `None` when
/// there is no trailer to check against (not a backup, or cut short).
/// Every format version ends with this trailer (magic, count, length,
/// SHA-256 of everything before it).
pub fn checksum_matches<R: Read + Seek>(mut r: R) -> Result<Option<bool>> {
    let len = r.seek(SeekFrom::End(0))?;
    let body = match len.checked_sub(TRAILER_LEN as u64) {
        Some(b) if b >= 16 => b,
        _ => return Ok(None),
    };
    r.seek(SeekFrom::Start(body))?;
    let mut t = [0u8; TRAILER_LEN];
    r.read_exact(&mut t)?;
    if t.get(..8) != Some(&TRAILER_MAGIC[..]) {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(0))?;
    let mut hash = Sha256::new();
    let mut rest = (&mut r).take(body);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = rest.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(buf.get(..n).unwrap_or_default());
    }
    let digest: [u8; 32] = hash.finalize().into();
    Ok(Some(t.get(24..56) == Some(&digest[..])))
}

/// A reading error, restated when the file's checksum shows its bytes
/// changed after it was written: a flipped byte shows first as whatever it
/// broke (a version, a length, the manifest's JSON, the record order), and
/// the cause is what a user needs to hear. Device errors pass unchanged.
pub fn explain_error<R: Read + Seek>(r: R, err: Error) -> Error {
    let symptom = match &err {
        Error::Io(e) if e.kind() != io::ErrorKind::UnexpectedEof => return err,
        Error::Io(_) | Error::NotABackup | Error::NewerFormat { .. } | Error::Damaged(_) => {
            err.to_string()
        }
        _ => return err,
    };
    if symptom.contains("checksum mismatch") {
        return err;
    }
    match checksum_matches(r) {
        Ok(Some(false)) => damaged(format!(
            "checksum mismatch: the file was changed or corrupted after it was written (first symptom: {symptom})"
        )),
        _ => err,
    }
}

/// Reads a whole backup and checks everything: magic, version, trailer,
/// checksum, record order and count, and the manifest's counts. A jsonl
/// backup is checked line by line: JSON, base64, key order, and the
/// manifest's counts (it has no checksum). A damaged
/// file is reported as a checksum mismatch where that is the cause.
pub fn verify<R: Read + Seek>(mut r: R) -> Result<VerifyReport> {
    verify_parts(&mut r).map_err(|e| explain_error(&mut r, e))
}

fn verify_parts<R: Read + Seek>(r: R) -> Result<VerifyReport> {
    let b = super::BackupFile::open(r)?;
    let manifest = b.manifest().clone();
    let (format, checksummed) = (b.format(), b.checksummed());
    let (mut records, mut bytes) = (0u64, 0u64);
    for rec in b.records()? {
        let rec = rec?;
        records += 1;
        bytes += (rec.key.len() + rec.value.len()) as u64;
    }
    if manifest.records != records {
        return Err(damaged(format!(
            "manifest announces {} records, {records} found",
            manifest.records
        )));
    }
    if manifest.bytes != bytes {
        return Err(damaged(format!(
            "manifest announces {} bytes of keys and values, {bytes} found",
            manifest.bytes
        )));
    }
    Ok(VerifyReport {
        manifest,
        records,
        bytes,
        format,
        checksummed,
    })
}
