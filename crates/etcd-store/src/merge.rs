//! Several members of one cluster, one history.
//!
//! etcd applies the same raft log on every member, so a revision names the
//! same change on every member, byte for byte: the `key` bucket entry of
//! revision `(main, sub)` is equal wherever it exists. [`merge`] reads the
//! `key` buckets of several members' dbs (each after its own WAL replay) in
//! revision order, side by side, and writes one db holding every revision
//! any of them holds, each checked against every other member that holds
//! it:
//!
//! - one member alone holds it (the others compacted it away, or stop
//!   earlier in the log): taken as it is;
//! - every holder agrees: taken;
//! - they disagree and a strict majority of three or more holders agree:
//!   the majority wins and the outvoted members are named
//!   ([`Disagreement::decided`]);
//! - otherwise (two holders, or no majority): undecidable; the newest
//!   member's bytes are kept and the key is reported as possibly wrong.
//!
//! With data dirs, each member's WAL is replayed onto its db first, up to
//! the last entry the cluster committed: the highest HardState.commit, or
//! the highest entry a majority of the members hold with the same index
//! and term (raft's rule; an entry on a minority was never acknowledged).
//! The caller does that ([`majority_index`]); the merge sees the dbs.
//!
//! The buckets other than `key` (meta, leases, members, auth, ...) come
//! from the newest member read whole: the one with the highest applied
//! index (`consistent_index`), then the highest revision.
//!
//! A damaged member comes in as its salvage ([`Source::Salvaged`]): what
//! it lost, another member fills. Only revision ranges lost in every
//! member are lost ([`MergeReport::lost_in_every_member`]); with one member
//! read whole there are none. When every member is damaged, the merged db
//! holds the `key` bucket and a `meta` bucket with the compaction.
//!
//! Members of different clusters are refused: disjoint `members` buckets,
//! or histories that disagree on most of the revisions they share.

use std::collections::BTreeSet;
use std::io::{Seek, Write};

use crate::error::{Error, Result};
use crate::kv::KeyValueRef;
use crate::meta::buckets;
use crate::revision::{Revision, RevisionKey};
use crate::salvage::Salvaged;
use crate::store::EtcdDb;

/// One member's history, as it could be read.
pub enum Source<'a, D: AsRef<[u8]>> {
    /// Read whole.
    Db(&'a EtcdDb<D>),
    /// Damaged: what salvage recovered.
    Salvaged(&'a Salvaged<'a>),
}

/// A member: its name (its path, for the report) and its history.
pub struct Member<'a, D: AsRef<[u8]>> {
    /// Its name.
    pub name: String,
    /// Its history.
    pub source: Source<'a, D>,
}

type Stream<'a> = Box<dyn Iterator<Item = Result<(RevisionKey, &'a [u8])>> + 'a>;

/// The entries of `s` with `from <= revision < to` (a bound left out: no
/// bound), in order.
fn stream_range<'a, D: AsRef<[u8]>>(
    s: &Source<'a, D>,
    from: Option<Revision>,
    to: Option<Revision>,
) -> Result<Stream<'a>> {
    let below = move |r: &Revision| to.is_none_or(|t| *r < t);
    Ok(match *s {
        Source::Db(db) => {
            let it = match from {
                Some(f) => db.revisions_from(f)?,
                None => db.revisions()?,
            };
            Box::new(
                it.map(|e| e.map(|e| (e.rev, e.value)))
                    .take_while(move |e| e.as_ref().map_or(true, |(k, _)| below(&k.rev))),
            )
        }
        Source::Salvaged(sv) => Box::new(
            sv.entries
                .values()
                .filter(move |r| from.is_none_or(|f| r.rev.rev >= f))
                .take_while(move |r| below(&r.rev.rev))
                .map(|r| Ok((r.rev, r.value))),
        ),
    })
}

/// At most this many disagreements are listed in a report (all are counted).
pub const MAX_LISTED: usize = 1000;

