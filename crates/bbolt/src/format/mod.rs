//! Byte layouts of the bbolt file format, and nothing else: no I/O, no
//! tree logic. Only this module knows offsets and widths.
//!
//! See `docs/bbolt-format.md` in the repository for the prose description.

use crate::bytes::{u16_at, u32_at, u64_at, ByteOrder};
use crate::error::MetaError;

/// A page number. Go: `pgid`.
pub type PageId = u64;
/// A transaction id. Go: `txid`.
pub type TxId = u64;

/// Size of the header at the start of every page (node). Go: `pageHeaderSize`.
pub const PAGE_HEADER_SIZE: usize = 16;
/// Size of one branch or leaf element. Go: `branchPageElementSize`/`leafPageElementSize`.
pub const ELEMENT_SIZE: usize = 16;
/// Size of the bucket header stored as a bucket's value. Go: `bucketHeaderSize`.
pub const BUCKET_HEADER_SIZE: usize = 16;
/// Size of the meta struct, starting at page offset 16.
pub const META_SIZE: usize = 64;
/// The meta magic. Go: `magic`.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version. Go: `version`.
pub const VERSION: u32 = 2;
/// Longest key Go accepts. Go: `MaxKeySize`.
pub const MAX_KEY_SIZE: usize = 32768;
/// Longest value Go accepts. Go: `MaxValueSize`.
pub const MAX_VALUE_SIZE: usize = (1 << 31) - 2;
/// The meta `freelist` value meaning "no freelist persisted" (NoFreelistSync).
pub const FREELIST_NONE: PageId = u64::MAX;
/// A freelist `count` of this value means the real count is in the first u64.
pub const FREELIST_COUNT_OVERFLOW: u16 = 0xFFFF;

/// Page flag: interior B+tree node. Go: `branchPageFlag`.
pub const FLAG_BRANCH: u16 = 0x01;
/// Page flag: leaf node (also inline bucket pages). Go: `leafPageFlag`.
pub const FLAG_LEAF: u16 = 0x02;
/// Page flag: meta page (pages 0 and 1). Go: `metaPageFlag`.
pub const FLAG_META: u16 = 0x04;
/// Page flag: freelist node. Go: `freelistPageFlag`.
pub const FLAG_FREELIST: u16 = 0x10;
/// Leaf element flag: the value is a bucket header. Go: `bucketLeafFlag`.
pub const LEAF_FLAG_BUCKET: u32 = 0x01;

/// What a page's flags say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageType {
    /// 0x01
    Branch,
    /// 0x02
    Leaf,
    /// 0x04
    Meta,
    /// 0x10
    Freelist,
    /// Anything else (printed by Go as `unknown<xx>`).
    Unknown(u16),
}

impl PageType {
    /// From the raw flags; only exact values are known types (as Go 1.4+).
    pub fn from_flags(flags: u16) -> PageType {
        match flags {
            FLAG_BRANCH => PageType::Branch,
            FLAG_LEAF => PageType::Leaf,
            FLAG_META => PageType::Meta,
            FLAG_FREELIST => PageType::Freelist,
            other => PageType::Unknown(other),
        }
    }

    /// The name Go's CLI prints.
    pub fn name(self) -> String {
        match self {
            PageType::Branch => "branch".into(),
            PageType::Leaf => "leaf".into(),
            PageType::Meta => "meta".into(),
            PageType::Freelist => "freelist".into(),
            PageType::Unknown(f) => format!("unknown<{:02x}>", f),
        }
    }
}

/// The 16-byte header at the start of every node. Go: `page`.
///
/// | off | size | field    |
/// |----:|-----:|----------|
/// | 0   | 8    | id       |
/// | 8   | 2    | flags    |
/// | 10  | 2    | count    |
/// | 12  | 4    | overflow |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageHeader {
    /// The page's own id (0 for inline pages).
    pub id: PageId,
    /// Raw type flags.
    pub flags: u16,
    /// Element count (or freelist count, possibly 0xFFFF).
    pub count: u16,
    /// Number of continuation pages after this one.
    pub overflow: u32,
}

