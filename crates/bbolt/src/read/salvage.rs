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
        other => Corruption {
            page: Some(page),
            offset: None,
            what: other.to_string(),
        },
    }
}

/// The elements of a leaf that parse; the others are reported. Each
/// element is checked on its own, so one damaged element does not hide
/// its neighbours.
fn leaf_entries<'a>(node: &Node<'a>, damaged: &mut Vec<Corruption>) -> Vec<Entry<'a>> {
    let mut out = Vec::with_capacity(node.count);
    for i in 0..node.count {
        match node.leaf_item(i) {
            Ok(e) => out.push(Entry::from(e)),
            Err(e) => damaged.push(corruption(e, node.id)),
        }
    }
    out
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
                NodeKind::Leaf => {
                    let es = leaf_entries(&node, &mut w.damaged);
                    w.leaves.push((node.id, es));
                }
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
                            w.damaged.push(Corruption::page(
                                c,
                                "B+tree deeper than the limit (a cycle?)",
                            ));
                            continue;
                        }
                        if seen.insert(c) {
                            w.damaged.push(Corruption::page(
                                c,
                                format!("page reached twice (from page {})", node.id),
                            ));
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
    /// Its entries.
    pub entries: Vec<Entry<'a>>,
}

impl<D: AsRef<[u8]>> Db<D> {
    /// A view of the same bytes read through the other meta page (or a
    /// given slot), for falling back when the newest tree is damaged.
    pub fn with_meta(&self, choice: MetaChoice) -> Result<Db<&[u8]>> {
        Db::open_with(
            self.data(),
            &OpenOptions {
                meta: choice,
                page_size: Some(self.page_size()),
            },
        )
    }

    /// Every page of the file, below the high-water mark or not, whose
    /// header says it is a leaf at its own position and whose element
    /// array, keys and values all lie inside it. Free pages keep stale
    /// copies of old leaves: callers must treat what they find there as
    /// possibly outdated.
    pub fn scan_leaf_pages(&self) -> Vec<ScannedLeaf<'_>> {
        let pages = self.pages();
        let all = Pages {
            hwm: pages.file_pages(),
            ..pages
        };
        let mut out = Vec::new();
        let mut id: PageId = 2;
        while id < all.file_pages() {
            let step = match all.header(id) {
                Some(h) if h.id == id && h.flags == FLAG_LEAF => match all.node(id, None) {
                    Ok(node) => {
                        let entries = leaf_entries(&node, &mut Vec::new());
                        if entries.is_empty() {
                            1
                        } else {
                            out.push(ScannedLeaf { page: id, entries });
                            1 + u64::from(h.overflow)
                        }
                    }
                    Err(_) => 1,
                },
                _ => 1,
            };
            id = id.saturating_add(step);
        }
        out
    }
}

impl<D: AsRef<[u8]>> Db<D> {
    /// [`walk`](Db::walk) for damaged files: the same items in the same
    /// order, but a damaged subtree or bucket is recorded and skipped
    /// instead of ending the walk. Returns what was skipped.
    pub fn walk_salvage<E: From<crate::Error>>(
        &self,
        mut visit: impl FnMut(crate::WalkItem<'_, '_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<Vec<Corruption>, E> {
        let pages = self.pages();
        let mut damaged = Vec::new();
        let mut roots = PageSet::new(pages.page_limit());
        roots.insert(self.meta().root);
        let mut path: Vec<&[u8]> = Vec::new();
        walk_bucket(
            &self.root(),
            &mut path,
            &mut roots,
            &mut damaged,
            &mut visit,
        )?;
        Ok(damaged)
    }
}

/// Nesting followed by the (recursive) salvage walk: deep enough for any
/// real file, shallow enough for a 2 MiB thread stack.
const SALVAGE_NESTING: usize = 1024;

fn walk_bucket<'a, E>(
    b: &Bucket<'a>,
    path: &mut Vec<&'a [u8]>,
    roots: &mut PageSet,
    damaged: &mut Vec<Corruption>,
    visit: &mut impl FnMut(crate::WalkItem<'_, '_>) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    if path.len() > SALVAGE_NESTING {
        damaged.push(Corruption::page(b.root_page(), "buckets nested too deep"));
        return Ok(());
    }
    let walk = b.salvage_leaves();
    damaged.extend(walk.damaged);
    for (page, entries) in walk.leaves {
        for e in entries {
            if !e.is_bucket() {
                visit(crate::WalkItem::Pair {
                    path,
                    key: e.key,
                    value: e.value,
                })?;
                continue;
            }
            let child = match b.sub_bucket(&e, page) {
                Ok(c) => c,
                Err(err) => {
                    damaged.push(corruption(err, page));
                    continue;
                }
            };
            if !child.is_inline() && roots.insert(child.root_page()) {
                damaged.push(Corruption::page(
                    child.root_page(),
                    "bucket root page used by two buckets",
                ));
                continue;
            }
            path.push(e.key);
            visit(crate::WalkItem::Bucket {
                path,
                sequence: child.sequence(),
                inline: child.is_inline(),
            })?;
            walk_bucket(&child, path, roots, damaged, visit)?;
            path.pop();
        }
    }
    Ok(())
}

/// Go's `surgery revert-meta-page`: a copy of the file in which the older
/// valid meta page replaces the newer one, rolling back the last commit.
/// Returns the new bytes and the txid now in use; the input is untouched.
pub fn revert_meta(data: &[u8]) -> Result<(Vec<u8>, u64)> {
    let db = Db::open_with(
        data,
        &OpenOptions {
            meta: MetaChoice::Older,
            page_size: None,
        },
    )?;
    let older = db.meta_slot();
    let p = db.page_size() as usize;
    let newer = 1 - older;
    let mut out = data.to_vec();
    let src = data
        .get(usize::from(older) * p..(usize::from(older) + 1) * p)
        .ok_or_else(|| Corruption::page(u64::from(older), "meta page past the end of the file"))?;
    let mut page = src.to_vec();
    // The header is not covered by the checksum: give the copy its slot's id.
    let id = u64::from(newer);
    let enc = match db.byte_order() {
        crate::ByteOrder::Little => id.to_le_bytes(),
        crate::ByteOrder::Big => id.to_be_bytes(),
    };
    if let Some(h) = page.get_mut(..8) {
        h.copy_from_slice(&enc);
    }
    out.get_mut(usize::from(newer) * p..(usize::from(newer) + 1) * p)
        .ok_or_else(|| Corruption::page(u64::from(newer), "meta page past the end of the file"))?
        .copy_from_slice(&page);
    Ok((out, db.meta().txid))
}
