//! Milvus metadata in etcd, read offline: the rescue of a Milvus whose etcd died.
//!
//! Milvus keeps all of its metadata in etcd, under `<rootPath>/meta/` and
//! `<rootPath>/kv/` (rootPath is `by-dev` by default). This crate works on
//! the live keys that `etcd-store` reads from a dead etcd's db file:
//!
//! - [`roots`] finds the Milvus instances (any rootPath, several per etcd)
//!   and names the area of each key;
//! - [`select`] chooses what the export keeps: every live key except each
//!   root's `meta/session/` liveness records and keys attached to a lease,
//!   counting what it leaves out;
//! - [`backup`] writes, reads and verifies the `.bsnap` backup file
//!   (streamed, zstd, SHA-256, JSON manifest);
//! - [`check`] checks the cross-references Milvus relies on (segments,
//!   indexes, partitions, channels of collections that exist, allocators
//!   ahead of stored IDs);
//! - [`rename`] restores one root under another (`OLD=NEW`), after
//!   checking that no value points at a key under the old root;
//! - [`catalog`] decodes databases, collections, fields, partitions,
//!   aliases, segments, indexes, users and sessions for `inspect`.
//!
//! ```
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/milvus-2.3.5/small.db");
//! let db = etcd_store::EtcdDb::open(std::fs::read(path)?)?;
//! let live = db.live(0)?;
//! let (kept, report) = milvus_meta::select::select(&live, &Default::default())?;
//! assert_eq!(report.roots_found, vec!["by-dev".to_string()]);
//! assert!(kept.iter().all(|&i| !live.key(i).starts_with(b"by-dev/meta/session/")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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

pub mod backup;
pub mod catalog;
pub mod check;
mod error;
pub mod online;
pub mod rename;
pub mod roots;
pub mod select;

pub use error::{Error, Result};
