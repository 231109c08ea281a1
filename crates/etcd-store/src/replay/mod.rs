//! Replaying WAL entries onto a db offline, with etcd's apply rules.
//!
//! A restarted etcd applies every committed entry above the db's
//! `consistent_index`. [`replay`] does the same on a copy of the store's
//! state: the live keys of the db at its head, its leases, alarms and
//! auth switch. What it produces is the list of new `key`-bucket entries
//! (numbered as etcd numbers them: one main revision per request that
//! wrote something, one sub revision per write) and the changes to the
//! other buckets; [`Replay::write_db`] writes the db etcd would have after
//! the replay, so every reader (live keys, history, HashKV, status,
//! snapshot files) sees the replayed revisions.
//!
//! The rules, by request (etcd 3.4 and 3.5 `applierV3backend`, `mvcc`,
//! `lessor`):
//!
//! - put: a live key keeps its create revision and gets version + 1, else
//!   create = mod = the new revision and version 1; a lease that does not
//!   exist, or `ignore_value` / `ignore_lease` on a missing key, rejects
//!   the request (nothing written, no revision used);
//! - delete range: every live key of the range, in key order, gets a
//!   tombstone; no live key, nothing written;
//! - txn: every compare (nested txns' too) is read before any write; the
//!   chosen branch is checked (leases, ignore flags, range revisions)
//!   before it runs; range reads write nothing;
//! - lease grant (TTL at least the minimum etcd enforces), revoke (every
//!   key attached, in key order, deleted in one revision, then the
//!   lease), checkpoint (memory only in 3.4/3.5);
//! - compaction: a revision above the compacted one and not above the
//!   current one is scheduled in `meta` (a restarted etcd finishes it);
//! - alarms: NOSPACE rejects puts, lease grants and txns with a put at the
//!   top level; CORRUPT rejects every KV and lease request; an alarm raised
//!   or cleared during the log switches appliers as etcd does (no auth
//!   checks under an alarm raised there; see docs/etcd-wal.md);
//! - auth: enable (needs a root user with the root role; the auth revision
//!   stays) and disable (the revision moves up); users and roles added,
//!   deleted, granted and revoked as etcd does it ([`auth`]), each change
//!   moving the revision up, refused with auth on unless the request's user
//!   has the root role; with auth on, a put, delete or txn whose auth
//!   revision is older than the store's, or that names no user, is
//!   rejected, and so is one by a user without the root role that its
//!   roles' key permissions do not allow ([`auth::AuthState::permitted`];
//!   see docs/etcd-wal.md for which releases' rules).

pub mod auth;
pub mod request;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rustc_hash::FxHashMap;

use prost::Message;

use crate::cluster::{AlarmMember, Lease};
use crate::error::{Error, Result};
use crate::kv::KeyValueRef;
use crate::live::{LiveKey, LiveView};
use crate::meta::buckets;
use crate::revision::{Revision, RevisionKey};
use crate::store::EtcdDb;
use crate::wal::{Entry, EntryType};
use request::{AlarmAction, CmpResult, Compare, DeleteRange, Op, Put, Request, Target, Txn};

/// Options of [`replay`].
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// The smallest lease TTL etcd grants (`ceil(1.5 * election timeout)`:
    /// 2 s with etcd's defaults).
    pub min_lease_ttl: i64,
    /// Apply only entries up to this index (`None`: all given).
    pub until_index: Option<u64>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            min_lease_ttl: 2,
            until_index: None,
        }
    }
}

/// Counts of what a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayStats {
    /// Entries at or below the db's consistent index (already in the db).
    pub skipped_applied: u64,
    /// Entries applied (above the consistent index).
    pub applied: u64,
    /// First and last applied index.
    pub first_index: Option<u64>,
    /// Last applied index.
    pub last_index: Option<u64>,
    /// Term of the last applied entry.
    pub last_term: Option<u64>,
    /// Main revisions added.
    pub revisions_added: u64,
    /// `key`-bucket entries added (puts and tombstones).
    pub writes: u64,
    /// Requests etcd rejects on apply (missing lease, alarm, auth, ...).
    pub rejected: u64,
    /// Entries with no v3 effect: no-ops, v2 requests, reads, conf changes.
    pub no_effect: u64,
    /// Auth requests on users and roles that did not decode (not replayed).
    pub auth_not_replayed: u64,
    /// Changes to users and roles replayed.
    pub auth_changes: u64,
    /// Compactions scheduled.
    pub compactions: u64,
}

/// One write to the `key` bucket. Its key and value borrow the WAL's
/// entries or the db (a put with `ignore_value` keeps the db's value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write<'s> {
    /// Its revision.
    pub rev: Revision,
    /// A delete (the KeyValue then holds the key only).
    pub tombstone: bool,
    /// The KeyValue.
    pub kv: KeyValueRef<'s>,
}

/// Writes to buckets other than `key`: (bucket, key) to the new value, `None` for a delete.
pub type BucketWrites = BTreeMap<(Vec<u8>, Vec<u8>), Option<Vec<u8>>>;

/// The outcome of a replay. It borrows what the replay read: the WAL's
/// entries and the db.
#[derive(Clone, Debug, Default)]
pub struct Replay<'s> {
    /// New `key`-bucket entries in revision order.
    pub writes: Vec<Write<'s>>,
    /// Changes to other buckets: `(bucket, key) -> Some(value)` to put,
    /// `None` to delete.
    pub buckets: BucketWrites,
    /// The store's revision after the replay.
    pub revision: i64,
    /// Counts.
    pub stats: ReplayStats,
}

/// A live key's state. Keys and values borrow the db's view or the WAL's
/// entries (both mapped): a lookup copies nothing.
#[derive(Clone, Copy, Debug)]
struct Cur<'s> {
    create: i64,
    modr: i64,
    /// Sub revision of the write that made this state.
    sub: i64,
    version: i64,
    lease: i64,
    value: &'s [u8],
}

impl<'s> Cur<'s> {
    fn of(k: &LiveKey<'s>) -> Self {
        Cur {
            create: k.kv.create_revision,
            modr: k.kv.mod_revision,
            sub: k.revision.sub,
            version: k.kv.version,
            lease: k.kv.lease,
            value: k.kv.value,
        }
    }
}