/// One revision that two members hold with different bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Disagreement {
    /// The main revision.
    pub revision: i64,
    /// The sub revision.
    pub sub: i64,
    /// The user key (of the kept entry; lossy UTF-8).
    pub key: String,
    /// The members whose bytes were kept.
    pub kept: Vec<String>,
    /// The members whose bytes differ from the kept ones.
    pub outvoted: Vec<String>,
    /// Whether a majority decided (else the kept bytes are a guess).
    pub decided: bool,
}

/// What one member contributed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemberReport {
    /// The name given (its path).
    pub name: String,
    /// `key`-bucket entries it holds.
    pub revisions: u64,
    /// Entries no other member holds.
    pub only_here: u64,
    /// Its newest main revision (0: none).
    pub last_revision: i64,
    /// Its applied raft index.
    pub consistent_index: u64,
    /// Entries where it was outvoted.
    pub outvoted: u64,
    /// Read by salvage (damaged): what it found damaged and may have lost.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damage: Vec<String>,
    /// Whether it was read by salvage.
    pub salvaged: bool,
}

/// What a merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeReport {
    /// Per member, in the order given.
    pub members: Vec<MemberReport>,
    /// The member whose other buckets (meta, leases, ...) were kept.
    pub newest: String,
    /// Entries in the merged `key` bucket.
    pub revisions: u64,
    /// Entries some members hold and others do not (compacted, or
    /// beyond the end of their log).
    pub held_by_some: u64,
    /// Entries a majority settled against a differing member.
    pub decided: u64,
    /// Entries no majority settled: their keys may be wrong.
    pub undecided: u64,
    /// The first [`MAX_LISTED`] disagreements, in revision order.
    pub disagreements: Vec<Disagreement>,
    /// Revision ranges `[low, high)` (main revisions; `None`: unbounded)
    /// that every member may have lost: keys changed there may be missing
    /// or stale. Empty when a member was read whole.
    pub lost_in_every_member: Vec<(Option<i64>, Option<i64>)>,
    /// With WALs: the last raft index taken as committed (the highest
    /// HardState.commit, or the highest entry a majority of the members
    /// hold with the same term); no member is replayed past it.
    pub wal_committed_index: Option<u64>,
    /// WAL entries above that index, held by a minority only (never
    /// acknowledged to a client), left out.
    pub wal_minority_entries: u64,
    /// The newest member holds every merged revision with the kept bytes:
    /// the merged store is that member's, read as it is (no rewrite).
    #[serde(default)]
    pub newest_holds_all: bool,
}

impl MergeReport {
    /// Whether some revision could not be settled.
    pub fn undecidable(&self) -> bool {
        self.undecided > 0
    }

    /// Whether every member may have lost some revisions.
    pub fn incomplete(&self) -> bool {
        !self.lost_in_every_member.is_empty()
    }

    /// One line for a summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "merged {} members: {} revisions ({} held by only some), others from {}",
            self.members.len(),
            self.revisions,
            self.held_by_some,
            self.newest
        );
        if self.decided > 0 {
            s.push_str(&format!(
                "; {} revisions settled by majority against a member that differs",
                self.decided
            ));
        }
        if self.undecided > 0 {
            s.push_str(&format!(
                "; {} revisions UNDECIDABLE (members disagree, no majority): their keys may be wrong",
                self.undecided
            ));
        }
        if self.newest_holds_all {
            s.push_str("; the newest member holds the merged history: read as it is");
        }
        if let Some(c) = self.wal_committed_index {
            s.push_str(&format!(
                "; WALs replayed up to index {c}, the last a majority holds"
            ));
            if self.wal_minority_entries > 0 {
                s.push_str(&format!(
                    " ({} entries held by a minority only (above it, or of a term the cluster overwrote), never acknowledged, left out)",
                    self.wal_minority_entries
                ));
            }
        }
        let salvaged = self.members.iter().filter(|m| m.salvaged).count();
        if salvaged > 0 {
            s.push_str(&format!("; {salvaged} damaged members read by salvage"));
            if self.lost_in_every_member.is_empty() {
                s.push_str(", their losses filled by the others");
            }
        }
        for (lo, hi) in &self.lost_in_every_member {
            let b = |x: &Option<i64>| x.map_or("..".to_string(), |v| v.to_string());
            s.push_str(&format!(
                "; LOST in every member: revisions [{}, {}): keys changed there may be missing or stale",
                b(lo),
                b(hi)
            ));
        }
        s
    }
}

