//! Recovering the `key` bucket of a damaged etcd db.
//!
//! 1. The tree: the `key` bucket read through the newest meta, skipping
//!    damaged subtrees; then through the other meta page, which may still
//!    reach pages the newest one lost.
//! 2. A scan of every leaf page of the file for entries shaped like
//!    `key`-bucket entries: a 17- or 18-byte revision key and a value that
//!    decodes as a KeyValue whose mod revision matches the key (puts) or
//!    that holds only a key (deletes).
//!
//! Entries are merged by revision. A revision's entry never changes in
//! etcd, so two copies of it agree; a disagreement is reported and the
//! tree's copy wins. Free pages keep stale copies of old pages: an entry
//! found only by the scan at or below the compact revision may be history
//! that compaction removed on purpose (using it could bring back a deleted
//! key), so such entries are left out of the live view and listed.

use std::collections::BTreeMap;

use serde_json::json;

use crate::error::Result;
use crate::kv::KeyValueRef;
use crate::live::{LiveKey, LiveView};
use crate::revision::{Revision, RevisionKey};

/// Where an entry was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Reached from a meta page's tree.
    Tree,
    /// Only by the page scan.
    Scan,
}

/// One recovered `key`-bucket entry.
#[derive(Clone, Copy, Debug)]
pub struct Recovered<'a> {
    /// Its bucket key.
    pub rev: RevisionKey,
    /// The raw value.
    pub value: &'a [u8],
    /// Where it came from.
    pub found: Found,
}

/// What salvage found and what may be missing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SalvageReport {
    /// Damaged pages or subtrees met in the trees, with what is wrong.
    pub damaged: Vec<String>,
    /// Meta slots whose trees were read.
    pub metas_read: Vec<u8>,
    /// Entries reached through a tree.
    pub entries_from_tree: u64,
    /// Entries of the trees rebuilt from the bytes between their
    /// neighbours, their own element fields being damaged.
    pub entries_rebuilt: u64,
    /// Entries found only by the page scan (and used).
    pub entries_from_scan: u64,
    /// Scan-only entries at or below the compact revision, left out.
    pub left_out_below_compact: Vec<String>,
    /// Revisions whose copies disagreed (the tree's copy was used).
    pub conflicts: Vec<String>,
    /// The compact revision used (-1: none known).
    pub compact_revision: i64,
    /// Main revisions above the compact revision with no entry recovered:
    /// changes there (puts or deletes) may be lost.
    pub revision_gaps: Vec<(i64, i64)>,
    /// Revision ranges the newest tree could not read (bounded by the keys
    /// around the damage) and the older tree does not make up for: puts or
    /// deletes there may be lost, even within one transaction's revision.
    pub lost_ranges: Vec<String>,
    /// When the newest revisions were lost (a damaged range running to the
    /// end of the log, starting above the compact revision): the revision
    /// the view is cut at. The view is then the store as it was at that
    /// revision (its revision is this one), and changes after it are
    /// missing.
    pub consistent_up_to: Option<i64>,
    /// Entries recovered past that cut and left out (their revision may have
    /// lost some of its entries, or revisions before it may be missing).
    pub dropped_after_cut: u64,
    /// Keys whose newest recovered revision is older than a gap or a lost
    /// range: their newest value, or their deletion, may be lost.
    pub possibly_stale_keys: u64,
    /// Those keys (the first 10,000), lossy UTF-8.
    pub possibly_stale: Vec<String>,
    /// Possibly stale keys left out of the live view (`live_with(true)`).
    pub stale_left_out: u64,
}

/// Most possibly-stale keys listed by name in a report.
pub const MAX_LISTED: usize = 10_000;

impl SalvageReport {
    /// Whether anything was damaged or may be missing: a damaged page or
    /// element, disagreeing copies, a revision gap or lost range, a cut,
    /// possibly stale keys, or entries only the page scan found. (Old
    /// copies at or below the compact revision in free pages are normal.)
    pub fn found_damage(&self) -> bool {
        !self.damaged.is_empty()
            || !self.conflicts.is_empty()
            || !self.revision_gaps.is_empty()
            || !self.lost_ranges.is_empty()
            || self.consistent_up_to.is_some()
            || self.possibly_stale_keys > 0
            || self.entries_from_scan > 0
            || self.entries_rebuilt > 0
    }

    /// As JSON (for manifests).
    pub fn to_json(&self) -> serde_json::Value {
        json!(self)
    }
}