struct State<'v, 's> {
    base: &'v LiveView<'s>,
    /// Keys changed by the replay, by hash, with their states (`None`:
    /// deleted).
    over: FxHashMap<&'s [u8], Option<Cur<'s>>>,
    /// The same keys in order: made when a range is first read (a log of
    /// puts and single-key deletes never needs it), then kept up.
    order: std::cell::OnceCell<BTreeSet<&'s [u8]>>,
    /// The db's state of the keys the requests being applied name, looked
    /// up together before they are applied ([`partition_points`]).
    ahead: Vec<(&'s [u8], Option<Cur<'s>>)>,
    leases: BTreeMap<i64, Lease>,
    /// Lease -> keys attached at some point (filtered on use).
    lease_keys: HashMap<i64, BTreeSet<&'s [u8]>>,
    base_lease_keys: Option<HashMap<i64, Vec<usize>>>,
    alarms: BTreeSet<(u64, i32)>,
    /// Which of etcd's appliers is in place (alarms swap them).
    ap: Applier,
    auth_enabled: bool,
    auth_revision: u64,
    auth: auth::AuthState,
    current: i64,
    /// Writes made at the revision being written (the next sub revision).
    subs: i64,
    compact: i64,
    out: Replay<'s>,
    opts: ReplayOptions,
}

/// The applier etcd applies with. At a start it wraps the full one (auth
/// checks, then the store) in a NOSPACE cap and a CORRUPT refusal for the
/// alarms the db holds; the first alarm of a kind raised while applying
/// replaces it with that alarm's applier over the bare store (no auth
/// checks, and the other alarm's rule gone), and the last of a kind
/// cleared puts the full one back (etcd 3.4 and 3.5 `applierV3backend.Alarm`
/// and `restoreAlarms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Applier {
    /// Auth checks (permissions, admin requests) made.
    auth: bool,
    /// NOSPACE: puts, lease grants and txns with puts refused.
    capped: bool,
    /// CORRUPT: every KV and lease request refused.
    corrupt: bool,
}

const NOSPACE: i32 = 1;
const CORRUPT: i32 = 2;

/// Where `range_end` ends a range starting at `key` (`None`: one key;
/// `Some(empty)`: no end).
fn range_of<'k>(key: &'k [u8], range_end: &'k [u8]) -> (&'k [u8], Option<&'k [u8]>) {
    match range_end {
        [] => (key, None),
        [0] => (key, Some(&[][..])),
        e => (key, Some(e)),
    }
}

/// The 8 bytes of `k` from `at` (zeros past its end) as a big-endian
/// number: of two keys equal before `at`, the one with the smaller word is
/// the smaller key (a key that ends is padded with zeros, and is a prefix
/// of any key its padding equals).
fn word(k: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(k.get(at..).unwrap_or_default()) {
        *d = *s;
    }
    u64::from_be_bytes(w)
}

/// `items` sorted by the byte string `key` gives (no two equal). A sort by
/// comparisons reads both keys at every step, in memory spread over the
/// mapped WAL; this sorts numbers instead: the 8 bytes after the prefix
/// all keys share, then the next 8 of the keys whose words tie, and so on
/// (MSD radix by words), comparing whole keys only in small or deep ties.
/// It was a third of the replay's time on the benchmark's log.
fn sort_by_bytes<T: Copy>(items: Vec<T>, key: impl Fn(&T) -> &[u8] + Copy) -> Vec<T> {
    let Ok(n) = u32::try_from(items.len()) else {
        let mut items = items;
        items.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        return items;
    };
    let Some(first) = items.first().map(key) else {
        return items;
    };
    let shared = items.iter().fold(first.len(), |l, t| {
        let k = key(t);
        if k.get(..l) == first.get(..l) {
            return l;
        }
        l.min(first.iter().zip(k).take_while(|(a, b)| a == b).count())
    });
    let mut order: Vec<(u64, u32)> = (0..n).map(|i| (0, i)).collect();
    sort_run(&mut order, &items, shared, key, 0);
    order
        .iter()
        .filter_map(|&(_, i)| items.get(i as usize).copied())
        .collect()
}

/// Sorts `run`, whose keys are equal before `at`, by their bytes from `at`.
fn sort_run<T>(
    run: &mut [(u64, u32)],
    items: &[T],
    at: usize,
    key: impl Fn(&T) -> &[u8] + Copy,
    depth: u32,
) {
    let key_of = |i: u32| items.get(i as usize).map(key).unwrap_or_default();
    for e in run.iter_mut() {
        e.0 = word(key_of(e.1), at);
    }
    run.sort_unstable_by_key(|e| e.0);
    for tie in run.chunk_by_mut(|a, b| a.0 == b.0) {
        if tie.len() < 2 {
            continue;
        }
        if tie.len() < 16 || depth >= 8 {
            tie.sort_unstable_by(|a, b| key_of(a.1).cmp(key_of(b.1)));
        } else {
            sort_run(tie, items, at.saturating_add(8), key, depth + 1);
        }
    }
}

/// How many requests are decoded ahead and their keys looked up in the
/// db's view together.
const AHEAD: usize = 32;

/// At most this many keys of a batch are looked up ahead (a txn can name
/// thousands; the rest are looked up one by one).
const AHEAD_KEYS: usize = 256;

/// The keys a request names one by one (not through a range), up to
/// `AHEAD_KEYS` in `out`.
fn point_keys<'s>(req: &Request<'s>, out: &mut Vec<&'s [u8]>) {
    match req {
        Request::Put(p) => out.push(p.key),
        Request::Delete(d) if d.range_end.is_empty() => out.push(d.key),
        Request::Txn(t) => txn_keys(t, out),
        _ => {}
    }
}

fn txn_keys<'s>(t: &Txn<'s>, out: &mut Vec<&'s [u8]>) {
    for c in &t.compare {
        if out.len() >= AHEAD_KEYS {
            return;
        }
        if c.range_end.is_empty() {
            out.push(c.key);
        }
    }
    for op in t.success.iter().chain(&t.failure) {
        if out.len() >= AHEAD_KEYS {
            return;
        }
        match op {
            Op::Put(p) => out.push(p.key),
            Op::Delete(d) if d.range_end.is_empty() => out.push(d.key),
            // Nesting is bounded by the decoder.
            Op::Txn(n) => txn_keys(n, out),
            _ => {}
        }
    }
}

