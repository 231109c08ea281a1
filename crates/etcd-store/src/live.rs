//! The live keys at a revision: what `etcdctl get --prefix ""` returns.
//!
//! One pass over the `key` bucket in revision order: each entry sets its
//! user key's state (a put: live with that KeyValue; a tombstone: deleted).
//! Keys and values stay slices of the mapped file; memory grows with the
//! number of distinct keys, not with the file.
//!
//! The work is bound by memory latency, not by arithmetic: user keys lie
//! scattered over the mapped file, and every read of one there is a cache
//! and TLB miss. So:
//!
//! - two threads each read half of the revisions and own half of the hash
//!   space, handing each other the entries of the other half in batches;
//! - each key is copied once, while the scan has its bytes in cache, into
//!   a dense arena, and the map compares hashes before bytes;
//! - map updates go in groups whose cache misses are issued together;
//! - the sort is a most-significant-digit string sort on 16-byte chunks of
//!   the arena copies, so almost every comparison is between two integers
//!   next to each other in memory;
//! - the view keeps a copy of the keys in key order ([`LiveView::key`]), so
//!   the passes that follow (root discovery, selection, export) read
//!   memory in order.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kv::KeyValueRef;
use crate::revision::Revision;
use crate::store::EtcdDb;

/// A live key: its newest KeyValue at the view's revision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveKey<'a> {
    /// Where the KeyValue is in the log.
    pub revision: Revision,
    /// The KeyValue (borrowing the file).
    pub kv: KeyValueRef<'a>,
}

/// The live keys of a db at a revision, sorted by key.
#[derive(Clone, Debug, Default)]
pub struct LiveView<'a> {
    /// The revision the view is taken at.
    pub revision: i64,
    /// The db's compact revision.
    pub compact_revision: i64,
    /// Live keys in key order.
    pub keys: Vec<LiveKey<'a>>,
    /// Entries of the `key` bucket read.
    pub entries_scanned: u64,
    /// Keys whose newest entry is a delete.
    pub deleted_keys: u64,
    /// Copies of the keys in key order (empty when not made).
    packed: PackedKeys,
}

impl<'a> LiveView<'a> {
    /// A view of `keys` (sorted by key).
    pub fn new(
        revision: i64,
        compact_revision: i64,
        keys: Vec<LiveKey<'a>>,
        entries_scanned: u64,
        deleted_keys: u64,
    ) -> Self {
        LiveView {
            revision,
            compact_revision,
            keys,
            entries_scanned,
            deleted_keys,
            packed: PackedKeys::default(),
        }
    }

    /// The key of `keys[i]`, read from a copy that keeps the keys in key
    /// order next to each other: a pass over the keys in order then reads
    /// memory in order, where `keys[i].kv.key` points anywhere in the file.
    ///
    /// The copy is made with the view, in the order of `keys`: after
    /// reordering or replacing entries of `keys`, build a new view with
    /// [`LiveView::new`] (which reads `keys[i].kv.key` directly). A copy
    /// whose count or key length no longer matches is not used.
    pub fn key(&self, i: usize) -> &[u8] {
        let k = self.keys.get(i).map(|k| k.kv.key);
        let copy = if self.packed.len == self.keys.len() {
            self.packed.get(i)
        } else {
            None
        };
        copy.filter(|c| k.is_some_and(|k| k.len() == c.len()))
            .or(k)
            .unwrap_or_default()
    }
}

