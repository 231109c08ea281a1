//! Opening input files: read-only, never locked, never written.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};

/// The bytes of an input file: a read-only memory map, or a buffer for
/// files that cannot be mapped (empty files, pipes).
pub enum Bytes {
    Map(memmap2::Mmap),
    Buf(Vec<u8>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Buf(b) => b,
        }
    }
}

/// Opens an input file for reading, refusing a directory by name.
pub fn open_file(path: &Path) -> Result<File> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        anyhow::bail!("{}: is a directory, expected a file", path.display());
    }
    Ok(file)
}

/// Maps `path` read-only. No lock is taken, so a running etcd holding the
/// file is never blocked; the file is never opened for writing.
pub fn map(path: &Path) -> Result<Bytes> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("{}: cannot stat", path.display()))?;
    if meta.is_dir() {
        anyhow::bail!("{}: is a directory, expected a bbolt file", path.display());
    }
    if meta.len() == 0 || !meta.is_file() {
        let buf =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        return Ok(Bytes::Buf(buf));
    }
    // SAFETY: the map is read-only. Another process truncating the file
    // while we read it could fault; that is the documented limit of reading
    // a file that is being written (copy the file first to be safe).
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("{}: cannot map", path.display()))?;
    Ok(Bytes::Map(map))
}

/// Opens a bbolt database read-only, naming the file in any error.
pub fn open_db(path: &Path) -> Result<bbolt::Db<Bytes>> {
    let bytes = map(path)?;
    not_a_backup(path, &bytes)?;
    bbolt::Db::open(bytes)
        .with_context(|| format!("{}: cannot open as a bbolt database", path.display()))
}

/// A boltsnap backup given where a db is expected is named as such.
pub fn not_a_backup(path: &Path, bytes: &Bytes) -> Result<()> {
    if bytes.as_ref().starts_with(milvus_meta::backup::MAGIC) {
        anyhow::bail!(
            "{}: is a boltsnap backup, not a db (read it with inspect, verify, diff or restore)",
            path.display()
        );
    }
    Ok(())
}

/// Set when a WAL read stopped at damage that lost entries; the command
/// then exits 1, as after a salvage that found damage.
pub static WAL_LOST_ENTRIES: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Opens an etcd source (see [`open_source_until`]), prints the WAL summary to
/// stderr and notes lost entries for the exit status.
pub fn open_input(path: &Path, w: &crate::args::WalArgs) -> Result<EtcdInput> {
    open_input_with(path, w, false)
}

/// Set when members disagree on a revision that no majority settles, or
/// every member may have lost some revisions (exit status 1).
pub static MERGE_UNDECIDED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// [`open_input`], with [`open_source_until`]'s `always_rewrite`. With more
/// members (`w.members`), each is opened the same way and their histories
/// are merged ([`etcd_store::merge`]).
pub fn open_input_with(
    path: &Path,
    w: &crate::args::WalArgs,
    always_rewrite: bool,
) -> Result<EtcdInput> {
    if !w.members.is_empty() {
        return open_members(path, w, always_rewrite);
    }
    open_one(path, w, always_rewrite, true)
}