/// The partition points of `targets` in `keys` (for each, the first index
/// whose key is not below it), by binary searches run in lockstep: each
/// round reads one key per target, and those reads, independent of each
/// other, overlap in memory instead of waiting one after another (a lookup
/// at a time was a third of the replay, spent waiting on memory).
fn partition_points(keys: &[LiveKey<'_>], targets: &[&[u8]], out: &mut Vec<usize>) {
    out.clear();
    out.resize(targets.len(), 0);
    let mut size = keys.len();
    while size > 1 {
        let half = size / 2;
        for (b, t) in out.iter_mut().zip(targets) {
            if keys.get(*b + half).is_some_and(|k| k.kv.key < *t) {
                *b += half;
            }
        }
        size -= half;
    }
    for (b, t) in out.iter_mut().zip(targets) {
        if keys.get(*b).is_some_and(|k| k.kv.key < *t) {
            *b += 1;
        }
    }
}

impl<'s> State<'_, 's> {
    /// Applies `batch` (emptied) in order, the db's state of the keys it
    /// names looked up first, together.
    fn apply_batch(
        &mut self,
        batch: &mut Vec<(request::Header<'s>, Request<'s>)>,
        targets: &mut Vec<&'s [u8]>,
        points: &mut Vec<usize>,
    ) {
        targets.clear();
        for (_, r) in batch.iter() {
            if targets.len() < AHEAD_KEYS {
                point_keys(r, targets);
            }
        }
        let keys = &self.base.keys;
        partition_points(keys, targets, points);
        self.ahead.clear();
        self.ahead.extend(
            targets
                .iter()
                .zip(points.iter())
                .map(|(&k, &i)| (k, keys.get(i).filter(|x| x.kv.key == k).map(Cur::of))),
        );
        for (h, r) in batch.drain(..) {
            self.apply(&h, &r);
        }
        self.ahead.clear();
    }

    fn get(&self, key: &[u8]) -> Option<Cur<'s>> {
        if let Some(c) = self.over.get(key) {
            return *c;
        }
        if let Some((_, c)) = self.ahead.iter().find(|(k, _)| std::ptr::eq(*k, key)) {
            return *c;
        }
        let keys = &self.base.keys;
        let i = keys.partition_point(|k| k.kv.key < key);
        keys.get(i).filter(|k| k.kv.key == key).map(Cur::of)
    }

    /// The keys the replay wrote in `[key, end)` (`end` empty: no end),
    /// ascending, with their states.
    fn changed_in(&self, key: &[u8], end: &[u8]) -> Vec<(&'s [u8], Option<Cur<'s>>)> {
        let upper: std::ops::Bound<&[u8]> = if end.is_empty() {
            std::ops::Bound::Unbounded
        } else {
            std::ops::Bound::Excluded(end)
        };
        let over = &self.over;
        self.order
            .get_or_init(|| over.keys().copied().collect())
            .range::<[u8], _>((std::ops::Bound::Included(key), upper))
            .map(|&k| (k, over.get(k).copied().flatten()))
            .collect()
    }

    /// Every key the replay wrote, ascending, with its state.
    fn take_changes(&mut self) -> Vec<(&'s [u8], Option<Cur<'s>>)> {
        match self.order.take() {
            Some(order) => order
                .into_iter()
                .map(|k| (k, self.over.get(k).copied().flatten()))
                .collect(),
            None => {
                let all: Vec<(&'s [u8], Option<Cur<'s>>)> = self.over.drain().collect();
                sort_by_bytes(all, |c| c.0)
            }
        }
    }

    /// Live keys in `[key, end)` (end `None`: the one key; empty: no end),
    /// ascending.
    fn range(&self, key: &'s [u8], end: Option<&[u8]>) -> Vec<(&'s [u8], Cur<'s>)> {
        let Some(end) = end else {
            return self.get(key).map(|c| (key, c)).into_iter().collect();
        };
        let in_range = |k: &[u8]| k >= key && (end.is_empty() || k < end);
        if !end.is_empty() && key >= end {
            return Vec::new();
        }
        let keys = &self.base.keys;
        let mut i = keys.partition_point(|k| k.kv.key < key);
        let mut out = Vec::new();
        let mut ov = self.changed_in(key, end).into_iter().peekable();
        loop {
            let b = keys.get(i).filter(|k| in_range(k.kv.key));
            let o = ov.peek();
            match (b, o) {
                (None, None) => break,
                (Some(bk), Some(&(ok, oc))) if ok <= bk.kv.key => {
                    if ok == bk.kv.key {
                        i += 1;
                    }
                    if let Some(c) = oc {
                        out.push((ok, c));
                    }
                    ov.next();
                }
                (None, Some(&(ok, oc))) => {
                    if let Some(c) = oc {
                        out.push((ok, c));
                    }
                    ov.next();
                }
                (Some(bk), _) => {
                    out.push((bk.kv.key, Cur::of(bk)));
                    i += 1;
                }
            }
        }
        out
    }

    fn compare_holds(&self, c: &Compare<'s>) -> bool {
        let (k, e) = range_of(c.key, c.range_end);
        let kvs = self.range(k, e);
        let one = |cur: Option<&Cur>| -> bool {
            let ord = match c.target {
                Target::Value => cur.map_or(&[][..], |x| x.value).cmp(c.value),
                Target::Create => cur.map_or(0, |x| x.create).cmp(&c.number),
                Target::Mod => cur.map_or(0, |x| x.modr).cmp(&c.number),
                Target::Version => cur.map_or(0, |x| x.version).cmp(&c.number),
                Target::Lease => cur.map_or(0, |x| x.lease).cmp(&c.number),
            };
            match c.result {
                CmpResult::Equal => ord.is_eq(),
                CmpResult::NotEqual => ord.is_ne(),
                CmpResult::Greater => ord.is_gt(),
                CmpResult::Less => ord.is_lt(),
            }
        };
        if kvs.is_empty() {
            return c.target != Target::Value && one(None);
        }
        kvs.iter().all(|(_, cur)| one(Some(cur)))
    }

    /// The branch taken by `t` and its nested txns, in etcd's order.
    fn path(&self, t: &Txn<'s>, out: &mut Vec<bool>) {
        let ok = t.compare.iter().all(|c| self.compare_holds(c));
        out.push(ok);
        for op in if ok { &t.success } else { &t.failure } {
            if let Op::Txn(n) = op {
                self.path(n, out);
            }
        }
    }

    /// Checks the chosen ops (etcd's `checkRequests`) before any write.
    ///
    /// A restarted etcd has no client waiting for a replayed txn's answer
    /// and drops its top-level range ops before applying it
    /// (`removeNeedlessRangeReqs`): only nested ones are checked (`top`).
    fn check(&self, t: &Txn<'_>, path: &[bool], pos: &mut usize, top: bool) -> bool {
        let ok = path.get(*pos).copied().unwrap_or(false);
        *pos += 1;
        for op in if ok { &t.success } else { &t.failure } {
            match op {
                Op::Put(p) => {
                    if p.lease != 0 && !self.leases.contains_key(&p.lease) {
                        return false;
                    }
                    if (p.ignore_value || p.ignore_lease) && self.get(p.key).is_none() {
                        return false;
                    }
                }
                Op::Range { revision, .. } => {
                    // etcd's `checkRequestRange`: 0 is the head; past the
                    // head, or below the compacted revision (-1: none), no.
                    let r = *revision;
                    if !top && r != 0 && (r > self.current || r < self.compact) {
                        return false;
                    }
                }
                Op::Txn(n) => {
                    if !self.check(n, path, pos, false) {
                        return false;
                    }
                }
                Op::Delete(_) | Op::Empty => {}
            }
        }
        true
    }

    fn main(&self) -> i64 {
        self.current + 1
    }

    /// The next sub revision (and counts it).
    fn sub(&mut self) -> i64 {
        self.subs += 1;
        self.subs - 1
    }

    fn put(&mut self, p: &Put<'s>) {
        let prev = self.get(p.key);
        let main = self.main();
        let (value, lease) = match &prev {
            Some(c) => (
                if p.ignore_value { c.value } else { p.value },
                if p.ignore_lease { c.lease } else { p.lease },
            ),
            None => (p.value, p.lease),
        };
        let (create, version) = prev
            .as_ref()
            .map_or((main, 1), |c| (c.create, c.version + 1));
        let kv = KeyValueRef {
            key: p.key,
            create_revision: create,
            mod_revision: main,
            version,
            value,
            lease,
        };
        let rev = Revision {
            main,
            sub: self.sub(),
        };
        self.out.writes.push(Write {
            rev,
            tombstone: false,
            kv,
        });
        if lease != 0 {
            self.lease_keys.entry(lease).or_default().insert(p.key);
        }
        self.change(
            p.key,
            Some(Cur {
                create,
                modr: main,
                sub: rev.sub,
                version,
                lease,
                value,
            }),
        );
    }

    fn delete_key(&mut self, key: &'s [u8]) {
        let rev = Revision {
            main: self.main(),
            sub: self.sub(),
        };
        self.out.writes.push(Write {
            rev,
            tombstone: true,
            kv: KeyValueRef {
                key,
                ..KeyValueRef::default()
            },
        });
        self.change(key, None);
    }

    /// Records the state of `key` after a write.
    fn change(&mut self, key: &'s [u8], cur: Option<Cur<'s>>) {
        if self.over.insert(key, cur).is_none() {
            if let Some(order) = self.order.get_mut() {
                order.insert(key);
            }
        }
    }

    fn delete(&mut self, d: &DeleteRange<'s>) {
        let (k, e) = range_of(d.key, d.range_end);
        for (key, _) in self.range(k, e) {
            self.delete_key(key);
        }
    }

    fn run(&mut self, t: &Txn<'s>, path: &[bool], pos: &mut usize) {
        let ok = path.get(*pos).copied().unwrap_or(false);
        *pos += 1;
        for op in if ok { &t.success } else { &t.failure } {
            match op {
                Op::Put(p) => {
                    // etcd checked the flags against the state before the
                    // txn; a key the txn itself deleted meanwhile makes
                    // etcd panic, so nothing more can be replayed there.
                    if (p.ignore_value || p.ignore_lease) && self.get(p.key).is_none() {
                        continue;
                    }
                    self.put(p)
                }
                Op::Delete(d) => self.delete(d),
                Op::Txn(n) => self.run(n, path, pos),
                Op::Range { .. } | Op::Empty => {}
            }
        }
    }

    /// Ends a request's write transaction: a revision is used only if
    /// something was written.
    fn commit(&mut self) {
        if self
            .out
            .writes
            .last()
            .is_some_and(|w| w.rev.main == self.main())
        {
            self.current += 1;
            self.out.stats.revisions_added += 1;
        }
        self.subs = 0;
    }

    fn keys_of_lease(&mut self, id: i64) -> Vec<&'s [u8]> {
        let base = self.base;
        let index = self.base_lease_keys.get_or_insert_with(|| {
            let mut m: HashMap<i64, Vec<usize>> = HashMap::new();
            for (i, k) in base.keys.iter().enumerate() {
                if k.kv.lease != 0 {
                    m.entry(k.kv.lease).or_default().push(i);
                }
            }
            m
        });
        let mut cand: BTreeSet<&'s [u8]> = index
            .get(&id)
            .map(|v| {
                v.iter()
                    .filter_map(|&i| base.keys.get(i))
                    .map(|k| k.kv.key)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(s) = self.lease_keys.get(&id) {
            cand.extend(s.iter().copied());
        }
        cand.into_iter()
            .filter(|k| self.get(k).is_some_and(|c| c.lease == id))
            .collect()
    }

    /// An auth change done: `authRevision` one up.
    fn commit_auth(&mut self) {
        self.auth_revision += 1;
        self.set(
            buckets::AUTH,
            b"authRevision",
            Some(self.auth_revision.to_be_bytes().to_vec()),
        );
    }

    fn set(&mut self, bucket: &[u8], key: &[u8], value: Option<Vec<u8>>) {
        self.out
            .buckets
            .insert((bucket.to_vec(), key.to_vec()), value);
    }

    fn alarm_count(&self, alarm: i32) -> usize {
        self.alarms.iter().filter(|&&(_, a)| a == alarm).count()
    }

    /// Whether auth is checked for this request now.
    fn auth_on(&self) -> bool {
        self.ap.auth && self.auth_enabled
    }

    /// etcd's permission checks of a put, delete or txn by `user`
    /// (`authApplierV3`; 3.4 before 3.4.42 and 3.5 before 3.5.28, which do
    /// not check the ops of nested txns, nor a txn put's lease or prev_kv).
    fn permitted(&mut self, user: &[u8], req: &Request<'s>) -> bool {
        if self.auth.is_root(user) {
            return true;
        }
        match req {
            Request::Put(p) => {
                self.auth.permitted(user, p.key, &[], true)
                    && self.lease_keys_writable(user, p.lease)
                    && (!p.prev_kv || self.auth.permitted(user, p.key, &[], false))
            }
            Request::Delete(d) => self.delete_permitted(user, d),
            Request::Txn(t) => {
                t.compare
                    .iter()
                    .all(|c| self.auth.permitted(user, c.key, c.range_end, false))
                    && t.success.iter().chain(&t.failure).all(|op| match op {
                        // Dropped before the apply (see `check`).
                        Op::Range { .. } => true,
                        Op::Put(p) => self.auth.permitted(user, p.key, &[], true),
                        Op::Delete(d) => self.delete_permitted(user, d),
                        Op::Txn(_) | Op::Empty => true,
                    })
            }
            _ => true,
        }
    }

    fn delete_permitted(&self, user: &[u8], d: &DeleteRange<'_>) -> bool {
        (!d.prev_kv || self.auth.permitted(user, d.key, d.range_end, false))
            && self.auth.permitted(user, d.key, d.range_end, true)
    }

    /// `checkLeasePuts`: every key attached to `lease` (if it exists) may
    /// be written by `user`.
    fn lease_keys_writable(&mut self, user: &[u8], lease: i64) -> bool {
        if lease == 0 || !self.leases.contains_key(&lease) || self.auth.is_root(user) {
            return true;
        }
        self.keys_of_lease(lease)
            .iter()
            .all(|k| self.auth.permitted(user, k, &[], true))
    }

    fn apply(&mut self, header: &request::Header<'_>, req: &Request<'s>) {
        let kv_or_lease = matches!(
            req,
            Request::Put(_)
                | Request::Delete(_)
                | Request::Txn(_)
                | Request::Compaction { .. }
                | Request::LeaseGrant { .. }
                | Request::LeaseRevoke { .. }
                | Request::Range
        );
        if kv_or_lease && self.ap.corrupt {
            self.out.stats.rejected += 1;
            return;
        }
        // etcd checks the request's user and auth revision with each key it
        // checks: a txn naming no key at its top level (after its range ops
        // are dropped; nested txns are not checked) is not checked at all.
        let names_keys = match req {
            Request::Put(_) | Request::Delete(_) => true,
            Request::Txn(t) => {
                !t.compare.is_empty()
                    || t.success
                        .iter()
                        .chain(&t.failure)
                        .any(|o| matches!(o, Op::Put(_) | Op::Delete(_)))
            }
            _ => false,
        };
        let auth_checked = self.auth_on() && names_keys;
        if auth_checked
            && (header.auth_revision == 0
                || header.auth_revision < self.auth_revision
                || !self.permitted(header.username, req))
        {
            self.out.stats.rejected += 1;
            return;
        }
        match req {
            Request::Put(p) => {
                if self.ap.capped
                    || (p.lease != 0 && !self.leases.contains_key(&p.lease))
                    || ((p.ignore_value || p.ignore_lease) && self.get(p.key).is_none())
                {
                    self.out.stats.rejected += 1;
                    return;
                }
                self.put(p);
                self.commit();
            }
            Request::Delete(d) => {
                self.delete(d);
                self.commit();
            }
            Request::Txn(t) => {
                let top_put = t
                    .success
                    .iter()
                    .chain(&t.failure)
                    .any(|o| matches!(o, Op::Put(_)));
                if self.ap.capped && top_put {
                    self.out.stats.rejected += 1;
                    return;
                }
                let mut path = Vec::new();
                self.path(t, &mut path);
                if !self.check(t, &path, &mut 0, true) {
                    self.out.stats.rejected += 1;
                    return;
                }
                self.run(t, &path, &mut 0);
                self.commit();
            }
            Request::Compaction { revision } => {
                if *revision <= self.compact || *revision > self.current {
                    self.out.stats.rejected += 1;
                    return;
                }
                self.compact = *revision;
                let key = RevisionKey {
                    rev: Revision {
                        main: *revision,
                        sub: 0,
                    },
                    tombstone: false,
                };
                self.set(buckets::META, b"scheduledCompactRev", Some(key.encode()));
                self.out.stats.compactions += 1;
            }
            Request::LeaseGrant { id, ttl } => {
                if self.ap.capped || self.leases.contains_key(id) || *id == 0 {
                    self.out.stats.rejected += 1;
                    return;
                }
                let l = Lease {
                    id: *id,
                    ttl: (*ttl).max(self.opts.min_lease_ttl),
                    remaining_ttl: 0,
                };
                self.set(buckets::LEASE, &id.to_be_bytes(), Some(l.encode_to_vec()));
                self.leases.insert(*id, l);
            }
            Request::LeaseRevoke { id } => {
                if !self.leases.contains_key(id) {
                    self.out.stats.rejected += 1;
                    return;
                }
                let keys = self.keys_of_lease(*id);
                // etcd checks the put permission of every attached key
                // (`checkLeasePuts`): with auth on, a request from before
                // the last auth change, or from a user that may not write
                // one of the keys, is rejected.
                let stale = header.auth_revision == 0 || header.auth_revision < self.auth_revision;
                if self.auth_on()
                    && !keys.is_empty()
                    && (stale
                        || !keys
                            .iter()
                            .all(|k| self.auth.permitted(header.username, k, &[], true)))
                {
                    self.out.stats.rejected += 1;
                    return;
                }
                for key in keys {
                    self.delete_key(key);
                }
                self.commit();
                self.leases.remove(id);
                self.lease_keys.remove(id);
                self.set(buckets::LEASE, &id.to_be_bytes(), None);
            }
            Request::Alarm {
                action,
                member,
                alarm,
            } => {
                let key = AlarmMember {
                    member_id: *member,
                    alarm: *alarm,
                }
                .encode_to_vec();
                match action {
                    AlarmAction::Activate if *alarm != 0 => {
                        let first = self.alarm_count(*alarm) == 0;
                        if self.alarms.insert((*member, *alarm)) {
                            self.set(buckets::ALARM, &key, Some(Vec::new()));
                            if first && *alarm == NOSPACE {
                                self.ap = Applier {
                                    auth: false,
                                    capped: true,
                                    corrupt: false,
                                };
                            } else if first && *alarm == CORRUPT {
                                self.ap = Applier {
                                    auth: false,
                                    capped: false,
                                    corrupt: true,
                                };
                            }
                        }
                    }
                    AlarmAction::Deactivate => {
                        if self.alarms.remove(&(*member, *alarm)) {
                            self.set(buckets::ALARM, &key, None);
                            let last = self.alarm_count(*alarm) == 0;
                            if last && (*alarm == NOSPACE || *alarm == CORRUPT) {
                                self.ap = Applier {
                                    auth: true,
                                    capped: false,
                                    corrupt: false,
                                };
                            }
                        }
                    }
                    _ => self.out.stats.no_effect += 1,
                }
            }
            Request::AuthEnable => {
                // Needs a root user with the root role; the revision
                // stays (etcd reads it back, it does not commit one).
                if !self.auth_enabled {
                    if !self.auth.is_root(b"root") {
                        self.out.stats.rejected += 1;
                        return;
                    }
                    self.auth_enabled = true;
                    self.set(buckets::AUTH, b"authEnabled", Some(vec![1]));
                }
            }
            Request::AuthDisable => {
                if self.auth_enabled {
                    if self.ap.auth && !self.auth.is_root(header.username) {
                        self.out.stats.rejected += 1;
                        return;
                    }
                    self.auth_enabled = false;
                    self.set(buckets::AUTH, b"authEnabled", Some(vec![0]));
                    self.commit_auth();
                }
            }
            Request::AuthChange(op) => {
                // With auth on, only a user with the root role may.
                if self.auth_on() && !self.auth.is_root(header.username) {
                    self.out.stats.rejected += 1;
                    return;
                }
                match self.auth.apply(op, self.auth_enabled) {
                    None => self.out.stats.rejected += 1,
                    Some(changes) if changes.is_empty() => self.out.stats.no_effect += 1,
                    Some(changes) => {
                        for (bucket, key, value) in changes {
                            self.set(bucket, &key, value);
                        }
                        self.commit_auth();
                        self.out.stats.auth_changes += 1;
                    }
                }
            }
            Request::Auth(_) => self.out.stats.auth_not_replayed += 1,
            Request::ClusterVersion(v) => {
                // "3.5.0" is stored as its major.minor, as etcd does.
                let s = String::from_utf8_lossy(v);
                let mm: Vec<&str> = s.split('.').take(2).collect();
                if mm.len() == 2 {
                    let val = format!(
                        "{}.{}.0",
                        mm.first().unwrap_or(&"3"),
                        mm.get(1).unwrap_or(&"0")
                    );
                    self.set(buckets::CLUSTER, b"clusterVersion", Some(val.into_bytes()));
                } else {
                    self.out.stats.no_effect += 1;
                }
            }
            Request::V2
            | Request::Range
            | Request::LeaseCheckpoint
            | Request::AuthRead
            | Request::MemberAttr
            | Request::Downgrade => self.out.stats.no_effect += 1,
        }
    }
}