/// The recovered log of a damaged db.
pub struct Salvaged<'a> {
    /// Entries by revision.
    pub entries: BTreeMap<RevisionKey, Recovered<'a>>,
    /// The report.
    pub report: SalvageReport,
    /// Revision ranges whose entries may be lost.
    lost: Vec<Lost>,
    /// Entries reached only through the older meta page's tree.
    from_older: std::collections::BTreeSet<RevisionKey>,
    /// The newest tree's finished compaction (-1: none): at or below it a
    /// key has one entry left, its newest.
    compacted: i64,
}

fn entry_ok(rev: &RevisionKey, value: &[u8]) -> bool {
    match KeyValueRef::decode(value) {
        Ok(kv) if rev.tombstone => !kv.key.is_empty(),
        Ok(kv) => !kv.key.is_empty() && kv.mod_revision == rev.rev.main && kv.version >= 1,
        Err(_) => false,
    }
}

/// The compaction a tree records: (finished, scheduled) main revisions.
fn compaction_of<D: AsRef<[u8]>>(db: &bbolt::Db<D>) -> (Option<i64>, Option<i64>) {
    let Ok(b) = db.bucket(&[crate::meta::buckets::META]) else {
        return (None, None);
    };
    let get = |k: &[u8]| {
        b.get(k)
            .ok()
            .flatten()
            .and_then(RevisionKey::parse)
            .map(|r| r.rev.main)
    };
    (get(b"finishedCompactRev"), get(b"scheduledCompactRev"))
}

/// Whether no compaction deleted entries between the two meta pages' trees
/// and none is under way: both record the same (finished, scheduled)
/// compact revisions, and the newest has not scheduled past what it finished.
fn compaction_settled(
    newest: (Option<i64>, Option<i64>),
    older: Option<(Option<i64>, Option<i64>)>,
) -> bool {
    let under_way = newest.1.unwrap_or(i64::MIN) > newest.0.unwrap_or(i64::MIN);
    older.is_none_or(|o| o == newest) && !under_way
}

/// A revision range whose entries may be lost: `[low, high)`, None for
/// unbounded (or for a bound that is damaged: then it bounds nothing).
#[derive(Clone, Copy, Debug)]
struct Lost {
    low: Option<Revision>,
    high: Option<Revision>,
    /// The tree holds nothing after it (a damaged last leaf or subtree), as
    /// opposed to a high bound that is only unreadable.
    to_end: bool,
}

impl Lost {
    /// From bbolt bounds: a missing bound is the tree's end, an unreadable
    /// one bounds nothing.
    fn from_bounds(low: Option<&[u8]>, high: Option<&[u8]>) -> Lost {
        let bound = |b: Option<&[u8]>| b.and_then(RevisionKey::parse).map(|r| r.rev);
        Lost {
            low: bound(low),
            high: bound(high),
            to_end: high.is_none(),
        }
    }

    const ALL: Lost = Lost {
        low: None,
        high: None,
        to_end: true,
    };
}

fn overlaps(a: &Lost, b: &Lost) -> bool {
    let below = |x: Option<Revision>, y: Option<Revision>| match (x, y) {
        (Some(x), Some(y)) => x < y,
        _ => true,
    };
    below(a.low, b.high) && below(b.low, a.high)
}

fn lost_text(l: &Lost) -> String {
    let end = |r: Option<Revision>, none: &str| r.map_or(none.to_string(), |r| r.to_string());
    format!(
        "[{}, {})",
        end(l.low, "start"),
        end(l.high, if l.to_end { "end" } else { "unknown" })
    )
}

/// A `key`-bucket entry rebuilt from the bytes between its neighbours (see
/// `bbolt::WalkedElement::span`): a 17- or 18-byte revision key, then a
/// KeyValue that agrees with it.
fn rebuild(span: &[u8]) -> Option<(RevisionKey, &[u8])> {
    [17, 18].into_iter().find_map(|n| {
        let rev = RevisionKey::parse(span.get(..n)?)?;
        let value = span.get(n..)?;
        entry_ok(&rev, value).then_some((rev, value))
    })
}

