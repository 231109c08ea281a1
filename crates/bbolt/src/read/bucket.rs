//! Buckets and cursors over the B+tree, with Go's cursor semantics.

use crate::error::{Corruption, Error, OrCorrupt, Result};
use crate::format::{BucketHeader, PageId, BUCKET_HEADER_SIZE};
use crate::read::bitset::VisitSet;
use crate::read::node::{LeafItem, Node, NodeKind, Pages};

/// Deepest B+tree accepted. A real tree of this depth would need more
/// pages than any file can hold; deeper means a cycle or garbage.
pub const MAX_TREE_DEPTH: usize = 64;

/// Where a bucket's tree lives.
#[derive(Clone, Copy, Debug)]
enum Root<'a> {
    /// A page id (the root bucket and ordinary buckets).
    Page(PageId),
    /// An inline bucket: its page image is part of the parent's value.
    Inline(Node<'a>),
}

/// A bucket: a sorted map of keys to values or sub-buckets. Go: `Bucket`.
#[derive(Clone, Copy, Debug)]
pub struct Bucket<'a> {
    pages: Pages<'a>,
    root: Root<'a>,
    sequence: u64,
    /// Page holding this bucket's entry in its parent (for messages).
    parent: Option<PageId>,
}

/// One entry of a bucket: a key with a value, or a key naming a sub-bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value; for a sub-bucket, its raw bucket header (and inline page).
    pub value: &'a [u8],
    /// Leaf element flags (0x01 = bucket).
    pub flags: u32,
}

impl<'a> Entry<'a> {
    /// Whether this entry names a sub-bucket.
    pub fn is_bucket(&self) -> bool {
        self.flags & crate::format::LEAF_FLAG_BUCKET != 0
    }
}

impl<'a> From<LeafItem<'a>> for Entry<'a> {
    fn from(i: LeafItem<'a>) -> Self {
        Entry {
            key: i.key,
            value: i.value,
            flags: i.flags,
        }
    }
}

impl<'a> Bucket<'a> {
    pub(crate) fn new_root(pages: Pages<'a>, root: PageId, sequence: u64) -> Self {
        Bucket {
            pages,
            root: Root::Page(root),
            sequence,
            parent: None,
        }
    }

    /// Opens the bucket stored in `value` (an entry with the bucket flag),
    /// found on page `at`.
    pub(crate) fn from_value(pages: Pages<'a>, value: &'a [u8], at: PageId) -> Result<Self> {
        let hdr = BucketHeader::parse(value, pages.order).or_corrupt(at, || {
            format!(
                "bucket value is {} bytes, shorter than a bucket header",
                value.len()
            )
        })?;
        let root = if hdr.root == 0 {
            let page = value.get(BUCKET_HEADER_SIZE..).unwrap_or_default();
            Root::Inline(Node::inline(page, at, pages.order)?)
        } else {
            Root::Page(hdr.root)
        };
        Ok(Bucket {
            pages,
            root,
            sequence: hdr.sequence,
            parent: Some(at),
        })
    }

    /// The bucket's sequence counter. Go: `Bucket.Sequence`.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Whether the bucket is stored inline in its parent's leaf.
    pub fn is_inline(&self) -> bool {
        matches!(self.root, Root::Inline(_))
    }

    /// The root page id, `0` for an inline bucket.
    pub fn root_page(&self) -> PageId {
        match self.root {
            Root::Page(p) => p,
            Root::Inline(_) => 0,
        }
    }

