//! The read half: open, buckets, cursors, freelist, check, stats, walk.

pub(crate) mod bitset;
pub mod bucket;
pub mod check;
pub mod db;
pub mod freelist;
pub(crate) mod node;
pub mod page;
pub mod salvage;
pub mod stats;
pub mod walk;
