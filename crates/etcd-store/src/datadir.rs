//! An etcd data dir as a source: the db, the WAL and raft snapshots found,
//! and the replay that gives the store a restarted etcd would serve.
//!
//! ```text
//! <data-dir>/member/snap/db                    the bbolt backend
//! <data-dir>/member/snap/<term>-<index>.snap   raft snapshots
//! <data-dir>/member/snap/<index>.snap.db       a db from the leader, not yet swapped in
//! <data-dir>/member/wal/<seq>-<index>.wal      WAL segments (spares *.tmp, *.broken ignored)
//! ```
//!
//! [`locate`] finds the files (it reads directory listings only); the
//! caller maps them and calls [`replay_wal`], which reads the log from the
//! start etcd would choose and replays it onto the db.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::live::LiveView;
use crate::replay::{replay_with_overlay, Overlay, Replay, ReplayOptions, ReplayStats};
use crate::store::EtcdDb;
use crate::wal::{self, HardState, Segment, SegmentReport, SnapshotMark, Stop, WalMetadata};

/// The files of one member.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The `member/` dir (`None` for a lone db file).
    pub member: Option<PathBuf>,
    /// The bbolt db (`member/snap/db`).
    pub db: PathBuf,
    /// The WAL dir.
    pub wal_dir: Option<PathBuf>,
    /// WAL segments in name order: path, seq, index.
    pub segments: Vec<(PathBuf, u64, u64)>,
    /// Raft snapshot files: path and the index and term of the name.
    pub snaps: Vec<(PathBuf, SnapshotMark)>,
    /// `<index>.snap.db` files.
    pub snap_dbs: Vec<(PathBuf, u64)>,
    /// Other files of the WAL dir, not read (spares, `.broken` copies).
    pub ignored: Vec<PathBuf>,
}

fn io_err(p: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", p.display()),
    ))
}

/// Finds the member files for `path`: a data dir (holding `member/`), a
/// `member/` dir, or a db file. A db file at `member/snap/db` with a WAL
/// beside it gets that WAL unless `no_wal`; `wal_dir` names a WAL kept
/// elsewhere (etcd's `--wal-dir`).
pub fn locate(path: &Path, wal_dir: Option<&Path>, no_wal: bool) -> Result<Layout> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    let mut l = Layout::default();
    if meta.is_dir() {
        let member = if path.join("member").is_dir() {
            path.join("member")
        } else if path.join("snap").is_dir() || path.join("wal").is_dir() {
            path.to_path_buf()
        } else {
            return Err(Error::InvalidArgument(format!(
                "{}: not an etcd data dir (no member/, snap/ or wal/ in it)",
                path.display()
            )));
        };
        l.db = member.join("snap").join("db");
        l.member = Some(member);
    } else {
        l.db = path.to_path_buf();
        // member/snap/db: the member dir is two levels up.
        let member = path
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == "snap"))
            .and_then(Path::parent)
            .filter(|m| m.join("wal").is_dir() || wal_dir.is_some());
        l.member = member.map(Path::to_path_buf);
    }
    if no_wal {
        return Ok(l);
    }
    let wal = match (wal_dir, &l.member) {
        (Some(w), _) => Some(w.to_path_buf()),
        (None, Some(m)) => Some(m.join("wal")),
        (None, None) => None,
    };
    if let Some(w) = &wal {
        if w.is_dir() {
            for e in std::fs::read_dir(w).map_err(|e| io_err(w, e))? {
                let e = e.map_err(|e| io_err(w, e))?;
                let name = e.file_name().to_string_lossy().into_owned();
                match wal::parse_segment_name(&name) {
                    Some((seq, index)) => l.segments.push((e.path(), seq, index)),
                    None => l.ignored.push(e.path()),
                }
            }
            l.segments.sort();
            l.ignored.sort();
            l.wal_dir = wal;
        } else if wal_dir.is_some() {
            return Err(Error::InvalidArgument(format!(
                "{}: no such WAL dir",
                w.display()
            )));
        }
    }
    if let Some(snap) = l.db.parent().filter(|_| l.member.is_some()) {
        if let Ok(rd) = std::fs::read_dir(snap) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(m) = wal::parse_snap_name(&name) {
                    l.snaps.push((e.path(), m));
                } else if let Some(i) = name
                    .strip_suffix(".snap.db")
                    .filter(|s| s.len() == 16)
                    .and_then(|s| u64::from_str_radix(s, 16).ok())
                {
                    l.snap_dbs.push((e.path(), i));
                }
            }
        }
        l.snaps.sort_by_key(|(_, m)| *m);
    }
    Ok(l)
}

