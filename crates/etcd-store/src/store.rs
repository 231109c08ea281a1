//! An etcd db (data-dir db or snapshot file) opened read-only.

use bbolt::{Bucket, Cursor};

use crate::error::{Error, Result};
use crate::kv::KeyValueRef;
use crate::meta::{buckets, EtcdMeta};
use crate::revision::{Revision, RevisionKey};
use crate::snapshot::{self, DbBytes};

/// Options for [`EtcdDb::open_with`].
#[derive(Clone, Debug)]
pub struct EtcdOpenOptions {
    /// Verify a snapshot file's sha256 trailer (default true).
    pub verify_trailer: bool,
    /// How to open the bbolt file (meta choice, page size).
    pub bolt: bbolt::OpenOptions,
}

impl Default for EtcdOpenOptions {
    fn default() -> Self {
        EtcdOpenOptions {
            verify_trailer: true,
            bolt: bbolt::OpenOptions::default(),
        }
    }
}

/// etcd's storage on a bbolt file, offline and read-only.
pub struct EtcdDb<D: AsRef<[u8]>> {
    db: bbolt::Db<DbBytes<D>>,
    trailer: Option<[u8; 32]>,
    meta: EtcdMeta,
}

/// One entry of the `key` bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevEntry<'a> {
    /// The bucket key, parsed.
    pub rev: RevisionKey,
    /// The raw bucket key (17 or 18 bytes).
    pub raw_key: &'a [u8],
    /// The raw value (a marshalled KeyValue).
    pub value: &'a [u8],
}

impl<'a> RevEntry<'a> {
    /// The KeyValue, decoded without copying.
    pub fn decode(&self) -> Result<KeyValueRef<'a>> {
        KeyValueRef::decode(self.value).map_err(|e| Error::BadKeyValue {
            rev: self.rev.rev,
            what: e.0,
        })
    }

    /// Only the user key.
    pub fn user_key(&self) -> Result<&'a [u8]> {
        KeyValueRef::decode_key(self.value).map_err(|e| Error::BadKeyValue {
            rev: self.rev.rev,
            what: e.0,
        })
    }
}

/// The `key` bucket in revision order. Go: a range over `key` from (1,0).
pub struct Revisions<'a> {
    cursor: Cursor<'a>,
    started: bool,
    done: bool,
    /// Where the first call seeks to (None: the first entry).
    from: Option<Vec<u8>>,
    /// The leaf the last entry came from.
    leaf: bbolt::PageId,
}

/// Reads one byte of every cache line of `bytes`. Entries are read one
/// after the other, each a dependent chain of cache misses (element, key,
/// KeyValue header, lease after the value); loads that depend on nothing
/// are issued together instead, so a page costs about one miss, not one
/// per entry.
fn warm(bytes: &[u8]) {
    let mut x = 0u8;
    for b in bytes.iter().step_by(64) {
        x ^= *b;
    }
    std::hint::black_box(x);
}

impl<'a> Iterator for Revisions<'a> {
    type Item = Result<RevEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let e = match (&self.from, self.started) {
            (_, true) => self.cursor.next(),
            (None, false) => self.cursor.first(),
            (Some(k), false) => self.cursor.seek(k),
        };
        self.started = true;
        let e = match e {
            Ok(Some(e)) => e,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(err) => {
                self.done = true;
                return Some(Err(err.into()));
            }
        };
        if self.cursor.leaf_page() != self.leaf {
            self.leaf = self.cursor.leaf_page();
            warm(self.cursor.leaf_bytes());
        }
        match RevisionKey::parse(e.key) {
            Some(rev) if !e.is_bucket() => Some(Ok(RevEntry {
                rev,
                raw_key: e.key,
                value: e.value,
            })),
            _ => {
                self.done = true;
                Some(Err(Error::BadRevisionKey(e.key.to_vec())))
            }
        }
    }
}

impl<D: AsRef<[u8]>> EtcdDb<D> {
    /// Opens a data-dir db or a snapshot file (whose trailer is verified).
    pub fn open(data: D) -> Result<Self> {
        Self::open_with(data, &EtcdOpenOptions::default())
    }

    /// Opens with options.
    pub fn open_with(data: D, opts: &EtcdOpenOptions) -> Result<Self> {
        let bytes = DbBytes::new(data);
        let trailer = if opts.verify_trailer {
            snapshot::verify(bytes.file())?
        } else {
            snapshot::trailer(bytes.file())
        };
        let db = bbolt::Db::open_with(bytes, &opts.bolt)?;
        match db.bucket(&[buckets::KEY]) {
            Ok(_) => {}
            Err(bbolt::Error::BucketNotFound(_)) => return Err(Error::NotEtcd("key")),
            Err(e) => return Err(e.into()),
        }
        let meta = EtcdMeta::read(&db)?;
        Ok(EtcdDb { db, trailer, meta })
    }