impl PageHeader {
    /// Parses the header at the start of `buf`; `None` if `buf` is shorter than 16 bytes.
    #[inline]
    pub fn parse(buf: &[u8], order: ByteOrder) -> Option<PageHeader> {
        Some(PageHeader {
            id: u64_at(buf, 0, order)?,
            flags: u16_at(buf, 8, order)?,
            count: u16_at(buf, 10, order)?,
            overflow: u32_at(buf, 12, order)?,
        })
    }

    /// The page type named by the flags.
    pub fn page_type(&self) -> PageType {
        PageType::from_flags(self.flags)
    }

    /// Encodes a little-endian header.
    pub fn encode(&self) -> [u8; PAGE_HEADER_SIZE] {
        let mut b = [0u8; PAGE_HEADER_SIZE];
        b[..8].copy_from_slice(&self.id.to_le_bytes());
        b[8..10].copy_from_slice(&self.flags.to_le_bytes());
        b[10..12].copy_from_slice(&self.count.to_le_bytes());
        b[12..16].copy_from_slice(&self.overflow.to_le_bytes());
        b
    }
}

/// The meta struct at page offset 16 of pages 0 and 1. Go: `meta`.
///
/// | page off | size | field         |
/// |---------:|-----:|---------------|
/// | 16 | 4 | magic           |
/// | 20 | 4 | version         |
/// | 24 | 4 | page size       |
/// | 28 | 4 | flags (ignored) |
/// | 32 | 8 | root bucket root pgid |
/// | 40 | 8 | root bucket sequence |
/// | 48 | 8 | freelist pgid (or `u64::MAX`) |
/// | 56 | 8 | pgid: high-water mark |
/// | 64 | 8 | txid            |
/// | 72 | 8 | checksum: FNV-1a 64 of page bytes 16..72 |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Must be [`MAGIC`].
    pub magic: u32,
    /// Must be [`VERSION`].
    pub version: u32,
    /// The page size P.
    pub page_size: u32,
    /// Unused by bbolt; ignored.
    pub flags: u32,
    /// Root page of the root bucket.
    pub root: PageId,
    /// Sequence of the root bucket.
    pub root_sequence: u64,
    /// Freelist page, or [`FREELIST_NONE`].
    pub freelist: PageId,
    /// High-water mark: number of pages in use.
    pub pgid: PageId,
    /// The transaction that wrote this meta.
    pub txid: TxId,
    /// Stored checksum.
    pub checksum: u64,
}

/// Offset of the meta struct inside its page.
pub const META_OFFSET: usize = PAGE_HEADER_SIZE;
/// Bytes covered by the meta checksum (magic through txid).
pub const META_CHECKSUM_LEN: usize = 56;

impl Meta {
    /// Parses the meta struct from a page image (`page` starts at the page header).
    pub fn parse(page: &[u8], order: ByteOrder) -> Option<Meta> {
        let b = META_OFFSET;
        Some(Meta {
            magic: u32_at(page, b, order)?,
            version: u32_at(page, b + 4, order)?,
            page_size: u32_at(page, b + 8, order)?,
            flags: u32_at(page, b + 12, order)?,
            root: u64_at(page, b + 16, order)?,
            root_sequence: u64_at(page, b + 24, order)?,
            freelist: u64_at(page, b + 32, order)?,
            pgid: u64_at(page, b + 40, order)?,
            txid: u64_at(page, b + 48, order)?,
            checksum: u64_at(page, b + 56, order)?,
        })
    }

    /// Validates a meta page image as Go does: magic, version, checksum, in
    /// that order. The header's id and flags are not checked (Go does not).
    pub fn validate(page: &[u8], order: ByteOrder) -> Result<Meta, MetaError> {
        let meta = Meta::parse(page, order).ok_or(MetaError::Missing)?;
        if meta.magic != MAGIC {
            return Err(MetaError::BadMagic(meta.magic));
        }
        if meta.version != VERSION {
            return Err(MetaError::BadVersion(meta.version));
        }
        let covered = page
            .get(META_OFFSET..META_OFFSET + META_CHECKSUM_LEN)
            .ok_or(MetaError::Missing)?;
        let computed = fnv1a64(covered);
        if computed != meta.checksum {
            return Err(MetaError::BadChecksum {
                stored: meta.checksum,
                computed,
            });
        }
        Ok(meta)
    }

