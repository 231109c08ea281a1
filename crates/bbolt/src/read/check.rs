//! Consistency check: what Go's `Tx.Check` verifies, collected as findings
//! instead of panics, in one pass over the file.
//!
//! Checked: freelist duplicates; every page reachable from the root bucket
//! is inside the HWM, referenced once, not free, a branch or leaf with a
//! well-formed element array; keys strictly increasing within and across
//! pages and inside their parents' ranges; every page below the HWM is
//! reachable or free. Inline buckets are skipped, as in Go.

use std::fmt;

use crate::format::{
    BucketHeader, Meta, PageId, FLAG_BRANCH, FLAG_FREELIST, FLAG_LEAF, FREELIST_NONE,
};
use crate::read::bitset::PageSet;
use crate::read::bucket::MAX_TREE_DEPTH;
use crate::read::db::Db;
use crate::read::node::{Node, NodeKind, Pages};

/// One problem found by [`Db::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The page concerned, when there is one.
    pub page: Option<PageId>,
    /// The message, worded as Go's `bbolt check` words it where Go has one.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of [`Db::check`].
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// Everything found, in the order Go would report it.
    pub findings: Vec<Finding>,
    /// Pages reached from the root bucket (tree pages, overflow included).
    pub reachable_pages: u64,
    /// Free pages according to the freelist.
    pub free_pages: u64,
    /// Non-inline buckets walked, the root bucket included.
    pub buckets: u64,
}

impl CheckReport {
    /// No findings.
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }
}

fn stack_str(stack: &[PageId]) -> String {
    let parts: Vec<String> = stack.iter().map(|p| p.to_string()).collect();
    format!("[{}]", parts.join(" "))
}

/// Keys as Go's CLI prints them: the string if printable, else hex.
pub(crate) fn key_str(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if !s.is_empty() && s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => hex(k),
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

struct Walker<'a> {
    pages: Pages<'a>,
    reachable: PageSet,
    freed: PageSet,
    findings: Vec<Finding>,
    key_order: bool,
    buckets: u64,
    stack: Vec<PageId>,
}

impl<'a> Walker<'a> {
    fn report(&mut self, page: Option<PageId>, message: String) {
        self.findings.push(Finding { page, message });
    }

    /// Walks every non-inline bucket below (and including) the root bucket.
    fn walk_buckets(&mut self, root: PageId) {
        // Pre-order over buckets; children pushed in reverse to come out in key order.
        let mut todo: Vec<PageId> = vec![root];
        while let Some(b) = todo.pop() {
            self.buckets += 1;
            let mut subs = Vec::new();
            self.stack.clear();
            self.visit(b, None, None, &mut subs);
            todo.extend(subs.into_iter().rev());
        }
    }