    /// The bbolt file underneath.
    pub fn bolt(&self) -> &bbolt::Db<DbBytes<D>> {
        &self.db
    }

    /// The snapshot trailer, when the file has one.
    pub fn trailer(&self) -> Option<[u8; 32]> {
        self.trailer
    }

    /// The `meta` bucket.
    pub fn meta(&self) -> &EtcdMeta {
        &self.meta
    }

    /// The compact revision as etcd computes it at boot (-1: never compacted).
    pub fn compact_revision(&self) -> i64 {
        self.meta.compact_revision()
    }

    /// The `key` bucket.
    pub fn key_bucket(&self) -> Result<Bucket<'_>> {
        Ok(self.db.bucket(&[buckets::KEY])?)
    }

    /// Every entry of the `key` bucket, in revision order.
    pub fn revisions(&self) -> Result<Revisions<'_>> {
        Ok(Revisions {
            cursor: self.key_bucket()?.cursor(),
            started: false,
            done: false,
            from: None,
            leaf: 0,
        })
    }

    /// The entries of the `key` bucket from revision `from` on.
    pub fn revisions_from(&self, from: Revision) -> Result<Revisions<'_>> {
        let key = crate::revision::RevisionKey {
            rev: from,
            tombstone: false,
        }
        .encode();
        Ok(Revisions {
            cursor: self.key_bucket()?.cursor(),
            started: false,
            done: false,
            from: Some(key),
            leaf: 0,
        })
    }

    /// The oldest entry of the `key` bucket.
    pub fn first_revision(&self) -> Result<Option<RevisionKey>> {
        self.end_revision(false)
    }

    /// The newest entry of the `key` bucket.
    pub fn last_revision(&self) -> Result<Option<RevisionKey>> {
        self.end_revision(true)
    }

    /// The oldest or the newest entry of the `key` bucket, parsed.
    fn end_revision(&self, last: bool) -> Result<Option<RevisionKey>> {
        let b = self.key_bucket()?;
        let mut c = b.cursor();
        match if last { c.last()? } else { c.first()? } {
            Some(e) => RevisionKey::parse(e.key)
                .map(Some)
                .ok_or_else(|| Error::BadRevisionKey(e.key.to_vec())),
            None => Ok(None),
        }
    }

    /// The store's current revision: the newest main revision, at least the
    /// compact revision, 1 for an empty store. Go: `store.currentRev` after restore.
    pub fn current_revision(&self) -> Result<i64> {
        let last = self.last_revision()?.map_or(1, |r| r.rev.main);
        Ok(last.max(self.compact_revision()))
    }

    /// Every revision of one user key, oldest first: puts and deletes.
    pub fn history(&self, key: &[u8]) -> Result<Vec<HistoryEntry>> {
        let mut out = Vec::new();
        for e in self.revisions()? {
            let e = e?;
            if e.user_key()? == key {
                let kv = e.decode()?;
                out.push(HistoryEntry {
                    revision: e.rev.rev,
                    tombstone: e.rev.tombstone,
                    create_revision: kv.create_revision,
                    mod_revision: kv.mod_revision,
                    version: kv.version,
                    lease: kv.lease,
                    value: kv.value.to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// Checks a requested revision the way etcd's range does (0 = current).
    pub fn check_revision(&self, rev: i64) -> Result<i64> {
        let current = self.current_revision()?;
        let compact = self.compact_revision();
        if rev > current {
            return Err(Error::FutureRevision {
                requested: rev,
                current,
            });
        }
        if rev > 0 && rev < compact {
            return Err(Error::Compacted {
                requested: rev,
                compact,
            });
        }
        Ok(if rev <= 0 { current } else { rev })
    }
}

/// One revision of a key, for [`EtcdDb::history`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Where in the log.
    pub revision: Revision,
    /// A delete.
    pub tombstone: bool,
    /// From the KeyValue (0 for deletes).
    pub create_revision: i64,
    /// From the KeyValue (0 for deletes).
    pub mod_revision: i64,
    /// From the KeyValue (0 for deletes).
    pub version: i64,
    /// Lease id (0 for none).
    pub lease: i64,
    /// The value (empty for deletes).
    pub value: Vec<u8>,
}
