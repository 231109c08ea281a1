//! The write half: a bottom-up [`Builder`] that streams sorted buckets and
//! pairs into a dense bbolt file Go opens, checks and keeps writing;
//! [`AtomicFile`] for crash-safe output; [`compact`] to rewrite a file.

mod builder;
mod compact;
mod file;

pub use builder::{BuildSummary, Builder, BuilderOptions, FreelistMode};
pub use compact::{compact, compact_into};
pub use file::AtomicFile;