impl<'a> LiveView<'a> {
    /// This view with the changes of a WAL replay laid over it: the live
    /// keys etcd serves after the replay, without the db written again.
    /// The view must be the db's at its head, the one the replay read.
    ///
    /// `deleted_keys` adds the keys the replay left deleted to the base
    /// view's count, which is all it knows of the db's deleted keys: a key
    /// deleted in the db that the replay writes again keeps being counted.
    pub fn overlaid(self, overlay: &crate::replay::Overlay<'a>) -> LiveView<'a> {
        let mut keys = Vec::with_capacity(self.keys.len() + overlay.changes.len());
        let mut blocks: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        let mut block = (Vec::new(), Vec::with_capacity(PACK));
        let mut push = |keys: &mut Vec<LiveKey<'a>>, k: LiveKey<'a>, copy: &[u8]| {
            keys.push(k);
            block.0.extend_from_slice(copy);
            block.1.push(block.0.len());
            if block.1.len() == PACK {
                blocks.push(std::mem::replace(
                    &mut block,
                    (Vec::new(), Vec::with_capacity(PACK)),
                ));
            }
        };
        let mut deleted = self.deleted_keys;
        let mut changes = overlay.changes.iter().peekable();
        let mut i = 0;
        while i < self.keys.len() || changes.peek().is_some() {
            let base = self.keys.get(i).map(|k| (self.key(i), *k));
            match (base, changes.peek()) {
                (Some((bk, b)), c) if c.is_none_or(|(ck, _)| bk < *ck) => {
                    push(&mut keys, b, bk);
                    i += 1;
                }
                (b, Some(&&(ck, c))) => {
                    let was_live = b.is_some_and(|(bk, _)| bk == ck);
                    if was_live {
                        i += 1;
                    }
                    match c {
                        Some(k) => push(&mut keys, k, ck),
                        None => deleted += 1,
                    }
                    changes.next();
                }
                // The guards above cover every case.
                (_, None) => break,
            }
        }
        if !block.1.is_empty() {
            blocks.push(block);
        }
        LiveView {
            revision: overlay.revision.max(self.revision),
            compact_revision: overlay.compact_revision.max(self.compact_revision),
            packed: PackedKeys {
                blocks,
                len: keys.len(),
            },
            keys,
            entries_scanned: self.entries_scanned + overlay.writes,
            deleted_keys: deleted,
        }
    }
}

/// Keys copied in order into blocks of [`PACK`] keys.
#[derive(Clone, Debug, Default)]
struct PackedKeys {
    /// Each block's bytes and the end offset of each of its keys.
    blocks: Vec<(Vec<u8>, Vec<usize>)>,
    len: usize,
}

const PACK: usize = 4096;

impl PackedKeys {
    fn get(&self, i: usize) -> Option<&[u8]> {
        let (bytes, ends) = self.blocks.get(i / PACK)?;
        let j = i % PACK;
        let start = if j == 0 { 0 } else { *ends.get(j - 1)? };
        bytes.get(start..*ends.get(j)?)
    }
}

fn key_hash(k: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    k.hash(&mut h);
    h.finish()
}

/// The newest entry of one key, with where its arena copy is.
#[derive(Clone, Copy)]
struct Slot<'a> {
    live: LiveKey<'a>,
    /// The arena copy's location, with bit 63 set for a delete.
    loc: u64,
}

const TOMBSTONE: u64 = 1 << 63;

/// Storage that grows by whole chunks: no reallocation copies and no
/// doubling slack (fresh memory is expensive: every page is faulted in and
/// zeroed).
struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

const SLOTS_PER_CHUNK: usize = 1 << 14;

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    fn push(&mut self, v: T) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < SLOTS_PER_CHUNK => c.push(v),
            _ => {
                // The first chunk grows as needed: small views stay small.
                let mut c = if self.chunks.is_empty() {
                    Vec::new()
                } else {
                    Vec::with_capacity(SLOTS_PER_CHUNK)
                };
                c.push(v);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }
    fn get(&self, i: usize) -> Option<&T> {
        self.chunks
            .get(i / SLOTS_PER_CHUNK)?
            .get(i % SLOTS_PER_CHUNK)
    }
    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks
            .get_mut(i / SLOTS_PER_CHUNK)?
            .get_mut(i % SLOTS_PER_CHUNK)
    }
    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

/// Key copies, packed into 1 MiB blocks (a longer key gets a block of its own).
#[derive(Default)]
struct Arena {
    blocks: Vec<Vec<u8>>,
}

const BLOCK: usize = 1 << 20;

impl Arena {
    /// Copies `key` in; returns its location (block << 32 | offset).
    fn push(&mut self, key: &[u8]) -> u64 {
        // A block is full at BLOCK bytes (or at its one longer key). The
        // first one grows as needed: small views stay small.
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.len() + key.len() <= BLOCK.max(b.capacity()));
        if !fits {
            let cap = if self.blocks.is_empty() {
                key.len()
            } else {
                BLOCK.max(key.len())
            };
            self.blocks.push(Vec::with_capacity(cap));
        }
        let bi = self.blocks.len().saturating_sub(1);
        match self.blocks.last_mut() {
            Some(b) => {
                let off = b.len();
                b.extend_from_slice(key);
                ((bi as u64) << 32) | off as u64
            }
            None => 0,
        }
    }
    fn get(&self, loc: u64, len: usize) -> &[u8] {
        let (bi, off) = (
            ((loc & !TOMBSTONE) >> 32) as usize,
            (loc & 0xffff_ffff) as usize,
        );
        self.blocks
            .get(bi)
            .and_then(|b| b.get(off..off + len))
            .unwrap_or_default()
    }
}

