//! The live keys at a revision: what `etcdctl get --prefix ""` returns.
//!
//! One pass over the `key` bucket in revision order: each entry sets its
//! user key's state (a put: live with that KeyValue; a tombstone: deleted).
//! Keys and values stay slices of the mapped file; the map grows with the
//! number of distinct keys, not with the file.

use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::kv::KeyValueRef;
use crate::revision::Revision;
use crate::store::EtcdDb;

/// A live key: its newest KeyValue at the view's revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

#[derive(Clone, Copy)]
struct Latest<'a> {
    revision: Revision,
    value: &'a [u8],
    tombstone: bool,
}

impl<D: AsRef<[u8]>> EtcdDb<D> {
    /// The live keys at `rev` (0 or negative: the current revision).
    /// Refused below the compact revision, where history is gone.
    pub fn live(&self, rev: i64) -> Result<LiveView<'_>> {
        let at = self.check_revision(rev)?;
        let mut latest: FxHashMap<&[u8], Latest<'_>> = FxHashMap::default();
        let mut scanned = 0u64;
        for e in self.revisions()? {
            let e = e?;
            if e.rev.rev.main > at {
                break;
            }
            scanned += 1;
            let key = e.user_key()?;
            // The `--bump-revision` marker has an empty key and no value.
            if key.is_empty() {
                continue;
            }
            latest.insert(key, Latest { revision: e.rev.rev, value: e.value, tombstone: e.rev.tombstone });
        }
        let mut keys = Vec::with_capacity(latest.len());
        let mut deleted = 0;
        for l in latest.into_values() {
            if l.tombstone {
                deleted += 1;
                continue;
            }
            let kv = KeyValueRef::decode(l.value)
                .map_err(|e| crate::Error::BadKeyValue { rev: l.revision, what: e.0 })?;
            keys.push(LiveKey { revision: l.revision, kv });
        }
        sort_by_key(&mut keys);
        Ok(LiveView { revision: at, compact_revision: self.compact_revision(), keys, entries_scanned: scanned, deleted_keys: deleted })
    }
}

/// Sorts live keys by key. The keys lie scattered over the mapped file,
/// so comparing them in place costs a cache and TLB miss at nearly every
/// step: copy them once into one dense buffer, each with the 8 bytes that
/// follow their common prefix as a number, sort small records on that
/// number and compare whole keys only on ties.
fn sort_by_key(keys: &mut Vec<LiveKey<'_>>) {
    let Some(first) = keys.first().map(|k| k.kv.key) else { return };
    let lcp = keys.iter().fold(first.len(), |n, k| n.min(k.kv.key.iter().zip(first).take_while(|(a, b)| a == b).count()));
    let total: usize = keys.iter().map(|k| k.kv.key.len().saturating_sub(lcp)).sum();
    let mut arena: Vec<u8> = Vec::with_capacity(total);
    let mut recs: Vec<(u64, u32, u32, u32)> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let rest = k.kv.key.get(lcp..).unwrap_or_default();
        let mut w = [0u8; 8];
        for (d, s) in w.iter_mut().zip(rest) {
            *d = *s;
        }
        recs.push((u64::from_be_bytes(w), arena.len() as u32, rest.len() as u32, i as u32));
        arena.extend_from_slice(rest);
    }
    let tail = |r: &(u64, u32, u32, u32)| arena.get(r.1 as usize..(r.1 + r.2) as usize).unwrap_or_default();
    recs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| tail(a).cmp(tail(b))));
    let sorted: Vec<LiveKey<'_>> = recs.iter().filter_map(|r| keys.get(r.3 as usize).copied()).collect();
    *keys = sorted;
}
