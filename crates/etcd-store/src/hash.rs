//! The hashes etcd's tools print: HashKV and `snapshot status`.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::meta::buckets;
use crate::revision::Revision;
use crate::store::EtcdDb;

/// Which etcd's HashKV rules to follow; they changed in patch releases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashRules {
    /// 3.4 up to 3.4.26 and 3.5 up to 3.5.9 (Debian's 3.4.23, PyPI's 3.5.1):
    /// a requested revision equal to the compact revision is refused, and a
    /// tombstone at the compact revision is hashed.
    Legacy,
    /// 3.4.34+, 3.5.16+ and 3.6: only revisions below the compact revision
    /// are refused, and a tombstone at the compact revision is skipped.
    /// The default.
    #[default]
    Current,
}

/// What `etcdctl endpoint hashkv` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKv {
    /// CRC-32C over the kept entries of the `key` bucket.
    pub hash: u32,
    /// The revision hashed (the current one when 0 was asked).
    pub hash_revision: i64,
    /// The db's compact revision.
    pub compact_revision: i64,
}

/// What `etcdutl snapshot status` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// CRC-32C over every bucket name, key and value.
    pub hash: u32,
    /// Main revision of the newest `key`-bucket entry (0 if none).
    pub revision: i64,
    /// Entries of every bucket (etcd 3.4/3.5's count; etcd 3.6 counts live
    /// keys instead: `EtcdDb::live(0)?.keys.len()`).
    pub total_keys: u64,
    /// High-water mark × page size, bytes.
    pub total_size: u64,
    /// meta `storageVersion` (3.6), or empty.
    pub version: String,
}

impl<D: AsRef<[u8]> + Sync> EtcdDb<D> {
    /// HashKV at `rev` (0 = current), as `etcdctl endpoint hashkv --rev`.
    pub fn hash_kv(&self, rev: i64, rules: HashRules) -> Result<HashKv> {
        let compact = self.compact_revision();
        let current = self.current_revision()?;
        if rev > current {
            return Err(Error::FutureRevision {
                requested: rev,
                current,
            });
        }
        let refused = match rules {
            HashRules::Legacy => rev > 0 && rev <= compact,
            HashRules::Current => rev > 0 && rev < compact,
        };
        if refused {
            return Err(Error::Compacted {
                requested: rev,
                compact,
            });
        }
        let at = if rev == 0 { current } else { rev };
        // keep(at): each key's newest entry at or below `at`, unless a delete.
        let mut newest: FxHashMap<&[u8], (Revision, bool)> = FxHashMap::default();
        for e in self.revisions()? {
            let e = e?;
            if e.rev.rev.main > at {
                break;
            }
            newest.insert(e.user_key()?, (e.rev.rev, e.rev.tombstone));
        }
        let keep: FxHashSet<Revision> = newest
            .into_values()
            .filter(|(_, t)| !t)
            .map(|(r, _)| r)
            .collect();
        let mut h = crc32c::crc32c(buckets::KEY);
        for e in self.revisions()? {
            let e = e?;
            let r = e.rev.rev;
            if r.main > at {
                break;
            }
            if r.main <= compact && !keep.is_empty() && !keep.contains(&r) {
                continue;
            }
            if rules == HashRules::Current && e.rev.tombstone && r.main == compact {
                continue;
            }
            h = crc32c::crc32c_append(h, e.raw_key);
            h = crc32c::crc32c_append(h, e.value);
        }
        Ok(HashKv {
            hash: h,
            hash_revision: at,
            compact_revision: compact,
        })
    }

    /// The numbers of `etcdutl snapshot status`. Runs bbolt's check first,
    /// as etcd does, and refuses a damaged file.
    pub fn status(&self) -> Result<Status> {
        let report = self.bolt().check();
        if !report.is_ok() {
            return Err(Error::Integrity(report.findings.len()));
        }
        self.status_unchecked()
    }

