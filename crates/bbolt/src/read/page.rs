//! Raw views of single pages, for diagnostics (`bbolt page`, `pages`, `dump`).

use crate::error::{Corruption, OrCorrupt, Result};
use crate::format::{Meta, PageHeader, PageId, PageType};
use crate::read::bucket::Entry;
use crate::read::node::{Node, NodeKind, Pages};

/// One page (with its overflow span when that fits in the file).
#[derive(Clone, Copy, Debug)]
pub struct Page<'a> {
    pages: Pages<'a>,
    /// The page id.
    pub id: PageId,
    /// Its header as stored.
    pub header: PageHeader,
}

impl<'a> Page<'a> {
    pub(crate) fn new(pages: Pages<'a>, id: PageId) -> Result<Page<'a>> {
        let header = pages.header(id).or_corrupt(id, || {
            format!(
                "page lies past the end of the file ({} pages)",
                pages.file_pages()
            )
        })?;
        Ok(Page { pages, id, header })
    }

    /// The type named by the header flags.
    pub fn page_type(&self) -> PageType {
        self.header.page_type()
    }

    /// The first page's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.pages.span(self.id, 0).unwrap_or_default()
    }

    fn node(&self) -> Result<Node<'a>> {
        if self.header.id != self.id {
            return Err(Corruption::page(
                self.id,
                format!("page header says it is page {}", self.header.id),
            )
            .into());
        }
        let buf = self
            .pages
            .span(self.id, self.header.overflow)
            .or_corrupt(self.id, || {
                format!(
                    "{} overflow pages run past the end of the file",
                    self.header.overflow
                )
            })?;
        let kind = match self.page_type() {
            PageType::Leaf => NodeKind::Leaf,
            PageType::Branch => NodeKind::Branch,
            t => {
                return Err(
                    Corruption::page(self.id, format!("{} page has no elements", t.name())).into(),
                )
            }
        };
        Node::new(
            buf,
            self.id,
            false,
            kind,
            self.header.count,
            self.pages.order,
        )
    }

    /// The entries of a leaf page.
    pub fn leaf_entries(&self) -> Result<Vec<Entry<'a>>> {
        let n = self.node()?;
        (0..n.count)
            .map(|i| n.leaf_item(i).map(Entry::from))
            .collect()
    }

    /// The (key, child) pairs of a branch page.
    pub fn branch_entries(&self) -> Result<Vec<(&'a [u8], PageId)>> {
        let n = self.node()?;
        (0..n.count).map(|i| n.branch_item(i)).collect()
    }

    /// The ids listed on a freelist page, in stored order.
    pub fn freelist_ids(&self) -> Result<Vec<PageId>> {
        if self.page_type() != PageType::Freelist {
            return Err(Corruption::page(self.id, "not a freelist page").into());
        }
        let meta = Meta {
            magic: 0,
            version: 0,
            page_size: 0,
            flags: 0,
            root: 0,
            root_sequence: 0,
            freelist: self.id,
            pgid: self.pages.hwm.max(self.id.saturating_add(1)),
            txid: 0,
            checksum: 0,
        };
        Ok(crate::read::freelist::Freelist::load(self.pages, &meta)?.ids)
    }

    /// The meta fields of a meta page (not validated).
    pub fn meta(&self) -> Option<Meta> {
        Meta::parse(self.bytes(), self.pages.order)
    }
}