fn open_members(path: &Path, w: &crate::args::WalArgs, always_rewrite: bool) -> Result<EtcdInput> {
    if let Some(d) = &w.wal_dir {
        anyhow::bail!(
            "--wal-dir {}: with several members, give each member's data dir (its WAL is read from there)",
            d.display()
        );
    }
    // Each member read whole if it can be (its WAL replayed), else its db
    // by salvage: what it lost, the others fill.
    enum Opened {
        Whole(Box<EtcdInput>),
        Damaged(std::path::PathBuf, Bytes),
    }
    let mut opened = Vec::with_capacity(w.members.len() + 1);
    let mut names: Vec<String> = Vec::with_capacity(w.members.len() + 1);
    let mut paths: Vec<&Path> = Vec::with_capacity(w.members.len() + 1);
    for p in std::iter::once(path).chain(w.members.iter().map(|p| p.as_path())) {
        if names.contains(&p.display().to_string()) {
            anyhow::bail!("{}: named twice as a member", p.display());
        }
        eprintln!("member {}:", p.display());
        let whole = open_one(p, w, always_rewrite, false).and_then(|i| {
            let db = i.etcd()?;
            for e in db.revisions()? {
                e?.decode()?;
            }
            drop(db);
            Ok(i)
        });
        opened.push(match whole {
            Ok(i) => Opened::Whole(Box::new(i)),
            Err(e) => {
                let db = salvage_db_path(p)?;
                let bytes = map(&db)?;
                not_a_backup(&db, &bytes)?;
                eprintln!(
                    "  cannot be read whole ({e:#}); its db {} is read by salvage and the other members fill what they can",
                    db.display()
                );
                Opened::Damaged(db, bytes)
            }
        });
        names.push(p.display().to_string());
        paths.push(p);
    }
    // The WALs: one cluster, and no member replayed past what the cluster
    // committed (a minority's tail was never acknowledged).
    // (member's position, name, WAL report) of the members read with a WAL.
    let reports: Vec<(usize, &str, &etcd_store::datadir::WalReport)> = names
        .iter()
        .zip(&opened)
        .enumerate()
        .filter_map(|(at, (n, o))| match o {
            Opened::Whole(i) => i
                .wal
                .get()
                .and_then(|w| w.as_ref())
                .map(|r| (at, n.as_str(), r)),
            Opened::Damaged(..) => None,
        })
        .collect();
    let mut ids = reports
        .iter()
        .filter_map(|(_, n, r)| r.metadata.as_ref().map(|m| (*n, m.cluster_id)));
    if let Some((n0, id0)) = ids.next() {
        if let Some((n, id)) = ids.find(|(_, id)| *id != id0) {
            anyhow::bail!(
                "{n0} and {n} are members of different clusters (cluster ids {id0:x} and {id:x} in their WALs)"
            );
        }
    }
    let mut committed = None;
    let mut minority = 0u64;
    if !reports.is_empty() && w.wal_until != crate::args::WalUntil::Longest {
        let logs: Vec<(&[(u64, u64)], u64)> = reports
            .iter()
            .map(|(_, _, r)| (r.entry_terms.as_slice(), r.hard_state.commit))
            .collect();
        let (c, cuts) = etcd_store::merge::committed_cuts(&logs, names.len());
        committed = Some(c);
        // Members that replayed entries past their cut: replayed again.
        let mut again = Vec::new();
        for ((at, _, r), &cut) in reports.iter().zip(&cuts) {
            let last = r.replay.last_index.unwrap_or(0);
            let above = r
                .entry_terms
                .iter()
                .filter(|(x, _)| *x > cut && *x <= last)
                .count() as u64;
            if above > 0 {
                minority += above;
                again.push((*at, cut));
            }
        }
        for (i, cut) in again {
            let (Some(n), Some(p), Some(slot)) = (names.get(i), paths.get(i), opened.get_mut(i))
            else {
                continue;
            };
            if cut < c {
                eprintln!(
                    "member {n}: replayed again up to index {cut}: its entry {} has another term than the cluster's committed entry there (a leader's entry never replicated)",
                    cut + 1
                );
            } else {
                eprintln!("member {n}: replayed again up to index {c}, the last a majority holds:");
            }
            *slot = Opened::Whole(Box::new(open_one_until(p, w, always_rewrite, Some(cut))?));
        }
    }
    let (merged, mut report, read_newest) = {
        let dbs: Vec<Option<etcd_store::EtcdDb<&[u8]>>> = opened
            .iter()
            .map(|o| match o {
                Opened::Whole(i) => i.etcd().map(Some),
                Opened::Damaged(..) => Ok(None),
            })
            .collect::<Result<_>>()?;
        let salvaged: Vec<Option<etcd_store::salvage::Salvaged<'_>>> = opened
            .iter()
            .map(|o| match o {
                Opened::Whole(_) => Ok(None),
                Opened::Damaged(p, b) => etcd_store::salvage::salvage(b.as_ref())
                    .map(Some)
                    .with_context(|| format!("{}: salvage", p.display())),
            })
            .collect::<Result<_>>()?;
        let mut members = Vec::with_capacity(names.len());
        for ((n, db), sv) in names.iter().zip(&dbs).zip(&salvaged) {
            let source = match (db, sv) {
                (Some(db), _) => etcd_store::merge::Source::Db(db),
                (None, Some(sv)) => etcd_store::merge::Source::Salvaged(sv),
                (None, None) => anyhow::bail!("{n}: neither read nor salvaged"),
            };
            members.push(etcd_store::merge::Member {
                name: n.clone(),
                source,
            });
        }
        // First the votes alone: when the newest member holds every merged
        // revision with the kept bytes (members that agree, the usual
        // case), the merged store is that member's and is read as it is.
        let (planned, newest) = etcd_store::merge::plan(&members)
            .with_context(|| format!("merging the members {}", names.join(", ")))?;
        if let Some(i) = newest {
            (None, planned, Some(i))
        } else {
            // The merged db is about as large as the largest member: reserved
            // at once, not grown by doubling (copies and overshoot).
            let cap = dbs
                .iter()
                .flatten()
                .map(|d| d.bolt().file_len())
                .max()
                .unwrap_or(0);
            let out = Vec::with_capacity(usize::try_from(cap).unwrap_or(0).saturating_add(1 << 20));
            let (cur, report) = etcd_store::merge::merge(&members, std::io::Cursor::new(out))
                .with_context(|| format!("merging the members {}", names.join(", ")))?;
            (Some(cur.into_inner()), report, None)
        }
    };
    report.wal_committed_index = committed;
    report.wal_minority_entries = minority;
    eprintln!("{}", report.summary());
    for d in report.disagreements.iter().take(20) {
        eprintln!(
            "  revision {}.{} key {:?}: {} {} (kept: {})",
            d.revision,
            d.sub,
            d.key,
            d.outvoted.join(", "),
            if d.decided {
                "outvoted"
            } else {
                "differs, no majority to settle it"
            },
            d.kept.join(", ")
        );
    }
    if report.undecidable() || report.incomplete() {
        MERGE_UNDECIDED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(i) = read_newest {
        let Some(Opened::Whole(input)) = opened.into_iter().nth(i) else {
            anyhow::bail!("the newest member was not read whole");
        };
        let input = *input;
        let replayed = input.replayed.into_inner();
        let mut out = EtcdInput::new(input.db_path, input.base, replayed, Some(None), None);
        out.merge = Some(report);
        return Ok(out);
    }
    let Some(merged) = merged else {
        anyhow::bail!("the merge wrote nothing");
    };
    let (db_path, base) = match opened.into_iter().next() {
        Some(Opened::Whole(i)) => (i.db_path, i.base),
        Some(Opened::Damaged(p, b)) => (p, b),
        None => anyhow::bail!("no member"),
    };
    let mut out = EtcdInput::new(db_path, base, Some(Some(merged)), Some(None), None);
    out.merge = Some(report);
    Ok(out)
}

/// One source; its WAL replayed when first read (`lazy`) or now.
fn open_one(
    path: &Path,
    w: &crate::args::WalArgs,
    always_rewrite: bool,
    lazy: bool,
) -> Result<EtcdInput> {
    open_source_until(path, w, always_rewrite, None, lazy)
}

/// One member, replayed now up to `until_index`. The WAL summary is
/// printed to stderr and lost entries are noted for the exit status.
fn open_one_until(
    path: &Path,
    w: &crate::args::WalArgs,
    always_rewrite: bool,
    until_index: Option<u64>,
) -> Result<EtcdInput> {
    open_source_until(path, w, always_rewrite, until_index, false)
}

/// Opens an etcd source read-only (a db or snapshot file, a data dir or a
/// `member/` dir, the WAL replayed; see [`open_input`]), naming the file
/// in any error.
pub fn open_etcd(path: &Path, w: &crate::args::WalArgs) -> Result<etcd_store::EtcdDb<EtcdInput>> {
    let input = open_input(path, w)?;
    // The whole store, the WAL replayed: what the AsRef below reads.
    input.bytes()?;
    let shown = input.db_path.display().to_string();
    etcd_store::EtcdDb::open(input).with_context(|| format!("{shown}: cannot open as an etcd db"))
}

/// The whole store as far as it was replayed: [`open_etcd`] replays a
/// pending WAL (with [`EtcdInput::bytes`]) before it opens these.
impl AsRef<[u8]> for EtcdInput {
    fn as_ref(&self) -> &[u8] {
        match self.replayed.get() {
            Some(Some(v)) => v,
            _ => self.base.as_ref(),
        }
    }
}

/// The live keys of a damaged etcd db, read the salvage way (trees where
/// sound, the other meta, a page scan), with the report of what may be
/// missing or stale.
pub fn salvaged_view<'a>(
    bytes: &'a Bytes,
    path: &Path,
    exclude_stale: bool,
) -> Result<(etcd_store::LiveView<'a>, etcd_store::salvage::SalvageReport)> {
    not_a_backup(path, bytes)?;
    let ctx = || format!("{}: salvage", path.display());
    let mut s = etcd_store::salvage::salvage(bytes.as_ref()).with_context(ctx)?;
    let view = s.live_with(exclude_stale).with_context(ctx)?;
    Ok((view, s.report))
}

