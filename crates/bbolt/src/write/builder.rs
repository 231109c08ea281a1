//! Bottom-up construction of a bbolt file from sorted input.
//!
//! Buckets and pairs arrive in key order, nested buckets at their key's
//! position. Each bucket level keeps at most two unwritten nodes per tree
//! level (the one being filled and the one before it, held back so the last
//! node of a level never ends up with a single element), so memory does not
//! grow with the file. Pages are written in order from page 2; the
//! freelist goes last and the two metas are written at the end.

use std::io::{Seek, SeekFrom, Write};

use crate::error::{Error, Result};
use crate::format::{
    BucketHeader, Meta, PageHeader, PageId, ELEMENT_SIZE, FLAG_BRANCH, FLAG_FREELIST, FLAG_LEAF,
    FREELIST_NONE, LEAF_FLAG_BUCKET, MAGIC, MAX_KEY_SIZE, MAX_VALUE_SIZE, PAGE_HEADER_SIZE,
    VERSION,
};
use crate::read::db::{MAX_PAGE_SIZE, MIN_PAGE_SIZE};

/// What to write where the freelist goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FreelistMode {
    /// An empty freelist page (the file is dense): readable by every bbolt
    /// and boltdb version.
    #[default]
    Empty,
    /// The "no freelist" sentinel, as files written with `NoFreelistSync`
    /// (etcd's) carry; Go rebuilds the list by scanning.
    None,
}

/// Options for a [`Builder`].
#[derive(Clone, Debug)]
pub struct BuilderOptions {
    /// Page size in bytes (any size from 512 to 256 MiB; Go's default is
    /// the OS page size, 4096 on Linux x86-64).
    pub page_size: u32,
    /// How full to pack nodes, 0.1 to 1.0 (Go's `FillPercent`; its default
    /// is 0.5, its `compact` uses 1.0).
    pub fill_percent: f64,
    /// Freelist page or sentinel.
    pub freelist: FreelistMode,
    /// Transaction id of the newest meta (at least 1); the other meta slot
    /// gets `txid - 1`.
    pub txid: u64,
}

impl Default for BuilderOptions {
    fn default() -> Self {
        BuilderOptions {
            page_size: 4096,
            fill_percent: 1.0,
            freelist: FreelistMode::Empty,
            txid: 1,
        }
    }
}

/// What [`Builder::finish`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildSummary {
    /// Page size.
    pub page_size: u32,
    /// High-water mark: pages in the file.
    pub pages: u64,
    /// File length in bytes: pages × page size, padded to at least 4 pages
    /// and 4096 bytes as Go's own files are.
    pub file_size: u64,
    /// Buckets written, nested ones included (not the root bucket).
    pub buckets: u64,
    /// Of which inline.
    pub inline_buckets: u64,
    /// Key/value pairs written (bucket entries not included).
    pub keys: u64,
    /// Root page of the root bucket.
    pub root: PageId,
}

/// Go panics on a node with 0xFFFF elements; stay below.
const MAX_ELEMENTS: usize = 0xFFFE;

#[derive(Clone, Copy, Debug)]
struct Elem {
    flags: u32,
    klen: u32,
    vlen: u32,
    child: PageId,
}

/// A node being filled: elements and their packed keys (and values).
#[derive(Debug, Default)]
struct NodeBuf {
    elems: Vec<Elem>,
    data: Vec<u8>,
}

impl NodeBuf {
    fn size(&self) -> usize {
        PAGE_HEADER_SIZE + ELEMENT_SIZE * self.elems.len() + self.data.len()
    }
    fn len(&self) -> usize {
        self.elems.len()
    }
    fn push(&mut self, flags: u32, key: &[u8], value: &[u8], child: PageId) {
        self.elems.push(Elem {
            flags,
            klen: key.len() as u32,
            vlen: value.len() as u32,
            child,
        });
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
    }
    fn first_key(&self) -> &[u8] {
        let n = self.elems.first().map_or(0, |e| e.klen as usize);
        self.data.get(..n).unwrap_or_default()
    }
    fn append(&mut self, other: NodeBuf) {
        self.elems.extend(other.elems);
        self.data.extend(other.data);
    }
    /// The elements with their key and value slices.
    fn items(&self) -> impl Iterator<Item = (Elem, &[u8], &[u8])> {
        let mut off = 0usize;
        self.elems.iter().map(move |e| {
            let k = self
                .data
                .get(off..off + e.klen as usize)
                .unwrap_or_default();
            let v = self
                .data
                .get(off + e.klen as usize..off + e.klen as usize + e.vlen as usize)
                .unwrap_or_default();
            off += e.klen as usize + e.vlen as usize;
            (*e, k, v)
        })
    }

