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

/// Opens an etcd db or snapshot file read-only, naming the file in any error.
pub fn open_etcd(path: &Path) -> Result<etcd_store::EtcdDb<Bytes>> {
    let bytes = map(path)?;
    not_a_backup(path, &bytes)?;
    etcd_store::EtcdDb::open(bytes)
        .with_context(|| format!("{}: cannot open as an etcd db", path.display()))
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