/// An open-addressing hash table of (hash, slot number + 1), linear
/// probing, at most half full. Written here rather than taken from a crate
/// because the scan needs to know where a probe will land before it
/// makes it (see [`Part::apply_batch`]).
struct Table {
    /// (low 32 bits of the hash, slot number + 1); 0 in the second: free.
    cells: Vec<(u32, u32)>,
    len: usize,
}

impl Default for Table {
    fn default() -> Self {
        Table::with_capacity(0)
    }
}

impl Table {
    fn with_capacity(keys: usize) -> Table {
        let n = (keys.max(8) * 2).next_power_of_two();
        Table {
            cells: vec![(0, 0); n],
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.cells.len().wrapping_sub(1)
    }

    /// The first cell a probe for `hash` reads. Cells are found by the low
    /// 32 bits of the hash, which they keep, so the table grows without
    /// reading the keys again. (Past 2^32 cells, about 2^30 keys in one
    /// part, homes fall in the lower 2^32 cells only: probes get longer,
    /// never wrong.)
    fn home(&self, hash: u64) -> Option<&(u32, u32)> {
        self.cells.get(hash as u32 as usize & self.mask())
    }

    /// The slot number of the key with `hash` for which `same` holds, or
    /// None, with the free cell where it would go.
    fn find(&self, hash: u64, mut same: impl FnMut(u32) -> bool) -> (Option<u32>, usize) {
        let (mask, h32) = (self.mask(), hash as u32);
        let mut at = h32 as usize & mask;
        loop {
            match self.cells.get(at) {
                Some(&(h, s)) if s != 0 => {
                    if h == h32 && same(s - 1) {
                        return (Some(s - 1), at);
                    }
                }
                _ => return (None, at),
            }
            at = (at + 1) & mask;
        }
    }

    /// Fills free cell `at` (from [`find`](Self::find)); grows when half full.
    fn fill(&mut self, at: usize, hash: u64, slot: u32) {
        if let Some(c) = self.cells.get_mut(at) {
            *c = (hash as u32, slot + 1);
            self.len += 1;
        }
        if self.len * 2 > self.cells.len() {
            // Twice the cells: a quarter full after the move.
            let old = std::mem::replace(self, Table::with_capacity(self.len));
            for (h, s) in old.cells.into_iter().filter(|c| c.1 != 0) {
                let (_, at) = self.find(u64::from(h), |_| false);
                if let Some(c) = self.cells.get_mut(at) {
                    *c = (h, s);
                    self.len += 1;
                }
            }
        }
    }
}

/// The keys of one half of the hash space.
#[derive(Default)]
struct Part<'a> {
    table: Table,
    slots: Chunked<Slot<'a>>,
    /// A copy of every key of `slots`.
    arena: Arena,
}

/// An entry on its way to the thread that owns its key's half of the hash space.
#[derive(Clone, Copy)]
struct Handed<'a> {
    hash: u64,
    revision: Revision,
    tombstone: bool,
    kv: KeyValueRef<'a>,
}

/// Entries handed over at a time.
const BATCH: usize = 1024;

/// Two partitions, by the top bit of the hash (the table uses the low bits).
fn part_of(hash: u64) -> usize {
    (hash >> 63) as usize
}