/// Adds "try --salvage" to an error that comes from a damaged db (not to
/// a missing file, a backup, or a revision out of range), for the
/// commands that have --salvage.
pub fn salvage_hint(e: anyhow::Error) -> anyhow::Error {
    // Not a bbolt file at all (no valid meta page, too short): salvage
    // needs one meta page to start from.
    let bolt_damage = |x: &bbolt::Error| {
        !matches!(
            x,
            bbolt::Error::InvalidDatabase { .. } | bbolt::Error::TooSmall { .. }
        )
    };
    let damage = e.chain().any(|c| {
        c.downcast_ref::<bbolt::Error>().is_some_and(bolt_damage)
            || c.downcast_ref::<etcd_store::Error>()
                .is_some_and(|x| match x {
                    etcd_store::Error::Bolt(b) => bolt_damage(b),
                    etcd_store::Error::Compacted { .. }
                    | etcd_store::Error::FutureRevision { .. }
                    | etcd_store::Error::InvalidArgument(_)
                    | etcd_store::Error::NotEtcd(_) => false,
                    _ => true,
                })
    });
    if damage {
        anyhow::anyhow!("{e:#} (a damaged file? try --salvage)")
    } else {
        e
    }
}

/// Exit 1 after a salvage that found damage: the output holds what could
/// be recovered, and the report says what may be missing.
pub fn salvage_outcome(
    report: Option<&etcd_store::salvage::SalvageReport>,
    kept: u64,
) -> crate::Outcome {
    let Some(r) = report else {
        return crate::Outcome::Ok;
    };
    if kept == 0 {
        eprintln!("salvage: WARNING: no key could be recovered");
    }
    if r.found_damage() {
        eprintln!(
            "salvage: the file is damaged; what survives is read, the report above says what may be missing (exit status 1)"
        );
        crate::Outcome::Problems
    } else {
        crate::Outcome::Ok
    }
}