/// Applies `entries` (in index order) above the db's consistent index onto
/// `db`, whose live view at its head is `base`.
pub fn replay<'s, D: AsRef<[u8]>>(
    db: &EtcdDb<D>,
    base: &LiveView<'s>,
    entries: &[Entry<'s>],
    opts: &ReplayOptions,
) -> Result<Replay<'s>> {
    replay_with_overlay(db, base, entries, opts).map(|(r, _)| r)
}

/// The live keys the replay changed, to lay over the base view
/// ([`LiveView::overlaid`]): the view after the replay without writing
/// the db again. Keys and values borrow the base view and the WAL.
#[derive(Clone, Debug, Default)]
pub struct Overlay<'s> {
    /// Every key the replay wrote, ascending, with its state after the
    /// replay (`None`: deleted).
    pub changes: Vec<(&'s [u8], Option<LiveKey<'s>>)>,
    /// The store's revision after the replay.
    pub revision: i64,
    /// The compact revision after the replay (a scheduled compaction is
    /// finished by a restarted etcd).
    pub compact_revision: i64,
    /// `key`-bucket entries the replay added.
    pub writes: u64,
}

/// [`replay`], with the changes to the live keys as an [`Overlay`] of
/// `base`.
pub fn replay_with_overlay<'s, D: AsRef<[u8]>>(
    db: &EtcdDb<D>,
    base: &LiveView<'s>,
    entries: &[Entry<'s>],
    opts: &ReplayOptions,
) -> Result<(Replay<'s>, Overlay<'s>)> {
    let cluster = db.cluster()?;
    let ci = db.meta().consistent_index.unwrap_or(0);
    let mut st = State {
        base,
        over: FxHashMap::default(),
        order: std::cell::OnceCell::new(),
        ahead: Vec::new(),
        leases: cluster.leases.iter().map(|l| (l.id, l.clone())).collect(),
        lease_keys: HashMap::new(),
        base_lease_keys: None,
        alarms: cluster
            .alarms
            .iter()
            .map(|a| (a.member_id, a.alarm))
            .collect(),
        ap: Applier {
            auth: true,
            capped: cluster.alarms.iter().any(|a| a.alarm == NOSPACE),
            corrupt: cluster.alarms.iter().any(|a| a.alarm == CORRUPT),
        },
        auth_enabled: cluster.auth_enabled,
        auth_revision: cluster.auth_revision.unwrap_or(0),
        auth: auth::AuthState::read(db, db.meta().term.is_none())?,
        current: db.current_revision()?,
        subs: 0,
        compact: db.compact_revision(),
        out: Replay::default(),
        opts: opts.clone(),
    };
    // At most one new key per entry for most logs: no rehash on the way.
    st.over.reserve(entries.len().min(1 << 20));
    st.out.writes.reserve(entries.len().min(1 << 20));
    let mut batch = Vec::with_capacity(AHEAD);
    let (mut targets, mut points) = (Vec::new(), Vec::new());
    for e in entries {
        if opts.until_index.is_some_and(|u| e.index > u) {
            break;
        }
        if e.index <= ci {
            st.out.stats.skipped_applied += 1;
            continue;
        }
        let stats = &mut st.out.stats;
        stats.applied += 1;
        stats.first_index.get_or_insert(e.index);
        stats.last_index = Some(e.index);
        stats.last_term = Some(e.term);
        if e.kind != EntryType::Normal || e.data.is_empty() {
            stats.no_effect += 1;
            continue;
        }
        batch.push(request::decode(e.data));
        if batch.len() == AHEAD {
            st.apply_batch(&mut batch, &mut targets, &mut points);
        }
    }
    st.apply_batch(&mut batch, &mut targets, &mut points);
    if let (Some(i), Some(t)) = (st.out.stats.last_index, st.out.stats.last_term) {
        st.set(
            buckets::META,
            b"consistent_index",
            Some(i.to_be_bytes().to_vec()),
        );
        // etcd 3.4 keeps no term key; 3.5 and later do.
        if db.meta().term.is_some() {
            st.set(buckets::META, b"term", Some(t.to_be_bytes().to_vec()));
        }
    }
    st.out.stats.writes = st.out.writes.len() as u64;
    st.out.revision = st.current;
    let overlay = Overlay {
        changes: st
            .take_changes()
            .into_iter()
            .map(|(key, cur)| {
                let live = cur.map(|c| LiveKey {
                    revision: Revision {
                        main: c.modr,
                        sub: c.sub,
                    },
                    kv: KeyValueRef {
                        key,
                        create_revision: c.create,
                        mod_revision: c.modr,
                        version: c.version,
                        value: c.value,
                        lease: c.lease,
                    },
                });
                (key, live)
            })
            .collect(),
        revision: st.current,
        compact_revision: st.compact,
        writes: st.out.stats.writes,
    };
    Ok((st.out, overlay))
}