impl<'a> Part<'a> {
    /// Records an entry: it replaces the key's entry if it is newer (a
    /// key's entries arrive from two threads, in no particular order).
    fn apply(&mut self, e: &Handed<'a>) -> Result<()> {
        let (slots, arena) = (&self.slots, &self.arena);
        let key = e.kv.key;
        let same = |i: u32| {
            slots.get(i as usize).is_some_and(|s| {
                s.live.kv.key.len() == key.len() && arena.get(s.loc, key.len()) == key
            })
        };
        let tomb = if e.tombstone { TOMBSTONE } else { 0 };
        match self.table.find(e.hash, same) {
            (Some(i), _) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    if e.revision > s.live.revision {
                        *s = Slot {
                            live: LiveKey {
                                revision: e.revision,
                                kv: e.kv,
                            },
                            loc: (s.loc & !TOMBSTONE) | tomb,
                        };
                    }
                }
            }
            (None, at) => {
                // Bit 31 of a sort item's slot number is the part.
                let i = u32::try_from(self.slots.len)
                    .ok()
                    .filter(|&i| i < 1 << 31)
                    .ok_or_else(|| {
                        Error::InvalidArgument("more than 2^31 keys in a hash partition".into())
                    })?;
                self.table.fill(at, e.hash, i);
                let loc = self.arena.push(key);
                self.slots.push(Slot {
                    live: LiveKey {
                        revision: e.revision,
                        kv: e.kv,
                    },
                    loc: loc | tomb,
                });
            }
        }
        Ok(())
    }

    /// Records a batch of entries, in order. Each entry costs a chain of
    /// three dependent cache misses (table cell, slot, key copy); done one
    /// entry after the other the processor waits on each in turn. So the
    /// batch first reads every entry's table cell, then the slots those
    /// name, then the key copies, each round a set of loads that do not
    /// depend on each other and go out together; then it applies the
    /// entries from cache.
    fn apply_batch(&mut self, batch: &[Handed<'a>]) -> Result<()> {
        for group in batch.chunks(64) {
            let mut x = 0u64;
            for e in group {
                x ^= self.table.home(e.hash).map_or(0, |c| u64::from(c.0));
            }
            let homes = |e: &Handed<'_>| {
                self.table
                    .home(e.hash)
                    .filter(|c| c.1 != 0 && c.0 == e.hash as u32)
                    .map(|c| c.1 - 1)
            };
            for e in group {
                if let Some(s) = homes(e).and_then(|i| self.slots.get(i as usize)) {
                    // A slot can straddle two cache lines: both fields
                    // `apply` reads are loaded.
                    x ^= s.loc ^ s.live.kv.key.len() as u64;
                }
            }
            for e in group {
                if let Some(s) = homes(e).and_then(|i| self.slots.get(i as usize)) {
                    x ^= u64::from(
                        self.arena
                            .get(s.loc, e.kv.key.len())
                            .first()
                            .copied()
                            .unwrap_or(0),
                    );
                }
            }
            std::hint::black_box(x);
            for e in group {
                self.apply(e)?;
            }
        }
        Ok(())
    }
}

type Batch<'a> = Vec<Handed<'a>>;