    pub(crate) fn pages(&self) -> Pages<'a> {
        self.pages
    }

    pub(crate) fn root_node(&self) -> Result<Node<'a>> {
        match self.root {
            Root::Page(p) => self.pages.node(p, self.parent),
            Root::Inline(n) => Ok(n),
        }
    }

    /// A cursor over this bucket's entries, in key order.
    pub fn cursor(&self) -> Cursor<'a> {
        Cursor {
            bucket: *self,
            stack: Vec::new(),
            visited: VisitSet::default(),
        }
    }

    /// The entry with exactly this key, value or bucket.
    pub fn entry(&self, key: &[u8]) -> Result<Option<Entry<'a>>> {
        let mut c = self.cursor();
        Ok(c.seek(key)?.filter(|e| e.key == key))
    }

    /// The value stored under `key`; `None` if absent or if the key names a
    /// bucket (as Go's `Get`). Empty values are `Some(&[])`.
    pub fn get(&self, key: &[u8]) -> Result<Option<&'a [u8]>> {
        Ok(self.entry(key)?.filter(|e| !e.is_bucket()).map(|e| e.value))
    }

    /// The sub-bucket named `name`; `None` if absent or if it is a plain value.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket<'a>>> {
        let mut c = self.cursor();
        match c.seek(name)? {
            Some(e) if e.key == name && e.is_bucket() => Ok(Some(Bucket::from_value(
                self.pages,
                e.value,
                c.leaf_page(),
            )?)),
            _ => Ok(None),
        }
    }

    /// Opens the sub-bucket that `entry` (taken from this bucket's cursor) names.
    pub fn sub_bucket(&self, entry: &Entry<'a>, found_on: PageId) -> Result<Bucket<'a>> {
        if !entry.is_bucket() {
            return Err(Error::IncompatibleValue(format!(
                "key {:?} holds a value, not a bucket",
                String::from_utf8_lossy(entry.key)
            )));
        }
        Bucket::from_value(self.pages, entry.value, found_on)
    }
}

#[derive(Clone, Copy, Debug)]
struct Frame<'a> {
    node: Node<'a>,
    index: usize,
}

/// A position in a bucket. Go: `Cursor`.
///
/// Iteration is guarded against damaged trees: a descent deeper than
/// [`MAX_TREE_DEPTH`] and a leaf entered twice in one pass (a cycle or a
/// shared subtree) are errors, so a cursor always terminates and never
/// returns an entry twice. The guard costs a lookup per leaf, no key reads.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    bucket: Bucket<'a>,
    stack: Vec<Frame<'a>>,
    /// Leaves entered by next/prev since the last first/last/seek.
    visited: VisitSet,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Forward,
    Backward,
}