/// Picks the raft snapshot a restart starts from: the newest `.snap` whose
/// index and term the WAL records at or below its last commit and whose
/// bytes check out. `snaps` are (name, bytes) pairs.
pub fn start_snapshot(
    segments: &[Segment<'_>],
    snaps: &[(String, &[u8])],
) -> (SnapshotMark, Vec<String>) {
    let valid = wal::valid_snapshots(segments);
    let mut notes = Vec::new();
    let mut cands: Vec<(SnapshotMark, &String, &[u8])> = snaps
        .iter()
        .filter_map(|(n, b)| wal::parse_snap_name(n).map(|m| (m, n, *b)))
        .collect();
    cands.sort_by_key(|(m, _, _)| std::cmp::Reverse(*m));
    for (m, name, bytes) in cands {
        if !valid.contains(&m) {
            notes.push(format!(
                "{name}: no WAL snapshot record at or below the commit index matches it; not used"
            ));
            continue;
        }
        match wal::decode_snap_file(bytes) {
            Ok(got) if got == m => return (m, notes),
            Ok(got) => notes.push(format!(
                "{name}: records index {} term {}, not what its name says; not used",
                got.index, got.term
            )),
            Err(e) => notes.push(format!("{name}: {e}; not used")),
        }
    }
    (SnapshotMark::default(), notes)
}

/// Which entries to apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Until {
    /// Every valid entry (what a sole member applies after a restart).
    #[default]
    End,
    /// Only entries up to the WAL's last HardState.commit.
    Commit,
}

/// What reading and replaying the WAL did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WalReport {
    /// The WAL dir.
    pub wal_dir: String,
    /// Segment file names read, with what each gave.
    pub segments: Vec<(String, SegmentReport)>,
    /// Files of the WAL dir not read.
    pub ignored: Vec<String>,
    /// The snapshot the read started from.
    pub start: SnapshotMark,
    /// Node and cluster id.
    pub metadata: Option<WalMetadata>,
    /// The last HardState.
    pub hard_state: HardState,
    /// Entries in the log above the start.
    pub entries: u64,
    /// Entries replaced by a later record for the same index.
    pub replaced: u64,
    /// Index of the last entry in the log.
    pub last_index: Option<u64>,
    /// The db's consistent index before the replay.
    pub db_consistent_index: u64,
    /// Applied entries above HardState.commit (acknowledged or not, a
    /// sole member commits them at restart).
    pub above_commit: u64,
    /// What was applied.
    pub replay: ReplayStats,
    /// Which entries were applied.
    pub until: Until,
    /// Where and why reading stopped.
    pub stop: Stop,
    /// The file and offset reading stopped at, when not the normal end.
    pub stop_file: Option<String>,
    /// The consequence in plain words.
    pub consequence: String,
    /// Other notes (snapshot files skipped, a db ahead of the WAL, ...).
    pub notes: Vec<String>,
    /// The (index, term) of every entry read, in log order: what several
    /// members compare to find the entries a majority holds.
    #[serde(skip)]
    pub entry_terms: Vec<(u64, u64)>,
}

impl WalReport {
    /// Damage that lost entries (a CRC mismatch or undecodable record not at
    /// the tail, a gap in the segments): the caller exits 1.
    pub fn lost_entries(&self) -> bool {
        !self.stop.is_clean()
    }
}

