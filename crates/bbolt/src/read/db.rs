//! Opening a file: page-size discovery, meta validation and selection.

use crate::bytes::ByteOrder;
use crate::error::{Corruption, Error, MetaError, Result};
use crate::format::{detect_byte_order, Meta, PageHeader, PageId, MAGIC};
use crate::read::bucket::Bucket;
use crate::read::freelist::Freelist;
use crate::read::node::Pages;

/// Which meta page to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetaChoice {
    /// As Go does: the valid meta with the higher txid (meta 0 wins ties).
    #[default]
    Newest,
    /// Exactly this slot (0 or 1); the open fails if it is not valid.
    Slot(u8),
    /// The valid meta with the lower txid: the state before the last commit
    /// (Go's `surgery revert-meta-page`).
    Older,
}

/// Options for [`Db::open_with`].
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Which meta page to read the tree from.
    pub meta: MetaChoice,
    /// Use this page size instead of discovering it from the metas.
    pub page_size: Option<u32>,
}

/// A read-only bbolt database over any byte container (a `Vec<u8>`, a
/// memory map, a `&[u8]`). Go: `DB` opened with `ReadOnly`, one `Tx`.
///
/// Opening validates both meta pages and picks one; nothing else is read
/// until it is asked for, so a damaged tree is only reported when a read
/// reaches it.
pub struct Db<D> {
    data: D,
    page_size: u32,
    order: ByteOrder,
    meta: Meta,
    slot: u8,
    metas: [Result<Meta, MetaError>; 2],
}

/// Smallest page size accepted (a page must at least hold a meta).
pub const MIN_PAGE_SIZE: u32 = 512;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: u32 = 1 << 28;

impl<D: AsRef<[u8]>> Db<D> {
    /// Opens a database the way Go does for a read-only transaction.
    ///
    /// ```
    /// let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/bolt/nested.db")).unwrap();
    /// let db = bbolt::Db::open(bytes).unwrap();
    /// assert!(db.page_size() >= 1024);
    /// ```
    pub fn open(data: D) -> Result<Self> {
        Self::open_with(data, &OpenOptions::default())
    }

    /// Opens with explicit options (meta choice, page size).
    pub fn open_with(data: D, opts: &OpenOptions) -> Result<Self> {
        let bytes = data.as_ref();
        let (page_size, order) = match opts.page_size {
            Some(p) => (p, detect_byte_order(bytes)),
            None => discover_page_size(bytes),
        };
        if !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(Error::Unsupported(format!(
                "page size {page_size} (this reader handles {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE} bytes)"
            )));
        }
        let p = page_size as usize;
        let metas = [read_meta(bytes, 0, p, order), read_meta(bytes, p, p, order)];
        if (bytes.len() as u64) < 2 * u64::from(page_size) {
            return Err(Error::TooSmall {
                len: bytes.len() as u64,
                page_size,
            });
        }
        let slot = select_meta(&metas, opts.meta)?;
        let meta = match metas
            .get(usize::from(slot))
            .unwrap_or(&Err(MetaError::Missing))
        {
            Ok(m) => *m,
            Err(e) => {
                return Err(Corruption::page(
                    PageId::from(slot),
                    format!("meta page is not valid: {e}"),
                )
                .into())
            }
        };
        Ok(Db {
            data,
            page_size,
            order,
            meta,
            slot,
            metas,
        })
    }

    /// The page size in bytes.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// The file's byte order.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// The meta the tree is read from.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Which meta slot (0 or 1) is in use.
    pub fn meta_slot(&self) -> u8 {
        self.slot
    }

    /// Both meta pages as validated (for diagnostics).
    pub fn metas(&self) -> &[Result<Meta, MetaError>; 2] {
        &self.metas
    }

    /// The underlying bytes.
    pub fn data(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// The file length in bytes.
    pub fn file_len(&self) -> u64 {
        self.data.as_ref().len() as u64
    }

    /// High-water mark: pages in use according to the meta.
    pub fn hwm(&self) -> PageId {
        self.meta.pgid
    }

    pub(crate) fn pages(&self) -> Pages<'_> {
        Pages {
            data: self.data.as_ref(),
            page_size: self.page_size as usize,
            hwm: self.meta.pgid,
            order: self.order,
        }
    }

    /// The root bucket: its entries are the top-level buckets.
    pub fn root(&self) -> Bucket<'_> {
        Bucket::new_root(self.pages(), self.meta.root, self.meta.root_sequence)
    }

    /// The bucket at `path` (top-level name first), or `BucketNotFound`.
    pub fn bucket<K: AsRef<[u8]>>(&self, path: &[K]) -> Result<Bucket<'_>> {
        let mut b = self.root();
        for (i, name) in path.iter().enumerate() {
            b = match b.bucket(name.as_ref())? {
                Some(child) => child,
                None => {
                    let shown: Vec<String> = path
                        .iter()
                        .take(i + 1)
                        .map(|n| String::from_utf8_lossy(n.as_ref()).into_owned())
                        .collect();
                    return Err(Error::BucketNotFound(shown.join("/")));
                }
            };
        }
        Ok(b)
    }

    /// The free pages: the persisted freelist, or (for the "no freelist"
    /// sentinel) every page below the HWM the tree does not reach.
    pub fn freelist(&self) -> Result<Freelist> {
        Freelist::load(self.pages(), &self.meta)
    }

    /// The raw header of any page inside the file.
    pub fn page_header(&self, id: PageId) -> Result<PageHeader> {
        self.pages().header(id).ok_or_else(|| {
            Corruption::page(
                id,
                format!(
                    "page lies past the end of the file ({} pages)",
                    self.pages().file_pages()
                ),
            )
            .into()
        })
    }

    /// The bytes of page `id` (one page, no overflow), if inside the file.
    pub fn page_bytes(&self, id: PageId) -> Option<&[u8]> {
        self.pages().span(id, 0)
    }

    /// A view of page `id` for printing its elements.
    pub fn page(&self, id: PageId) -> Result<crate::read::page::Page<'_>> {
        crate::read::page::Page::new(self.pages(), id)
    }
}