impl<D: AsRef<[u8]> + Sync> EtcdDb<D> {
    /// Reads the entries from revision `from` (None: the first) up to main
    /// revision `to` and keeps the newest entry of every key of hash
    /// partition `part`. Entries of the other partition go to `give`;
    /// those the other thread hands over come from `take`. Returns the part
    /// and the number of entries read.
    fn scan_range<'s>(
        &'s self,
        from: Option<Revision>,
        to: i64,
        part: usize,
        give: std::sync::mpsc::Sender<Batch<'s>>,
        take: std::sync::mpsc::Receiver<Batch<'s>>,
    ) -> Result<(Part<'s>, u64)> {
        let mut p = Part::default();
        let mut mine = Vec::with_capacity(64);
        let mut scanned = 0u64;
        let mut out = Vec::with_capacity(BATCH);
        let mut spare: Vec<Batch<'s>> = Vec::new();
        let entries = match from {
            Some(r) => self.revisions_from(r)?,
            None => self.revisions()?,
        };
        for e in entries {
            let e = e?;
            if e.rev.rev.main > to {
                break;
            }
            scanned += 1;
            // Decoded here, while the entry's bytes are in cache.
            let kv = e.decode()?;
            // The `--bump-revision` marker has an empty key and no value.
            if kv.key.is_empty() {
                continue;
            }
            let hash = key_hash(kv.key);
            let h = Handed {
                hash,
                revision: e.rev.rev,
                tombstone: e.rev.tombstone,
                kv,
            };

            if part_of(hash) == part {
                mine.push(h);
                if mine.len() == 64 {
                    p.apply_batch(&mine)?;
                    mine.clear();
                }
                continue;
            }
            out.push(h);
            if out.len() == BATCH {
                // Sending fails only if the other thread failed; its error is the one returned.
                let next = spare.pop().unwrap_or_else(|| Vec::with_capacity(BATCH));
                let _ = give.send(std::mem::replace(&mut out, next));
                // Taking what has arrived keeps the batches in flight few.
                while let Ok(mut batch) = take.try_recv() {
                    p.apply_batch(&batch)?;
                    // Emptied, a batch carries entries the other way: the
                    // two threads trade about as many as they receive, so
                    // few batches are ever allocated.
                    if spare.len() < 8 {
                        batch.clear();
                        spare.push(batch);
                    }
                }
            }
        }
        p.apply_batch(&mine)?;
        let _ = give.send(out);
        drop(give);
        for batch in take {
            p.apply_batch(&batch)?;
        }
        Ok((p, scanned))
    }

    /// The live keys at `rev` (0 or negative: the current revision).
    /// Refused below the compact revision, where history is gone.
    ///
    /// Two threads each read half of the revisions; each keeps the keys of
    /// one half of the hash space and hands the other the entries of its
    /// half. The sort and the gathering of the result are parallel too.
    pub fn live(&self, rev: i64) -> Result<LiveView<'_>> {
        let at = self.check_revision(rev)?;
        let first = self.first_revision()?.map_or(at, |r| r.rev.main);
        // Thread 0 reads main revisions up to `mid`, thread 1 the rest.
        let mid = first.saturating_add(at.saturating_sub(first) / 2);
        let (give0, take1) = std::sync::mpsc::channel();
        let (give1, take0) = std::sync::mpsc::channel();
        // Two threads of their own, not rayon tasks: each blocks until the
        // other has handed over all its entries, so both must run at once
        // (a pool of one thread would run them one after the other).
        let (a, b) = std::thread::scope(|s| {
            let second = std::thread::Builder::new()
                .name("live-scan".into())
                .spawn_scoped(s, || {
                    self.scan_range(
                        Some(Revision {
                            main: mid.saturating_add(1),
                            sub: 0,
                        }),
                        at,
                        1,
                        give1,
                        take1,
                    )
                });
            let a = self.scan_range(None, mid, 0, give0, take0);
            let b = match second {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(Error::InvalidArgument("live view worker failed".into()))
                }),
                Err(e) => Err(Error::InvalidArgument(format!(
                    "cannot start a thread: {e}"
                ))),
            };
            (a, b)
        });
        let ((pa, sa), (pb, sb)) = (a?, b?);
        let scanned = sa + sb;
        // The maps are done with; their memory can serve the sort.
        let parts = [pa, pb].map(|p| (p.slots, p.arena));
        // The sort items of each part, built on two threads.
        let total: usize = parts.iter().map(|p| p.0.len).sum();
        let items_of = |pi: usize, cap: usize| -> Result<(Vec<Item>, u64)> {
            let mut items = Vec::with_capacity(cap);
            let mut deleted = 0;
            let Some((slots, arena)) = parts.get(pi) else {
                return Ok((items, 0));
            };
            for (i, s) in slots.iter().enumerate() {
                if s.loc & TOMBSTONE != 0 {
                    deleted += 1;
                    continue;
                }
                let len = s.live.kv.key.len();
                // Slot numbers are below 2^31 (checked on insert); bit 31 is the part.
                let slot = (i as u32 & 0x7fff_ffff) | ((pi as u32) << 31);
                // A user key lies in a bbolt value, at most 2^31 bytes long.
                let len32 = u32::try_from(len)
                    .map_err(|_| Error::InvalidArgument("a key of 4 GiB or more".into()))?;
                items.push(Item {
                    chunk: chunk(arena.get(s.loc, len), 0),
                    loc: s.loc,
                    len: len32,
                    slot,
                });
            }
            Ok((items, deleted))
        };
        let (a, b) = rayon::join(
            || items_of(0, total),
            || items_of(1, parts.get(1).map_or(0, |p| p.0.len)),
        );
        let ((mut items, deleted_a), (mut items_b, deleted_b)) = (a?, b?);
        items.append(&mut items_b);
        drop(items_b);
        let deleted = deleted_a + deleted_b;
        let [(slots_a, arena_a), (slots_b, arena_b)] = parts;
        sort_items(&mut items, [&arena_a, &arena_b], 0);
        let slots = [slots_a, slots_b];
        // Written straight into fresh memory by the pool's threads: its
        // pages are faulted in (and zeroed by the kernel) in parallel, once.
        let mut keys = Vec::new();
        items
            .par_iter()
            .with_min_len(1 << 12)
            .map(|it| {
                slots
                    .get((it.slot >> 31) as usize)
                    .and_then(|s| s.get((it.slot & 0x7fff_ffff) as usize))
                    .map_or_else(LiveKey::default, |s| s.live)
            })
            .collect_into_vec(&mut keys);
        // Their memory can serve the key copies.
        drop(slots);
        let blocks = items
            .par_chunks(PACK)
            .map(|c| {
                let mut bytes = Vec::with_capacity(c.iter().map(|it| it.len as usize).sum());
                let mut ends = Vec::with_capacity(c.len());
                for it in c {
                    bytes.extend_from_slice(key_of(it, [&arena_a, &arena_b]));
                    ends.push(bytes.len());
                }
                (bytes, ends)
            })
            .collect();
        let packed = PackedKeys {
            blocks,
            len: items.len(),
        };
        drop((arena_a, arena_b));
        Ok(LiveView {
            revision: at,
            compact_revision: self.compact_revision(),
            keys,
            entries_scanned: scanned,
            deleted_keys: deleted,
            packed,
        })
    }
}

