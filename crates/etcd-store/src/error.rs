//! Errors of the `etcd-store` crate.

use crate::revision::Revision;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading or writing etcd's schema.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bbolt layer failed (the source says how).
    #[error("reading the bbolt file")]
    Bolt(#[from] bbolt::Error),
    /// An I/O error while writing.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A bucket etcd always has is missing.
    #[error("not an etcd db: it has no `{0}` bucket")]
    NotEtcd(&'static str),
    /// A key of the `key` bucket is not a 17- or 18-byte revision.
    #[error("bad revision key {} in the `key` bucket ({} bytes; expected 17, or 18 ending in 't')", hex(.0), .0.len())]
    BadRevisionKey(Vec<u8>),
    /// A value of the `key` bucket is not a KeyValue.
    #[error("undecodable KeyValue at revision {rev}: {what}")]
    BadKeyValue {
        /// Where.
        rev: Revision,
        /// What the decoder found.
        what: String,
    },
    /// A `meta` bucket value of the wrong shape.
    #[error("bad `meta` value for {key}: {what}")]
    BadMeta {
        /// The meta key.
        key: String,
        /// What is wrong.
        what: String,
    },
    /// The requested revision was compacted away.
    #[error("revision {requested} has been compacted (compact revision {compact})")]
    Compacted {
        /// Requested revision.
        requested: i64,
        /// The db's compact revision.
        compact: i64,
    },
    /// The requested revision is beyond the newest.
    #[error("revision {requested} is a future revision (current revision {current})")]
    FutureRevision {
        /// Requested revision.
        requested: i64,
        /// The db's current revision.
        current: i64,
    },
    /// The sha256 trailer of a snapshot file does not match its content.
    #[error("snapshot sha256 trailer {} does not match the content's sha256 {}", hex(.expected), hex(.actual))]
    SnapshotHash {
        /// The trailer.
        expected: [u8; 32],
        /// Computed over the file minus the trailer.
        actual: [u8; 32],
    },
    /// bbolt's check found problems (etcd's `snapshot status` refuses then).
    #[error("snapshot file integrity check failed. {0} errors found")]
    Integrity(usize),
    /// Invalid input to a writer or an option out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
