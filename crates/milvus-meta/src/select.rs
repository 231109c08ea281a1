//! What the rescue export keeps: every live key, except, for every Milvus
//! root, `<root>/meta/session/...` (liveness records a fresh Milvus must
//! write itself) and keys attached to a lease (they would never expire
//! once written back without one). On request also
//! `<root>/meta/snapshots/...`, RootCoord's timestamped copies of its keys,
//! which Milvus writes and never reads at the newest timestamp. Nothing is
//! left out silently: every key left out is counted, with its bytes, by
//! reason and root.

use std::collections::BTreeMap;

use etcd_store::LiveView;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::roots;

/// Export filters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExportOptions {
    /// Only these roots (empty: every key, whatever its root).
    pub roots: Vec<String>,
    /// Keep `<root>/meta/session/id`, the ServerID counter (no lease).
    pub keep_session_id: bool,
    /// Keep keys attached to a lease (their lease is dropped).
    pub include_leased: bool,
    /// Leave out the `<root>/meta/snapshots/...` copies Milvus no longer
    /// reads (RootCoord's timestamped copies; millions of them fill etcd's
    /// quota): every copy of a dropped object (its newest copy is the
    /// tombstone) and every copy but the newest of the others. Milvus up
    /// to 2.6.11 reads the newest copy when it starts (without it a
    /// restored 2.3.5 finds no collection), so that one stays.
    #[serde(default)]
    pub drop_snapshots: bool,
}

/// Why a key was left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftOut {
    /// Under `<root>/meta/session/`.
    Session,
    /// Attached to a lease.
    Leased,
    /// Not under a requested root.
    OutsideRoots,
    /// Under `<root>/meta/snapshots/`, an older copy or a dropped object's
    /// (with `drop_snapshots`).
    Snapshots,
}

/// Counts of one root.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RootCounts {
    /// Keys kept.
    pub kept: u64,
    /// Bytes of keys and values kept.
    pub kept_bytes: u64,
    /// Kept keys per Milvus area.
    pub areas: BTreeMap<String, u64>,
    /// Keys left out, per reason.
    pub left_out: BTreeMap<String, u64>,
    /// Bytes of keys and values left out, per reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub left_out_bytes: BTreeMap<String, u64>,
}

/// What the selection did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SelectionReport {
    /// Roots found in the db.
    pub roots_found: Vec<String>,
    /// Keys kept in all.
    pub kept: u64,
    /// Bytes of keys and values kept.
    pub kept_bytes: u64,
    /// Keys left out, per reason, in all.
    pub left_out: BTreeMap<String, u64>,
    /// Bytes of keys and values left out, per reason, in all.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub left_out_bytes: BTreeMap<String, u64>,
    /// Per root ("" for keys under no Milvus root).
    pub per_root: BTreeMap<String, RootCounts>,
}

fn reason_name(r: LeftOut) -> String {
    match r {
        LeftOut::Session => "session",
        LeftOut::Leased => "leased",
        LeftOut::OutsideRoots => "outside_roots",
        LeftOut::Snapshots => "snapshots",
    }
    .into()
}

/// How many reasons a key can be left out for (`LeftOut`'s variants).
const REASONS: usize = 4;

/// Counts and kept keys of one slice of the live keys.
struct Partial<'k> {
    per_root: Vec<RootCounts>,
    areas: Vec<std::collections::HashMap<&'k [u8], u64>>,
    left: Vec<[u64; REASONS]>,
    left_bytes: Vec<[u64; REASONS]>,
    kept: Vec<usize>,
}