/// A key to sort: 16 bytes of it at the current depth (big-endian, zero
/// padded), and where the rest is.
#[derive(Clone, Copy)]
struct Item {
    chunk: u128,
    loc: u64,
    /// Key length.
    len: u32,
    slot: u32,
}

const CHUNK: usize = 16;
/// Past this depth a run of equal prefixes is sorted by comparing whole
/// keys: bounds the recursion whatever the keys are.
const MAX_DEPTH: usize = 16 * CHUNK;
/// Below this many items, work stays on one thread.
const PAR_MIN: usize = 1 << 14;

/// 16 bytes of `key` from `depth`, zero padded, as a big-endian integer:
/// integers then order like the bytes.
fn chunk(key: &[u8], depth: usize) -> u128 {
    // The common case, one load.
    if let Some(b) = key
        .get(depth..)
        .and_then(|rest| rest.first_chunk::<CHUNK>())
    {
        return u128::from_be_bytes(*b);
    }
    let mut b = [0u8; CHUNK];
    if let Some(rest) = key.get(depth..) {
        let n = rest.len().min(CHUNK);
        if let (Some(dst), Some(src)) = (b.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
    }
    u128::from_be_bytes(b)
}

fn key_of<'k>(it: &Item, arenas: [&'k Arena; 2]) -> &'k [u8] {
    arenas
        .get((it.slot >> 31) as usize)
        .map_or(&[], |a| a.get(it.loc, it.len as usize))
}

/// Sorts `items` by key, knowing they agree on their first `depth` bytes
/// and that `chunk` holds the 16 bytes from `depth`.
fn sort_items(items: &mut [Item], arenas: [&Arena; 2], depth: usize) {
    if items.len() >= PAR_MIN {
        items.par_sort_unstable_by_key(|i| i.chunk);
        items
            .par_chunk_by_mut(|a, b| a.chunk == b.chunk)
            .for_each(|run| resolve_run(run, arenas, depth));
    } else {
        items.sort_unstable_by_key(|i| i.chunk);
        for run in items.chunk_by_mut(|a, b| a.chunk == b.chunk) {
            resolve_run(run, arenas, depth);
        }
    }
}