/// An etcd input after the data-dir rules: the db file used, its bytes,
/// and when a WAL was found, the db after the replay and the report.
///
/// A WAL found beside a db is replayed when it is first needed: by
/// [`EtcdInput::reader`] (the live keys, the replay laid over the db's own
/// view: no second pass over the db and no rewritten copy) or by
/// [`EtcdInput::etcd`] (the whole store after the replay, written again in
/// memory, for status, history, hashes and snapshots).
pub struct EtcdInput {
    /// The db file read (`member/snap/db`, a `<index>.snap.db`, or the file given).
    pub db_path: std::path::PathBuf,
    /// The db file's bytes.
    pub base: Bytes,
    /// The db after the WAL replay, when it was written and the replay
    /// changed anything (or a merge of several members).
    replayed: std::sync::OnceLock<Option<Vec<u8>>>,
    /// What reading and replaying the WAL did (unset: no WAL read yet).
    wal: std::sync::OnceLock<Option<etcd_store::datadir::WalReport>>,
    /// Several members merged: what the merge did (`replayed` holds the
    /// merged db, `db_path` and `base` are the first member's).
    pub merge: Option<etcd_store::merge::MergeReport>,
    /// A WAL not replayed yet.
    pending: Option<PendingWal>,
}

/// A WAL read when it is needed: its segments mapped, where a restart starts.
struct PendingWal {
    /// Segment file names and maps, with their sequence and first index.
    segments: Vec<(String, Bytes, u64, u64)>,
    start: etcd_store::wal::SnapshotMark,
    until: etcd_store::datadir::Until,
    /// Replay options (several members: up to the index a majority holds).
    opts: etcd_store::replay::ReplayOptions,
    /// Write the replayed db even when the replay only moved the applied
    /// index (`etcd snapshot`: its meta must name the last applied entry).
    always_rewrite: bool,
    /// The WAL dir as shown, the files ignored, notes from the start point.
    wal_dir: String,
    ignored: Vec<String>,
    notes: Vec<String>,
    /// What the user named (for errors).
    shown: std::path::PathBuf,
}