    /// Appends the node image to `out`: header, elements, packed data,
    /// zero fill to `len` bytes.
    fn encode(&self, id: PageId, flags: u16, overflow: u32, out: &mut Vec<u8>, len: usize) {
        let start = out.len();
        out.resize(start + len.max(self.size()), 0);
        let Some(img) = out.get_mut(start..) else {
            return;
        };
        let hdr = PageHeader {
            id,
            flags,
            count: self.elems.len() as u16,
            overflow,
        }
        .encode();
        put(img, 0, &hdr);
        let n = self.elems.len();
        let mut data = PAGE_HEADER_SIZE + ELEMENT_SIZE * n;
        put(img, data, &self.data);
        for (i, e) in self.elems.iter().enumerate() {
            let at = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
            let pos = (data - at) as u32;
            let mut el = [0u8; ELEMENT_SIZE];
            if flags == FLAG_BRANCH {
                el[0..4].copy_from_slice(&pos.to_le_bytes());
                el[4..8].copy_from_slice(&e.klen.to_le_bytes());
                el[8..16].copy_from_slice(&e.child.to_le_bytes());
            } else {
                el[0..4].copy_from_slice(&e.flags.to_le_bytes());
                el[4..8].copy_from_slice(&pos.to_le_bytes());
                el[8..12].copy_from_slice(&e.klen.to_le_bytes());
                el[12..16].copy_from_slice(&e.vlen.to_le_bytes());
            }
            put(img, at, &el);
            data += e.klen as usize + e.vlen as usize;
        }
    }