    /// [`status`](Self::status) without the integrity check.
    pub fn status_unchecked(&self) -> Result<Status> {
        let db = self.bolt();
        let mut h = crc32c::crc32c(&[]);
        let mut total = 0u64;
        let root = db.root();
        let mut c = root.cursor();
        let mut e = c.first()?;
        while let Some(top) = e {
            h = crc32c::crc32c_append(h, top.key);
            if top.is_bucket() {
                let b = root.sub_bucket(&top, c.leaf_page())?;
                let mut bc = b.cursor();
                let mut x = bc.first()?;
                while let Some(kv) = x {
                    total += 1;
                    h = crc32c::crc32c_append(h, kv.key);
                    if !kv.is_bucket() {
                        h = crc32c::crc32c_append(h, kv.value);
                    }
                    x = bc.next()?;
                }
            }
            e = c.next()?;
        }
        let revision = self.last_revision()?.map_or(0, |r| r.rev.main);
        Ok(Status {
            hash: h,
            revision,
            total_keys: total,
            total_size: db.hwm() * u64::from(db.page_size()),
            version: self.meta().storage_version.clone().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use bbolt::write::{Builder, BuilderOptions};

    use super::*;
    use crate::revision::{Revision, RevisionKey};
    use crate::KeyValue;

    /// A db whose `key` bucket holds exactly these entries.
    fn db(entries: &[(i64, i64, bool, KeyValue)], meta: &[(&[u8], Vec<u8>)]) -> EtcdDb<Vec<u8>> {
        let mut b = Builder::new(Cursor::new(Vec::new()), BuilderOptions::default()).unwrap();
        b.begin_bucket(b"key").unwrap();
        for (main, sub, t, kv) in entries {
            let k = RevisionKey {
                rev: Revision {
                    main: *main,
                    sub: *sub,
                },
                tombstone: *t,
            }
            .encode();
            let v = if *t {
                KeyValue {
                    key: kv.key.clone(),
                    ..Default::default()
                }
            } else {
                kv.clone()
            };
            b.put(&k, &v.encode_to_vec()).unwrap();
        }
        b.end_bucket().unwrap();
        b.begin_bucket(b"meta").unwrap();
        for (k, v) in meta {
            b.put(k, v).unwrap();
        }
        b.end_bucket().unwrap();
        EtcdDb::open(b.finish().unwrap().0.into_inner()).unwrap()
    }

    fn kv(key: &str, value: &str, create: i64, m: i64, version: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            create_revision: create,
            mod_revision: m,
            version,
            value: value.into(),
            lease: 0,
        }
    }

    // Vectors seen on a fresh etcd 3.4.23 member (the format spec, HashKV).
    #[test]
    fn hashkv_vectors_of_etcd_3_4_23() {
        let a1 = (2, 0, false, kv("a", "1", 2, 2, 1));
        let d = db(std::slice::from_ref(&a1), &[]);
        assert_eq!(d.hash_kv(0, HashRules::Legacy).unwrap().hash, 2587454935);
        let b2 = (3, 0, false, kv("b", "2", 3, 3, 1));
        let del_a = (4, 0, true, kv("a", "", 0, 0, 0));
        let d = db(&[a1.clone(), b2.clone(), del_a.clone()], &[]);
        assert_eq!(d.hash_kv(0, HashRules::Legacy).unwrap().hash, 1562576432);
        // After `compact 4` only (3,0) b survives on disk.
        let rev4 = RevisionKey {
            rev: Revision { main: 4, sub: 0 },
            tombstone: false,
        }
        .encode();
        let d = db(
            std::slice::from_ref(&b2),
            &[
                (b"finishedCompactRev", rev4.clone()),
                (b"scheduledCompactRev", rev4),
            ],
        );
        assert_eq!(d.hash_kv(0, HashRules::Legacy).unwrap().hash, 728145079);
        assert!(matches!(
            d.hash_kv(4, HashRules::Legacy),
            Err(Error::Compacted {
                requested: 4,
                compact: 4
            })
        ));
        assert_eq!(
            d.hash_kv(4, HashRules::Current).unwrap().hash,
            728145079,
            "3.5.10+: R == compact is allowed"
        );
        assert!(matches!(
            d.hash_kv(9, HashRules::Legacy),
            Err(Error::FutureRevision {
                requested: 9,
                current: 4
            })
        ));
    }
}