/// Classifies the live keys `range` of `view`.
fn classify<'k>(
    view: &'k LiveView<'_>,
    range: std::ops::Range<usize>,
    found: &[String],
    wanted: &[bool],
    opts: &ExportOptions,
    snapshots_kept: &[bool],
) -> Partial<'k> {
    let n = found.len() + 1;
    let mut p = Partial {
        per_root: vec![RootCounts::default(); n],
        areas: vec![Default::default(); n],
        left: vec![[0; REASONS]; n],
        left_bytes: vec![[0; REASONS]; n],
        kept: Vec::with_capacity(range.len()),
    };
    let mut last_ri = found.len();
    let mut run: Option<(usize, &'k [u8], u64)> = None;
    for i in range {
        let Some(k) = view.keys.get(i) else { break };
        let key = view.key(i);
        // Keys are sorted: most share the previous key's root.
        let ri = if found.len() == 1 && found.get(last_ri).is_some_and(|r| roots::under(key, r)) {
            last_ri
        } else {
            found
                .iter()
                .enumerate()
                .filter(|(_, r)| roots::under(key, r))
                .max_by_key(|(_, r)| r.len())
                .map_or(found.len(), |(i, _)| i)
        };
        last_ri = ri;
        let root = found.get(ri).map_or("", String::as_str);
        // Woodpecker's top-level keys belong to the 2.6 instance(s) here:
        // kept whatever `--root` says (its log cannot be read without them).
        let woodpecker = ri == found.len() && key.starts_with(crate::catalog::WOODPECKER);
        let reason = if !wanted.get(ri).copied().unwrap_or(false) && !woodpecker {
            Some(2)
        } else if !root.is_empty()
            && is_session(key, root)
            && !(opts.keep_session_id && is_session_id(key, root))
        {
            Some(0)
        } else if k.kv.lease != 0 && !opts.include_leased {
            Some(1)
        } else if opts.drop_snapshots
            && !root.is_empty()
            && is_snapshot(key, root)
            && !snapshots_kept.get(i).copied().unwrap_or(false)
        {
            Some(3)
        } else {
            None
        };
        match reason {
            Some(r) => {
                if let Some(c) = p.left.get_mut(ri).and_then(|l| l.get_mut(r)) {
                    *c += 1;
                }
                if let Some(c) = p.left_bytes.get_mut(ri).and_then(|l| l.get_mut(r)) {
                    *c += (key.len() + k.kv.value.len()) as u64;
                }
            }
            None => {
                let bytes = (key.len() + k.kv.value.len()) as u64;
                if let Some(rc) = p.per_root.get_mut(ri) {
                    rc.kept += 1;
                    rc.kept_bytes += bytes;
                }
                let a: &'k [u8] = if woodpecker {
                    b"woodpecker"
                } else if root.is_empty() {
                    b"other"
                } else {
                    roots::area_bytes(key, root)
                };
                // Sorted keys come in runs of one area: counted per run.
                match &mut run {
                    Some((rri, ra, n)) if *rri == ri && *ra == a => *n += 1,
                    _ => {
                        if let Some((rri, ra, n)) = run.replace((ri, a, 1)) {
                            if let Some(m) = p.areas.get_mut(rri) {
                                *m.entry(ra).or_default() += n;
                            }
                        }
                    }
                }
                p.kept.push(i);
            }
        }
    }
    if let Some((rri, ra, n)) = run {
        if let Some(m) = p.areas.get_mut(rri) {
            *m.entry(ra).or_default() += n;
        }
    }
    p
}