fn read_meta(
    bytes: &[u8],
    off: usize,
    page_size: usize,
    order: ByteOrder,
) -> Result<Meta, MetaError> {
    let page = bytes
        .get(off..off.saturating_add(page_size).min(bytes.len()))
        .ok_or(MetaError::Missing)?;
    Meta::validate(page, order)
}

/// Go's page-size discovery: meta 0, then candidate offsets 1 KiB .. 16 MiB
/// for meta 1, each in either byte order; 4096 when nothing is valid.
fn discover_page_size(bytes: &[u8]) -> (u32, ByteOrder) {
    let try_at = |off: usize| -> Option<(u32, ByteOrder)> {
        let page = bytes.get(off..off.saturating_add(4096).min(bytes.len()))?;
        let order = match page.get(16..20) {
            Some(m) if m == MAGIC.to_be_bytes() => ByteOrder::Big,
            _ => ByteOrder::Little,
        };
        Meta::validate(page, order)
            .ok()
            .map(|m| (m.page_size, order))
    };
    if let Some(found) = try_at(0) {
        return found;
    }
    for i in 0..15 {
        let off = 1024usize << i;
        if off >= bytes.len().saturating_sub(1024) {
            break;
        }
        if let Some(found) = try_at(off) {
            return found;
        }
    }
    (4096, detect_byte_order(bytes))
}

fn select_meta(metas: &[Result<Meta, MetaError>; 2], choice: MetaChoice) -> Result<u8> {
    match (choice, &metas[0], &metas[1]) {
        (MetaChoice::Slot(s), _, _) if s < 2 => Ok(s),
        (MetaChoice::Slot(s), _, _) => Err(Error::InvalidArgument(format!(
            "meta slot {s} (must be 0 or 1)"
        ))),
        (_, Err(a), Err(b)) => Err(Error::InvalidDatabase {
            meta0: a.clone(),
            meta1: b.clone(),
        }),
        (_, Ok(_), Err(_)) => Ok(0),
        (_, Err(_), Ok(_)) => Ok(1),
        (MetaChoice::Newest, Ok(a), Ok(b)) => Ok(if b.txid > a.txid { 1 } else { 0 }),
        (MetaChoice::Older, Ok(a), Ok(b)) => Ok(if b.txid > a.txid { 0 } else { 1 }),
    }
}