/// Orders a run of keys equal in their 16 bytes from `depth`.
fn resolve_run(run: &mut [Item], arenas: [&Arena; 2], depth: usize) {
    if run.len() < 2 {
        return;
    }
    let next = depth + CHUNK;
    if next >= MAX_DEPTH {
        run.sort_unstable_by(|a, b| key_of(a, arenas).cmp(key_of(b, arenas)));
        return;
    }
    // Keys that end within the chunk are prefixes of the others (the
    // padding is zeros): they come first, shorter first.
    let mut ended = 0;
    for i in 0..run.len() {
        if run.get(i).is_some_and(|it| it.len as usize <= next) {
            run.swap(i, ended);
            ended += 1;
        }
    }
    let (done, rest) = run.split_at_mut(ended);
    done.sort_unstable_by_key(|it| it.len);
    if rest.len() >= PAR_MIN {
        rest.par_iter_mut()
            .with_min_len(1 << 12)
            .for_each(|it| it.chunk = chunk(key_of(it, arenas), next));
    } else {
        for it in rest.iter_mut() {
            it.chunk = chunk(key_of(it, arenas), next);
        }
    }
    sort_items(rest, arenas, next);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sorted_by_items(keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut arenas = [Arena::default(), Arena::default()];
        let mut items = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let part = i % 2;
            let loc = arenas[part].push(k);
            items.push(Item {
                chunk: chunk(k, 0),
                loc,
                len: k.len() as u32,
                slot: (part as u32) << 31 | i as u32,
            });
        }
        let [a, b] = &arenas;
        sort_items(&mut items, [a, b], 0);
        items.iter().map(|it| key_of(it, [a, b]).to_vec()).collect()
    }

    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        // Few symbols, zero bytes and shared prefixes: ties at every depth,
        // keys that are prefixes of others, trailing zeros.
        (
            0usize..3,
            proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1u8), Just(b'a'), Just(0xff)],
                0..40,
            ),
        )
            .prop_map(|(p, tail)| {
                let mut k = [
                    b"".as_slice(),
                    b"by-dev/meta/datacoord-meta/s/",
                    b"by-dev/meta/datacoord-meta/binlog/",
                ][p]
                    .to_vec();
                k.extend(tail);
                k
            })
    }

    proptest! {
        #[test]
        fn string_sort_orders_like_bytes(keys in proptest::collection::vec(key_strategy(), 0..300)) {
            let mut want = keys.clone();
            want.sort();
            prop_assert_eq!(sorted_by_items(&keys), want);
        }

        #[test]
        fn newest_entry_wins_whatever_the_order(ops in proptest::collection::vec((0usize..12, any::<bool>()), 0..400), seed in any::<u64>()) {
            let names: Vec<Vec<u8>> = (0..12).map(|i| format!("key/{}", i % 7).into_bytes().into_iter().chain(std::iter::repeat_n(b'x', i)).collect()).collect();
            // Unique revisions, applied in a shuffled order and in groups.
            let mut entries: Vec<(usize, i64, bool)> = ops.iter().enumerate().map(|(r, &(k, t))| (k, r as i64 + 1, t)).collect();
            let mut x = seed | 1;
            for i in (1..entries.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                entries.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let handed: Vec<Handed<'_>> = entries.iter().map(|&(k, r, t)| Handed {
                // Two hash values, drawn per key and case: different keys collide,
                // keys that are prefixes of each other among them.
                hash: (seed >> (k % 64)) & 1,
                revision: Revision { main: r, sub: 0 },
                tombstone: t,
                kv: KeyValueRef { key: &names[k], mod_revision: r, ..Default::default() },
            }).collect();
            let mut p = Part::default();
            for g in handed.chunks(37) {
                p.apply_batch(g).unwrap();
            }
            let mut want: std::collections::BTreeMap<&[u8], (i64, bool)> = Default::default();
            for &(k, r, t) in &entries {
                let e = want.entry(&names[k]).or_insert((r, t));
                if r > e.0 { *e = (r, t); }
            }
            let mut got: Vec<(&[u8], (i64, bool))> = p.slots.iter().map(|s| (s.live.kv.key, (s.live.revision.main, s.loc & TOMBSTONE != 0))).collect();
            got.sort();
            prop_assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn big_runs_and_deep_prefixes() {
        // More than PAR_MIN keys (the parallel path) sharing 300 bytes (past
        // MAX_DEPTH, where runs are sorted by whole-key comparison).
        let prefix = vec![b'p'; 300];
        let mut keys: Vec<Vec<u8>> = (0..40_000u32)
            .map(|i| {
                let mut k = if i % 3 == 0 {
                    prefix.clone()
                } else {
                    b"by-dev/meta/".to_vec()
                };
                k.extend(
                    ((i.wrapping_mul(2654435761)) % 100_000)
                        .to_string()
                        .as_bytes(),
                );
                k
            })
            .collect();
        keys.push(prefix.clone());
        keys.push(Vec::new());
        let mut want = keys.clone();
        want.sort();
        assert_eq!(sorted_by_items(&keys), want);
    }
}