    /// Checks the subtree at `id`; returns the largest key seen in it.
    fn visit(
        &mut self,
        id: PageId,
        min: Option<&'a [u8]>,
        max: Option<&'a [u8]>,
        subs: &mut Vec<PageId>,
    ) -> Option<&'a [u8]> {
        self.stack.push(id);
        let r = self.visit_inner(id, min, max, subs);
        self.stack.pop();
        r
    }

    fn visit_inner(
        &mut self,
        id: PageId,
        min: Option<&'a [u8]>,
        max: Option<&'a [u8]>,
        subs: &mut Vec<PageId>,
    ) -> Option<&'a [u8]> {
        let hwm = self.pages.hwm;
        if self.stack.len() > MAX_TREE_DEPTH {
            let m = format!(
                "page {id}: B+tree deeper than {MAX_TREE_DEPTH} levels (stack: {})",
                stack_str(&self.stack)
            );
            self.report(Some(id), m);
            return None;
        }
        if id > hwm {
            let m = format!(
                "page {id}: out of bounds: {hwm} (stack: {})",
                stack_str(&self.stack)
            );
            self.report(Some(id), m);
            return None;
        }
        let Some(hdr) = self.pages.header(id) else {
            let m = format!(
                "page {id}: past the end of the file ({} pages) (stack: {})",
                self.pages.file_pages(),
                stack_str(&self.stack)
            );
            self.report(Some(id), m);
            return None;
        };
        let mut last = id.saturating_add(u64::from(hdr.overflow));
        if last >= self.pages.page_limit() {
            let m = format!(
                "page {id}: {} overflow pages run past the high-water mark {hwm} or the end of the file (stack: {})",
                hdr.overflow,
                stack_str(&self.stack)
            );
            self.report(Some(id), m);
            last = id;
        }
        let mut seen_before = false;
        for p in id..=last {
            if self.reachable.insert(p) {
                seen_before = true;
                let m = format!(
                    "page {p}: multiple references (stack: {})",
                    stack_str(&self.stack)
                );
                self.report(Some(p), m);
                // Stop at the first page already claimed: the rest of this
                // span is someone else's too, and reporting page by page
                // would make a damaged file cost quadratic time.
                break;
            }
        }
        if seen_before {
            // Never descend twice: that is how cycles and shared subtrees
            // would otherwise turn a check into an endless or exponential walk.
            return None;
        }
        if self.freed.contains(id) {
            self.report(Some(id), format!("page {id}: reachable freed"));
        }
        if hdr.flags != FLAG_BRANCH && hdr.flags != FLAG_LEAF {
            let m = format!(
                "page {id}: invalid type: {} (stack: {})",
                hdr.page_type().name(),
                stack_str(&self.stack)
            );
            self.report(Some(id), m);
            return None;
        }
        let parent = self
            .stack
            .len()
            .checked_sub(2)
            .and_then(|i| self.stack.get(i))
            .copied();
        let node = match self.pages.node(id, parent) {
            Ok(n) => n,
            Err(e) => {
                let what = e
                    .corruption()
                    .map(|c| c.what.clone())
                    .unwrap_or_else(|| e.to_string());
                let m = format!("page {id}: {what} (stack: {})", stack_str(&self.stack));
                self.report(Some(id), m);
                return None;
            }
        };
        match node.kind {
            NodeKind::Branch => self.visit_branch(node, min, max, subs),
            NodeKind::Leaf => self.visit_leaf(node, min, max, subs),
        }
    }

    fn order(
        &mut self,
        node: &Node<'a>,
        i: usize,
        key: &'a [u8],
        prev: Option<&'a [u8]>,
        max: Option<&'a [u8]>,
    ) {
        if !self.key_order {
            return;
        }
        let kind = if node.kind == NodeKind::Branch {
            "branch"
        } else {
            "leaf"
        };
        let id = node.id;
        if let Some(prev) = prev {
            if i == 0 && prev > key {
                let m = format!(
                    "the first key[{i}]=(hex){} on {kind} page({id}) needs to be >= the key in the ancestor ({}). Stack: {}",
                    key_str(key),
                    key_str(prev),
                    stack_str(&self.stack)
                );
                self.report(Some(id), m);
            } else if i > 0 && prev >= key {
                let found = if prev > key { "<" } else { "=" };
                let m = format!(
                    "key[{i}]=(hex){} on {kind} page({id}) needs to be > (found {found}) than previous element (hex){}. Stack: {}",
                    key_str(key),
                    key_str(prev),
                    stack_str(&self.stack)
                );
                self.report(Some(id), m);
            }
        }
        if let Some(max) = max {
            if key >= max {
                let m = format!(
                    "key[{i}]=(hex){} on {kind} page({id}) needs to be < than key of the next element in ancestor (hex){}. Pages stack: {}",
                    key_str(key),
                    key_str(max),
                    stack_str(&self.stack)
                );
                self.report(Some(id), m);
            }
        }
    }

    fn visit_branch(
        &mut self,
        node: Node<'a>,
        min: Option<&'a [u8]>,
        max: Option<&'a [u8]>,
        subs: &mut Vec<PageId>,
    ) -> Option<&'a [u8]> {
        let mut items = Vec::with_capacity(node.count);
        for i in 0..node.count {
            match node.branch_item(i) {
                Ok(it) => items.push(it),
                Err(e) => {
                    let m = format!(
                        "page {}: {} (stack: {})",
                        node.id,
                        corruption_what(&e),
                        stack_str(&self.stack)
                    );
                    self.report(Some(node.id), m);
                    return None;
                }
            }
        }
        if items.is_empty() {
            self.report(
                Some(node.id),
                format!("page {}: branch page with no elements", node.id),
            );
        }
        let mut running = min;
        let mut max_seen = None;
        for (i, &(key, child)) in items.iter().enumerate() {
            self.order(&node, i, key, running, max);
            let child_max = items.get(i + 1).map(|n| n.0).or(max);
            max_seen = self.visit(child, Some(key), child_max, subs);
            running = max_seen.or(Some(key));
        }
        max_seen
    }

    fn visit_leaf(
        &mut self,
        node: Node<'a>,
        min: Option<&'a [u8]>,
        max: Option<&'a [u8]>,
        subs: &mut Vec<PageId>,
    ) -> Option<&'a [u8]> {
        let mut running = min;
        for i in 0..node.count {
            let item = match node.leaf_item(i) {
                Ok(it) => it,
                Err(e) => {
                    let m = format!(
                        "page {}: {} (stack: {})",
                        node.id,
                        corruption_what(&e),
                        stack_str(&self.stack)
                    );
                    self.report(Some(node.id), m);
                    return running;
                }
            };
            self.order(&node, i, item.key, running, max);
            running = Some(item.key);
            if item.is_bucket() {
                match BucketHeader::parse(item.value, self.pages.order) {
                    Some(h) if h.root != 0 => subs.push(h.root),
                    Some(_) => {
                        let page = item
                            .value
                            .get(crate::format::BUCKET_HEADER_SIZE..)
                            .unwrap_or_default();
                        if let Err(e) = check_inline(page, node.id, self.pages) {
                            let m = format!(
                                "page {}: bucket {}: {}",
                                node.id,
                                key_str(item.key),
                                corruption_what(&e)
                            );
                            self.report(Some(node.id), m);
                        }
                    }
                    None => {
                        let m = format!(
                            "page {}: bucket {}: value of {} bytes is too short for a bucket header",
                            node.id,
                            key_str(item.key),
                            item.value.len()
                        );
                        self.report(Some(node.id), m);
                    }
                }
            }
        }
        running
    }
}

