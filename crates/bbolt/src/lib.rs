//! Read, check and write Go [bbolt] files in pure, safe Rust.
//!
//! bbolt (the B+tree store under etcd, formerly boltdb) keeps everything in
//! one file of fixed-size pages. This crate reads every file Go's bbolt
//! writes, and is built for the files users actually bring: the ones a
//! crash, a power loss or bit rot left behind.
//!
//! # Overview
//!
//! - [`Db`] opens a file from any `AsRef<[u8]>` (a memory map, a `Vec<u8>`),
//!   validates both meta pages and picks the newest valid one, falling back
//!   to the other when it is damaged.
//! - [`Bucket`] and [`Cursor`] give Go's API: nested buckets by name,
//!   `get`, `first`/`last`/`seek`/`next`/`prev`. Keys and values are slices
//!   of the file: nothing is copied.
//! - [`Db::walk`] visits every bucket and pair depth-first in key order.
//! - [`Db::check`] verifies what Go's `Tx.Check` verifies and returns the
//!   findings; [`Bucket::stats`] and [`Db::stats`] compute Go's numbers.
//! - [`Db::freelist`] reads both freelist encodings, or rebuilds the list
//!   when the file carries the "no freelist" sentinel (as etcd's do).
//!
//! # Example
//!
//! ```
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/bolt/nested.db");
//! let db = bbolt::Db::open(std::fs::read(path)?)?;
//! let mut names = Vec::new();
//! let root = db.root();
//! let mut c = root.cursor();
//! let mut e = c.first()?;
//! while let Some(entry) = e {
//!     names.push(String::from_utf8_lossy(entry.key).into_owned());
//!     e = c.next()?;
//! }
//! assert!(!names.is_empty());
//! assert!(db.check().is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Format support
//!
//! Format version 2 (every bbolt and boltdb release), any page size from
//! 512 bytes to 256 MiB as found in the meta (Go's discovery, including the
//! probe of meta page 1 when meta page 0 is damaged), little- and
//! big-endian files, inline and non-inline buckets nested to any depth,
//! overflow pages, both freelist count encodings and the NoFreelistSync
//! sentinel.
//!
//! # Trust model
//!
//! Every number read from the file is untrusted. On any input, valid or
//! not, this crate does not panic, does not use `unsafe`, does not hang
//! and does not allocate more than a small multiple of the file size:
//! page ids are checked against the high-water mark and the file length,
//! element arrays and every key and value against their node, trees are
//! depth-limited, and full walks detect pages reached twice. A damaged
//! file gives an [`Error::Corrupt`] naming the page and what is wrong.
//! bbolt has no page checksums, so a value whose bytes were silently
//! changed cannot be detected by any reader.
//!
//! [bbolt]: https://github.com/etcd-io/bbolt
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

mod bytes;
mod error;
pub mod format;
pub mod read;
pub mod write;

pub use bytes::ByteOrder;
pub use error::{Corruption, Error, MetaError, Result};
pub use format::{Meta, PageHeader, PageId, PageType, TxId};
pub use read::bucket::{Bucket, Cursor, Entry};
pub use read::check::{CheckReport, Finding};
pub use read::db::{Db, MetaChoice, OpenOptions};
pub use read::freelist::{Freelist, FreelistSource};
pub use read::page::Page;
pub use read::salvage::{
    revert_meta, LostRange, ScannedLeaf, TolerantWalk, WalkedElement, WalkedLeaf,
};
pub use read::stats::BucketStats;
pub use read::walk::WalkItem;