    /// The checksum of this meta's fields as they would be written (little-endian).
    pub fn compute_checksum(&self) -> u64 {
        let enc = self.encode_fields();
        fnv1a64(&enc[..META_CHECKSUM_LEN])
    }

    fn encode_fields(&self) -> [u8; META_SIZE] {
        let mut b = [0u8; META_SIZE];
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&self.page_size.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.root.to_le_bytes());
        b[24..32].copy_from_slice(&self.root_sequence.to_le_bytes());
        b[32..40].copy_from_slice(&self.freelist.to_le_bytes());
        b[40..48].copy_from_slice(&self.pgid.to_le_bytes());
        b[48..56].copy_from_slice(&self.txid.to_le_bytes());
        b[56..64].copy_from_slice(&self.checksum.to_le_bytes());
        b
    }

    /// Writes a complete little-endian meta page (header with id `slot`,
    /// flags meta, the fields, a fresh checksum) into `page`, which must be
    /// zeroed and at least 80 bytes long.
    pub fn encode_page(&self, slot: PageId, page: &mut [u8]) -> Option<()> {
        let mut m = *self;
        m.checksum = m.compute_checksum();
        let hdr = PageHeader {
            id: slot,
            flags: FLAG_META,
            count: 0,
            overflow: 0,
        }
        .encode();
        page.get_mut(..PAGE_HEADER_SIZE)?.copy_from_slice(&hdr);
        page.get_mut(META_OFFSET..META_OFFSET + META_SIZE)?
            .copy_from_slice(&m.encode_fields());
        Some(())
    }
}

/// 64-bit FNV-1a, the meta checksum.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Detects the file's byte order from the magic at file offset 16.
pub fn detect_byte_order(file: &[u8]) -> ByteOrder {
    match file.get(16..20) {
        Some([0xED, 0x0C, 0xDA, 0xED]) => ByteOrder::Big,
        _ => ByteOrder::Little,
    }
}

/// A branch element. Go: `branchPageElement`.
///
/// | off | size | field |
/// |----:|-----:|-------|
/// | 0 | 4 | pos: from this element to its key |
/// | 4 | 4 | ksize |
/// | 8 | 8 | child pgid |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchElement {
    /// Distance from the element to its key.
    pub pos: u32,
    /// Key length.
    pub ksize: u32,
    /// Child page.
    pub pgid: PageId,
}

impl BranchElement {
    /// Parses the element at `off` in `node`.
    #[inline]
    pub fn parse(node: &[u8], off: usize, order: ByteOrder) -> Option<BranchElement> {
        Some(BranchElement {
            pos: u32_at(node, off, order)?,
            ksize: u32_at(node, off + 4, order)?,
            pgid: u64_at(node, off + 8, order)?,
        })
    }
}

/// A leaf element. Go: `leafPageElement`.
///
/// | off | size | field |
/// |----:|-----:|-------|
/// | 0  | 4 | flags (0x01 = bucket) |
/// | 4  | 4 | pos: from this element to its key |
/// | 8  | 4 | ksize |
/// | 12 | 4 | vsize (the value follows the key) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafElement {
    /// Element flags.
    pub flags: u32,
    /// Distance from the element to its key.
    pub pos: u32,
    /// Key length.
    pub ksize: u32,
    /// Value length.
    pub vsize: u32,
}

impl LeafElement {
    /// Parses the element at `off` in `node`.
    #[inline]
    pub fn parse(node: &[u8], off: usize, order: ByteOrder) -> Option<LeafElement> {
        Some(LeafElement {
            flags: u32_at(node, off, order)?,
            pos: u32_at(node, off + 4, order)?,
            ksize: u32_at(node, off + 8, order)?,
            vsize: u32_at(node, off + 12, order)?,
        })
    }
}