    fn clear(&mut self) {
        self.elems.clear();
        self.data.clear();
    }
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// One level of a bucket's B+tree under construction.
#[derive(Debug, Default)]
struct Level {
    cur: NodeBuf,
    held: Option<NodeBuf>,
    /// Nodes of this level already written.
    written: u64,
}

/// Writes pages in order, through one output buffer; keeps written nodes'
/// allocations for reuse.
struct PageWriter<W: Write + Seek> {
    out: W,
    buf: Vec<u8>,
    page_size: usize,
    next: PageId,
    spare: Vec<NodeBuf>,
}

const FLUSH_AT: usize = 1 << 20;

impl<W: Write + Seek> PageWriter<W> {
    fn write_node(&mut self, node: &NodeBuf, branch: bool) -> Result<PageId> {
        let size = node.size();
        let pages = size.div_ceil(self.page_size).max(1);
        let overflow = u32::try_from(pages - 1).map_err(|_| {
            Error::InvalidArgument(format!("a node of {size} bytes needs too many pages"))
        })?;
        let id = self.next;
        self.next += pages as u64;
        let flags = if branch { FLAG_BRANCH } else { FLAG_LEAF };
        node.encode(id, flags, overflow, &mut self.buf, pages * self.page_size);
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(id)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn recycle(&mut self, mut node: NodeBuf) {
        node.clear();
        if self.spare.len() < 64 {
            self.spare.push(node);
        }
    }

    fn fresh(&mut self) -> NodeBuf {
        self.spare.pop().unwrap_or_default()
    }
}

/// A bucket being written.
struct BucketState {
    name: Vec<u8>,
    sequence: u64,
    last_key: Option<Vec<u8>>,
    levels: Vec<Level>,
    has_sub: bool,
    /// Still small enough, with no sub-bucket, to be stored inline.
    inline_candidate: bool,
}

impl BucketState {
    fn new(name: Vec<u8>, is_root: bool) -> Self {
        BucketState {
            name,
            sequence: 0,
            last_key: None,
            levels: vec![Level::default()],
            has_sub: false,
            inline_candidate: !is_root,
        }
    }
}

/// Builds a bbolt file from buckets and pairs given in key order. Go: what
/// `bbolt compact` produces, written bottom-up in one pass.
///
/// ```
/// use std::io::Cursor;
/// use bbolt::write::{Builder, BuilderOptions};
///
/// let mut b = Builder::new(Cursor::new(Vec::new()), BuilderOptions::default())?;
/// b.begin_bucket(b"widgets")?;
/// b.put(b"a", b"1")?;
/// b.begin_bucket(b"nested")?;
/// b.set_sequence(7)?;
/// b.end_bucket()?;
/// b.put(b"z", b"")?;
/// b.end_bucket()?;
/// let (out, summary) = b.finish()?;
/// assert_eq!(summary.keys, 2);
///
/// let db = bbolt::Db::open(out.into_inner())?;
/// assert_eq!(db.bucket(&[b"widgets"])?.get(b"a")?, Some(&b"1"[..]));
/// assert_eq!(db.bucket(&[&b"widgets"[..], b"nested"])?.sequence(), 7);
/// assert!(db.check().is_ok());
/// # Ok::<(), bbolt::Error>(())
/// ```
pub struct Builder<W: Write + Seek> {
    pw: PageWriter<W>,
    opts: BuilderOptions,
    threshold: usize,
    stack: Vec<BucketState>,
    summary: BuildSummary,
}

impl<W: Write + Seek> Builder<W> {
    /// Starts a file in `out` (written from its current position 0; use an
    /// [`AtomicFile`](crate::write::AtomicFile) for files).
    pub fn new(out: W, opts: BuilderOptions) -> Result<Self> {
        if !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&opts.page_size) {
            return Err(Error::InvalidArgument(format!(
                "page size {} (must be {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE})",
                opts.page_size
            )));
        }
        if !(0.1..=1.0).contains(&opts.fill_percent) {
            return Err(Error::InvalidArgument(format!(
                "fill percent {} (must be 0.1 to 1.0)",
                opts.fill_percent
            )));
        }
        if opts.txid == 0 {
            return Err(Error::InvalidArgument("txid must be at least 1".into()));
        }
        let p = opts.page_size as usize;
        let mut out = out;
        out.seek(SeekFrom::Start(0))?;
        let threshold = ((p as f64) * opts.fill_percent) as usize;
        // Room for the two metas, written last.
        let buf = vec![0u8; 2 * p];
        Ok(Builder {
            pw: PageWriter {
                out,
                buf,
                page_size: p,
                next: 2,
                spare: Vec::new(),
            },
            threshold,
            stack: vec![BucketState::new(Vec::new(), true)],
            summary: BuildSummary {
                page_size: opts.page_size,
                ..Default::default()
            },
            opts,
        })
    }

    /// How many buckets are open (0 at the root).
    pub fn depth(&self) -> usize {
        self.stack.len() - 1
    }

    fn current(&mut self) -> &mut BucketState {
        let i = self.stack.len() - 1;
        match self.stack.get_mut(i) {
            Some(b) => b,
            None => unreachable_state(),
        }
    }