/// The entries of a walked leaf (revision, value, whether rebuilt), in
/// order. An element that is neither a sound entry nor rebuildable adds
/// the range between the entries around it to `lost`.
fn leaf_entries<'a>(
    leaf: &bbolt::WalkedLeaf<'a>,
    lost: &mut Vec<Lost>,
    damaged: &mut Vec<String>,
    meta: u8,
) -> Vec<(RevisionKey, &'a [u8], bool)> {
    let bound = |b: Option<&[u8]>| b.and_then(RevisionKey::parse).map(|r| r.rev);
    let mut out: Vec<(RevisionKey, &'a [u8], bool)> = Vec::with_capacity(leaf.elements.len());
    let mut gap_from: Option<Option<Revision>> = None;
    for (i, el) in leaf.elements.iter().enumerate() {
        let parsed = el.entry.filter(|e| !e.is_bucket()).and_then(|e| {
            let rev = RevisionKey::parse(e.key)?;
            entry_ok(&rev, e.value).then_some((rev, e.value, false))
        });
        // Every entry must sit between its neighbours.
        let after_prev = |r: &RevisionKey| {
            out.last().is_none_or(|p| p.0 < *r) && bound(leaf.low).is_none_or(|l| r.rev >= l)
        };
        let before_next = |r: &RevisionKey| {
            let next = leaf
                .elements
                .get(i + 1)
                .and_then(|n| n.entry)
                .and_then(|n| RevisionKey::parse(n.key))
                .map(|n| n.rev)
                .or(bound(leaf.high));
            next.is_none_or(|n| r.rev < n)
        };
        // An entry whose data does not end where the next one's starts may
        // have damaged sizes that still decode (a value cut at a field
        // boundary). It stands if the next element, rebuilt from the bytes
        // after its end, confirms that end; else it is rebuilt from its own
        // span, or counted lost.
        let confirmed = || {
            let next = leaf.elements.get(i + 1)?;
            let bytes = next.span?;
            let (r, _) = rebuild(bytes)?;
            parsed.filter(|p| p.0 < r)
        };
        let sound = if el.packed { parsed } else { confirmed() };
        // In order too: an element whose position moved onto another's
        // data reads as that one.
        let sound = sound.filter(|(r, _, _)| after_prev(r) && before_next(r));
        let found = sound.or_else(|| {
            el.span
                .and_then(rebuild)
                .filter(|(r, _)| after_prev(r) && before_next(r))
                .map(|(r, v)| (r, v, true))
        });
        if sound.is_none() && el.entry.is_some() {
            let what = if parsed.is_some() {
                "is not packed where its neighbours say"
            } else {
                "is not a `key`-bucket entry"
            };
            damaged.push(format!(
                "meta {meta}: page {}: element {i} {what}",
                leaf.page
            ));
        }
        if let Some((r, _, true)) = found {
            damaged.push(format!("meta {meta}: page {}: element {i} rebuilt as revision {} from the bytes between its neighbours", leaf.page, r.rev));
        }
        match found {
            Some(f) => {
                if let Some(from) = gap_from.take() {
                    lost.push(Lost {
                        low: from,
                        high: Some(f.0.rev),
                        to_end: false,
                    });
                }
                out.push(f);
            }
            None => {
                if gap_from.is_none() {
                    let after = out.last().map(|p| Revision {
                        main: p.0.rev.main,
                        sub: p.0.rev.sub.saturating_add(1),
                    });
                    gap_from = Some(after.or(bound(leaf.low)));
                }
            }
        }
    }
    if let Some(from) = gap_from {
        lost.push(Lost {
            low: from,
            ..Lost::from_bounds(None, leaf.high)
        });
    }
    out
}

/// What one meta page's tree gave.
struct TreeRead {
    lost: Vec<Lost>,
    /// The newest entry read (None: none).
    max: Option<Revision>,
    compaction: (Option<i64>, Option<i64>),
}

/// `s`, a slice of `data` obtained through a shorter-lived view, with
/// `data`'s lifetime (by offset; an empty slice if it is not inside).
fn rebase<'a>(data: &'a [u8], s: &[u8]) -> &'a [u8] {
    let off = (s.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
    off.checked_add(s.len())
        .and_then(|end| data.get(off..end))
        .unwrap_or_default()
}

