//! Rewriting a whole file densely. Go: `bbolt compact`.

use std::io::{Seek, Write};
use std::path::Path;

use crate::error::Result;
use crate::read::db::Db;
use crate::read::walk::WalkItem;
use crate::write::builder::{BuildSummary, Builder, BuilderOptions};
use crate::write::file::AtomicFile;

/// Streams every bucket, pair and sequence of `src` into `builder`.
pub fn compact_into<D: AsRef<[u8]>, W: Write + Seek>(
    src: &Db<D>,
    mut builder: Builder<W>,
) -> Result<(W, BuildSummary)> {
    builder.set_sequence(src.meta().root_sequence)?;
    src.walk(|item| -> Result<()> {
        match item {
            WalkItem::Bucket { path, sequence, .. } => {
                while builder.depth() + 1 > path.len() {
                    builder.end_bucket()?;
                }
                builder.begin_bucket(path.last().copied().unwrap_or_default())?;
                builder.set_sequence(sequence)?;
            }
            WalkItem::Pair { path, key, value } => {
                while builder.depth() > path.len() {
                    builder.end_bucket()?;
                }
                builder.put(key, value)?;
            }
        }
        Ok(())
    })?;
    builder.finish()
}

/// Compacts `src` into a new file at `dst` (refused if it exists, unless
/// `overwrite`): written to a temporary file, synced, then renamed.
pub fn compact<D: AsRef<[u8]>>(
    src: &Db<D>,
    dst: &Path,
    opts: BuilderOptions,
    overwrite: bool,
) -> Result<BuildSummary> {
    let file = AtomicFile::create(dst, overwrite)?;
    let (file, summary) = compact_into(src, Builder::new(file, opts)?)?;
    file.commit()?;
    Ok(summary)
}
