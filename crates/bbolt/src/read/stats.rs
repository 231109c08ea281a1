//! Page and key statistics, computed as Go's `Bucket.Stats` computes them.

use crate::error::{Corruption, Result};
use crate::read::bitset::PageSet;
use crate::read::bucket::{Bucket, MAX_TREE_DEPTH};
use crate::read::db::Db;
use crate::read::node::{Node, NodeKind, Pages};

/// Deepest bucket nesting followed by recursive computations.
pub const MAX_BUCKET_NESTING: usize = 1 << 16;

/// Go: `BucketStats`. Field meanings are Go's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketStats {
    /// Logical branch pages.
    pub branch_page_n: u64,
    /// Physical branch overflow pages.
    pub branch_overflow_n: u64,
    /// Logical leaf pages.
    pub leaf_page_n: u64,
    /// Physical leaf overflow pages.
    pub leaf_overflow_n: u64,
    /// Key/value pairs (bucket entries included).
    pub key_n: u64,
    /// Levels in the B+tree, nested buckets added.
    pub depth: u64,
    /// Bytes allocated for branch pages.
    pub branch_alloc: u64,
    /// Bytes used in branch pages.
    pub branch_inuse: u64,
    /// Bytes allocated for leaf pages.
    pub leaf_alloc: u64,
    /// Bytes used in leaf pages.
    pub leaf_inuse: u64,
    /// Buckets, this one included.
    pub bucket_n: u64,
    /// Inline buckets.
    pub inline_bucket_n: u64,
    /// Bytes used by inline buckets.
    pub inline_bucket_inuse: u64,
}

impl BucketStats {
    /// Go: `BucketStats.Add`: sums every counter, keeps the larger depth.
    pub fn add(&mut self, o: &BucketStats) {
        self.branch_page_n += o.branch_page_n;
        self.branch_overflow_n += o.branch_overflow_n;
        self.leaf_page_n += o.leaf_page_n;
        self.leaf_overflow_n += o.leaf_overflow_n;
        self.key_n += o.key_n;
        self.depth = self.depth.max(o.depth);
        self.branch_alloc += o.branch_alloc;
        self.branch_inuse += o.branch_inuse;
        self.leaf_alloc += o.leaf_alloc;
        self.leaf_inuse += o.leaf_inuse;
        self.bucket_n += o.bucket_n;
        self.inline_bucket_n += o.inline_bucket_n;
        self.inline_bucket_inuse += o.inline_bucket_inuse;
    }
}

struct StatsWalk<'a> {
    pages: Pages<'a>,
    seen: PageSet,
    /// Recursion frames in use (nested buckets times tree levels), capped
    /// so that a crafted file cannot overflow the stack.
    frames: usize,
}

/// Most recursion frames a stats computation may use.
const MAX_FRAMES: usize = 1024;

impl<'a> StatsWalk<'a> {
    fn bucket(&mut self, b: &Bucket<'a>, nesting: usize) -> Result<BucketStats> {
        if nesting > MAX_BUCKET_NESTING {
            return Err(Corruption::page(
                b.root_page(),
                format!("buckets nested deeper than {MAX_BUCKET_NESTING} levels"),
            )
            .into());
        }
        let mut s = BucketStats {
            bucket_n: 1,
            ..Default::default()
        };
        let mut sub = BucketStats::default();
        let inline = b.is_inline();
        if inline {
            s.inline_bucket_n = 1;
        }
        let root = b.root_node()?;
        if !inline && self.seen.insert(root.id) {
            return Err(Corruption::page(root.id, "bucket root page reached twice").into());
        }
        self.node(root, 0, inline, nesting, &mut s, &mut sub)?;
        let p = u64::from(self.pages.page_size as u32);
        s.branch_alloc = (s.branch_page_n + s.branch_overflow_n) * p;
        s.leaf_alloc = (s.leaf_page_n + s.leaf_overflow_n) * p;
        s.depth += sub.depth;
        s.add(&sub);
        Ok(s)
    }

    fn node(
        &mut self,
        node: Node<'a>,
        depth: usize,
        inline: bool,
        nesting: usize,
        s: &mut BucketStats,
        sub: &mut BucketStats,
    ) -> Result<()> {
        // Any error ends the whole computation, so the count only needs
        // to be right on the way out of successful calls.
        if self.frames >= MAX_FRAMES {
            return Err(Corruption::page(
                node.id,
                "buckets and trees nested too deep to compute statistics",
            )
            .into());
        }
        self.frames += 1;
        if depth >= MAX_TREE_DEPTH {
            return Err(Corruption::page(
                node.id,
                format!("B+tree deeper than {MAX_TREE_DEPTH} levels"),
            )
            .into());
        }
        let overflow = if inline {
            0
        } else {
            u64::from(self.pages.header(node.id).map_or(0, |h| h.overflow))
        };
        let used = node.used_bytes()? as u64;
        match node.kind {
            NodeKind::Leaf => {
                s.key_n += node.count as u64;
                if inline {
                    s.inline_bucket_inuse += used;
                } else {
                    s.leaf_page_n += 1;
                    s.leaf_inuse += used;
                    s.leaf_overflow_n += overflow;
                    for i in 0..node.count {
                        let it = node.leaf_item(i)?;
                        if it.is_bucket() {
                            let child = Bucket::from_value(self.pages, it.value, node.id)?;
                            let cs = self.bucket(&child, nesting + 1)?;
                            sub.add(&cs);
                        }
                    }
                }
            }
            NodeKind::Branch => {
                s.branch_page_n += 1;
                s.branch_inuse += used;
                s.branch_overflow_n += overflow;
                for i in 0..node.count {
                    let (_, child) = node.branch_item(i)?;
                    if self.seen.insert(child) {
                        return Err(Corruption::page(
                            child,
                            format!("page reached twice (from page {})", node.id),
                        )
                        .into());
                    }
                    let child = self.pages.node(child, Some(node.id))?;
                    self.node(child, depth + 1, inline, nesting, s, sub)?;
                }
            }
        }
        s.depth = s.depth.max(depth as u64 + 1);
        self.frames -= 1;
        Ok(())
    }
}

impl<'a> Bucket<'a> {
    /// Statistics of this bucket and everything below it. Go: `Bucket.Stats`.
    pub fn stats(&self) -> Result<BucketStats> {
        let pages = self.pages();
        StatsWalk {
            pages,
            seen: PageSet::new(pages.page_limit()),
            frames: 0,
        }
        .bucket(self, 0)
    }
}

impl<D: AsRef<[u8]>> Db<D> {
    /// The sum of [`Bucket::stats`] over the top-level buckets whose name
    /// starts with `prefix`, and how many there were (`bbolt stats`).
    pub fn stats(&self, prefix: &[u8]) -> Result<(BucketStats, u64)> {
        let root = self.root();
        let pages = self.pages();
        let mut walk = StatsWalk {
            pages,
            seen: PageSet::new(pages.page_limit()),
            frames: 0,
        };
        let mut total = BucketStats::default();
        let mut count = 0;
        let mut c = root.cursor();
        let mut e = c.first()?;
        while let Some(entry) = e {
            if entry.is_bucket() && entry.key.starts_with(prefix) {
                let b = Bucket::from_value(pages, entry.value, c.leaf_page())?;
                total.add(&walk.bucket(&b, 1)?);
                count += 1;
            }
            e = c.next()?;
        }
        Ok((total, count))
    }
}