/// Reads the live keys of an [`EtcdInput`]: the db, and the WAL's replay
/// laid over it.
pub struct Reader<'i> {
    input: &'i EtcdInput,
    db: etcd_store::EtcdDb<&'i [u8]>,
    /// `db` is the db file, and the WAL is laid over its view.
    overlay: bool,
    /// The whole store, opened for a revision inside the replay.
    whole: std::sync::OnceLock<etcd_store::EtcdDb<&'i [u8]>>,
}

impl Reader<'_> {
    /// The db read (with a WAL to lay over it: the db file, before the replay).
    pub fn db(&self) -> &etcd_store::EtcdDb<&[u8]> {
        &self.db
    }

    /// The live keys at `rev` (0: the newest), the WAL replayed.
    pub fn live(&self, rev: i64) -> Result<etcd_store::LiveView<'_>> {
        let name = || self.input.db_path.display().to_string();
        let Some(p) = self.input.pending.as_ref().filter(|_| self.overlay) else {
            return self.db.live(rev).with_context(name);
        };
        let base = self.db.live(0).with_context(name)?;
        let segs = p.segments();
        let (replay, overlay, report) = p.replay(&self.db, &base, &segs)?;
        if !replay.changes_store() {
            // The db file is the whole store.
            let _ = self.input.replayed.set(None);
        }
        drop(replay);
        self.input.report(report);
        if rev <= 0 || rev == overlay.revision {
            return Ok(base.overlaid(&overlay));
        }
        if rev <= base.revision && rev >= overlay.compact_revision {
            drop(base);
            return self.db.live(rev).with_context(name);
        }
        // A revision the replay made, below its newest, or one the whole
        // store refuses (above its head, or compacted by the replay).
        drop(base);
        let whole = match self.whole.get() {
            Some(d) => d,
            None => {
                let d = self.input.etcd()?;
                self.whole.get_or_init(|| d)
            }
        };
        whole.live(rev).with_context(name)
    }
}

