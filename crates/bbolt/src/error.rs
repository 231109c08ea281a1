//! Errors of the `bbolt` crate.

use std::fmt;

use crate::PageId;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing a bbolt file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error from the writer (the reader does no I/O of its own).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file contradicts the bbolt format at a known place.
    #[error("{0}")]
    Corrupt(Box<Corruption>),
    /// Neither meta page is valid: this is not a usable bbolt file.
    #[error("not a bbolt database: meta page 0: {meta0}; meta page 1: {meta1}")]
    InvalidDatabase {
        /// Why meta page 0 was rejected.
        meta0: MetaError,
        /// Why meta page 1 was rejected.
        meta1: MetaError,
    },
    /// The file is shorter than two pages of its own page size.
    #[error(
        "file too small: {len} bytes, a bbolt file needs at least 2 pages of {page_size} bytes"
    )]
    TooSmall {
        /// File length in bytes.
        len: u64,
        /// The page size found in the meta page.
        page_size: u32,
    },
    /// A valid bbolt file using something this crate does not handle.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Go: `ErrBucketNotFound`.
    #[error("bucket not found: {0}")]
    BucketNotFound(String),
    /// The key exists but holds a bucket, or is a value where a bucket was expected.
    #[error("incompatible value: {0}")]
    IncompatibleValue(String),
    /// Go: `ErrKeyRequired`.
    #[error("key required: keys must not be empty")]
    KeyRequired,
    /// Go: `ErrKeyTooLarge`.
    #[error("key too large: {len} bytes, the limit is {max}")]
    KeyTooLarge {
        /// Length of the offending key.
        len: usize,
        /// The limit (32768).
        max: usize,
    },
    /// Go: `ErrValueTooLarge`.
    #[error("value too large: {len} bytes, the limit is {max}")]
    ValueTooLarge {
        /// Length of the offending value.
        len: usize,
        /// The limit (2^31 - 2).
        max: usize,
    },
    /// Writer: keys must arrive in strictly increasing order.
    #[error("key out of order: {got:?} after {previous:?}")]
    OutOfOrder {
        /// The previous key (lossy text for display).
        previous: Vec<u8>,
        /// The key that arrived out of order.
        got: Vec<u8>,
    },
    /// Writer: the same key twice in one bucket.
    #[error("duplicate key {0:?}")]
    DuplicateKey(Vec<u8>),
    /// An option or argument out of its range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// The corruption details, when this error is one.
    pub fn corruption(&self) -> Option<&Corruption> {
        match self {
            Error::Corrupt(c) => Some(c),
            _ => None,
        }
    }
}

impl From<Corruption> for Error {
    fn from(c: Corruption) -> Self {
        Error::Corrupt(Box::new(c))
    }
}

/// Where a file contradicts the format, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The page (node start) where the problem is, when known.
    pub page: Option<PageId>,
    /// Byte offset in the file, when known.
    pub offset: Option<u64>,
    /// What is wrong, in words.
    pub what: String,
}

impl Corruption {
    pub(crate) fn page(page: PageId, what: impl Into<String>) -> Self {
        Corruption {
            page: Some(page),
            offset: None,
            what: what.into(),
        }
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.page, self.offset) {
            (Some(p), Some(o)) => write!(f, "corrupt page {p} (file offset {o}): {}", self.what),
            (Some(p), None) => write!(f, "corrupt page {p}: {}", self.what),
            (None, Some(o)) => write!(f, "corrupt file at offset {o}: {}", self.what),
            (None, None) => write!(f, "corrupt file: {}", self.what),
        }
    }
}

impl std::error::Error for Corruption {}

/// Why a meta page was rejected (Go checks these in this order).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// The page lies past the end of the file.
    #[error("missing (past the end of the file)")]
    Missing,
    /// Go: "invalid database".
    #[error("bad magic {0:#010x}")]
    BadMagic(u32),
    /// Go: "version mismatch".
    #[error("version {0}, expected 2")]
    BadVersion(u32),
    /// Go: "checksum error".
    #[error("checksum {stored:#018x}, computed {computed:#018x}")]
    BadChecksum {
        /// The checksum stored in the page.
        stored: u64,
        /// FNV-1a of the meta bytes as found.
        computed: u64,
    },
}

/// Turns `Option` into a corruption error at a page; keeps each check one line.
pub(crate) trait OrCorrupt<T> {
    fn or_corrupt(self, page: PageId, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> OrCorrupt<T> for Option<T> {
    #[inline]
    fn or_corrupt(self, page: PageId, what: impl FnOnce() -> String) -> Result<T> {
        match self {
            Some(v) => Ok(v),
            None => Err(Corruption::page(page, what()).into()),
        }
    }
}