fn corruption_what(e: &crate::Error) -> String {
    e.corruption()
        .map(|c| c.what.clone())
        .unwrap_or_else(|| e.to_string())
}

/// Inline pages are not part of Go's check, but a malformed one would make
/// every later read fail, so their element arrays are verified here.
fn check_inline(page: &[u8], at: PageId, pages: Pages<'_>) -> crate::Result<()> {
    let node = Node::inline(page, at, pages.order)?;
    let mut prev: Option<&[u8]> = None;
    for i in 0..node.count {
        let it = node.leaf_item(i)?;
        if prev.is_some_and(|p| p >= it.key) {
            return Err(crate::Corruption::page(
                at,
                format!("inline bucket keys out of order at element {i}"),
            )
            .into());
        }
        prev = Some(it.key);
    }
    Ok(())
}

/// Pages reachable from the root bucket (used to rebuild a missing freelist).
pub(crate) fn reachable_pages(pages: Pages<'_>, root: PageId) -> PageSet {
    let limit = pages.page_limit();
    let mut w = Walker {
        pages,
        reachable: PageSet::new(limit),
        freed: PageSet::new(0),
        findings: Vec::new(),
        key_order: false,
        buckets: 0,
        stack: Vec::new(),
    };
    w.walk_buckets(root);
    w.reachable
}

pub(crate) fn check(
    pages: Pages<'_>,
    meta: &Meta,
    metas: &[Result<Meta, crate::MetaError>; 2],
    slot: u8,
) -> CheckReport {
    let limit = pages.page_limit();
    let mut w = Walker {
        pages,
        reachable: PageSet::new(limit),
        freed: PageSet::new(limit),
        findings: Vec::new(),
        key_order: true,
        buckets: 0,
        stack: Vec::new(),
    };
    for (i, m) in metas.iter().enumerate() {
        if let Err(e) = m {
            w.report(
                Some(i as PageId),
                format!("page {i}: meta page is not valid ({e}); meta page {slot} is in use"),
            );
        }
    }
    if pages.hwm > pages.file_pages() {
        w.report(
            None,
            format!(
                "high-water mark {} is past the end of the file ({} pages): the file is truncated",
                pages.hwm,
                pages.file_pages()
            ),
        );
    }
    let mut free_pages = 0;
    w.reachable.insert(0);
    w.reachable.insert(1);
    if meta.freelist != FREELIST_NONE {
        match crate::read::freelist::Freelist::load(pages, meta) {
            Ok(fl) => {
                free_pages = fl.ids.len() as u64;
                for &id in &fl.ids {
                    if id < 2 || id >= pages.hwm {
                        w.report(
                            Some(id),
                            format!("page {id}: freed page outside [2, {})", pages.hwm),
                        );
                    } else if w.freed.insert(id) {
                        w.report(Some(id), format!("page {id}: already freed"));
                    }
                }
            }
            Err(e) => w.report(Some(meta.freelist), format!("freelist: {e}")),
        }
        if let Some(h) = pages
            .header(meta.freelist)
            .filter(|h| h.flags == FLAG_FREELIST)
        {
            let last = meta.freelist.saturating_add(u64::from(h.overflow));
            for p in meta.freelist..=last.min(limit.saturating_sub(1)).max(meta.freelist) {
                w.reachable.insert(p);
            }
        }
    }
    w.walk_buckets(meta.root);
    let mut reachable_pages = 0;
    for id in 0..limit {
        if w.reachable.contains(id) {
            reachable_pages += 1;
        } else if meta.freelist == FREELIST_NONE {
            free_pages += 1;
        } else if !w.freed.contains(id) {
            w.report(Some(id), format!("page {id}: unreachable unfreed"));
        }
    }
    CheckReport {
        findings: w.findings,
        reachable_pages,
        free_pages,
        buckets: w.buckets,
    }
}

impl<D: AsRef<[u8]>> Db<D> {
    /// Checks the whole file. Go: `Tx.Check`. Never fails: every problem,
    /// including ones that make Go panic, is a [`Finding`].
    pub fn check(&self) -> CheckReport {
        check(self.pages(), self.meta(), self.metas(), self.meta_slot())
    }
}
