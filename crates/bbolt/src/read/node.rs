//! Validated views of branch and leaf nodes. Every element access checks
//! that the element and its key/value lie inside the node.

use crate::bytes::{slice, ByteOrder};
use crate::error::{Corruption, OrCorrupt, Result};
use crate::format::{
    BranchElement, LeafElement, PageHeader, PageId, PageType, ELEMENT_SIZE, FLAG_BRANCH, FLAG_LEAF,
    LEAF_FLAG_BUCKET, PAGE_HEADER_SIZE,
};

/// The file as a sequence of pages: everything a tree walk needs, `Copy`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pages<'a> {
    pub data: &'a [u8],
    pub page_size: usize,
    pub hwm: PageId,
    pub order: ByteOrder,
}

impl<'a> Pages<'a> {
    /// Number of whole pages the file holds.
    pub fn file_pages(&self) -> u64 {
        (self.data.len() / self.page_size) as u64
    }

    /// Pages a walk may visit: below the HWM and inside the file.
    pub fn page_limit(&self) -> u64 {
        self.hwm.min(self.file_pages())
    }

    /// Byte offset of page `id`, if it is inside the file.
    pub fn offset(&self, id: PageId) -> Option<usize> {
        let off = usize::try_from(id).ok()?.checked_mul(self.page_size)?;
        (off.checked_add(self.page_size)? <= self.data.len()).then_some(off)
    }

    /// The header of page `id`, with no check beyond "inside the file".
    pub fn header(&self, id: PageId) -> Option<PageHeader> {
        let off = self.offset(id)?;
        PageHeader::parse(self.data.get(off..)?, self.order)
    }

    /// The bytes of page `id` and its overflow pages, if all are in the file.
    pub fn span(&self, id: PageId, overflow: u32) -> Option<&'a [u8]> {
        let off = self.offset(id)?;
        let len = (u64::from(overflow) + 1).checked_mul(self.page_size as u64)?;
        slice(self.data, off, usize::try_from(len).ok()?)
    }

    /// The validated branch or leaf node at `id`, reached from `parent`.
    pub fn node(&self, id: PageId, parent: Option<PageId>) -> Result<Node<'a>> {
        let from = || match parent {
            Some(p) => format!(" (referenced from page {p})"),
            None => String::new(),
        };
        if id < 2 {
            return Err(
                Corruption::page(id, format!("a meta page used as a tree node{}", from())).into(),
            );
        }
        if id >= self.hwm {
            return Err(Corruption::page(
                id,
                format!(
                    "page id is at or past the high-water mark {}{}",
                    self.hwm,
                    from()
                ),
            )
            .into());
        }
        let hdr = self.header(id).or_corrupt(id, || {
            format!(
                "page lies past the end of the file ({} pages){}",
                self.file_pages(),
                from()
            )
        })?;
        if hdr.id != id {
            return Err(Corruption::page(
                id,
                format!("page header says it is page {}{}", hdr.id, from()),
            )
            .into());
        }
        let kind = match hdr.flags {
            FLAG_BRANCH => NodeKind::Branch,
            FLAG_LEAF => NodeKind::Leaf,
            f => {
                return Err(Corruption::page(
                    id,
                    format!(
                        "expected a branch or leaf page, found {}{}",
                        PageType::from_flags(f).name(),
                        from()
                    ),
                )
                .into())
            }
        };
        if id
            .checked_add(u64::from(hdr.overflow))
            .is_none_or(|last| last >= self.hwm)
        {
            return Err(Corruption::page(
                id,
                format!(
                    "{} overflow pages run past the high-water mark {}",
                    hdr.overflow, self.hwm
                ),
            )
            .into());
        }
        let buf = self.span(id, hdr.overflow).or_corrupt(id, || {
            format!(
                "{} overflow pages run past the end of the file",
                hdr.overflow
            )
        })?;
        Node::new(buf, id, false, kind, hdr.count, self.order)
    }

    /// Page `id` read as a `kind` node although [`node`](Self::node)
    /// refuses it, for salvage: a damaged header field (the id, the flags,
    /// the overflow count, the element count) need not lose the page.
    /// The id and flags are not looked at, overflow pages are ignored, and
    /// the element count is taken from where the elements' data starts
    /// (Go writes it right after the element array) when that agrees with
    /// the page better than the header's count. The caller must check what
    /// it reads (its keys against the parent's bounds, say): None only when
    /// nothing fits.
    pub fn node_lenient(&self, id: PageId, kind: NodeKind) -> Option<Node<'a>> {
        if id < 2 || id >= self.hwm {
            return None;
        }
        let hdr = self.header(id)?;
        let buf = self.span(id, 0)?;
        Node {
            buf,
            id,
            inline: false,
            kind,
            count: usize::from(hdr.count),
            order: self.order,
        }
        .recounted()
    }
}