/// The last raft index a cluster committed, from its members' WALs: each
/// member's (index, term) entries in log order and its HardState.commit.
/// The highest commit, or above it the highest index that at least a
/// majority of `members` (the cluster's size) hold with the same term.
pub fn majority_index(logs: &[(&[(u64, u64)], u64)], members: usize) -> u64 {
    committed_cuts(logs, members).0
}

/// [`majority_index`], and for each log the last index of it that is the
/// cluster's committed log: the committed index, or less where the log
/// holds at some index an entry of another term than the committed one
/// (a leader's entry that was never replicated, overwritten by the next
/// leader in the members that went on). By raft's log matching, entries
/// agree up to an index when their terms there agree, so the log is cut
/// just below the first index whose term differs.
pub fn committed_cuts(logs: &[(&[(u64, u64)], u64)], members: usize) -> (u64, Vec<u64>) {
    use std::collections::BTreeMap;
    let commit = logs.iter().map(|l| l.1).max().unwrap_or(0);
    let need = members / 2 + 1;
    let mut held: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for (entries, _) in logs {
        for &(i, t) in entries.iter().filter(|(i, _)| *i > commit) {
            *held.entry((i, t)).or_default() += 1;
        }
    }
    let top = held
        .iter()
        .filter(|(_, &n)| n >= need)
        .map(|(&k, _)| k)
        .max_by_key(|k| k.0);
    let c = top.map_or(commit, |k| k.0).max(commit);
    // Entries are in index order. A log's entries up to its own
    // HardState.commit are committed; only those above the lowest commit
    // need a look.
    let low = logs.iter().map(|l| l.1).min().unwrap_or(0);
    // The committed term at each index in (low, c]: a member's entries up
    // to its own commit, and the log of a member holding the entry a
    // majority holds at `c`.
    let mut committed: BTreeMap<u64, u64> = BTreeMap::new();
    for (entries, h) in logs {
        for &(i, t) in span(entries, low, (*h).min(c)) {
            committed.entry(i).or_insert(t);
        }
    }
    if let Some(k) = top.filter(|k| k.0 > commit) {
        if let Some((entries, _)) = logs.iter().find(|(e, _)| e.binary_search(&k).is_ok()) {
            for &(i, t) in span(entries, low, k.0) {
                committed.entry(i).or_insert(t);
            }
        }
    }
    let cuts = logs
        .iter()
        .map(|(entries, h)| {
            span(entries, *h, c)
                .iter()
                .find(|(i, t)| committed.get(i).is_some_and(|ct| ct != t))
                .map_or(c, |(i, _)| i.saturating_sub(1))
        })
        .collect();
    (c, cuts)
}

/// The entries of an index-ordered log with `above < index <= upto`.
fn span(entries: &[(u64, u64)], above: u64, upto: u64) -> &[(u64, u64)] {
    let from = entries.partition_point(|(i, _)| *i <= above);
    let to = entries.partition_point(|(i, _)| *i <= upto);
    entries.get(from..to).unwrap_or_default()
}

/// The revision of an entry (a tombstone's marker aside): entries of the
/// same revision are compared, marker included.
fn rev_of(e: &(RevisionKey, &[u8])) -> Revision {
    e.0.rev
}