    fn check_key(&mut self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::KeyRequired);
        }
        if key.len() > MAX_KEY_SIZE {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: MAX_KEY_SIZE,
            });
        }
        let b = self.current();
        if let Some(prev) = &b.last_key {
            match prev.as_slice().cmp(key) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Err(Error::DuplicateKey(key.to_vec())),
                std::cmp::Ordering::Greater => {
                    return Err(Error::OutOfOrder {
                        previous: prev.clone(),
                        got: key.to_vec(),
                    })
                }
            }
        }
        match &mut b.last_key {
            Some(k) => {
                k.clear();
                k.extend_from_slice(key);
            }
            None => b.last_key = Some(key.to_vec()),
        }
        Ok(())
    }

    /// Adds a key/value pair to the current bucket. Keys must be strictly
    /// increasing within a bucket; the root level holds only buckets.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if self.stack.len() == 1 {
            return Err(Error::IncompatibleValue(
                "the root level holds only buckets; begin a bucket first".into(),
            ));
        }
        if value.len() > MAX_VALUE_SIZE {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max: MAX_VALUE_SIZE,
            });
        }
        self.check_key(key)?;
        self.summary.keys += 1;
        self.add_entry(0, key, value)
    }

    /// Opens a sub-bucket of the current bucket (at the root: a top-level
    /// bucket). Its contents follow, then [`end_bucket`](Self::end_bucket).
    pub fn begin_bucket(&mut self, name: &[u8]) -> Result<()> {
        self.check_key(name)?;
        let parent = self.current();
        if !parent.has_sub {
            parent.has_sub = true;
            if parent.inline_candidate {
                parent.inline_candidate = false;
                self.repack()?;
            }
        }
        self.stack.push(BucketState::new(name.to_vec(), false));
        Ok(())
    }

    /// Sets the current bucket's sequence (at the root: the root bucket's).
    pub fn set_sequence(&mut self, sequence: u64) -> Result<()> {
        self.current().sequence = sequence;
        Ok(())
    }

    /// Closes the current bucket and stores its entry in the parent.
    pub fn end_bucket(&mut self) -> Result<()> {
        if self.stack.len() < 2 {
            return Err(Error::InvalidArgument(
                "end_bucket without an open bucket".into(),
            ));
        }
        let Some(mut b) = self.stack.pop() else {
            unreachable_state()
        };
        self.summary.buckets += 1;
        let value = if b.inline_candidate {
            self.summary.inline_buckets += 1;
            let level = std::mem::take(&mut b.levels);
            let node = level.into_iter().next().map(|l| l.cur).unwrap_or_default();
            let mut v = BucketHeader {
                root: 0,
                sequence: b.sequence,
            }
            .encode()
            .to_vec();
            let mut img = Vec::new();
            node.encode(0, FLAG_LEAF, 0, &mut img, 0);
            v.extend_from_slice(&img);
            v
        } else {
            let root = finish_tree(&mut b.levels, &mut self.pw, self.threshold)?;
            BucketHeader {
                root,
                sequence: b.sequence,
            }
            .encode()
            .to_vec()
        };
        self.add_entry(LEAF_FLAG_BUCKET, &b.name, &value)
    }

    /// Adds a leaf entry (a pair, or a bucket with `LEAF_FLAG_BUCKET`) to the current bucket.
    fn add_entry(&mut self, flags: u32, key: &[u8], value: &[u8]) -> Result<()> {
        let p = self.pw.page_size;
        let threshold = self.threshold;
        let i = self.stack.len() - 1;
        let Some(b) = self.stack.get_mut(i) else {
            unreachable_state()
        };
        if b.inline_candidate {
            let Some(l) = b.levels.first_mut() else {
                unreachable_state()
            };
            l.cur.push(flags, key, value, 0);
            if l.cur.size() > p / 4 {
                b.inline_candidate = false;
                return self.repack();
            }
            return Ok(());
        }
        add(
            &mut b.levels,
            0,
            flags,
            key,
            value,
            0,
            &mut self.pw,
            threshold,
        )
    }

    /// The current bucket stopped being an inline candidate: pack what was
    /// buffered into regular leaves.
    fn repack(&mut self) -> Result<()> {
        let threshold = self.threshold;
        let i = self.stack.len() - 1;
        let Some(b) = self.stack.get_mut(i) else {
            unreachable_state()
        };
        let Some(l) = b.levels.first_mut() else {
            unreachable_state()
        };
        let buffered = std::mem::take(&mut l.cur);
        for (e, k, v) in buffered.items() {
            add(&mut b.levels, 0, e.flags, k, v, 0, &mut self.pw, threshold)?;
        }
        Ok(())
    }

    /// Closes open buckets, writes the root bucket, the freelist and both
    /// metas, and returns the output with a summary.
    pub fn finish(mut self) -> Result<(W, BuildSummary)> {
        while self.stack.len() > 1 {
            self.end_bucket()?;
        }
        let Some(mut root) = self.stack.pop() else {
            unreachable_state()
        };
        let root_page = finish_tree(&mut root.levels, &mut self.pw, self.threshold)?;
        let p = self.pw.page_size;
        let freelist = match self.opts.freelist {
            FreelistMode::Empty => {
                let id = self.pw.next;
                self.pw.next += 1;
                let mut page = vec![0u8; p];
                put(
                    &mut page,
                    0,
                    &PageHeader {
                        id,
                        flags: FLAG_FREELIST,
                        count: 0,
                        overflow: 0,
                    }
                    .encode(),
                );
                self.pw.write_raw(&page)?;
                id
            }
            FreelistMode::None => FREELIST_NONE,
        };
        let hwm = self.pw.next;
        self.pw.flush_buf()?;
        let txid = self.opts.txid;
        for t in [txid - 1, txid] {
            let slot = t % 2;
            let meta = Meta {
                magic: MAGIC,
                version: VERSION,
                page_size: self.opts.page_size,
                flags: 0,
                root: root_page,
                root_sequence: root.sequence,
                freelist,
                pgid: hwm,
                txid: t,
                checksum: 0,
            };
            let mut page = vec![0u8; p];
            meta.encode_page(slot, &mut page)
                .ok_or_else(|| Error::InvalidArgument("page too small for a meta".into()))?;
            self.pw.out.seek(SeekFrom::Start(slot * p as u64))?;
            self.pw.out.write_all(&page)?;
        }
        // Go reads the first 4096 bytes to find the page size and falls
        // back to the OS page size on a short read, so a file shorter than
        // that (an empty database with 1 KiB pages) would not open: pad with
        // zeroed, unallocated pages past the high-water mark, as Go's own
        // files have (they are at least 4 pages long).
        let mut len = hwm * p as u64;
        let min_len = (4 * p as u64).max(4096);
        if len < min_len {
            self.pw.out.seek(SeekFrom::Start(len))?;
            self.pw
                .out
                .write_all(&vec![0u8; (min_len - len) as usize])?;
            len = min_len;
        }
        self.pw.out.seek(SeekFrom::Start(len))?;
        self.pw.out.flush()?;
        let out = self.pw.out;
        self.summary.pages = hwm;
        self.summary.file_size = len;
        self.summary.root = root_page;
        Ok((out, self.summary))
    }
}