impl Replay<'_> {
    /// Whether the replay changed nothing in the db.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.buckets.is_empty()
    }

    /// Whether the replay changed what the store holds: anything beyond
    /// moving the meta bucket's applied index and term forward (entries
    /// such as a new leader's empty entry or a member-attribute update
    /// move only those).
    pub fn changes_store(&self) -> bool {
        !self.writes.is_empty()
            || self.buckets.keys().any(|(b, k)| {
                !(b.as_slice() == buckets::META
                    && (k.as_slice() == b"consistent_index" || k.as_slice() == b"term"))
            })
    }

    /// Writes the db after the replay: every bucket of `db` with the
    /// replay's changes (the `key` bucket gains the new revisions), through
    /// the bbolt Builder, with `db`'s page size.
    pub fn write_db<D: AsRef<[u8]>, W: std::io::Write + std::io::Seek>(
        &self,
        db: &EtcdDb<D>,
        out: W,
    ) -> Result<W> {
        let bolt = db.bolt();
        let opts = bbolt::write::BuilderOptions {
            page_size: bolt.page_size(),
            fill_percent: 0.9,
            freelist: bbolt::write::FreelistMode::None,
            txid: bolt.meta().txid.saturating_add(1),
        };
        let mut b = bbolt::write::Builder::new(out, opts)?;
        // Root-level names: the db's buckets and the ones the replay adds.
        let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
        let root = bolt.root();
        let mut c = root.cursor();
        let mut e = c.first()?;
        while let Some(x) = e {
            if x.is_bucket() {
                names.insert(x.key.to_vec());
            }
            e = c.next()?;
        }
        for (bk, _) in self.buckets.keys() {
            names.insert(bk.clone());
        }
        let mut value = Vec::new();
        for name in &names {
            b.begin_bucket(name)?;
            let changes: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = self
                .buckets
                .range((name.clone(), Vec::new())..)
                .take_while(|((bk, _), _)| bk == name)
                .map(|((_, k), v)| (k, v))
                .collect();
            if name.as_slice() == buckets::KEY {
                // The replay only appends revisions: stream the old ones.
                if let Ok(bucket) = bolt.bucket(&[name.as_slice()]) {
                    let mut c = bucket.cursor();
                    let mut e = c.first()?;
                    while let Some(x) = e {
                        b.put(x.key, x.value)?;
                        e = c.next()?;
                    }
                }
            } else {
                let mut old: Vec<(&[u8], &[u8])> = Vec::new();
                if let Ok(bucket) = bolt.bucket(&[name.as_slice()]) {
                    let mut c = bucket.cursor();
                    let mut e = c.first()?;
                    while let Some(x) = e {
                        if x.is_bucket() {
                            return Err(Error::InvalidArgument(format!(
                                "bucket {} holds a nested bucket; etcd's buckets are flat",
                                String::from_utf8_lossy(name)
                            )));
                        }
                        old.push((x.key, x.value));
                        e = c.next()?;
                    }
                }
                let mut old = old.into_iter().peekable();
                let mut new = changes.into_iter().peekable();
                loop {
                    match (old.peek(), new.peek()) {
                        (None, None) => break,
                        (Some(&(ok, ov)), n) if n.is_none_or(|(nk, _)| ok < nk.as_slice()) => {
                            b.put(ok, ov)?;
                            old.next();
                        }
                        (o, Some(&(nk, nv))) => {
                            if o.is_some_and(|&(ok, _)| ok == nk.as_slice()) {
                                old.next();
                            }
                            if let Some(v) = nv {
                                b.put(nk, v)?;
                            }
                            new.next();
                        }
                        (Some(_), None) => unreachable_merge()?,
                    }
                }
            }
            if name.as_slice() == buckets::KEY {
                for w in &self.writes {
                    value.clear();
                    w.kv.encode(&mut value);
                    b.put(
                        &RevisionKey {
                            rev: w.rev,
                            tombstone: w.tombstone,
                        }
                        .encode(),
                        &value,
                    )?;
                }
            }
            b.end_bucket()?;
        }
        let (out, _) = b.finish()?;
        Ok(out)
    }
}