/// Mapped segment files as the WAL reader takes them.
fn segments_of(maps: &[(String, Bytes, u64, u64)]) -> Vec<(String, etcd_store::wal::Segment<'_>)> {
    maps.iter()
        .map(|(n, b, seq, index)| {
            (
                n.clone(),
                etcd_store::wal::Segment {
                    seq: *seq,
                    index: *index,
                    bytes: b.as_ref(),
                },
            )
        })
        .collect()
}

impl PendingWal {
    fn segments(&self) -> Vec<(String, etcd_store::wal::Segment<'_>)> {
        segments_of(&self.segments)
    }

    /// Replays the WAL onto `db`, whose view at its head is `base`.
    fn replay<'s>(
        &self,
        db: &etcd_store::EtcdDb<&[u8]>,
        base: &etcd_store::LiveView<'s>,
        segs: &[(String, etcd_store::wal::Segment<'s>)],
    ) -> Result<(
        etcd_store::replay::Replay<'s>,
        etcd_store::replay::Overlay<'s>,
        etcd_store::datadir::WalReport,
    )> {
        let (replay, overlay, mut report) = etcd_store::datadir::replay_wal_over(
            db, base, segs, self.start, self.until, &self.opts,
        )
        .with_context(|| format!("{}: replaying the WAL", self.shown.display()))?;
        report.wal_dir = self.wal_dir.clone();
        report.ignored = self.ignored.clone();
        report.notes.extend(self.notes.iter().cloned());
        Ok((replay, overlay, report))
    }
}

impl EtcdInput {
    fn new(
        db_path: std::path::PathBuf,
        base: Bytes,
        replayed: Option<Option<Vec<u8>>>,
        wal: Option<Option<etcd_store::datadir::WalReport>>,
        pending: Option<PendingWal>,
    ) -> EtcdInput {
        let r = std::sync::OnceLock::new();
        if let Some(x) = replayed {
            let _ = r.set(x);
        }
        let w = std::sync::OnceLock::new();
        if let Some(x) = wal {
            let _ = w.set(x);
        }
        EtcdInput {
            db_path,
            base,
            replayed: r,
            wal: w,
            merge: None,
            pending,
        }
    }