impl<'a> Cursor<'a> {
    /// The bucket this cursor walks.
    pub fn bucket(&self) -> &Bucket<'a> {
        &self.bucket
    }

    /// The page of the leaf the cursor is on (for an inline bucket, the
    /// page holding the bucket's entry).
    pub fn leaf_page(&self) -> PageId {
        self.stack.last().map(|f| f.node.id).unwrap_or(0)
    }

    /// The whole image of the leaf the cursor is on (page header, elements,
    /// keys and values, overflow included); empty before the first move.
    pub fn leaf_bytes(&self) -> &'a [u8] {
        self.stack.last().map(|f| f.node.buf).unwrap_or_default()
    }

    fn push(&mut self, node: Node<'a>, index: usize) -> Result<()> {
        if self.stack.len() >= MAX_TREE_DEPTH {
            return Err(Corruption::page(
                node.id,
                format!("B+tree deeper than {MAX_TREE_DEPTH} levels (a page cycle?)"),
            )
            .into());
        }
        self.stack.push(Frame { node, index });
        Ok(())
    }

    fn reset(&mut self) -> Result<()> {
        self.stack.clear();
        self.visited.clear();
        let root = self.bucket.root_node()?;
        self.push(root, 0)
    }

    /// Descends from the top frame to a leaf along the first (or last) child.
    fn descend(&mut self, dir: Dir) -> Result<()> {
        loop {
            let Some(top) = self.stack.last().copied() else {
                return Ok(());
            };
            if top.node.kind == NodeKind::Leaf {
                return Ok(());
            }
            if top.node.count == 0 {
                return Err(Corruption::page(top.node.id, "branch page with no elements").into());
            }
            let (_, child) = top.node.branch_item(top.index)?;
            let node = self.bucket.pages.node(child, Some(top.node.id))?;
            let index = match dir {
                Dir::Forward => 0,
                Dir::Backward => node.count.saturating_sub(1),
            };
            self.push(node, index)?;
        }
    }

    fn current(&self) -> Result<Option<Entry<'a>>> {
        match self.stack.last() {
            Some(f) if f.index < f.node.count => Ok(Some(f.node.leaf_item(f.index)?.into())),
            _ => Ok(None),
        }
    }

    /// Called when the cursor moved to another leaf: a leaf reached twice
    /// in one pass means the tree is damaged (a cycle or a shared subtree),
    /// and going on could repeat entries or never end.
    fn check_progress(&mut self) -> Result<()> {
        let Some(f) = self.stack.last() else {
            return Ok(());
        };
        let id = f.node.id;
        if self.visited.insert(id, self.bucket.pages.page_limit()) {
            return Err(Corruption::page(
                id,
                "leaf page reached twice in one pass (a cycle or a damaged branch)",
            )
            .into());
        }
        Ok(())
    }

    /// Moves to the first entry. Go: `Cursor.First`.
    pub fn first(&mut self) -> Result<Option<Entry<'a>>> {
        self.reset()?;
        self.descend(Dir::Forward)?;
        self.check_progress()?;
        if self.stack.last().is_some_and(|f| f.node.count == 0) {
            return self.step(Dir::Forward);
        }
        let e = self.current()?;
        Ok(e)
    }

    /// Moves to the last entry. Go: `Cursor.Last`.
    pub fn last(&mut self) -> Result<Option<Entry<'a>>> {
        self.reset()?;
        if let Some(f) = self.stack.last_mut() {
            f.index = f.node.count.saturating_sub(1);
        }
        self.descend(Dir::Backward)?;
        self.check_progress()?;
        if self.stack.last().is_some_and(|f| f.node.count == 0) {
            return self.step(Dir::Backward);
        }
        let e = self.current()?;
        Ok(e)
    }

    /// Moves to the next entry. Go: `Cursor.Next`.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<Entry<'a>>> {
        // Fast path: the next entry is on the same leaf.
        if let Some(f) = self.stack.last_mut() {
            if f.node.kind == NodeKind::Leaf && f.index + 1 < f.node.count {
                f.index += 1;
                return Ok(Some(f.node.leaf_item(f.index)?.into()));
            }
        } else {
            return self.first();
        }
        self.step(Dir::Forward)
    }

    /// Moves to the previous entry. Go: `Cursor.Prev`.
    pub fn prev(&mut self) -> Result<Option<Entry<'a>>> {
        if self.stack.is_empty() {
            return self.last();
        }
        self.step(Dir::Backward)
    }

    fn step(&mut self, dir: Dir) -> Result<Option<Entry<'a>>> {
        // Empty leaves are skipped (Go does too); the visited set makes sure
        // a cycle of them cannot spin forever.
        loop {
            // Climb to the first frame that can move in `dir`.
            let mut moved = false;
            let mut climbed = false;
            while let Some(f) = self.stack.last_mut() {
                let can = match dir {
                    Dir::Forward => f.index + 1 < f.node.count,
                    Dir::Backward => f.index > 0 && f.index <= f.node.count,
                };
                if can {
                    match dir {
                        Dir::Forward => f.index += 1,
                        Dir::Backward => f.index -= 1,
                    }
                    moved = true;
                    break;
                }
                self.stack.pop();
                climbed = true;
            }
            if !moved {
                return Ok(None);
            }
            self.descend(dir)?;
            if self.stack.last().is_some_and(|f| f.node.count == 0) {
                if climbed {
                    self.check_progress()?;
                }
                continue;
            }
            let e = self.current()?;
            if climbed {
                self.check_progress()?;
            }
            return Ok(e);
        }
    }

    /// Moves to the first entry whose key is >= `target`. Go: `Cursor.Seek`.
    pub fn seek(&mut self, target: &[u8]) -> Result<Option<Entry<'a>>> {
        self.reset()?;
        loop {
            let Some(top) = self.stack.last_mut() else {
                return Ok(None);
            };
            let (index, exact) = top.node.search(target)?;
            match top.node.kind {
                NodeKind::Leaf => {
                    top.index = index;
                    break;
                }
                NodeKind::Branch => {
                    let index = if !exact && index > 0 {
                        index - 1
                    } else {
                        index
                    };
                    top.index = index;
                    if top.node.count == 0 {
                        return Err(
                            Corruption::page(top.node.id, "branch page with no elements").into(),
                        );
                    }
                    let node = top.node;
                    let (_, child) = node.branch_item(index)?;
                    let child = self.bucket.pages.node(child, Some(node.id))?;
                    self.push(child, 0)?;
                }
            }
        }
        self.check_progress()?;
        let past_end = self.stack.last().is_some_and(|f| f.index >= f.node.count);
        if past_end {
            return self.step(Dir::Forward);
        }
        let e = self.current()?;
        Ok(e)
    }
}
