//! Reading what a damaged file still holds: tree walks that skip damaged
//! subtrees instead of stopping, and a scan of every page for leaves.
//!
//! Nothing here invents data: every entry returned is bytes found on disk.
//! Pages whose header is damaged are read only when their elements are
//! packed as Go packs them and their keys fit where the parent puts them;
//! elements that do not read come with the bytes between their neighbours
//! for callers that can tell a real entry from garbage.

use crate::error::{Corruption, Result};
use crate::format::{PageId, FLAG_LEAF};
use crate::read::bitset::PageSet;
use crate::read::bucket::{Bucket, Entry, MAX_TREE_DEPTH};
use crate::read::db::{Db, MetaChoice, OpenOptions};
use crate::read::node::{Node, NodeKind, Pages};

/// What a tolerant walk of one bucket found.
#[derive(Clone, Debug, Default)]
pub struct TolerantWalk<'a> {
    /// Leaves read, in tree order.
    pub leaves: Vec<WalkedLeaf<'a>>,
    /// Damaged pages, subtrees and elements met.
    pub damaged: Vec<Corruption>,
    /// The key ranges of subtrees that could not be read, bounded by the
    /// branch keys around them. (A damaged element of a leaf that was read
    /// shows in that leaf's `elements`.)
    pub lost: Vec<LostRange<'a>>,
}

/// A leaf reached by a tolerant walk.
#[derive(Clone, Debug, Default)]
pub struct WalkedLeaf<'a> {
    /// Its page.
    pub page: PageId,
    /// The key bounds its parents give it: every key it holds is at least
    /// `low` (None: no bound) and below `high`.
    pub low: Option<&'a [u8]>,
    /// See `low`.
    pub high: Option<&'a [u8]>,
    /// Its elements, in order.
    pub elements: Vec<WalkedElement<'a>>,
}

/// One element of a walked leaf.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkedElement<'a> {
    /// The entry, if the element's fields are readable.
    pub entry: Option<Entry<'a>>,
    /// The bytes between its neighbours' data, where Go wrote this
    /// element's key and value one after the other (None when a neighbour
    /// looks damaged too, and for the last element). A caller that knows
    /// what keys and values look like can rebuild an element whose own
    /// fields are damaged from it.
    pub span: Option<&'a [u8]>,
    /// Whether the element's data sits exactly where its neighbours say
    /// (see `Node::packed`). An entry that reads but is not packed may have
    /// a damaged size that still reads: a caller that can should check it.
    pub packed: bool,
}

/// A key range a tolerant walk could not read. The bounds come from the
/// tree around the damage: every key the damaged part held was at least
/// `low` and below `high`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LostRange<'a> {
    /// Inclusive lower bound (None: from the start).
    pub low: Option<&'a [u8]>,
    /// Exclusive upper bound (None: to the end).
    pub high: Option<&'a [u8]>,
}

/// A node to visit, with the key bounds its parent gives it.
type Visit<'a> = (Node<'a>, usize, Option<&'a [u8]>, Option<&'a [u8]>);

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

/// The elements of a leaf that parse; the others are skipped. Each element
/// is checked on its own, so one damaged element does not hide its
/// neighbours.
fn leaf_entries<'a>(node: &Node<'a>) -> Vec<Entry<'a>> {
    (0..node.count)
        .filter_map(|i| node.leaf_item(i).ok().map(Entry::from))
        .collect()
}

fn walk_leaf<'a>(
    node: &Node<'a>,
    low: Option<&'a [u8]>,
    high: Option<&'a [u8]>,
    damaged: &mut Vec<Corruption>,
) -> WalkedLeaf<'a> {
    let elements = (0..node.count)
        .map(|i| {
            let entry = match node.leaf_item(i) {
                Ok(e) => Some(Entry::from(e)),
                Err(e) => {
                    damaged.push(corruption(e, node.id));
                    None
                }
            };
            WalkedElement {
                entry,
                span: node.leaf_span(i),
                packed: node.packed(i),
            }
        })
        .collect();
    WalkedLeaf {
        page: node.id,
        low,
        high,
        elements,
    }
}

/// Whether the readable keys of `node` are in order and within `[low, high)`
/// (at least one must be readable): the check a leniently read page must pass.
fn keys_within(node: &Node<'_>, low: Option<&[u8]>, high: Option<&[u8]>) -> bool {
    let keys: Vec<&[u8]> = (0..node.count).filter_map(|i| node.key(i).ok()).collect();
    !keys.is_empty()
        && keys.windows(2).all(|w| w.first() < w.get(1))
        && keys
            .iter()
            .all(|k| low.is_none_or(|l| *k >= l) && high.is_none_or(|h| *k < h))
}

