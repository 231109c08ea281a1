//! Depth-first traversal of every bucket and pair, in key order.

use crate::error::{Corruption, Error};
use crate::read::bitset::PageSet;
use crate::read::bucket::{Bucket, Cursor};
use crate::read::db::Db;
use crate::read::stats::MAX_BUCKET_NESTING;

/// What [`Db::walk`] reports, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkItem<'a, 'p> {
    /// A bucket, before its contents. `path` ends with the bucket's name.
    Bucket {
        /// Names from the top-level bucket down to this one.
        path: &'p [&'a [u8]],
        /// The bucket's sequence.
        sequence: u64,
        /// Whether it is stored inline.
        inline: bool,
    },
    /// A key/value pair of the bucket at `path`.
    Pair {
        /// Names from the top-level bucket down to the pair's bucket.
        path: &'p [&'a [u8]],
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
}

impl<D: AsRef<[u8]>> Db<D> {
    /// Visits every bucket and pair depth-first in key order: a bucket's
    /// item comes first, then its entries, a sub-bucket's whole content in
    /// place of its key. Stops at the first error (the visitor's or the
    /// file's). Page cycles and shared subtrees are detected.
    pub fn walk<E: From<Error>>(
        &self,
        mut visit: impl FnMut(WalkItem<'_, '_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let pages = self.pages();
        let mut roots = PageSet::new(pages.page_limit());
        roots.insert(self.meta().root);
        // A cursor per open bucket, and whether it has started.
        let mut stack: Vec<(Cursor<'_>, bool)> = vec![(self.root().cursor(), false)];
        let mut path: Vec<&[u8]> = Vec::new();
        while let Some((top, started)) = stack.last_mut() {
            let entry = if std::mem::replace(started, true) {
                top.next()?
            } else {
                top.first()?
            };
            let Some(entry) = entry else {
                stack.pop();
                path.pop();
                continue;
            };
            if !entry.is_bucket() {
                visit(WalkItem::Pair {
                    path: &path,
                    key: entry.key,
                    value: entry.value,
                })?;
                continue;
            }
            let at = top.leaf_page();
            let child = Bucket::from_value(pages, entry.value, at)?;
            if !child.is_inline() && roots.insert(child.root_page()) {
                return Err(Error::from(Corruption::page(
                    child.root_page(),
                    "bucket root page used by two buckets (a cycle?)",
                ))
                .into());
            }
            if stack.len() > MAX_BUCKET_NESTING {
                return Err(Error::from(Corruption::page(
                    at,
                    format!("buckets nested deeper than {MAX_BUCKET_NESTING} levels"),
                ))
                .into());
            }
            path.push(entry.key);
            visit(WalkItem::Bucket {
                path: &path,
                sequence: child.sequence(),
                inline: child.is_inline(),
            })?;
            stack.push((child.cursor(), false));
        }
        Ok(())
    }
}