/// Reads the WAL `segments` (every segment of the dir, in name order, with
/// their file names) from `start`, and replays it onto `db`.
pub fn replay_wal<'s, D: AsRef<[u8]> + Sync>(
    db: &'s EtcdDb<D>,
    segments: &[(String, Segment<'s>)],
    start: SnapshotMark,
    until: Until,
    opts: &ReplayOptions,
) -> Result<(Replay<'s>, WalReport)> {
    let base = db.live(0)?;
    replay_wal_over(db, &base, segments, start, until, opts).map(|(r, _, rep)| (r, rep))
}

/// [`replay_wal`] onto `base`, the db's live view at its head, also giving
/// the replay's changes to the live keys as an [`Overlay`] of `base`
/// (see [`LiveView::overlaid`]): a reader of the live keys after the replay
/// needs neither the db written again nor a second pass over it.
pub fn replay_wal_over<'s, D: AsRef<[u8]> + Sync>(
    db: &EtcdDb<D>,
    base: &LiveView<'s>,
    segments: &[(String, Segment<'s>)],
    start: SnapshotMark,
    until: Until,
    opts: &ReplayOptions,
) -> Result<(Replay<'s>, Overlay<'s>, WalReport)> {
    let segs: Vec<Segment<'s>> = segments.iter().map(|(_, s)| *s).collect();
    let log = wal::read(&segs, start).map_err(|e| Error::InvalidArgument(format!("WAL: {e}")))?;
    let first = segs
        .iter()
        .rposition(|s| s.index <= start.index)
        .unwrap_or(0);
    let name_of = |i: usize| {
        segments
            .get(first + i)
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    };
    let ci = db.meta().consistent_index.unwrap_or(0);
    let mut rep = WalReport {
        segments: log
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (name_of(i), s.clone()))
            .collect(),
        start,
        metadata: log.metadata,
        hard_state: log.hard_state,
        entries: log.entries.len() as u64,
        replaced: log.replaced,
        last_index: log.entries.last().map(|e| e.index),
        db_consistent_index: ci,
        until,
        stop: log.stop.clone(),
        entry_terms: log.entries.iter().map(|e| (e.index, e.term)).collect(),
        ..WalReport::default()
    };
    if !log.start_found {
        rep.notes.push(format!(
            "no WAL snapshot record matches the start at index {}: etcd would refuse to start",
            start.index
        ));
    }
    let mut o = opts.clone();
    if until == Until::Commit {
        o.until_index = Some(log.hard_state.commit.min(o.until_index.unwrap_or(u64::MAX)));
    }
    let (r, overlay) = replay_with_overlay(db, base, &log.entries, &o)?;
    rep.above_commit = log
        .entries
        .iter()
        .filter(|e| {
            e.index > ci
                && e.index > log.hard_state.commit
                && o.until_index.is_none_or(|u| e.index <= u)
        })
        .count() as u64;
    rep.replay = r.stats.clone();
    if let Some(last) = rep.last_index {
        if ci > last {
            rep.notes.push(format!(
                "the db's consistent index {ci} is above the WAL's last entry {last}: the db is ahead of the log (an etcd before 3.5.5/3.4.21 can apply before it syncs); nothing to replay"
            ));
        }
    }
    rep.stop_file = match &log.stop {
        Stop::TornTail { segment, offset }
        | Stop::Corrupt {
            segment, offset, ..
        } => Some(format!("{} at offset {offset}", name_of(*segment))),
        _ => None,
    };
    rep.consequence = match &log.stop {
        Stop::End => "the log was read to its end: nothing it holds is left out".into(),
        Stop::TornTail { .. } => "a torn tail: the last record was only partly written (a write cut by the crash); etcd never acknowledged it, and the log ends before it, as etcd ends it".into(),
        Stop::Corrupt { what, .. } => format!(
            "{what}: the entries after index {} are lost (etcd itself refuses to start on this WAL); everything before is replayed",
            rep.last_index.unwrap_or(start.index)
        ),
        Stop::Gap { after_seq, next_seq } => format!(
            "segment {} is missing (next found: {next_seq}): the entries after index {} are lost; everything before is replayed",
            after_seq + 1,
            rep.last_index.unwrap_or(start.index)
        ),
    };
    Ok((r, overlay, rep))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlay of a replay on the db's live view equals the live view
    /// of the db the replay writes, on data dirs of real etcds killed with
    /// their dbs behind their WALs (and stopping the replay part-way).
    #[test]
    fn overlay_equals_the_rewritten_db() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/etcd-wal");
        for v in ["3.4.23-killed", "3.5.1-killed"] {
            let member = root.join(v).join("member");
            let db_bytes = std::fs::read(member.join("snap/db")).unwrap();
            let wal_name = "0000000000000000-0000000000000000.wal".to_string();
            let wal_bytes = std::fs::read(member.join("wal").join(&wal_name)).unwrap();
            let segs = [(
                wal_name,
                Segment {
                    seq: 0,
                    index: 0,
                    bytes: &wal_bytes[..],
                },
            )];
            let db = EtcdDb::open(&db_bytes[..]).unwrap();
            let base = db.live(0).unwrap();
            let ci = db.meta().consistent_index.unwrap_or(0);
            let mut checked_changes = false;
            for until in [None, Some(ci + 3), Some(ci + 40)] {
                let opts = ReplayOptions {
                    until_index: until,
                    ..Default::default()
                };
                let (replay, overlay, _) = replay_wal_over(
                    &db,
                    &base,
                    &segs,
                    SnapshotMark::default(),
                    Until::End,
                    &opts,
                )
                .unwrap();
                checked_changes |= !overlay.changes.is_empty();
                let over = base.clone().overlaid(&overlay);
                let out = replay
                    .write_db(&db, std::io::Cursor::new(Vec::new()))
                    .unwrap()
                    .into_inner();
                let d = EtcdDb::open(&out[..]).unwrap();
                let want = d.live(0).unwrap();
                assert_eq!(over.keys, want.keys, "{v} until {until:?}");
                assert_eq!(over.revision, want.revision, "{v}");
                assert_eq!(over.compact_revision, want.compact_revision, "{v}");
                assert_eq!(over.entries_scanned, want.entries_scanned, "{v}");
                for i in 0..over.keys.len() {
                    assert_eq!(over.key(i), want.key(i), "{v} key {i}");
                }
            }
            assert!(checked_changes, "{v}: the replay changed no key");
        }
    }
}
