//! The live keys at a revision: what `etcdctl get --prefix ""` returns.
//!
//! One pass over the `key` bucket in revision order: each entry sets its
//! user key's state (a put: live with that KeyValue; a tombstone: deleted).
//! Keys and values stay slices of the mapped file; the map grows with the
//! number of distinct keys, not with the file.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

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

/// A key with its hash computed once, while its bytes are in cache: the
/// map then grows and probes without reading keys from the mapped file
/// again (they are scattered over it, and every read would be a miss).
#[derive(Clone, Copy, Debug)]
struct HashedKey<'a> {
    hash: u64,
    key: &'a [u8],
}

impl PartialEq for HashedKey<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.hash == o.hash && self.key == o.key
    }
}
impl Eq for HashedKey<'_> {}
impl Hash for HashedKey<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

/// Passes a precomputed hash through.
#[derive(Default)]
struct PassThrough(u64);
impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn key_hash(k: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    k.hash(&mut h);
    h.finish()
}

#[derive(Clone, Copy)]
struct Latest<'a> {
    revision: Revision,
    kv: KeyValueRef<'a>,
    tombstone: bool,
}

type LatestMap<'a> = HashMap<HashedKey<'a>, Latest<'a>, BuildHasherDefault<PassThrough>>;

impl<D: AsRef<[u8]> + Sync> EtcdDb<D> {
    /// The newest entry at or below `at` of every key whose hash falls in
    /// partition `part` of `parts`.
    fn scan_partition(&self, at: i64, part: u64, parts: u64) -> Result<(LatestMap<'_>, u64)> {
        let mut latest: LatestMap<'_> = HashMap::default();
        let mut scanned = 0u64;
        for e in self.revisions()? {
            let e = e?;
            if e.rev.rev.main > at {
                break;
            }
            scanned += 1;
            let key = e.user_key()?;
            let hash = key_hash(key);
            if hash % parts != part {
                continue;
            }
            // The `--bump-revision` marker has an empty key and no value.
            if key.is_empty() {
                continue;
            }
            // Decoded here, while the entry's bytes are in cache.
            let kv = e.decode()?;
            latest.insert(
                HashedKey { hash, key: kv.key },
                Latest {
                    revision: e.rev.rev,
                    kv,
                    tombstone: e.rev.tombstone,
                },
            );
        }
        Ok((latest, scanned))
    }

    /// The live keys at `rev` (0 or negative: the current revision).
    /// Refused below the compact revision, where history is gone.
    ///
    /// Two threads each read the whole `key` bucket (sequential reads are
    /// cheap) and keep the keys of one half of the hash space, so each
    /// builds a map half the size.
    pub fn live(&self, rev: i64) -> Result<LiveView<'_>> {
        let at = self.check_revision(rev)?;
        let (a, b) = std::thread::scope(|s| {
            let h = s.spawn(|| self.scan_partition(at, 1, 2));
            let a = self.scan_partition(at, 0, 2);
            (a, h.join())
        });
        let (ma, scanned) = a?;
        let (mb, _) =
            b.map_err(|_| crate::Error::InvalidArgument("live view worker failed".into()))??;
        let mut keys = Vec::with_capacity(ma.len() + mb.len());
        let mut deleted = 0;
        for l in ma.into_values().chain(mb.into_values()) {
            if l.tombstone {
                deleted += 1;
            } else {
                keys.push(LiveKey {
                    revision: l.revision,
                    kv: l.kv,
                });
            }
        }
        sort_by_key(&mut keys);
        Ok(LiveView {
            revision: at,
            compact_revision: self.compact_revision(),
            keys,
            entries_scanned: scanned,
            deleted_keys: deleted,
        })
    }
}

/// Sorts live keys by key, on both halves in parallel, then merges: the
/// comparisons read keys scattered over the mapped file and dominate.
fn sort_by_key(keys: &mut Vec<LiveKey<'_>>) {
    let cmp = |a: &LiveKey<'_>, b: &LiveKey<'_>| a.kv.key.cmp(b.kv.key);
    if keys.len() < 1 << 14 {
        keys.sort_unstable_by(cmp);
        return;
    }
    let mid = keys.len() / 2;
    let (left, right) = keys.split_at_mut(mid);
    std::thread::scope(|s| {
        s.spawn(|| left.sort_unstable_by(cmp));
        right.sort_unstable_by(cmp);
    });
    let (left, right) = keys.split_at(mid);
    let mut out = Vec::with_capacity(keys.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(a), Some(b)) = (left.get(i), right.get(j)) {
        if cmp(a, b).is_le() {
            out.push(*a);
            i += 1;
        } else {
            out.push(*b);
            j += 1;
        }
    }
    out.extend_from_slice(left.get(i..).unwrap_or_default());
    out.extend_from_slice(right.get(j..).unwrap_or_default());
    *keys = out;
}