/// `[low, high)` ranges lost by every member: the intersection of each
/// member's union of ranges.
fn lost_everywhere(
    per_member: &[Vec<(Option<Revision>, Option<Revision>)>],
) -> Vec<(Option<Revision>, Option<Revision>)> {
    let lo = |x: Option<Revision>| x.map_or((i64::MIN, i64::MIN), |r| (r.main, r.sub));
    let hi = |x: Option<Revision>| x.map_or((i64::MAX, i64::MAX), |r| (r.main, r.sub));
    let mut acc: Option<Vec<(Option<Revision>, Option<Revision>)>> = None;
    for m in per_member {
        acc = Some(match acc {
            None => m.clone(),
            Some(prev) => {
                let mut out = Vec::new();
                for a in &prev {
                    for b in m {
                        let l = if lo(a.0) >= lo(b.0) { a.0 } else { b.0 };
                        let h = if hi(a.1) <= hi(b.1) { a.1 } else { b.1 };
                        if lo(l) < hi(h) {
                            out.push((l, h));
                        }
                    }
                }
                out
            }
        });
    }
    acc.unwrap_or_default()
}

fn member_ids<D: AsRef<[u8]>>(db: &EtcdDb<D>) -> Result<BTreeSet<Vec<u8>>> {
    let mut ids = BTreeSet::new();
    if let Ok(b) = db.bolt().bucket(&[buckets::MEMBERS]) {
        let mut c = b.cursor();
        let mut e = c.first()?;
        while let Some(x) = e {
            ids.insert(x.key.to_vec());
            e = c.next()?;
        }
    }
    Ok(ids)
}

