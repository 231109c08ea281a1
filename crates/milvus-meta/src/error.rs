//! Errors of the `milvus-meta` crate.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with Milvus metadata and backups.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The etcd layer failed (the source says how).
    #[error("reading etcd's schema")]
    Etcd(#[from] etcd_store::Error),
    /// I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a boltsnap backup.
    #[error("not a boltsnap backup (no BSNAP magic at the start)")]
    NotABackup,
    /// A backup written by a newer boltsnap.
    #[error("backup format version {found} is newer than this boltsnap reads (up to {supported}); use a newer boltsnap")]
    NewerFormat {
        /// The file's version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// The backup is damaged or cut short.
    #[error("backup damaged: {0}")]
    Damaged(String),
    /// A requested root has no Milvus keys.
    #[error("root {0:?} not found: no Milvus keys under {0}/meta/ or {0}/kv/")]
    RootNotFound(String),
    /// No endpoint answered.
    #[error("etcd unreachable: {0}")]
    Unreachable(String),
    /// Authentication failed or was required.
    #[error("etcd authentication failed: {0}")]
    Unauthenticated(String),
    /// etcd refused a request.
    #[error("etcd refused the request: {0}")]
    Rejected(String),
    /// The target already holds keys where the backup goes.
    #[error("{endpoint} already holds {keys} keys under the backup's roots; refusing to overwrite without --force")]
    TargetNotEmpty {
        /// The endpoint.
        endpoint: String,
        /// Keys found.
        keys: u64,
    },
    /// `--resume` found keys under the backup's roots that are not the
    /// backup's (another value, a lease, or a key the backup lacks).
    #[error("{endpoint} holds {keys} keys under the backup's roots that are not the backup's (for example {example:?}); refusing to resume over them without --force")]
    TargetForeign {
        /// The endpoint.
        endpoint: String,
        /// Keys that are not the backup's.
        keys: u64,
        /// One of them.
        example: String,
    },
    /// Stopped on request after the transactions in flight.
    #[error("interrupted after {written} of {total} keys were in the target")]
    Interrupted {
        /// Keys in the target (written or already there).
        written: u64,
        /// Keys in the backup.
        total: u64,
    },
    /// A write failed midway.
    #[error("restore stopped after writing {written} of {total} keys: {cause}; the target now holds a partial restore")]
    Partial {
        /// Keys written before the failure.
        written: u64,
        /// Keys in the backup.
        total: u64,
        /// The failure.
        cause: String,
    },
    /// Bad argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
