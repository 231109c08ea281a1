//! Reading what a damaged file still holds: tree walks that skip damaged
//! subtrees instead of stopping, and a scan of every page for leaves.
//!
//! Nothing here invents data: every entry returned is bytes found on disk,
//! in a page whose header and element array are well formed.

use crate::error::{Corruption, Result};
use crate::format::{PageId, FLAG_LEAF};
use crate::read::bitset::PageSet;
use crate::read::bucket::{Bucket, Entry, MAX_TREE_DEPTH};
use crate::read::db::{Db, MetaChoice, OpenOptions};
use crate::read::node::{Node, NodeKind, Pages};

/// What a tolerant walk of one bucket found.
#[derive(Clone, Debug, Default)]
pub struct TolerantWalk<'a> {
    /// Leaves read, with their entries, in tree order.
    pub leaves: Vec<(PageId, Vec<Entry<'a>>)>,
    /// Subtrees that could not be read.
    pub damaged: Vec<Corruption>,
}

fn corruption(e: crate::Error, page: PageId) -> Corruption {
    match e {
        crate::Error::Corrupt(c) => *c,
        other => Corruption { page: Some(page), offset: None, what: other.to_string() },
    }
}

fn leaf_entries<'a>(node: &Node<'a>) -> Result<Vec<Entry<'a>>> {
    (0..node.count).map(|i| node.leaf_item(i).map(Entry::from)).collect()
}

impl<'a> Bucket<'a> {
    /// Every readable leaf of this bucket's tree; damaged subtrees are
    /// recorded and skipped, pages reached twice are not entered again.
    pub fn salvage_leaves(&self) -> TolerantWalk<'a> {
        let mut w = TolerantWalk::default();
        let pages = self.pages();
        let root = match self.root_node() {
            Ok(n) => n,
            Err(e) => {
                w.damaged.push(corruption(e, self.root_page()));
                return w;
            }
        };
        let mut seen = PageSet::new(pages.page_limit());
        let mut stack: Vec<(Node<'a>, usize)> = vec![(root, 0)];
        while let Some((node, depth)) = stack.pop() {
            match node.kind {
                NodeKind::Leaf => match leaf_entries(&node) {
                    Ok(es) => w.leaves.push((node.id, es)),
                    Err(e) => w.damaged.push(corruption(e, node.id)),
                },
                NodeKind::Branch => {
                    let mut children = Vec::with_capacity(node.count);
                    for i in 0..node.count {
                        match node.branch_item(i) {
                            Ok((_, c)) => children.push(c),
                            Err(e) => {
                                w.damaged.push(corruption(e, node.id));
                                break;
                            }
                        }
                    }
                    // Reverse: the stack pops them in key order.
                    for c in children.into_iter().rev() {
                        if depth + 1 >= MAX_TREE_DEPTH {
                            w.damaged.push(Corruption::page(c, "B+tree deeper than the limit (a cycle?)"));
                            continue;
                        }
                        if seen.insert(c) {
                            w.damaged.push(Corruption::page(c, format!("page reached twice (from page {})", node.id)));
                            continue;
                        }
                        match pages.node(c, Some(node.id)) {
                            Ok(n) => stack.push((n, depth + 1)),
                            Err(e) => w.damaged.push(corruption(e, c)),
                        }
                    }
                }
            }
        }
        w
    }
}

/// A leaf page found by [`Db::scan_leaf_pages`].
#[derive(Clone, Debug)]
pub struct ScannedLeaf<'a> {
    /// Where it is.
    pub page: PageId,
    /// Whether it is reachable from the tree of the meta in use (false: a
    /// free page, a stale copy, or a page the tree lost).
    pub in_tree: bool,
    /// Its entries.
    pub entries: Vec<Entry<'a>>,
}

impl<D: AsRef<[u8]>> Db<D> {
    /// A view of the same bytes read through the other meta page (or a
    /// given slot), for falling back when the newest tree is damaged.
    pub fn with_meta(&self, choice: MetaChoice) -> Result<Db<&[u8]>> {
        Db::open_with(self.data(), &OpenOptions { meta: choice, page_size: Some(self.page_size()) })
    }

    /// Every page of the file, below the high-water mark or not, whose
    /// header says it is a leaf at its own position and whose element
    /// array, keys and values all lie inside it. Free pages keep stale
    /// copies of old leaves: callers must treat what they find there as
    /// possibly outdated.
    pub fn scan_leaf_pages(&self) -> Vec<ScannedLeaf<'_>> {
        let pages = self.pages();
        let all = Pages { hwm: pages.file_pages(), ..pages };
        let tree = crate::read::check::reachable_pages(pages, self.meta().root);
        let mut out = Vec::new();
        let mut id: PageId = 2;
        while id < all.file_pages() {
            let step = match all.header(id) {
                Some(h) if h.id == id && h.flags == FLAG_LEAF => match all.node(id, None) {
                    Ok(node) => match leaf_entries(&node) {
                        Ok(entries) => {
                            out.push(ScannedLeaf { page: id, in_tree: tree.contains(id), entries });
                            1 + u64::from(h.overflow)
                        }
                        Err(_) => 1,
                    },
                    Err(_) => 1,
                },
                _ => 1,
            };
            id = id.saturating_add(step);
        }
        out
    }
}
