//! Snapshot files: a bbolt file followed by the SHA-256 of its bytes.
//!
//! `etcdctl snapshot save` appends the 32-byte digest the server sends
//! after the db; the file length is then 32 more than a multiple of 512
//! (db files are whole pages). A db copied from a data dir has no trailer.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Length of the trailer.
pub const TRAILER_LEN: usize = 32;

/// The trailer of a snapshot file, if its length says it has one.
pub fn trailer(file: &[u8]) -> Option<[u8; 32]> {
    if file.len() % 512 != TRAILER_LEN {
        return None;
    }
    file.get(file.len() - TRAILER_LEN..)?.try_into().ok()
}

/// Verifies a snapshot's trailer: the SHA-256 of everything before it.
pub fn verify(file: &[u8]) -> Result<Option<[u8; 32]>> {
    let Some(expected) = trailer(file) else {
        return Ok(None);
    };
    let body = file.get(..file.len() - TRAILER_LEN).unwrap_or_default();
    let actual: [u8; 32] = Sha256::digest(body).into();
    if actual != expected {
        return Err(Error::SnapshotHash { expected, actual });
    }
    Ok(Some(expected))
}

/// The db part of a file: the whole file, or all but a snapshot trailer.
#[derive(Debug)]
pub struct DbBytes<D> {
    inner: D,
    len: usize,
}

impl<D: AsRef<[u8]>> DbBytes<D> {
    /// Strips a trailer when the length says there is one.
    pub fn new(inner: D) -> Self {
        let all = inner.as_ref().len();
        let len = if trailer(inner.as_ref()).is_some() {
            all - TRAILER_LEN
        } else {
            all
        };
        DbBytes { inner, len }
    }

    /// Whether a trailer was stripped.
    pub fn has_trailer(&self) -> bool {
        self.len != self.inner.as_ref().len()
    }

    /// The whole file, trailer included.
    pub fn file(&self) -> &[u8] {
        self.inner.as_ref()
    }
}

impl<D: AsRef<[u8]>> AsRef<[u8]> for DbBytes<D> {
    fn as_ref(&self) -> &[u8] {
        self.inner.as_ref().get(..self.len).unwrap_or_default()
    }
}

/// Writes `db` (a whole bbolt file) as a snapshot file at `path`: the
/// bytes, then their SHA-256, as `etcdctl snapshot save` writes it
/// (temporary file, sync, rename; an existing file is refused unless
/// `overwrite`). Returns the file length.
pub fn write_snapshot_file(db: &[u8], path: &std::path::Path, overwrite: bool) -> Result<u64> {
    use std::io::Write;
    let mut f = bbolt::write::AtomicFile::create(path, overwrite)?;
    f.write_all(db)?;
    f.write_all(&Sha256::digest(db))?;
    f.commit()?;
    Ok(db.len() as u64 + TRAILER_LEN as u64)
}