/// The bucket header stored as a bucket's value. Go: `bucket` (InBucket).
///
/// | off | size | field |
/// |----:|-----:|-------|
/// | 0 | 8 | root pgid (0 = inline) |
/// | 8 | 8 | sequence |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketHeader {
    /// Root page, 0 for an inline bucket.
    pub root: PageId,
    /// The bucket's sequence counter.
    pub sequence: u64,
}

impl BucketHeader {
    /// Parses a bucket value's header.
    pub fn parse(value: &[u8], order: ByteOrder) -> Option<BucketHeader> {
        Some(BucketHeader {
            root: u64_at(value, 0, order)?,
            sequence: u64_at(value, 8, order)?,
        })
    }

    /// Little-endian encoding.
    pub fn encode(&self) -> [u8; BUCKET_HEADER_SIZE] {
        let mut b = [0u8; BUCKET_HEADER_SIZE];
        b[..8].copy_from_slice(&self.root.to_le_bytes());
        b[8..].copy_from_slice(&self.sequence.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh_meta(page_size: u32, txid: u64) -> Meta {
        Meta {
            magic: MAGIC,
            version: VERSION,
            page_size,
            flags: 0,
            root: 3,
            root_sequence: 0,
            freelist: 2,
            pgid: 4,
            txid,
            checksum: 0,
        }
    }

    // Test vectors from the format spec (freshly initialised databases).
    #[test]
    fn meta_checksum_vectors() {
        let cases = [
            (1024, 0xa405d3b025610722u64, 0xc3009ab930505143u64),
            (4096, 0x07516e114689fdee, 0x264c351a5179480f),
            (16384, 0x90f347e30dddf37e, 0xafee0eec18cd3d9f),
            (65536, 0x05c392110dcba3a7, 0xe6c8cb0802dc5986),
        ];
        for (p, c0, c1) in cases {
            assert_eq!(
                fresh_meta(p, 0).compute_checksum(),
                c0,
                "page size {p} txid 0"
            );
            assert_eq!(
                fresh_meta(p, 1).compute_checksum(),
                c1,
                "page size {p} txid 1"
            );
        }
    }

    #[test]
    fn meta_page_round_trip_and_validation_order() {
        let mut page = vec![0u8; 4096];
        fresh_meta(4096, 7).encode_page(1, &mut page).unwrap();
        let m = Meta::validate(&page, ByteOrder::Little).unwrap();
        assert_eq!(m.txid, 7);
        assert_eq!(PageHeader::parse(&page, ByteOrder::Little).unwrap().id, 1);
        // A flipped txid byte is a checksum error.
        page[64] ^= 1;
        assert!(matches!(
            Meta::validate(&page, ByteOrder::Little),
            Err(MetaError::BadChecksum { .. })
        ));
        // Version is checked before the checksum, magic before the version.
        page[20] = 3;
        assert_eq!(
            Meta::validate(&page, ByteOrder::Little),
            Err(MetaError::BadVersion(3))
        );
        page[16] = 0;
        assert!(matches!(
            Meta::validate(&page, ByteOrder::Little),
            Err(MetaError::BadMagic(_))
        ));
        assert_eq!(
            Meta::validate(&page[..40], ByteOrder::Little),
            Err(MetaError::Missing)
        );
    }

    #[test]
    fn byte_order_detection() {
        let mut f = vec![0u8; 32];
        f[16..20].copy_from_slice(&MAGIC.to_le_bytes());
        assert_eq!(detect_byte_order(&f), ByteOrder::Little);
        f[16..20].copy_from_slice(&MAGIC.to_be_bytes());
        assert_eq!(detect_byte_order(&f), ByteOrder::Big);
        assert_eq!(detect_byte_order(&[]), ByteOrder::Little);
    }

    #[test]
    fn page_type_names() {
        assert_eq!(PageType::from_flags(0x10).name(), "freelist");
        assert_eq!(PageType::from_flags(0x03).name(), "unknown<03>");
        assert_eq!(PageType::from_flags(0).name(), "unknown<00>");
    }
}