/// Merges the histories of several members of one cluster (named for the
/// report) into one etcd db written to `out` (see the module docs).
pub fn merge<D: AsRef<[u8]> + Sync, W: Write + Seek>(
    members: &[Member<'_, D>],
    out: W,
) -> Result<(W, MergeReport)> {
    let (out, report) = merge_into(members, Some(out))?;
    let out = out.ok_or_else(|| Error::InvalidArgument("the merge wrote nothing".into()))?;
    Ok((out, report))
}

/// The merge without writing it: the same checks, votes and report as
/// [`merge`]. When the report says `newest_holds_all`, the merged store is
/// the newest member's as it is (every other bucket comes from it too), so
/// a reader can use that member directly and skip the rewrite; the index
/// returned is that member's.
pub fn plan<D: AsRef<[u8]> + Sync>(
    members: &[Member<'_, D>],
) -> Result<(MergeReport, Option<usize>)> {
    let (_, report) = merge_into::<D, std::io::Cursor<Vec<u8>>>(members, None)?;
    let newest = members.iter().position(|m| m.name == report.newest);
    Ok((report.clone(), newest.filter(|_| report.newest_holds_all)))
}

fn merge_into<D: AsRef<[u8]> + Sync, W: Write + Seek>(
    members: &[Member<'_, D>],
    out: Option<W>,
) -> Result<(Option<W>, MergeReport)> {
    if members.len() < 2 {
        return Err(Error::InvalidArgument(
            "a merge needs at least two members".into(),
        ));
    }
    // Different clusters: members buckets with no member in common.
    let ids: Vec<BTreeSet<Vec<u8>>> = members
        .iter()
        .map(|m| match m.source {
            Source::Db(db) => member_ids(db),
            Source::Salvaged(_) => Ok(BTreeSet::new()),
        })
        .collect::<Result<_>>()?;
    for (i, a) in ids.iter().enumerate() {
        for (j, b) in ids.iter().enumerate().skip(i + 1) {
            if !a.is_empty() && !b.is_empty() && a.is_disjoint(b) {
                return Err(Error::InvalidArgument(format!(
                    "{} and {} are members of different clusters (their members buckets share no member)",
                    name(members, i),
                    name(members, j)
                )));
            }
        }
    }
    let mut report = MergeReport {
        members: Vec::with_capacity(members.len()),
        ..Default::default()
    };
    let mut newest: Option<usize> = None;
    let mut best = (0u64, 0i64);
    let mut lost = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let mut r = MemberReport {
            name: m.name.clone(),
            ..Default::default()
        };
        match m.source {
            Source::Db(db) => {
                r.consistent_index = db.meta().consistent_index.unwrap_or(0);
                r.last_revision = db.last_revision()?.map_or(0, |x| x.rev.main);
                if newest.is_none() || (r.consistent_index, r.last_revision) > best {
                    best = (r.consistent_index, r.last_revision);
                    newest = Some(i);
                }
            }
            Source::Salvaged(sv) => {
                r.salvaged = true;
                r.last_revision = sv.entries.keys().next_back().map_or(0, |k| k.rev.main);
                r.damage = sv
                    .report
                    .damaged
                    .iter()
                    .chain(&sv.report.lost_ranges)
                    .cloned()
                    .collect();
                lost.push(sv.lost_ranges());
            }
        }
        report.members.push(r);
    }
    if newest.is_none() {
        report.lost_in_every_member = lost_everywhere(&lost)
            .into_iter()
            .map(|(l, h)| (l.map(|r| r.main), h.map(|r| r.main)))
            .collect();
    }
    let newest_db = newest.and_then(|i| match members.get(i).map(|m| &m.source) {
        Some(Source::Db(db)) => Some(*db),
        _ => None,
    });
    report.newest = match newest {
        Some(i) => name(members, i),
        None => "(none: every member is damaged; meta rebuilt)".into(),
    };
    let page_size = match newest_db {
        Some(db) => db.bolt().page_size(),
        None => 4096,
    };
    let opts = bbolt::write::BuilderOptions {
        page_size,
        fill_percent: 0.9,
        freelist: bbolt::write::FreelistMode::None,
        txid: newest_db.map_or(1, |db| db.bolt().meta().txid.saturating_add(1)),
    };
    let mut b = match out {
        Some(w) => Some(bbolt::write::Builder::new(w, opts)?),
        None => None,
    };
    let mut own = newest.is_some();
    let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
    if let Some(db) = newest_db {
        let root = db.bolt().root();
        let mut c = root.cursor();
        let mut e = c.first()?;
        while let Some(x) = e {
            if x.is_bucket() {
                names.insert(x.key.to_vec());
            }
            e = c.next()?;
        }
    } else {
        names.insert(buckets::META.to_vec());
    }
    names.insert(buckets::KEY.to_vec());
    // Pairs that share a revision, and how many of those agree.
    let n = members.len();
    let mut shared = vec![0u64; n * n];
    let mut agreed = vec![0u64; n * n];
    for bucket in &names {
        let Some(bb) = b.as_mut() else {
            if bucket.as_slice() != buckets::KEY {
                continue;
            }
            // A plan: the key bucket's votes only, the two halves of the
            // revisions on two threads.
            plan_revisions(
                members,
                newest,
                &mut report,
                &mut shared,
                &mut agreed,
                &mut own,
            )?;
            continue;
        };
        bb.begin_bucket(bucket)?;
        if bucket.as_slice() == buckets::KEY {
            merge_revisions(
                members,
                newest,
                &mut report,
                &mut shared,
                &mut agreed,
                &mut own,
                (None, None),
                |k, v| Ok(bb.put(k, v)?),
            )?;
        } else if newest_db.is_none() && bucket.as_slice() == buckets::META {
            // Every member damaged: the compaction the salvages agree on
            // at least (the lowest), so old-history reads stay refused.
            let compact = members
                .iter()
                .filter_map(|m| match m.source {
                    Source::Salvaged(sv) => Some(sv.report.compact_revision),
                    Source::Db(_) => None,
                })
                .min()
                .unwrap_or(-1);
            if compact > 0 {
                let k = RevisionKey {
                    rev: Revision {
                        main: compact,
                        sub: 0,
                    },
                    tombstone: false,
                }
                .encode();
                bb.put(b"finishedCompactRev", &k)?;
                bb.put(b"scheduledCompactRev", &k)?;
            }
        } else if let Some(bk) =
            newest_db.and_then(|db| db.bolt().bucket(&[bucket.as_slice()]).ok())
        {
            let mut c = bk.cursor();
            let mut e = c.first()?;
            while let Some(x) = e {
                if x.is_bucket() {
                    return Err(Error::InvalidArgument(format!(
                        "bucket {} holds a nested bucket; etcd's buckets are flat",
                        String::from_utf8_lossy(bucket)
                    )));
                }
                bb.put(x.key, x.value)?;
                e = c.next()?;
            }
        }
        bb.end_bucket()?;
    }
    report.newest_holds_all = own;
    // Histories that disagree on most of the revisions they share: not
    // one cluster (members of one cluster differ only where a file rotted;
    // two fresh clusters may agree on their first few writes).
    for i in 0..n {
        for j in i + 1..n {
            let s = shared.get(i * n + j).copied().unwrap_or(0);
            let a = agreed.get(i * n + j).copied().unwrap_or(0);
            if s > 0 && (s - a) * 2 > s {
                return Err(Error::InvalidArgument(format!(
                    "{} and {} disagree on {} of the {s} revisions they share: not members of one cluster",
                    name(members, i),
                    name(members, j),
                    s - a
                )));
            }
        }
    }
    let out = match b {
        Some(b) => Some(b.finish()?.0),
        None => None,
    };
    Ok((out, report))
}

#[allow(clippy::too_many_arguments)]
/// The `key` bucket: every revision any member holds, voted on; `emit`
/// gets each kept revision in order. `own` stays true while the newest
/// member holds every kept revision with the kept bytes.
fn merge_revisions<D: AsRef<[u8]>>(
    members: &[Member<'_, D>],
    newest: Option<usize>,
    report: &mut MergeReport,
    shared: &mut [u64],
    agreed: &mut [u64],
    own: &mut bool,
    range: (Option<Revision>, Option<Revision>),
    mut emit: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let n = members.len();
    let mut its: Vec<Stream<'_>> = members
        .iter()
        .map(|m| stream_range(&m.source, range.0, range.1))
        .collect::<Result<_>>()?;
    let mut heads: Vec<Option<(RevisionKey, &[u8])>> = its
        .iter_mut()
        .map(|it| it.next().transpose())
        .collect::<Result<_>>()?;
    let mut holders: Vec<usize> = Vec::with_capacity(n);
    while let Some(rev) = heads.iter().flatten().map(rev_of).min() {
        holders.clear();
        holders.extend(
            heads
                .iter()
                .enumerate()
                .filter(|(_, h)| h.as_ref().is_some_and(|h| rev_of(h) == rev))
                .map(|(i, _)| i),
        );
        let entry = |i: usize| heads.get(i).and_then(|h| h.as_ref());
        let same = |a: usize, b: usize| match (entry(a), entry(b)) {
            (Some(x), Some(y)) => x.0 == y.0 && x.1 == y.1,
            _ => false,
        };
        // Votes: for each holder, how many holders agree with it.
        let votes: Vec<usize> = holders
            .iter()
            .map(|&a| holders.iter().filter(|&&b| same(a, b)).count())
            .collect();
        for (x, &a) in holders.iter().enumerate() {
            for &bb in holders.iter().skip(x + 1) {
                if let Some(s) = shared.get_mut(a * n + bb) {
                    *s += 1;
                }
                if same(a, bb) {
                    if let Some(s) = agreed.get_mut(a * n + bb) {
                        *s += 1;
                    }
                }
            }
        }
        let top = votes.iter().copied().max().unwrap_or(0);
        let all_agree = top == holders.len();
        let majority = holders.len() >= 3 && top * 2 > holders.len();
        // The kept holder: the majority's, or (no majority) the
        // newest member if it holds the revision, else the first
        // of the largest group.
        let pick = if all_agree || majority {
            holders
                .iter()
                .zip(&votes)
                .find(|(_, &v)| v == top)
                .map(|(&h, _)| h)
        } else if let Some(nw) = newest.filter(|nw| holders.contains(nw)) {
            Some(nw)
        } else {
            holders
                .iter()
                .zip(&votes)
                .find(|(_, &v)| v == top)
                .map(|(&h, _)| h)
        };
        let Some(pick) = pick else { break };
        let Some(&(kept_rev, kept_value)) = entry(pick) else {
            break;
        };
        emit(&kept_rev.encode()[..], kept_value)?;
        if !newest.is_some_and(|nw| holders.contains(&nw) && same(nw, pick)) {
            *own = false;
        }
        report.revisions += 1;
        if holders.len() < n {
            report.held_by_some += 1;
        }
        if let ([only], true) = (holders.as_slice(), n > 1) {
            if let Some(r) = report.members.get_mut(*only) {
                r.only_here += 1;
            }
        }
        if !all_agree {
            let kept_by: Vec<usize> = holders.iter().copied().filter(|&h| same(h, pick)).collect();
            let out: Vec<usize> = holders
                .iter()
                .copied()
                .filter(|&h| !same(h, pick))
                .collect();
            if majority {
                report.decided += 1;
            } else {
                report.undecided += 1;
            }
            for &o in &out {
                if let Some(r) = report.members.get_mut(o) {
                    r.outvoted += 1;
                }
            }
            if report.disagreements.len() < MAX_LISTED {
                let key = KeyValueRef::decode(kept_value)
                    .map(|kv| String::from_utf8_lossy(kv.key).into_owned())
                    .unwrap_or_else(|_| "(undecodable entry)".into());
                report.disagreements.push(Disagreement {
                    revision: rev.main,
                    sub: rev.sub,
                    key,
                    kept: kept_by.iter().map(|&i| name(members, i)).collect(),
                    outvoted: out.iter().map(|&i| name(members, i)).collect(),
                    decided: majority,
                });
            }
        }
        for &h in &holders {
            if let Some(r) = report.members.get_mut(h) {
                r.revisions += 1;
            }
            let next = match its.get_mut(h) {
                Some(it) => it.next().transpose()?,
                None => None,
            };
            if let Some(slot) = heads.get_mut(h) {
                *slot = next;
            }
        }
    }
    Ok(())
}

/// [`merge_revisions`] without output, the revisions split in two halves
/// voted on at once; the counts and lists are added up in order.
fn plan_revisions<D: AsRef<[u8]> + Sync>(
    members: &[Member<'_, D>],
    newest: Option<usize>,
    report: &mut MergeReport,
    shared: &mut [u64],
    agreed: &mut [u64],
    own: &mut bool,
) -> Result<()> {
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for m in members {
        if let Source::Db(db) = m.source {
            if let (Some(a), Some(b)) = (db.first_revision()?, db.last_revision()?) {
                lo = lo.min(a.rev.main);
                hi = hi.max(b.rev.main);
            }
        }
    }
    if lo >= hi {
        return merge_revisions(
            members,
            newest,
            report,
            shared,
            agreed,
            own,
            (None, None),
            |_, _| Ok(()),
        );
    }
    let mid = Revision {
        main: lo + (hi - lo) / 2,
        sub: 0,
    };
    let blank = || MergeReport {
        members: report
            .members
            .iter()
            .map(|m| MemberReport {
                name: m.name.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let start_own = *own;
    let (ns, na) = (shared.len(), agreed.len());
    let half = |range| -> Result<(MergeReport, Vec<u64>, Vec<u64>, bool)> {
        let mut r = blank();
        let mut s = vec![0u64; ns];
        let mut a = vec![0u64; na];
        let mut o = start_own;
        merge_revisions(
            members,
            newest,
            &mut r,
            &mut s,
            &mut a,
            &mut o,
            range,
            |_, _| Ok(()),
        )?;
        Ok((r, s, a, o))
    };
    let (first, second) = std::thread::scope(|sc| {
        let h = sc.spawn(|| half((Some(mid), None)));
        (half((None, Some(mid))), h.join())
    });
    let second =
        second.map_err(|_| Error::InvalidArgument("the merge's second half failed".into()))?;
    for part in [first?, second?] {
        let (r, s, a, o) = part;
        report.revisions += r.revisions;
        report.held_by_some += r.held_by_some;
        report.decided += r.decided;
        report.undecided += r.undecided;
        for d in r.disagreements {
            if report.disagreements.len() < MAX_LISTED {
                report.disagreements.push(d);
            }
        }
        for (into, m) in report.members.iter_mut().zip(r.members) {
            into.revisions += m.revisions;
            into.only_here += m.only_here;
            into.outvoted += m.outvoted;
        }
        for (x, y) in shared.iter_mut().zip(s) {
            *x += y;
        }
        for (x, y) in agreed.iter_mut().zip(a) {
            *x += y;
        }
        *own &= o;
    }
    Ok(())
}

fn name<D: AsRef<[u8]>>(members: &[Member<'_, D>], i: usize) -> String {
    members.get(i).map(|m| m.name.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::majority_index;

    #[test]
    fn majority_index_follows_the_raft_rule() {
        let a = [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)];
        let b = [(1, 1), (2, 1), (3, 1), (4, 2)];
        let c = [(1, 1), (2, 1), (3, 1)];
        // Commit 3 everywhere; 4 is on two of three, 5 on one.
        assert_eq!(majority_index(&[(&a, 3), (&b, 3), (&c, 3)], 3), 4);
        // A commit ahead of what a majority holds stands.
        assert_eq!(majority_index(&[(&a, 5), (&b, 3), (&c, 3)], 3), 5);
        // Same index, different terms: no majority for either.
        let d = [(1, 1), (2, 1), (3, 1), (4, 3)];
        assert_eq!(majority_index(&[(&a, 3), (&d, 3), (&c, 3)], 3), 3);
        // Two members of a three-member cluster: both must hold it.
        assert_eq!(majority_index(&[(&a, 3), (&c, 3)], 3), 3);
        assert_eq!(majority_index(&[(&a, 3), (&b, 3)], 3), 4);
        assert_eq!(majority_index(&[], 3), 0);
    }

    #[test]
    fn a_log_is_cut_where_its_term_leaves_the_committed_log() {
        use super::committed_cuts;
        // The old leader (term 2) appended 5 and died; the two others
        // elected a leader in term 3 whose first entry took index 5.
        let old = [(3, 2), (4, 2), (5, 2)];
        let a = [(3, 2), (4, 2), (5, 3)];
        let b = [(3, 2), (4, 2), (5, 3)];
        assert_eq!(
            committed_cuts(&[(&a, 4), (&b, 4), (&old, 4)], 3),
            (5, vec![5, 5, 4])
        );
        // A term that differs below a member's commit: the commit shows
        // the committed term.
        let c = [(3, 2), (4, 2), (5, 3), (6, 3)];
        assert_eq!(committed_cuts(&[(&c, 6), (&old, 4)], 3), (6, vec![6, 4]));
        // No majority above the commit: the commit stands, and a log
        // that agrees up to it is cut there.
        assert_eq!(committed_cuts(&[(&a, 4), (&old, 4)], 3), (4, vec![4, 4]));
        // Logs without entries to compare are not cut.
        assert_eq!(committed_cuts(&[(&[], 4), (&a, 4)], 3), (4, vec![4, 4]));
    }
}
