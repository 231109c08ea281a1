//! etcd's storage schema on a bbolt file, read offline.
//!
//! etcd keeps its MVCC history in the `key` bucket of its bbolt file
//! (`member/snap/db`, or a `snapshot save` file with a SHA-256 trailer):
//! every change is an entry keyed by its revision, holding a protobuf
//! `KeyValue`. This crate reads that schema without a running etcd:
//!
//! - [`EtcdDb`] opens a data-dir db or a snapshot file (trailer verified);
//! - [`EtcdDb::revisions`] iterates the log; [`RevisionKey`] and
//!   [`KeyValueRef`] decode it without copying;
//! - [`EtcdDb::live`] gives the live keys at a revision (what
//!   `etcdctl get --prefix ""` returns), [`EtcdDb::history`] every revision
//!   of one key;
//! - [`EtcdDb::hash_kv`] and [`EtcdDb::status`] compute the numbers of
//!   `etcdctl endpoint hashkv` and `etcdutl snapshot status`;
//! - [`EtcdMeta`] reads the `meta` bucket.
//!
//! ```
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/milvus-2.3.5/small.db");
//! let db = etcd_store::EtcdDb::open(std::fs::read(path)?)?;
//! let live = db.live(0)?;
//! assert!(live.keys.iter().any(|k| k.kv.key.starts_with(b"by-dev/meta/")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The byte layouts are in `docs/etcd-schema.md` of the repository. Every
//! value read from the file is untrusted: a damaged entry gives an error
//! naming its revision, never a panic.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod cluster;
pub mod datadir;
mod error;
pub mod hash;
pub mod kv;
pub mod live;
pub mod merge;
pub mod meta;
pub mod replay;
pub mod revision;
pub mod salvage;
pub mod snapshot;
pub mod store;
pub mod wal;
pub mod writer;

pub use cluster::{AlarmMember, Cluster, Lease, User};
pub use error::{Error, Result};
pub use hash::{HashKv, HashRules, Status};
pub use kv::{KeyValue, KeyValueRef};
pub use live::{LiveKey, LiveView};
pub use meta::{buckets, EtcdMeta};
pub use revision::{Revision, RevisionKey};
pub use store::{EtcdDb, EtcdOpenOptions, HistoryEntry, RevEntry, Revisions};
pub use writer::{write_db, write_db_file, DbSummary, DbWriterOptions};
