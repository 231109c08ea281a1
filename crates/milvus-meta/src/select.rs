//! What the rescue export keeps: every live key, except, for every Milvus
//! root, `<root>/meta/session/...` (liveness records a fresh Milvus must
//! write itself) and keys attached to a lease (they would never expire
//! once written back without one). Nothing is left out silently: every
//! key left out is counted by reason and root.

use std::collections::BTreeMap;

use etcd_store::{LiveKey, LiveView};
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
    /// Per root ("" for keys under no Milvus root).
    pub per_root: BTreeMap<String, RootCounts>,
}

fn reason_name(r: LeftOut) -> String {
    match r {
        LeftOut::Session => "session",
        LeftOut::Leased => "leased",
        LeftOut::OutsideRoots => "outside_roots",
    }
    .into()
}

/// Chooses the keys to export from a live view.
pub fn select<'a>(view: &LiveView<'a>, opts: &ExportOptions) -> Result<(Vec<LiveKey<'a>>, SelectionReport)> {
    let found: Vec<String> = roots::discover(view.keys.iter().map(|k| k.kv.key)).into_iter().map(|(r, _)| r).collect();
    for r in &opts.roots {
        if !found.contains(r) {
            return Err(Error::RootNotFound(r.clone()));
        }
    }
    let mut report = SelectionReport { roots_found: found.clone(), ..Default::default() };
    let mut kept = Vec::with_capacity(view.keys.len());
    for k in &view.keys {
        let key = k.kv.key;
        let root = found.iter().filter(|r| roots::under(key, r)).max_by_key(|r| r.len()).cloned().unwrap_or_default();
        let reason = if !opts.roots.is_empty() && !opts.roots.contains(&root) {
            Some(LeftOut::OutsideRoots)
        } else if !root.is_empty() && is_session(key, &root) && !(opts.keep_session_id && is_session_id(key, &root)) {
            Some(LeftOut::Session)
        } else if k.kv.lease != 0 && !opts.include_leased {
            Some(LeftOut::Leased)
        } else {
            None
        };
        let rc = report.per_root.entry(root.clone()).or_default();
        match reason {
            Some(r) => {
                *rc.left_out.entry(reason_name(r)).or_default() += 1;
                *report.left_out.entry(reason_name(r)).or_default() += 1;
            }
            None => {
                let bytes = (key.len() + k.kv.value.len()) as u64;
                rc.kept += 1;
                rc.kept_bytes += bytes;
                let a = if root.is_empty() { "other".to_string() } else { roots::area(key, &root) };
                *rc.areas.entry(a).or_default() += 1;
                report.kept += 1;
                report.kept_bytes += bytes;
                kept.push(*k);
            }
        }
    }
    Ok((kept, report))
}

fn is_session(key: &[u8], root: &str) -> bool {
    key.get(root.len()..).is_some_and(|r| r.starts_with(b"/meta/session/"))
}

fn is_session_id(key: &[u8], root: &str) -> bool {
    key.get(root.len()..) == Some(&b"/meta/session/id"[..])
}