/// Branch or leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Branch,
    Leaf,
}

/// A branch or leaf node whose element array is known to fit in `buf`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'a> {
    /// The node image: page header, elements, keys and values.
    pub buf: &'a [u8],
    /// The page id, or for an inline page the page holding its parent entry.
    pub id: PageId,
    pub inline: bool,
    pub kind: NodeKind,
    pub count: usize,
    pub order: ByteOrder,
}

/// One leaf element with its key and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LeafItem<'a> {
    pub flags: u32,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl LeafItem<'_> {
    pub fn is_bucket(&self) -> bool {
        self.flags & LEAF_FLAG_BUCKET != 0
    }
}

impl<'a> Node<'a> {
    pub fn new(
        buf: &'a [u8],
        id: PageId,
        inline: bool,
        kind: NodeKind,
        count: u16,
        order: ByteOrder,
    ) -> Result<Node<'a>> {
        let count = usize::from(count);
        let need = PAGE_HEADER_SIZE + count * ELEMENT_SIZE;
        if need > buf.len() {
            return Err(Corruption::page(
                id,
                format!(
                    "{} elements need {} bytes but the {}node holds {}",
                    count,
                    need,
                    if inline { "inline " } else { "" },
                    buf.len()
                ),
            )
            .into());
        }
        Ok(Node {
            buf,
            id,
            inline,
            kind,
            count,
            order,
        })
    }

    /// An inline bucket's page image (the bucket value after its 16-byte header).
    pub fn inline(page: &'a [u8], parent: PageId, order: ByteOrder) -> Result<Node<'a>> {
        let hdr = PageHeader::parse(page, order).or_corrupt(parent, || {
            format!(
                "inline bucket value too short for a page header ({} bytes)",
                page.len()
            )
        })?;
        if hdr.flags != FLAG_LEAF {
            return Err(Corruption::page(
                parent,
                format!(
                    "inline bucket page has flags {:#x}, expected leaf (0x02)",
                    hdr.flags
                ),
            )
            .into());
        }
        Node::new(page, parent, true, NodeKind::Leaf, hdr.count, order)
    }

    fn elem_err(&self, i: usize, what: &str) -> Corruption {
        Corruption::page(
            self.id,
            format!(
                "{}element {} of {}: {}",
                if self.inline { "inline bucket " } else { "" },
                i,
                self.count,
                what
            ),
        )
    }

    /// Leaf element `i` with its key and value, bounds-checked.
    #[inline]
    pub fn leaf_item(&self, i: usize) -> Result<LeafItem<'a>> {
        let off = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
        // One bounds check for the element, then plain decoding.
        let e: &[u8; ELEMENT_SIZE] = match self
            .buf
            .get(off..off + ELEMENT_SIZE)
            .and_then(|b| b.try_into().ok())
        {
            Some(b) if i < self.count => b,
            _ => return Err(self.elem_err(i, "index out of range").into()),
        };
        let order = self.order;
        let word = |a: [u8; 4]| match order {
            ByteOrder::Little => u32::from_le_bytes(a),
            ByteOrder::Big => u32::from_be_bytes(a),
        };
        let (flags, pos, ksize, vsize) = (
            word([e[0], e[1], e[2], e[3]]),
            word([e[4], e[5], e[6], e[7]]),
            word([e[8], e[9], e[10], e[11]]),
            word([e[12], e[13], e[14], e[15]]),
        );
        // u64 arithmetic: cannot overflow, whatever the fields say.
        let kstart = off as u64 + u64::from(pos);
        let kend = kstart + u64::from(ksize);
        let vend = kend + u64::from(vsize);
        if vend <= self.buf.len() as u64 {
            if let (Some(key), Some(value)) = (
                self.buf.get(kstart as usize..kend as usize),
                self.buf.get(kend as usize..vend as usize),
            ) {
                return Ok(LeafItem { flags, key, value });
            }
        }
        Err(self
            .elem_err(
                i,
                &format!(
                    "key/value (pos {pos}, key {ksize} bytes, value {vsize} bytes) run past the node end ({} bytes)",
                    self.buf.len()
                ),
            )
            .into())
    }

    /// The byte range of element `i`'s data (key, and value for a leaf)
    /// its own fields give, unchecked against the buffer.
    fn data_range(&self, i: usize) -> Option<(u64, u64)> {
        let off = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
        let e = self.buf.get(off..off + ELEMENT_SIZE)?;
        let word = |at: usize| {
            let b: [u8; 4] = e.get(at..at + 4)?.try_into().ok()?;
            Some(u64::from(match self.order {
                ByteOrder::Little => u32::from_le_bytes(b),
                ByteOrder::Big => u32::from_be_bytes(b),
            }))
        };
        let (pos, len) = match self.kind {
            NodeKind::Leaf => (word(4)?, word(8)? + word(12)?),
            NodeKind::Branch => (word(0)?, word(4)?),
        };
        let start = off as u64 + pos;
        Some((start, start + len))
    }

    /// This node with the element count that fits its elements best: the
    /// header's, or the one where the elements' data starts says (Go
    /// writes the data right after the element array, so the first
    /// element's `pos` is the count times 16). A damaged count then does
    /// not add garbage elements or hide real ones. None when no element
    /// fits either way.
    pub fn recounted(self) -> Option<Node<'a>> {
        let capacity = self.buf.len().saturating_sub(PAGE_HEADER_SIZE) / ELEMENT_SIZE;
        // The first element's `pos` (leaf: after its flags; branch: first).
        let pos_at = PAGE_HEADER_SIZE + if self.kind == NodeKind::Leaf { 4 } else { 0 };
        let b: [u8; 4] = self.buf.get(pos_at..pos_at + 4)?.try_into().ok()?;
        let pos0 = match self.order {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        } as usize;
        let mut candidates = vec![self.count];
        if pos0 % ELEMENT_SIZE == 0 && pos0 / ELEMENT_SIZE != self.count {
            candidates.push(pos0 / ELEMENT_SIZE);
        }
        candidates
            .into_iter()
            .filter(|&c| c >= 1 && c <= capacity)
            .map(|count| {
                let n = Node { count, ..self };
                let good = (0..count).filter(|&i| n.contiguous(i)).count();
                // Mostly contiguous first, then the most contiguous elements.
                ((good * 2 > count, good), n)
            })
            .filter(|((_, good), _)| *good > 0)
            .max_by_key(|(score, _)| *score)
            .map(|(_, n)| n)
    }

    /// Whether element `i`'s data is where Go would have written it: right
    /// after the element array for the first, right after the previous
    /// element's data for the others, inside the node.
    pub fn contiguous(&self, i: usize) -> bool {
        let expected = match i {
            0 => Some((PAGE_HEADER_SIZE + self.count * ELEMENT_SIZE) as u64),
            _ => self.data_range(i - 1).map(|r| r.1),
        };
        match (expected, self.data_range(i)) {
            (Some(e), Some((start, end))) => start == e && end <= self.buf.len() as u64,
            _ => false,
        }
    }

    /// Whether element `i`'s data ends where Go would have put the next
    /// element's: where the next element's data starts, or, for the last,
    /// where the page's zero padding starts (Go zeroes page buffers before
    /// writing). A damaged size shows here even when the element still
    /// reads. (A damaged position moves the whole element and rarely reads.)
    pub fn packed(&self, i: usize) -> bool {
        let Some((_, end)) = self.data_range(i) else {
            return false;
        };
        if i + 1 < self.count {
            return self.data_range(i + 1).is_some_and(|(next, _)| next == end);
        }
        usize::try_from(end)
            .is_ok_and(|end| end <= self.buf.len() && self.buf.get(end).is_none_or(|&b| b == 0))
    }

    /// The bytes where leaf element `i`'s key and value lie, found from its
    /// neighbours alone: from the end of the previous element's data (the
    /// end of the element array for the first) to the start of the next
    /// element's. For rebuilding an element whose own fields are damaged;
    /// None when a neighbour looks damaged too (the previous one does not
    /// start where expected, the next one does not end where the one after
    /// it starts), and for the last element.
    pub fn leaf_span(&self, i: usize) -> Option<&'a [u8]> {
        if self.kind != NodeKind::Leaf || i + 1 >= self.count {
            return None;
        }
        if i + 2 < self.count && !self.contiguous(i + 2) {
            return None;
        }
        let start = match i {
            0 => (PAGE_HEADER_SIZE + self.count * ELEMENT_SIZE) as u64,
            _ if self.contiguous(i - 1) => self.data_range(i - 1)?.1,
            _ => return None,
        };
        let (next_start, next_end) = self.data_range(i + 1)?;
        if next_end > self.buf.len() as u64 || next_start < start {
            return None;
        }
        self.buf
            .get(usize::try_from(start).ok()?..usize::try_from(next_start).ok()?)
    }

    /// Only the key of element `i` (leaf or branch).
    #[inline]
    pub fn key(&self, i: usize) -> Result<&'a [u8]> {
        match self.kind {
            NodeKind::Leaf => Ok(self.leaf_item(i)?.key),
            NodeKind::Branch => Ok(self.branch_item(i)?.0),
        }
    }

    /// Branch element `i`: its key and child page.
    #[inline]
    pub fn branch_item(&self, i: usize) -> Result<(&'a [u8], PageId)> {
        let off = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
        let e = match BranchElement::parse(self.buf, off, self.order) {
            Some(e) if i < self.count => e,
            _ => return Err(self.elem_err(i, "index out of range").into()),
        };
        match off
            .checked_add(e.pos as usize)
            .and_then(|k| slice(self.buf, k, e.ksize as usize))
        {
            Some(key) => Ok((key, e.pgid)),
            None => Err(self
                .elem_err(
                    i,
                    &format!(
                        "key (pos {}, {} bytes) runs past the node end ({} bytes)",
                        e.pos,
                        e.ksize,
                        self.buf.len()
                    ),
                )
                .into()),
        }
    }

    /// Index of the first element whose key is >= `target`, and whether it is equal.
    pub fn search(&self, target: &[u8]) -> Result<(usize, bool)> {
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key(mid)?.cmp(target) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Equal => return Ok((mid, true)),
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok((lo, false))
    }

    /// Bytes in use, as Go's `Bucket.Stats` computes them.
    pub fn used_bytes(&self) -> Result<usize> {
        if self.count == 0 {
            return Ok(PAGE_HEADER_SIZE);
        }
        let last = self.count - 1;
        let off = PAGE_HEADER_SIZE + last * ELEMENT_SIZE;
        Ok(match self.kind {
            NodeKind::Leaf => {
                let e = LeafElement::parse(self.buf, off, self.order)
                    .or_corrupt(self.id, || "element array".into())?;
                off.saturating_add(e.pos as usize)
                    .saturating_add(e.ksize as usize)
                    .saturating_add(e.vsize as usize)
            }
            NodeKind::Branch => {
                let e = BranchElement::parse(self.buf, off, self.order)
                    .or_corrupt(self.id, || "element array".into())?;
                off.saturating_add(e.pos as usize)
                    .saturating_add(e.ksize as usize)
            }
        })
    }
}
