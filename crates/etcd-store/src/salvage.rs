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
    /// Keys whose newest recovered revision is older than a gap: their
    /// newest value, or their deletion, may be lost.
    pub possibly_stale_keys: u64,
    /// Those keys (the first 10,000), lossy UTF-8.
    pub possibly_stale: Vec<String>,
    /// Possibly stale keys left out of the live view (`live_with(true)`).
    pub stale_left_out: u64,
}

/// Most possibly-stale keys listed by name in a report.
pub const MAX_LISTED: usize = 10_000;

impl SalvageReport {
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
}

fn entry_ok(rev: &RevisionKey, value: &[u8]) -> bool {
    match KeyValueRef::decode(value) {
        Ok(kv) if rev.tombstone => !kv.key.is_empty(),
        Ok(kv) => !kv.key.is_empty() && kv.mod_revision == rev.rev.main && kv.version >= 1,
        Err(_) => false,
    }
}

fn compact_from<D: AsRef<[u8]>>(db: &bbolt::Db<D>) -> Option<i64> {
    let b = db.bucket(&[crate::meta::buckets::META]).ok()?;
    let get = |k: &[u8]| {
        b.get(k)
            .ok()
            .flatten()
            .and_then(RevisionKey::parse)
            .map(|r| r.rev.main)
    };
    match (get(b"finishedCompactRev"), get(b"scheduledCompactRev")) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
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
    let mut compact: Option<i64> = None;
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
        if compact.is_none() {
            compact = compact_from(&v);
        }
        let bucket = match v.bucket(&[crate::meta::buckets::KEY]) {
            Ok(b) => b,
            Err(e) => {
                report
                    .damaged
                    .push(format!("meta {}: `key` bucket: {e}", v.meta_slot()));
                continue;
            }
        };
        let walk = bucket.salvage_leaves();
        for d in &walk.damaged {
            report.damaged.push(format!("meta {}: {d}", v.meta_slot()));
        }
        for (_, es) in walk.leaves {
            for e in es {
                let Some(rev) = RevisionKey::parse(e.key) else {
                    continue;
                };
                if e.is_bucket() || !entry_ok(&rev, e.value) {
                    continue;
                }
                match entries.get(&rev) {
                    Some(prev) if prev.value != e.value => {
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
                                value: rebase(data, e.value),
                                found: Found::Tree,
                            },
                        );
                    }
                }
            }
        }
    }
    report.metas_read = used_slots;
    report.compact_revision = compact.unwrap_or(-1);
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
    Ok(Salvaged { entries, report })
}

impl<'a> Salvaged<'a> {
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
        let mut latest: BTreeMap<&'a [u8], (Revision, KeyValueRef<'a>, bool)> = BTreeMap::new();
        for r in self.entries.values() {
            let kv = KeyValueRef::decode(r.value).map_err(|e| crate::Error::BadKeyValue {
                rev: r.rev.rev,
                what: e.0,
            })?;
            latest.insert(kv.key, (r.rev.rev, kv, r.rev.tombstone));
        }
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
        for (key, (rev, kv, tomb)) in latest {
            if rev.main < last_gap_end {
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
        let revision = self
            .entries
            .keys()
            .next_back()
            .map_or(1, |k| k.rev.main)
            .max(self.report.compact_revision);
        Ok(LiveView::new(
            revision,
            self.report.compact_revision,
            keys,
            self.entries.len() as u64,
            deleted,
        ))
    }
}