/// Salvages the `key` bucket of a (possibly damaged) etcd db file.
pub fn salvage(data: &[u8]) -> Result<Salvaged<'_>> {
    let body = crate::snapshot::DbBytes::new(data);
    let bytes: &[u8] = data.get(..body.as_ref().len()).unwrap_or_default();
    let db = bbolt::Db::open(bytes)?;
    let mut report = SalvageReport {
        compact_revision: -1,
        ..Default::default()
    };
    let mut entries: BTreeMap<RevisionKey, Recovered<'_>> = BTreeMap::new();
    // Entries reached only through the older meta page's tree.
    let mut from_older: std::collections::BTreeSet<RevisionKey> = Default::default();
    let mut trees: Vec<TreeRead> = Vec::new();
    // A meta page that does not validate is damage (a torn last write),
    // even when the other one leads to every key.
    for (slot, m) in db.metas().iter().enumerate() {
        if let Err(e) = m {
            report.damaged.push(format!("meta page {slot}: {e}"));
        }
    }
    // 1. The trees, newest meta first.
    let views = [bbolt::MetaChoice::Newest, bbolt::MetaChoice::Older];
    let mut used_slots = Vec::new();
    for choice in views {
        let Ok(v) = bbolt::Db::open_with(
            bytes,
            &bbolt::OpenOptions {
                meta: choice,
                page_size: Some(db.page_size()),
            },
        ) else {
            continue;
        };
        if used_slots.contains(&v.meta_slot()) {
            continue;
        }
        used_slots.push(v.meta_slot());
        let mut tree = TreeRead {
            lost: Vec::new(),
            max: None,
            compaction: compaction_of(&v),
        };
        let bucket = match v.bucket(&[crate::meta::buckets::KEY]) {
            Ok(b) => b,
            // An older tree from before etcd made its buckets (a db with
            // one commit, or just after a defrag) is not damage.
            Err(bbolt::Error::BucketNotFound(_)) if !trees.is_empty() => {
                tree.lost.push(Lost::ALL);
                trees.push(tree);
                continue;
            }
            Err(e) => {
                report
                    .damaged
                    .push(format!("meta {}: `key` bucket: {e}", v.meta_slot()));
                tree.lost.push(Lost::ALL);
                trees.push(tree);
                continue;
            }
        };
        let walk = bucket.salvage_leaves();
        for d in &walk.damaged {
            report.damaged.push(format!("meta {}: {d}", v.meta_slot()));
        }
        tree.lost = walk
            .lost
            .iter()
            .map(|l| Lost::from_bounds(l.low, l.high))
            .collect();
        for leaf in &walk.leaves {
            for (rev, value, rebuilt) in
                leaf_entries(leaf, &mut tree.lost, &mut report.damaged, v.meta_slot())
            {
                report.entries_rebuilt += u64::from(rebuilt);
                tree.max = tree.max.max(Some(rev.rev));
                match entries.get(&rev) {
                    Some(prev) if prev.value != value => {
                        report
                            .conflicts
                            .push(format!("{} (meta {})", rev.rev, v.meta_slot()))
                    }
                    Some(_) => {}
                    None => {
                        entries.insert(
                            rev,
                            Recovered {
                                rev,
                                value: rebase(data, value),
                                found: Found::Tree,
                            },
                        );
                        if !trees.is_empty() {
                            from_older.insert(rev);
                        }
                    }
                }
            }
        }
        trees.push(tree);
    }
    report.metas_read = used_slots;
    let newest_compaction = trees.first().map_or((None, None), |t| t.compaction);
    // The newest tree's compact revision, or the older one's if the newest
    // records none (a damaged `meta` bucket).
    report.compact_revision = trees
        .iter()
        .find_map(|t| match t.compaction {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        })
        .unwrap_or(-1);
    // Between the two meta pages a compaction may have deleted entries on
    // purpose (or be under way: scheduled past finished). Then an entry
    // only the older tree has, at or below the compact revision, may be
    // history that compaction removed: left out like stale scan finds.
    let settled = compaction_settled(newest_compaction, trees.get(1).map(|t| t.compaction));
    if !settled {
        for rev in &from_older {
            if rev.rev.main <= report.compact_revision && entries.remove(rev).is_some() {
                report.left_out_below_compact.push(format!(
                    "{} (older meta, compaction between the metas)",
                    rev.rev
                ));
            }
        }
    }
    // What the newest tree lost and the older one holds is recovered, up to
    // the older tree's newest entry: the commit between the two only adds
    // entries above it (and compaction only removes).
    // (Not when a compaction ran between them: the older tree's entries at
    // or below the compact revision were just left out.)
    let mut lost: Vec<Lost> = Vec::new();
    if let Some(newest) = trees.first() {
        let older = trees.get(1).filter(|_| settled);
        for l in &newest.lost {
            match older {
                Some(o) if !o.lost.iter().any(|ol| overlaps(ol, l)) => {
                    let past = o.max.map(|m| Revision {
                        main: m.main,
                        sub: m.sub.saturating_add(1),
                    });
                    let low = l.low.max(past);
                    if l.high.is_none_or(|h| low.is_none_or(|lo| lo < h)) {
                        lost.push(Lost { low, ..*l });
                    }
                }
                _ => lost.push(*l),
            }
        }
    }
    report.lost_ranges = lost.iter().map(lost_text).collect();
    // 2. Every leaf page of the file.
    for leaf in db.scan_leaf_pages() {
        for e in leaf.entries {
            let Some(rev) = RevisionKey::parse(e.key) else {
                continue;
            };
            if e.is_bucket() || !entry_ok(&rev, e.value) {
                continue;
            }
            match entries.get(&rev) {
                Some(prev) if prev.value != e.value => {
                    if prev.found == Found::Tree {
                        report
                            .conflicts
                            .push(format!("{} (page {})", rev.rev, leaf.page));
                    }
                }
                Some(_) => {}
                None => {
                    if rev.rev.main <= report.compact_revision {
                        report
                            .left_out_below_compact
                            .push(format!("{} (page {})", rev.rev, leaf.page));
                        continue;
                    }
                    entries.insert(
                        rev,
                        Recovered {
                            rev,
                            value: rebase(data, e.value),
                            found: Found::Scan,
                        },
                    );
                }
            }
        }
    }
    // 3. A lost range that runs to the end is the newest revisions gone (a
    // torn last write, a damaged last leaf): what survives is the store as
    // it was before them, consistent, like an older backup. The view is cut
    // before the first revision that may have lost entries (a transaction's
    // entries share one main revision: a partly recovered one is dropped).
    //
    // Not when the whole tree may be lost (nothing to cut to), nor at or
    // below the compact revision: there a key's one remaining entry may be
    // past the cut, and the cut would lose the key, not show an older
    // state; the range then stays lost and its keys announced.
    let whole = lost.iter().any(|l| l.to_end && l.low.is_none());
    let tail = lost.iter().filter(|l| l.to_end).filter_map(|l| l.low).min();
    if let Some(t) = tail.filter(|t| !whole && t.main.saturating_sub(1) > report.compact_revision) {
        let cut = t.main.saturating_sub(1);
        let dropped: Vec<RevisionKey> = entries
            .range(
                RevisionKey {
                    rev: Revision {
                        main: t.main,
                        sub: 0,
                    },
                    tombstone: false,
                }..,
            )
            .map(|(k, _)| *k)
            .collect();
        for k in &dropped {
            entries.remove(k);
        }
        report.consistent_up_to = Some(cut);
        report.dropped_after_cut = dropped.len() as u64;
        lost.retain(|l| !l.to_end);
        report.lost_ranges = lost.iter().map(lost_text).collect();
    }
    report.entries_from_tree = entries.values().filter(|r| r.found == Found::Tree).count() as u64;
    report.entries_from_scan = entries.values().filter(|r| r.found == Found::Scan).count() as u64;
    // 3. Gaps: main revisions above the compact revision with nothing recovered.
    let mains: Vec<i64> = {
        let mut m: Vec<i64> = entries.keys().map(|k| k.rev.main).collect();
        m.dedup();
        m
    };
    let floor = report
        .compact_revision
        .max(mains.first().copied().unwrap_or(1) - 1);
    let mut prev = floor;
    for &m in mains.iter().filter(|&&m| m > floor) {
        if m > prev + 1 {
            report.revision_gaps.push((prev + 1, m - 1));
        }
        prev = m;
    }
    let compacted = newest_compaction.0.unwrap_or(-1);
    Ok(Salvaged {
        entries,
        report,
        lost,
        from_older,
        compacted,
    })
}