/// The merge above covers every case; this keeps the match total without a
/// panic.
fn unreachable_merge() -> Result<()> {
    Err(Error::InvalidArgument("bucket merge out of order".into()))
}

#[cfg(test)]
mod tests {
    use super::sort_by_bytes;
    use crate::wal::{Entry, EntryType};
    use crate::EtcdDb;
    use proptest::prelude::*;

    use crate::wal::encode::{field_bytes as field, field_varint as number};

    /// An InternalRaftRequest: `body` as field `n`, from `user` (none: no
    /// header user, auth revision 0).
    fn request(user: Option<&str>, n: u32, body: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        number(&mut h, 1, 7);
        if let Some(u) = user {
            field(&mut h, 2, u.as_bytes());
            number(&mut h, 3, 1 << 40);
        }
        let mut r = Vec::new();
        field(&mut r, 100, &h);
        field(&mut r, n, body);
        r
    }

    fn two(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        field(&mut m, 1, a);
        if !b.is_empty() {
            field(&mut m, 2, b);
        }
        m
    }

    fn alarm(action: u64) -> Vec<u8> {
        let mut m = Vec::new();
        number(&mut m, 1, action);
        number(&mut m, 2, 1);
        number(&mut m, 3, 1); // NOSPACE
        m
    }

    /// TxnRequest { success: [ RequestOp { request_txn: { success: [ put key ] } } ] }.
    fn nested_put(key: &[u8]) -> Vec<u8> {
        let mut op = Vec::new();
        field(&mut op, 2, &two(key, b"v"));
        let mut inner = Vec::new();
        field(&mut inner, 2, &op);
        let mut op2 = Vec::new();
        field(&mut op2, 4, &inner);
        let mut outer = Vec::new();
        field(&mut outer, 2, &op2);
        outer
    }