/// Chooses the keys to export from a live view: returns the indexes in
/// `view.keys` of the keys kept, in key order, and what was done. The work
/// is split over two threads.
pub fn select(view: &LiveView<'_>, opts: &ExportOptions) -> Result<(Vec<usize>, SelectionReport)> {
    let mid = view.keys.len() / 2;
    let (left_half, right_half) = (0..mid, mid..view.keys.len());
    let (da, db) = std::thread::scope(|s| {
        let h = s.spawn(|| roots::discover(right_half.clone().map(|i| view.key(i))));
        (
            roots::discover(left_half.clone().map(|i| view.key(i))),
            h.join(),
        )
    });
    let mut found: Vec<String> = da.into_iter().map(|(r, _)| r).collect();
    found.extend(
        db.map_err(|_| Error::InvalidArgument("root discovery failed".into()))?
            .into_iter()
            .map(|(r, _)| r),
    );
    found.sort();
    found.dedup();
    for r in &opts.roots {
        if !found.contains(r) {
            return Err(Error::RootNotFound(r.clone()));
        }
    }
    // Index `found.len()` stands for "no root".
    let wanted: Vec<bool> = found
        .iter()
        .map(|r| opts.roots.is_empty() || opts.roots.contains(r))
        .chain([opts.roots.is_empty()])
        .collect();
    let kept_snapshots = if opts.drop_snapshots {
        snapshots_milvus_reads(view, &found)
    } else {
        Vec::new()
    };
    let (pa, pb) = std::thread::scope(|s| {
        let h = s.spawn(|| classify(view, right_half, &found, &wanted, opts, &kept_snapshots));
        (
            classify(view, left_half, &found, &wanted, opts, &kept_snapshots),
            h.join(),
        )
    });
    let pb = pb.map_err(|_| Error::InvalidArgument("selection failed".into()))?;
    let mut kept = pa.kept;
    kept.extend(pb.kept);
    let reasons = [
        LeftOut::Session,
        LeftOut::Leased,
        LeftOut::OutsideRoots,
        LeftOut::Snapshots,
    ];
    let mut report = SelectionReport {
        roots_found: found.clone(),
        ..Default::default()
    };
    for i in 0..=found.len() {
        let mut rc = pa.per_root.get(i).cloned().unwrap_or_default();
        if let Some(o) = pb.per_root.get(i) {
            rc.kept += o.kept;
            rc.kept_bytes += o.kept_bytes;
        }
        let sum = |a: &[[u64; REASONS]], b: &[[u64; REASONS]], r: usize| {
            a.get(i).map_or(0, |x| x.get(r).copied().unwrap_or(0))
                + b.get(i).map_or(0, |x| x.get(r).copied().unwrap_or(0))
        };
        for (r, reason) in reasons.iter().enumerate() {
            let n = sum(&pa.left, &pb.left, r);
            if n > 0 {
                let bytes = sum(&pa.left_bytes, &pb.left_bytes, r);
                rc.left_out.insert(reason_name(*reason), n);
                rc.left_out_bytes.insert(reason_name(*reason), bytes);
                *report.left_out.entry(reason_name(*reason)).or_default() += n;
                *report
                    .left_out_bytes
                    .entry(reason_name(*reason))
                    .or_default() += bytes;
            }
        }
        for m in [pa.areas.get(i), pb.areas.get(i)].into_iter().flatten() {
            for (a, n) in m {
                *rc.areas
                    .entry(String::from_utf8_lossy(a).into_owned())
                    .or_default() += *n;
            }
        }
        if rc.kept == 0 && rc.left_out.is_empty() {
            continue;
        }
        report.kept += rc.kept;
        report.kept_bytes += rc.kept_bytes;
        let name = found.get(i).cloned().unwrap_or_default();
        report.per_root.insert(name, rc);
    }
    Ok((kept, report))
}

/// Which of the view's `<root>/meta/snapshots/` keys Milvus still reads, by
/// index (`true`: keep): for each original key, its newest copy (the
/// largest `_ts<N>` suffix, split at the last `_ts`) unless that copy is the
/// tombstone. A RootCoord reading at its current timestamp finds the same
/// value, or the same absence, as with every copy there. Keys without a
/// `_ts<digits>` suffix are kept.
fn snapshots_milvus_reads(view: &LiveView<'_>, found: &[String]) -> Vec<bool> {
    let mut keep = vec![false; view.keys.len()];
    let mut newest: std::collections::HashMap<&[u8], (u64, usize)> = Default::default();
    for i in 0..view.keys.len() {
        let key = view.key(i);
        if !found.iter().any(|r| is_snapshot(key, r)) {
            continue;
        }
        let parsed = key.windows(3).rposition(|w| w == b"_ts").and_then(|at| {
            let digits = key.get(at + 3..)?;
            let ts = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
            Some((key.get(..at)?, ts))
        });
        match parsed {
            Some((original, ts)) => {
                let e = newest.entry(original).or_insert((ts, i));
                if ts >= e.0 {
                    *e = (ts, i);
                }
            }
            None => {
                if let Some(k) = keep.get_mut(i) {
                    *k = true;
                }
            }
        }
    }
    for (_, (_, i)) in newest {
        let dropped = view
            .keys
            .get(i)
            .is_some_and(|k| k.kv.value == crate::catalog::TOMBSTONE);
        if !dropped {
            if let Some(k) = keep.get_mut(i) {
                *k = true;
            }
        }
    }
    keep
}

fn is_session(key: &[u8], root: &str) -> bool {
    key.get(root.len()..)
        .is_some_and(|r| r.starts_with(b"/meta/session/"))
}

fn is_snapshot(key: &[u8], root: &str) -> bool {
    key.get(root.len()..)
        .is_some_and(|r| r.starts_with(b"/meta/snapshots/"))
}

fn is_session_id(key: &[u8], root: &str) -> bool {
    key.get(root.len()..) == Some(&b"/meta/session/id"[..])
}