#[allow(clippy::panic)]
fn unreachable_state() -> ! {
    // The bucket stack always holds the root; reaching this is a bug in
    // this module, not something input can cause.
    panic!("bbolt::write::Builder: internal bucket stack is empty")
}

/// Adds an element to level `i`, writing the node before it when the new
/// element would push it past the threshold.
#[allow(clippy::too_many_arguments)]
fn add<W: Write + Seek>(
    levels: &mut Vec<Level>,
    i: usize,
    flags: u32,
    key: &[u8],
    value: &[u8],
    child: PageId,
    pw: &mut PageWriter<W>,
    threshold: usize,
) -> Result<()> {
    while levels.len() <= i {
        levels.push(Level::default());
    }
    let esize = ELEMENT_SIZE + key.len() + value.len();
    let Some(l) = levels.get_mut(i) else {
        unreachable_state()
    };
    if l.cur.len() >= 2 && (l.cur.size() + esize > threshold || l.cur.len() >= MAX_ELEMENTS) {
        let full = std::mem::replace(&mut l.cur, pw.fresh());
        if let Some(prev) = l.held.replace(full) {
            l.written += 1;
            emit(levels, i, prev, pw, threshold)?;
        }
    }
    let Some(l) = levels.get_mut(i) else {
        unreachable_state()
    };
    l.cur.push(flags, key, value, child);
    Ok(())
}

/// Writes a node of level `i` and adds its (first key, page) to level i+1.
fn emit<W: Write + Seek>(
    levels: &mut Vec<Level>,
    i: usize,
    node: NodeBuf,
    pw: &mut PageWriter<W>,
    threshold: usize,
) -> Result<()> {
    let id = pw.write_node(&node, i > 0)?;
    add(levels, i + 1, 0, node.first_key(), &[], id, pw, threshold)?;
    pw.recycle(node);
    Ok(())
}

/// Writes what is left of every level and returns the root page.
fn finish_tree<W: Write + Seek>(
    levels: &mut Vec<Level>,
    pw: &mut PageWriter<W>,
    threshold: usize,
) -> Result<PageId> {
    let mut i = 0;
    loop {
        let Some(l) = levels.get_mut(i) else {
            unreachable_state()
        };
        let cur = std::mem::take(&mut l.cur);
        let nodes = match l.held.take() {
            Some(mut h) if cur.len() <= 1 => {
                h.append(cur);
                vec![h]
            }
            Some(h) => vec![h, cur],
            None => vec![cur],
        };
        if l.written == 0 && nodes.len() == 1 {
            let node = nodes.into_iter().next().unwrap_or_default();
            return pw.write_node(&node, i > 0);
        }
        l.written += nodes.len() as u64;
        for n in nodes {
            emit(levels, i, n, pw, threshold)?;
        }
        i += 1;
    }
}