    #[test]
    fn an_alarm_raised_in_the_log_switches_appliers_as_etcd_does() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/etcd-wal/3.5.1-killed/member/snap/db");
        let bytes = std::fs::read(path).unwrap();
        let db = EtcdDb::open(&bytes[..]).unwrap();
        let base = db.live(0).unwrap();
        let ci = db.meta().consistent_index.unwrap();
        let (k1, k2) = (base.keys[0].kv.key, base.keys[1].kv.key);
        let user = |name: &str| {
            let mut m = Vec::new();
            field(&mut m, 1, name.as_bytes());
            field(&mut m, 4, b"JDJhJDEwJGFiYw==");
            m
        };
        let reqs: Vec<Vec<u8>> = vec![
            request(None, 1100, &user("root")),
            request(None, 1104, &two(b"root", b"root")),
            request(None, 1100, &user("carol")),
            request(None, 1000, &[]),
            // carol holds no permission: refused.
            request(Some("carol"), 4, &two(b"c/1", b"v")),
            // NOSPACE raised in the log: the capped applier over the bare
            // store, no auth checks: carol's delete goes through, her put
            // is capped.
            request(None, 10, &alarm(1)),
            request(Some("carol"), 5, &two(k1, b"")),
            request(Some("carol"), 4, &two(b"c/2", b"v")),
            // Cleared: the full applier, auth checked again.
            request(None, 10, &alarm(2)),
            request(Some("carol"), 5, &two(k2, b"")),
            request(Some("root"), 4, &two(b"r/1", b"v")),
            // A txn naming no key at its top level (a nested txn only) is
            // not checked at all, not even for a missing user.
            request(None, 6, &nested_put(b"n/1")),
        ];
        let entries: Vec<Entry<'_>> = reqs
            .iter()
            .enumerate()
            .map(|(i, d)| Entry {
                term: 9,
                index: ci + 1 + i as u64,
                kind: EntryType::Normal,
                data: d,
            })
            .collect();
        let r = super::replay(&db, &base, &entries, &Default::default()).unwrap();
        let written: Vec<(&[u8], bool)> =
            r.writes.iter().map(|w| (w.kv.key, w.tombstone)).collect();
        assert_eq!(
            written,
            [(k1, true), (&b"r/1"[..], false), (&b"n/1"[..], false)]
        );
        assert_eq!(r.stats.rejected, 3, "{:?}", r.stats);
    }

    proptest! {
        #[test]
        fn word_sort_equals_comparison_sort(
            prefix in proptest::collection::vec(prop_oneof![Just(0u8), Just(b'a'), any::<u8>()], 0..12),
            tails in proptest::collection::btree_set(
                proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(b'/'), any::<u8>()], 0..40), 0..300),
            long_ties in 0usize..40,
        ) {
            // Keys sharing a prefix, some ending inside a word, zeros that
            // pad like a short key's padding, and a group that ties on
            // many words.
            let mut keys: Vec<Vec<u8>> = tails
                .iter()
                .map(|t| prefix.iter().chain(t).copied().collect())
                .collect();
            for i in 0..long_ties {
                let mut k = prefix.clone();
                k.extend_from_slice(&[b'x'; 70]);
                k.extend_from_slice(i.to_string().as_bytes());
                keys.push(k);
            }
            keys.sort();
            keys.dedup();
            let mut shuffled: Vec<(&[u8], usize)> = keys.iter().map(|k| (k.as_slice(), k.len())).collect();
            shuffled.reverse();
            let third = shuffled.len() / 3;
            shuffled.rotate_left(third);
            let got = sort_by_bytes(shuffled, |t| t.0);
            let want: Vec<(&[u8], usize)> = keys.iter().map(|k| (k.as_slice(), k.len())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