    /// Records the WAL report, prints its summary to stderr and notes lost
    /// entries for the exit status (once).
    fn report(&self, report: etcd_store::datadir::WalReport) {
        let lost = report.lost_entries();
        if self.wal.set(Some(report)).is_ok() {
            if let Some(line) = self.wal_line() {
                eprintln!("{line}");
            }
            if lost {
                WAL_LOST_ENTRIES.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// What reading and replaying the WAL did (`None`: no WAL read); a
    /// pending WAL is replayed now.
    pub fn wal(&self) -> Result<Option<&etcd_store::datadir::WalReport>> {
        if self.wal.get().is_none() && self.pending.is_some() {
            self.etcd()?;
        }
        Ok(self.wal.get().and_then(|w| w.as_ref()))
    }

    /// The bytes of the whole store: the replayed (or merged) db, or the db
    /// file. A pending WAL is replayed now and the db written again.
    pub fn bytes(&self) -> Result<&[u8]> {
        if let Some(p) = &self.pending {
            if self.replayed.get().is_none() {
                let db = etcd_store::EtcdDb::open(self.base.as_ref())
                    .with_context(|| {
                        format!("{}: cannot open as an etcd db", self.db_path.display())
                    })
                    .map_err(salvage_hint)?;
                let base = db
                    .live(0)
                    .with_context(|| self.db_path.display().to_string())?;
                let segs = p.segments();
                let (replay, overlay, report) = p.replay(&db, &base, &segs)?;
                drop(overlay);
                drop(base);
                let bytes = if !replay.is_empty() && (p.always_rewrite || replay.changes_store()) {
                    let cur = std::io::Cursor::new(Vec::with_capacity(
                        self.base.as_ref().len() + (1 << 20),
                    ));
                    let out = replay.write_db(&db, cur).with_context(|| {
                        format!("{}: writing the replayed db", self.db_path.display())
                    })?;
                    Some(out.into_inner())
                } else {
                    None
                };
                let _ = self.replayed.set(bytes);
                self.report(report);
            }
        }
        Ok(match self.replayed.get() {
            Some(Some(v)) => v,
            _ => self.base.as_ref(),
        })
    }

    /// Opens the whole store (the WAL replayed) as an etcd db.
    pub fn etcd(&self) -> Result<etcd_store::EtcdDb<&[u8]>> {
        etcd_store::EtcdDb::open(self.bytes()?)
            .with_context(|| format!("{}: cannot open as an etcd db", self.db_path.display()))
    }

    /// A reader of the live keys: the WAL replay is laid over the db's own
    /// view, which costs the replay and no more.
    pub fn reader(&self) -> Result<Reader<'_>> {
        let overlay = self.pending.is_some() && self.replayed.get().is_none();
        let bytes = if overlay {
            self.base.as_ref()
        } else {
            self.bytes()?
        };
        let db = etcd_store::EtcdDb::open(bytes)
            .with_context(|| format!("{}: cannot open as an etcd db", self.db_path.display()))?;
        Ok(Reader {
            input: self,
            db,
            overlay,
            whole: std::sync::OnceLock::new(),
        })
    }

    /// The WAL part of a summary, one line, for stderr.
    pub fn wal_line(&self) -> Option<String> {
        let w = self.wal.get()?.as_ref()?;
        let r = &w.replay;
        let applied = match (r.first_index, r.last_index) {
            (Some(a), Some(b)) => format!(
                "replayed entries {a}..{b} (term {}) above the db's consistent index {}: {} revisions added, {} rejected as etcd rejects them",
                r.last_term.unwrap_or(0),
                w.db_consistent_index,
                r.revisions_added,
                r.rejected
            ),
            _ => format!("nothing above the db's consistent index {} to replay", w.db_consistent_index),
        };
        let mut s = format!(
            "WAL {} ({} segments, {} entries): {applied}; {} applied entries lie above HardState.commit {}; {}",
            w.wal_dir,
            w.segments.len(),
            w.entries,
            w.above_commit,
            w.hard_state.commit,
            w.consequence
        );
        if let Some(f) = &w.stop_file {
            s.push_str(&format!(" ({f})"));
        }
        for n in &w.notes {
            s.push_str(&format!("\nWAL: {n}"));
        }
        Some(s)
    }
}

/// Opens what the user named as an etcd source: a db or snapshot file, a
/// data dir, or a `member/` dir. When a WAL belongs to it (beside the db, or
/// `--wal-dir`) and `--no-wal` is not given, the WAL is read as a
/// restarting etcd reads it and replayed onto the db.
///
/// `always_rewrite` writes the replayed db even when the
/// replay only moved the applied index (for `etcd snapshot`, whose meta must
/// name the last applied entry). Otherwise the db file is read as it is
/// when the replay changed no key and no bucket, so that `status` of a
/// cleanly stopped member equals `etcdutl snapshot status` of its db.
///
/// `until_index`, when given, stops the replay there (several members: the
/// last entry a majority holds).
fn open_source_until(
    path: &Path,
    w: &crate::args::WalArgs,
    always_rewrite: bool,
    until_index: Option<u64>,
    lazy: bool,
) -> Result<EtcdInput> {
    use etcd_store::datadir;
    let layout = datadir::locate(path, w.wal_dir.as_deref(), w.no_wal)
        .with_context(|| format!("{}: cannot read as an etcd data dir or db", path.display()))?;
    if layout.member.is_some() && !layout.db.exists() {
        anyhow::bail!("{}: no db at {}", path.display(), layout.db.display());
    }
    if layout.segments.is_empty() {
        if let (Some(m), false) = (&layout.member, w.no_wal) {
            if layout.wal_dir.is_none() && path.is_dir() {
                eprintln!("note: {}: no WAL found; reading the db alone", m.display());
            }
        }
        let base = map(&layout.db)?;
        not_a_backup(&layout.db, &base)?;
        return Ok(EtcdInput::new(
            layout.db,
            base,
            Some(None),
            Some(None),
            None,
        ));
    }
    let maps: Vec<(String, Bytes, u64, u64)> = layout
        .segments
        .iter()
        .map(|(p, seq, index)| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            map(p).map(|b| (name, b, *seq, *index))
        })
        .collect::<Result<_>>()?;
    let segments = segments_of(&maps);
    let snap_bytes: Vec<(String, Vec<u8>)> = layout
        .snaps
        .iter()
        .filter_map(|(p, _)| {
            let n = p.file_name()?.to_string_lossy().into_owned();
            std::fs::read(p).ok().map(|b| (n, b))
        })
        .collect();
    let snap_refs: Vec<(String, &[u8])> = snap_bytes
        .iter()
        .map(|(n, b)| (n.clone(), b.as_slice()))
        .collect();
    let plain: Vec<etcd_store::wal::Segment<'_>> = segments.iter().map(|(_, s)| *s).collect();
    let (start, mut notes) = datadir::start_snapshot(&plain, &snap_refs);
    // A db received from the leader for that snapshot, newer than the db:
    // etcd swaps it in at start-up.
    let mut db_path = layout.db.clone();
    let mut base = map(&db_path)?;
    not_a_backup(&db_path, &base)?;
    if start.index > 0 {
        let ci = etcd_store::EtcdDb::open(base.as_ref())
            .ok()
            .and_then(|d| d.meta().consistent_index)
            .unwrap_or(0);
        if start.index > ci {
            match layout.snap_dbs.iter().find(|(_, i)| *i == start.index) {
                Some((p, _)) => {
                    notes.push(format!(
                        "{} is newer than the db (index {} > consistent index {ci}): read instead, as etcd swaps it in",
                        p.display(),
                        start.index
                    ));
                    db_path = p.clone();
                    base = map(&db_path)?;
                }
                None => notes.push(format!(
                    "the raft snapshot at index {} is newer than the db (consistent index {ci}) and no {:016x}.snap.db is there: etcd would refuse to start; the WAL above the snapshot is replayed onto the older db",
                    start.index, start.index
                )),
            }
        }
    }
    let db = etcd_store::EtcdDb::open(base.as_ref())
        .with_context(|| format!("{}: cannot open as an etcd db", db_path.display()))
        .map_err(salvage_hint)?;
    let until = if w.wal_until_commit() {
        datadir::Until::Commit
    } else {
        datadir::Until::End
    };
    let wal_dir = layout
        .wal_dir
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let ignored: Vec<String> = layout
        .ignored
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    drop(db);
    drop(segments);
    let pending = PendingWal {
        segments: maps,
        start,
        until,
        opts: etcd_store::replay::ReplayOptions {
            until_index,
            ..Default::default()
        },
        always_rewrite,
        wal_dir,
        ignored,
        notes,
        shown: layout.wal_dir.clone().unwrap_or_else(|| path.to_path_buf()),
    };
    let input = EtcdInput::new(db_path, base, None, None, Some(pending));
    if !lazy || always_rewrite || until_index.is_some() {
        // The whole store now; otherwise replayed when first read (see
        // EtcdInput::reader).
        input.bytes()?;
    }
    Ok(input)
}

/// The db file `--salvage` reads for `path`: the file itself, or the db of
/// a data dir or `member/` dir (salvage reads the db alone; the WAL is not
/// replayed over a salvaged db).
pub fn salvage_db_path(path: &Path) -> Result<std::path::PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let l = etcd_store::datadir::locate(path, None, true)
        .with_context(|| format!("{}: cannot read as an etcd data dir", path.display()))?;
    eprintln!(
        "note: --salvage reads {} alone: the WAL is not replayed over a salvaged db",
        l.db.display()
    );
    Ok(l.db)
}