impl<'a> Bucket<'a> {
    /// Every readable leaf of this bucket's tree; damaged subtrees are
    /// recorded and skipped, pages reached twice are not entered again. A
    /// page the strict reader refuses is read leniently (see
    /// `Pages::node_lenient`) when its keys then fit where its parent
    /// puts it.
    pub fn salvage_leaves(&self) -> TolerantWalk<'a> {
        let mut w = TolerantWalk::default();
        let pages = self.pages();
        let root = match self.root_node() {
            Ok(n) => n,
            Err(e) => {
                w.damaged.push(corruption(e, self.root_page()));
                w.lost.push(LostRange {
                    low: None,
                    high: None,
                });
                return w;
            }
        };
        let mut seen = PageSet::new(pages.page_limit());
        let mut stack: Vec<Visit<'a>> = vec![(root, 0, None, None)];
        while let Some((node, depth, low, high)) = stack.pop() {
            match node.kind {
                NodeKind::Leaf => {
                    let leaf = walk_leaf(&node, low, high, &mut w.damaged);
                    w.leaves.push(leaf);
                }
                NodeKind::Branch => {
                    // Child i holds keys from its element's key up to the next
                    // element's key (the last child: up to the node's bound).
                    let mut children: Vec<(&'a [u8], PageId)> = Vec::with_capacity(node.count);
                    let mut unreadable_from = None;
                    for i in 0..node.count {
                        match node.branch_item(i) {
                            Ok(c) => children.push(c),
                            Err(e) => {
                                w.damaged.push(corruption(e, node.id));
                                // The children from here on are unknown: what they held
                                // lies after the last readable element's key.
                                unreadable_from = Some(children.last().map(|c| c.0).or(low));
                                break;
                            }
                        }
                    }
                    if let Some(from) = unreadable_from {
                        w.lost.push(LostRange { low: from, high });
                    }
                    let bounds: Vec<Option<&'a [u8]>> = children
                        .iter()
                        .skip(1)
                        .map(|c| Some(c.0))
                        .chain([if unreadable_from.is_some() {
                            None
                        } else {
                            high
                        }])
                        .collect();
                    // A B+tree's children are all of one kind: what the readable
                    // siblings are is what a damaged one was.
                    let leaves = children
                        .iter()
                        .filter(|c| pages.header(c.1).is_some_and(|h| h.flags == FLAG_LEAF))
                        .count();
                    let kind = if leaves * 2 >= children.len() {
                        NodeKind::Leaf
                    } else {
                        NodeKind::Branch
                    };
                    // Reverse: the stack pops them in key order.
                    for (i, (&(key, c), &child_high)) in
                        children.iter().zip(&bounds).enumerate().rev()
                    {
                        // The first child's range starts at the node's own bound
                        // (keys below the first branch key still go to the first child).
                        let child_low = if i == 0 { low } else { Some(key) };
                        let lost = |w: &mut TolerantWalk<'a>, what: Corruption| {
                            w.damaged.push(what);
                            w.lost.push(LostRange {
                                low: child_low,
                                high: child_high,
                            });
                        };
                        if depth + 1 >= MAX_TREE_DEPTH {
                            lost(
                                &mut w,
                                Corruption::page(c, "B+tree deeper than the limit (a cycle?)"),
                            );
                            continue;
                        }
                        if seen.insert(c) {
                            lost(
                                &mut w,
                                Corruption::page(
                                    c,
                                    format!("page reached twice (from page {})", node.id),
                                ),
                            );
                            continue;
                        }
                        match pages.node(c, Some(node.id)) {
                            Ok(n) => {
                                // A count that disagrees with where the data starts is damaged:
                                // use the one that fits the elements.
                                let fitted = n.recounted().filter(|f| {
                                    f.count != n.count && keys_within(f, child_low, child_high)
                                });
                                if let Some(f) = fitted {
                                    w.damaged.push(Corruption::page(c, format!("element count {} does not fit the elements; read as {}", n.count, f.count)));
                                }
                                stack.push((fitted.unwrap_or(n), depth + 1, child_low, child_high));
                            }
                            Err(e) => match pages
                                .node_lenient(c, kind)
                                .filter(|n| keys_within(n, child_low, child_high))
                            {
                                Some(n) => {
                                    let e = corruption(e, c);
                                    w.damaged.push(Corruption::page(c, format!("{} (read anyway: its elements fit where page {} puts it)", e.what, node.id)));
                                    stack.push((n, depth + 1, child_low, child_high));
                                }
                                None => lost(&mut w, corruption(e, c)),
                            },
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
                        let entries = leaf_entries(&node);
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
    for leaf in walk.leaves {
        let page = leaf.page;
        for e in leaf.elements.into_iter().filter_map(|el| el.entry) {
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