impl<'a> Salvaged<'a> {
    /// The revision ranges whose entries may be lost, `[low, high)`
    /// (`None`: from the start, or to the end, of the history).
    pub fn lost_ranges(&self) -> Vec<(Option<Revision>, Option<Revision>)> {
        self.lost.iter().map(|l| (l.low, l.high)).collect()
    }

    /// The live keys of the recovered log (newest entry per key; deletes
    /// remove), sorted by key. Counts keys whose newest entry is older than
    /// a revision gap into the report.
    pub fn live(&mut self) -> Result<LiveView<'a>> {
        self.live_with(false)
    }

    /// [`live`](Self::live), optionally leaving out every possibly stale
    /// key: then no key is given a value older than its newest one, at the
    /// price of losing keys that were in fact unchanged.
    pub fn live_with(&mut self, exclude_stale: bool) -> Result<LiveView<'a>> {
        let mut latest: BTreeMap<&'a [u8], (Revision, KeyValueRef<'a>, bool, bool)> =
            BTreeMap::new();
        for r in self.entries.values() {
            let kv = KeyValueRef::decode(r.value).map_err(|e| crate::Error::BadKeyValue {
                rev: r.rev.rev,
                what: e.0,
            })?;
            let in_newest_tree = r.found == Found::Tree && !self.from_older.contains(&r.rev);
            latest.insert(kv.key, (r.rev.rev, kv, r.rev.tombstone, in_newest_tree));
        }
        // A lost range holding a revision newer than `rev` may hold the key's
        // newest change. Except below the finished compaction for an entry
        // of the newest tree: compaction kept one entry per key there, the
        // newest, so the key has no other entry up to that revision. (Not
        // the scheduled one: a compaction under way deletes in batches.)
        let compact = self.compacted;
        let above_compact = Revision {
            main: compact.saturating_add(1),
            sub: 0,
        };
        let lost_after = |rev: Revision, in_newest_tree: bool| {
            self.lost.iter().any(|&Lost { high, .. }| {
                let newer = high.is_none_or(|h| h > rev);
                let only_compacted = in_newest_tree
                    && rev.main <= compact
                    && high.is_some_and(|h| h <= above_compact);
                newer && !only_compacted
            })
        };
        // A change newer than a key's newest entry may sit in a later gap.
        let last_gap_end = self
            .report
            .revision_gaps
            .iter()
            .map(|g| g.1)
            .max()
            .unwrap_or(i64::MIN);
        let mut keys = Vec::new();
        let mut deleted = 0;
        let mut stale = 0;
        let mut listed = Vec::new();
        let mut left_out = 0;
        for (key, (rev, kv, tomb, in_newest_tree)) in latest {
            if rev.main < last_gap_end || lost_after(rev, in_newest_tree) {
                stale += 1;
                if listed.len() < MAX_LISTED {
                    listed.push(String::from_utf8_lossy(key).into_owned());
                }
                if exclude_stale {
                    left_out += u64::from(!tomb);
                    continue;
                }
            }
            if tomb {
                deleted += 1;
            } else {
                keys.push(LiveKey { revision: rev, kv });
            }
        }
        self.report.possibly_stale_keys = stale;
        self.report.possibly_stale = listed;
        self.report.stale_left_out = left_out;
        // After a cut, the revision of the state shown is the cut's.
        let newest = self
            .entries
            .keys()
            .next_back()
            .map_or(1, |k| k.rev.main)
            .max(self.report.compact_revision);
        let revision = self.report.consistent_up_to.unwrap_or(newest);
        Ok(LiveView::new(
            revision,
            self.report.compact_revision,
            keys,
            self.entries.len() as u64,
            deleted,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use bbolt::write::{Builder, BuilderOptions};

    use super::*;
    use crate::KeyValue;

    fn put(b: &mut Builder<Cursor<Vec<u8>>>, main: i64, sub: i64, key: &str, version: i64) {
        let k = RevisionKey {
            rev: Revision { main, sub },
            tombstone: false,
        }
        .encode();
        let kv = KeyValue {
            key: key.into(),
            create_revision: main,
            mod_revision: main,
            version,
            value: vec![b'v'; 300],
            lease: 0,
        };
        b.put(&k, &kv.encode_to_vec()).unwrap();
    }

    #[test]
    fn older_tree_entries_are_trusted_only_without_compaction_between() {
        assert!(compaction_settled((None, None), None));
        assert!(compaction_settled((None, None), Some((None, None))));
        assert!(compaction_settled(
            (Some(5), Some(5)),
            Some((Some(5), Some(5)))
        ));
        // The last commit finished a compaction, or scheduled one, or is one of its batches.
        assert!(!compaction_settled(
            (Some(9), Some(9)),
            Some((Some(5), Some(9)))
        ));
        assert!(!compaction_settled(
            (Some(5), Some(9)),
            Some((Some(5), Some(5)))
        ));
        assert!(!compaction_settled(
            (Some(5), Some(9)),
            Some((Some(5), Some(9)))
        ));
        assert!(!compaction_settled((None, Some(3)), None));
    }

    /// A transaction at main revision 2 with 60 puts spans several leaves;
    /// the one holding its 31st put (key `a`'s second version) is zeroed.
    /// Every main revision still has entries, so no revision gap shows: the
    /// loss is only visible as a damaged range of the tree.
    fn compaction_meta(b: &mut Builder<Cursor<Vec<u8>>>, finished: i64, scheduled: i64) {
        b.begin_bucket(b"meta").unwrap();
        for (k, main) in [
            (&b"finishedCompactRev"[..], finished),
            (b"scheduledCompactRev", scheduled),
        ] {
            b.put(
                k,
                &RevisionKey {
                    rev: Revision { main, sub: 0 },
                    tombstone: false,
                }
                .encode(),
            )
            .unwrap();
        }
        b.end_bucket().unwrap();
    }

    #[test]
    fn a_lost_part_of_one_transaction_is_announced() {
        lost_part_of_one_transaction(None);
    }

    /// A compaction under way (scheduled past finished) deletes in
    /// batches: below the scheduled revision keys may still have several
    /// entries, so only the finished one spares keys from the announcement.
    #[test]
    fn a_compaction_under_way_spares_no_key() {
        lost_part_of_one_transaction(Some((1, 2)));
    }

    fn lost_part_of_one_transaction(compaction: Option<(i64, i64)>) {
        let mut b = Builder::new(Cursor::new(Vec::new()), BuilderOptions::default()).unwrap();
        b.begin_bucket(b"key").unwrap();
        put(&mut b, 1, 0, "a", 1);
        for sub in 0..60 {
            let key = if sub == 30 {
                "a".to_string()
            } else {
                format!("k{sub:02}")
            };
            put(&mut b, 2, sub, &key, if sub == 30 { 2 } else { 1 });
        }
        put(&mut b, 3, 0, "z", 1);
        b.end_bucket().unwrap();
        if let Some((finished, scheduled)) = compaction {
            compaction_meta(&mut b, finished, scheduled);
        }
        let mut file = b.finish().unwrap().0.into_inner();
        // The leaf holding revision 2_30.
        let page = {
            let db = bbolt::Db::open(&file[..]).unwrap();
            let bucket = db.bucket(&[b"key"]).unwrap();
            let mut c = bucket.cursor();
            c.seek(
                &RevisionKey {
                    rev: Revision { main: 2, sub: 30 },
                    tombstone: false,
                }
                .encode(),
            )
            .unwrap();
            c.leaf_page() as usize
        };
        file[page * 4096..(page + 1) * 4096].fill(0);
        let mut s = salvage(&file).unwrap();
        assert!(
            s.report.revision_gaps.is_empty(),
            "no main revision is missing: {:?}",
            s.report.revision_gaps
        );
        assert_eq!(s.report.lost_ranges.len(), 1, "{:?}", s.report);
        let view = s.live().unwrap();
        let a = view.keys.iter().find(|k| k.kv.key == b"a").unwrap();
        assert_eq!(a.kv.version, 1, "the older value is what survives");
        assert!(
            s.report.possibly_stale.iter().any(|k| k == "a"),
            "key a may have a newer value and must be announced"
        );
        assert!(
            !s.report.possibly_stale.iter().any(|k| k == "z"),
            "key z's newest entry is after the lost range"
        );
        let strict = s.live_with(true).unwrap();
        assert!(
            strict.keys.iter().all(|k| k.kv.key != b"a"),
            "strict mode leaves a out"
        );
    }

    /// 200 single puts, compacted at `compacted`; returns the file and the
    /// leaf pages of `key`.
    fn many_puts(compacted: Option<i64>) -> (Vec<u8>, Vec<usize>) {
        let mut b = Builder::new(Cursor::new(Vec::new()), BuilderOptions::default()).unwrap();
        b.begin_bucket(b"key").unwrap();
        for main in 1..=200 {
            put(&mut b, main, 0, &format!("k{main:03}"), 1);
        }
        b.end_bucket().unwrap();
        if let Some(c) = compacted {
            compaction_meta(&mut b, c, c);
        }
        let file = b.finish().unwrap().0.into_inner();
        let leaves = {
            let db = bbolt::Db::open(&file[..]).unwrap();
            let bucket = db.bucket(&[b"key"]).unwrap();
            let mut c = bucket.cursor();
            let mut pages = Vec::new();
            let mut e = c.first().unwrap();
            while e.is_some() {
                if pages.last() != Some(&(c.leaf_page() as usize)) {
                    pages.push(c.leaf_page() as usize);
                }
                e = c.next().unwrap();
            }
            pages
        };
        assert!(leaves.len() > 6);
        (file, leaves)
    }

    /// The two meta pages of `file`, (slot, parsed), older first.
    fn metas_older_first(file: &[u8]) -> [(usize, bbolt::format::Meta); 2] {
        let ps = 4096;
        let m = |slot: usize| {
            let page = &file[slot * ps..(slot + 1) * ps];
            (
                slot,
                bbolt::format::Meta::parse(page, bbolt::ByteOrder::Little).unwrap(),
            )
        };
        let (a, b) = (m(0), m(1));
        if a.1.txid < b.1.txid {
            [a, b]
        } else {
            [b, a]
        }
    }

    #[test]
    fn a_sound_file_salvages_clean_and_a_broken_meta_is_damage() {
        let (clean, _) = many_puts(None);
        assert!(!salvage(&clean[..]).unwrap().report.found_damage());
        // The older meta's tree from before etcd made its buckets (a db of
        // one commit): here its root is the `key` bucket's own root page,
        // a sound tree with no `key` bucket in it. Not damage.
        let mut older_tree = clean.clone();
        let [(slot, mut meta), _] = metas_older_first(&clean);
        let key_root = {
            let db = bbolt::Db::open(&clean[..]).unwrap();
            db.bucket(&[b"key"]).unwrap().root_page()
        };
        meta.root = key_root;
        meta.encode_page(slot as u64, &mut older_tree[slot * 4096..(slot + 1) * 4096])
            .unwrap();
        let s = salvage(&older_tree[..]).unwrap();
        assert!(!s.report.found_damage(), "{:?}", s.report);
        assert_eq!(s.report.metas_read.len(), 2, "both trees were read");
        // The newest meta page broken (a torn last write): every key still
        // comes back through the other one, and the damage is reported.
        let mut torn = clean.clone();
        let [_, (newest, _)] = metas_older_first(&clean);
        torn[newest * 4096 + 16 + 56] ^= 1;
        let mut s = salvage(&torn[..]).unwrap();
        assert!(s.report.found_damage(), "{:?}", s.report);
        assert!(s
            .report
            .damaged
            .iter()
            .any(|d| d.starts_with(&format!("meta page {newest}"))));
        assert_eq!(s.live().unwrap().keys.len(), 200);
    }

    /// Single bit flips in page headers and element fields: every entry
    /// comes back, exactly, and nothing is reported lost.
    #[test]
    fn bit_flips_in_headers_and_elements_lose_nothing() {
        let (clean, leaves) = many_puts(None);
        let want: Vec<(RevisionKey, Vec<u8>)> = salvage(&clean)
            .unwrap()
            .entries
            .values()
            .map(|r| (r.rev, r.value.to_vec()))
            .collect();
        assert_eq!(want.len(), 200);
        // (what, byte offset in a page, bit)
        let flips = [
            ("page id", 1, 3),
            ("page flags", 8, 0),
            ("element count", 10, 2),
            ("first element's flags (the bucket bit)", 16, 0),
            ("second element's pos", 16 + 16 + 4, 1),
            ("second element's key size", 16 + 16 + 8, 1),
            ("second element's value size", 16 + 16 + 12, 4),
            ("third element's key size", 16 + 32 + 8, 0),
        ];
        let page = leaves[3];
        // The second element's value size cut to end just before the value
        // field: what is left still decodes as a KeyValue (an empty value).
        let word =
            |f: &[u8], at: usize| u32::from_le_bytes(f[at..at + 4].try_into().unwrap()) as usize;
        let e1 = page * 4096 + 16 + 16;
        let (pos, ksize) = (word(&clean, e1 + 4), word(&clean, e1 + 8));
        let value = &clean[e1 + pos + ksize..];
        let kv = KeyValueRef::decode(&value[..word(&clean, e1 + 12)]).unwrap();
        let header = KeyValue {
            key: kv.key.to_vec(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            ..Default::default()
        };
        let cut = header.encode_to_vec().len() as u32;
        type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
        let mutations: Vec<(&str, Mutation)> = flips
            .iter()
            .map(|&(what, at, bit)| {
                (
                    what,
                    Box::new(move |f: &mut Vec<u8>| f[page * 4096 + at] ^= 1 << bit)
                        as Box<dyn Fn(&mut Vec<u8>)>,
                )
            })
            .chain([(
                "second element's value size cut at a field boundary",
                Box::new(move |f: &mut Vec<u8>| {
                    f[e1 + 12..e1 + 16].copy_from_slice(&cut.to_le_bytes())
                }) as Box<dyn Fn(&mut Vec<u8>)>,
            )])
            .collect();
        for (what, mutate) in mutations {
            let mut file = clean.clone();
            mutate(&mut file);
            let mut s = salvage(&file).unwrap();
            let got: Vec<(RevisionKey, Vec<u8>)> = s
                .entries
                .values()
                .map(|r| (r.rev, r.value.to_vec()))
                .collect();
            assert_eq!(got, want, "{what}: the entries differ");
            assert!(
                s.report.lost_ranges.is_empty() && s.report.revision_gaps.is_empty(),
                "{what}: {:?}",
                s.report
            );
            assert!(
                !s.report.damaged.is_empty(),
                "{what}: the damage is reported"
            );
            s.live().unwrap();
            assert_eq!(s.report.possibly_stale_keys, 0, "{what}");
        }
    }

    /// The last leaf lost at or below the compact revision: cutting there
    /// would lose keys whose one remaining entry is past the cut, so there
    /// is no cut; the range stays lost and its keys are announced.
    #[test]
    fn no_cut_at_or_below_the_compact_revision() {
        let (mut file, leaves) = many_puts(Some(199));
        let last = *leaves.last().unwrap();
        file[last * 4096..(last + 1) * 4096].fill(0);
        let mut s = salvage(&file).unwrap();
        assert_eq!(s.report.consistent_up_to, None, "{:?}", s.report);
        assert_eq!(s.report.lost_ranges.len(), 1);
        s.live().unwrap();
        assert!(
            s.report.possibly_stale_keys > 150,
            "{:?}",
            s.report.possibly_stale_keys
        );
        // Without compaction the same damage is a cut: the store before it.
        let (mut file, leaves) = many_puts(None);
        let last = *leaves.last().unwrap();
        file[last * 4096..(last + 1) * 4096].fill(0);
        let s = salvage(&file).unwrap();
        assert!(
            s.report.consistent_up_to.is_some() && s.report.lost_ranges.is_empty(),
            "{:?}",
            s.report
        );
    }
}
