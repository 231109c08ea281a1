//! Writing an etcd-ready db from KeyValues, through the bbolt Builder.
//!
//! The db holds every bucket a fresh etcd has. The `key` bucket gets one
//! entry per key at its `mod_revision` (keys sharing a revision get sub
//! revisions 0, 1, ... in key order), with create revisions and versions
//! kept and leases dropped. The `meta` bucket marks the store compacted at
//! the head revision, so a read of older history fails loudly instead of
//! returning a partial past, and carries the consistent index and term an
//! `etcdutl snapshot restore` rewrites anyway.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use bbolt::write::{AtomicFile, Builder, BuilderOptions, FreelistMode};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::kv::KeyValue;
use crate::meta::buckets;
use crate::revision::{Revision, RevisionKey};

/// Options for [`write_db`].
#[derive(Clone, Debug)]
pub struct DbWriterOptions {
    /// bbolt page size (etcd uses the OS page size; 4096 on x86-64).
    pub page_size: u32,
    /// meta `consistent_index` (a restore sets it to the member count).
    pub consistent_index: u64,
    /// meta `term` (a 3.5+ restore sets it to 1).
    pub term: u64,
    /// cluster `clusterVersion`, if any (etcd fills it in at boot otherwise).
    pub cluster_version: Option<String>,
    /// Append the SHA-256 trailer of a `snapshot save` file, so restores
    /// need no `--skip-hash-check`.
    pub sha256_trailer: bool,
    /// The store's revision is at least this (the source's revision when
    /// restoring a backup), so revisions never go backwards for clients
    /// of the old cluster; compaction is marked there.
    pub min_revision: i64,
}

impl Default for DbWriterOptions {
    fn default() -> Self {
        DbWriterOptions {
            page_size: 4096,
            consistent_index: 1,
            term: 1,
            cluster_version: None,
            sha256_trailer: true,
            min_revision: 0,
        }
    }
}

/// What [`write_db`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbSummary {
    /// Keys written.
    pub keys: u64,
    /// The head revision (where the store is marked compacted): the
    /// newest mod revision, or `min_revision` if larger.
    pub revision: i64,
    /// Keys whose lease was dropped.
    pub leases_dropped: u64,
    /// File length, trailer included.
    pub file_size: u64,
}

/// Sorts and validates the KeyValues into `key`-bucket order.
fn prepare(mut kvs: Vec<KeyValue>) -> Result<(Vec<(Revision, KeyValue)>, u64)> {
    kvs.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    for w in kvs.windows(2) {
        if let [a, b] = w {
            if a.key == b.key {
                return Err(Error::InvalidArgument(format!(
                    "key {:?} given twice",
                    String::from_utf8_lossy(&a.key)
                )));
            }
        }
    }
    let mut dropped = 0;
    for kv in &mut kvs {
        if kv.key.is_empty() {
            return Err(Error::InvalidArgument(
                "a KeyValue with an empty key".into(),
            ));
        }
        if kv.mod_revision < 1
            || kv.create_revision < 1
            || kv.create_revision > kv.mod_revision
            || kv.version < 1
        {
            return Err(Error::InvalidArgument(format!(
                "key {:?}: revisions create={} mod={} version={} are not those of a live key",
                String::from_utf8_lossy(&kv.key),
                kv.create_revision,
                kv.mod_revision,
                kv.version
            )));
        }
        if kv.lease != 0 {
            kv.lease = 0;
            dropped += 1;
        }
    }
    // Stable: keys sharing a revision stay in key order and get sub 0, 1, ...
    kvs.sort_by_key(|kv| kv.mod_revision);
    let mut out = Vec::with_capacity(kvs.len());
    let mut prev = (0i64, -1i64);
    for kv in kvs {
        let sub = if kv.mod_revision == prev.0 {
            prev.1 + 1
        } else {
            0
        };
        prev = (kv.mod_revision, sub);
        out.push((
            Revision {
                main: kv.mod_revision,
                sub,
            },
            kv,
        ));
    }
    Ok((out, dropped))
}

/// Writes an etcd db of `kvs` into `out`. Returns the output positioned
/// at its end, and a summary.
pub fn write_db<W: Write + Seek + Read>(
    out: W,
    kvs: Vec<KeyValue>,
    opts: &DbWriterOptions,
) -> Result<(W, DbSummary)> {
    let (entries, leases_dropped) = prepare(kvs)?;
    let head = entries
        .last()
        .map_or(1, |(r, _)| r.main)
        .max(opts.min_revision);
    let bopts = BuilderOptions {
        page_size: opts.page_size,
        fill_percent: 1.0,
        freelist: FreelistMode::None,
        txid: 1,
    };
    let mut b = Builder::new(out, bopts)?;
    let compact = RevisionKey {
        rev: Revision { main: head, sub: 0 },
        tombstone: false,
    }
    .encode();
    for name in buckets::ALL {
        b.begin_bucket(name)?;
        match name {
            n if n == buckets::AUTH => b.put(b"authRevision", &1u64.to_be_bytes())?,
            n if n == buckets::CLUSTER => {
                if let Some(v) = &opts.cluster_version {
                    b.put(b"clusterVersion", v.as_bytes())?;
                }
            }
            n if n == buckets::KEY => {
                let mut value = Vec::new();
                for (rev, kv) in &entries {
                    value.clear();
                    prost::Message::encode(kv, &mut value)
                        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                    b.put(
                        &RevisionKey {
                            rev: *rev,
                            tombstone: false,
                        }
                        .encode(),
                        &value,
                    )?;
                }
            }
            n if n == buckets::META => {
                b.put(b"consistent_index", &opts.consistent_index.to_be_bytes())?;
                b.put(b"finishedCompactRev", &compact)?;
                b.put(b"scheduledCompactRev", &compact)?;
                b.put(b"term", &opts.term.to_be_bytes())?;
            }
            _ => {}
        }
        b.end_bucket()?;
    }
    let (mut out, s) = b.finish()?;
    let mut file_size = s.file_size;
    if opts.sha256_trailer {
        out.seek(SeekFrom::Start(0))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = s.file_size;
        while left > 0 {
            let n = buf.len().min(left as usize);
            let chunk = buf.get_mut(..n).unwrap_or_default();
            out.read_exact(chunk)?;
            h.update(&*chunk);
            left -= n as u64;
        }
        out.seek(SeekFrom::Start(s.file_size))?;
        out.write_all(&h.finalize())?;
        file_size += 32;
    }
    out.flush()?;
    Ok((
        out,
        DbSummary {
            keys: entries.len() as u64,
            revision: head,
            leases_dropped,
            file_size,
        },
    ))
}

/// [`write_db`] into a new file at `path` (temporary file, sync, rename;
/// an existing file is refused unless `overwrite`).
pub fn write_db_file(
    path: &Path,
    kvs: Vec<KeyValue>,
    opts: &DbWriterOptions,
    overwrite: bool,
) -> Result<DbSummary> {
    let f = AtomicFile::create(path, overwrite)?;
    let (f, s) = write_db(f, kvs, opts)?;
    f.commit()?;
    Ok(s)
}
