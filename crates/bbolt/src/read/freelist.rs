//! The freelist: persisted (both count encodings) or rebuilt by scanning.

use crate::bytes::u64_at;
use crate::error::{Corruption, OrCorrupt, Result};
use crate::format::{
    Meta, PageId, FLAG_FREELIST, FREELIST_COUNT_OVERFLOW, FREELIST_NONE, PAGE_HEADER_SIZE,
};
use crate::read::node::Pages;

/// Where the free page list came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreelistSource {
    /// A freelist node at this page, spanning `overflow` extra pages.
    Persisted {
        /// The freelist node's page.
        page: PageId,
        /// Its overflow count.
        overflow: u32,
        /// Whether the count used the 0xFFFF escape (N ≥ 65535 ids).
        escaped_count: bool,
    },
    /// The meta holds the "no freelist" sentinel (NoFreelistSync, as etcd
    /// writes): free pages are those the tree does not reach.
    Scanned,
}

/// The free pages of a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freelist {
    /// Where the list came from.
    pub source: FreelistSource,
    /// Free page ids, sorted, duplicates kept (check reports them).
    pub ids: Vec<PageId>,
}

impl Freelist {
    pub(crate) fn load(pages: Pages<'_>, meta: &Meta) -> Result<Freelist> {
        if meta.freelist == FREELIST_NONE {
            let reach = crate::read::check::reachable_pages(pages, meta.root);
            let ids = (2..pages.page_limit())
                .filter(|&id| !reach.contains(id))
                .collect();
            return Ok(Freelist {
                source: FreelistSource::Scanned,
                ids,
            });
        }
        let id = meta.freelist;
        if id < 2 || id >= pages.hwm {
            return Err(Corruption::page(
                id,
                format!(
                    "meta freelist page {id} is outside the valid range [2, {})",
                    pages.hwm
                ),
            )
            .into());
        }
        let hdr = pages
            .header(id)
            .or_corrupt(id, || "freelist page lies past the end of the file".into())?;
        if hdr.flags != FLAG_FREELIST {
            return Err(Corruption::page(
                id,
                format!(
                    "invalid freelist page: page type is {}",
                    hdr.page_type().name()
                ),
            )
            .into());
        }
        let span = pages.span(id, hdr.overflow).or_corrupt(id, || {
            format!(
                "freelist with {} overflow pages runs past the end of the file",
                hdr.overflow
            )
        })?;
        let (n, start, escaped) = if hdr.count == FREELIST_COUNT_OVERFLOW {
            let n = u64_at(span, PAGE_HEADER_SIZE, pages.order)
                .or_corrupt(id, || "freelist count missing".into())?;
            (n, PAGE_HEADER_SIZE + 8, true)
        } else {
            (u64::from(hdr.count), PAGE_HEADER_SIZE, false)
        };
        let room = ((span.len() - start.min(span.len())) / 8) as u64;
        if n > room {
            return Err(Corruption::page(
                id,
                format!(
                    "freelist claims {n} ids but its {} pages hold at most {room}",
                    u64::from(hdr.overflow) + 1
                ),
            )
            .into());
        }
        // n <= room, so this allocation is bounded by the file size.
        let mut ids: Vec<PageId> = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            ids.push(
                u64_at(span, start + i * 8, pages.order)
                    .or_corrupt(id, || "freelist entry".into())?,
            );
        }
        ids.sort_unstable();
        Ok(Freelist {
            source: FreelistSource::Persisted {
                page: id,
                overflow: hdr.overflow,
                escaped_count: escaped,
            },
            ids,
        })
    }

    /// Number of free pages (duplicates counted).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no page is free.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
