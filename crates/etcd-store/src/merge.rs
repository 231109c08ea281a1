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
//! The buckets other than `key` (meta, leases, members, auth, ...) come
//! from the newest member: the one with the highest applied index
//! (`consistent_index`), then the highest revision.
//!
//! Members of different clusters are refused: disjoint `members` buckets,
//! or histories that disagree on most of the revisions they share.

use std::collections::BTreeSet;
use std::io::{Seek, Write};

use crate::error::{Error, Result};
use crate::kv::KeyValueRef;
use crate::meta::buckets;
use crate::revision::Revision;
use crate::store::{EtcdDb, RevEntry, Revisions};

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
}

impl MergeReport {
    /// Whether some revision could not be settled.
    pub fn undecidable(&self) -> bool {
        self.undecided > 0
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
        s
    }
}

/// The revision part of a `key`-bucket key (a tombstone's marker aside):
/// entries of the same revision are compared, marker included.
fn rev_of(e: &RevEntry<'_>) -> Revision {
    e.rev.rev
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

/// Merges the dbs of several members of one cluster (named for the report)
/// into one etcd db written to `out` (see the module docs).
pub fn merge<D: AsRef<[u8]>, W: Write + Seek>(
    members: &[(String, &EtcdDb<D>)],
    out: W,
) -> Result<(W, MergeReport)> {
    if members.len() < 2 {
        return Err(Error::InvalidArgument(
            "a merge needs at least two members".into(),
        ));
    }
    // Different clusters: members buckets with no member in common.
    let ids: Vec<BTreeSet<Vec<u8>>> = members
        .iter()
        .map(|(_, db)| member_ids(db))
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
    let mut newest = 0;
    let mut best = (0u64, 0i64);
    for (i, (n, db)) in members.iter().enumerate() {
        let ci = db.meta().consistent_index.unwrap_or(0);
        let last = db.last_revision()?.map_or(0, |r| r.rev.main);
        if (ci, last) > best {
            best = (ci, last);
            newest = i;
        }
        report.members.push(MemberReport {
            name: n.clone(),
            consistent_index: ci,
            last_revision: last,
            ..Default::default()
        });
    }
    report.newest = name(members, newest);
    let newest_db = members
        .get(newest)
        .map(|(_, db)| *db)
        .ok_or_else(|| Error::InvalidArgument("no member".into()))?;

    let bolt = newest_db.bolt();
    let opts = bbolt::write::BuilderOptions {
        page_size: bolt.page_size(),
        fill_percent: 0.9,
        freelist: bbolt::write::FreelistMode::None,
        txid: bolt.meta().txid.saturating_add(1),
    };
    let mut b = bbolt::write::Builder::new(out, opts)?;
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
    names.insert(buckets::KEY.to_vec());
    // Pairs that share a revision, and how many of those agree.
    let n = members.len();
    let mut shared = vec![0u64; n * n];
    let mut agreed = vec![0u64; n * n];
    for bucket in &names {
        b.begin_bucket(bucket)?;
        if bucket.as_slice() == buckets::KEY {
            let mut its: Vec<Revisions<'_>> = members
                .iter()
                .map(|(_, db)| db.revisions())
                .collect::<Result<_>>()?;
            let mut heads: Vec<Option<RevEntry<'_>>> = its
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
                    (Some(x), Some(y)) => x.raw_key == y.raw_key && x.value == y.value,
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
                } else if holders.contains(&newest) {
                    Some(newest)
                } else {
                    holders
                        .iter()
                        .zip(&votes)
                        .find(|(_, &v)| v == top)
                        .map(|(&h, _)| h)
                };
                let Some(pick) = pick else { break };
                let Some(kept) = entry(pick) else { break };
                b.put(kept.raw_key, kept.value)?;
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
                    let kept_by: Vec<usize> =
                        holders.iter().copied().filter(|&h| same(h, pick)).collect();
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
                        let key = KeyValueRef::decode(kept.value)
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
        } else if let Ok(bk) = bolt.bucket(&[bucket.as_slice()]) {
            let mut c = bk.cursor();
            let mut e = c.first()?;
            while let Some(x) = e {
                if x.is_bucket() {
                    return Err(Error::InvalidArgument(format!(
                        "bucket {} holds a nested bucket; etcd's buckets are flat",
                        String::from_utf8_lossy(bucket)
                    )));
                }
                b.put(x.key, x.value)?;
                e = c.next()?;
            }
        }
        b.end_bucket()?;
    }
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
    let (out, _) = b.finish()?;
    Ok((out, report))
}

fn name<D: AsRef<[u8]>>(members: &[(String, &EtcdDb<D>)], i: usize) -> String {
    members.get(i).map(|(n, _)| n.clone()).unwrap_or_default()
}
