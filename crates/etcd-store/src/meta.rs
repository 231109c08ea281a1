//! The `meta` bucket.
//!
//! | key | since | value |
//! |---|---|---|
//! | `consistent_index` | 3.0 | u64 BE: raft index of the last applied entry |
//! | `term` | 3.5 | u64 BE: its raft term |
//! | `scheduledCompactRev` | 3.0 | 17-byte revision key of a compaction started |
//! | `finishedCompactRev` | 3.0 | 17-byte revision key of the last compaction done |
//! | `confState` | 3.5 | JSON of raftpb.ConfState |
//! | `storageVersion` | 3.6 | "3.6.0" |

use crate::error::{Error, Result};
use crate::revision::RevisionKey;

/// Bucket names etcd uses.
pub mod buckets {
    /// The MVCC history.
    pub const KEY: &[u8] = b"key";
    /// Store metadata.
    pub const META: &[u8] = b"meta";
    /// Leases.
    pub const LEASE: &[u8] = b"lease";
    /// Alarms.
    pub const ALARM: &[u8] = b"alarm";
    /// Auth settings.
    pub const AUTH: &[u8] = b"auth";
    /// Users.
    pub const AUTH_USERS: &[u8] = b"authUsers";
    /// Roles.
    pub const AUTH_ROLES: &[u8] = b"authRoles";
    /// Members.
    pub const MEMBERS: &[u8] = b"members";
    /// Removed members.
    pub const MEMBERS_REMOVED: &[u8] = b"members_removed";
    /// Cluster version.
    pub const CLUSTER: &[u8] = b"cluster";
    /// Every bucket a fresh etcd has, in byte order.
    pub const ALL: [&[u8]; 10] = [
        ALARM,
        AUTH,
        AUTH_ROLES,
        AUTH_USERS,
        CLUSTER,
        KEY,
        LEASE,
        MEMBERS,
        MEMBERS_REMOVED,
        META,
    ];
}

/// What the `meta` bucket says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdMeta {
    /// Raft index of the last applied entry.
    pub consistent_index: Option<u64>,
    /// Raft term of that entry (3.5+).
    pub term: Option<u64>,
    /// Main revision of the last compaction started.
    pub scheduled_compact: Option<i64>,
    /// Main revision of the last compaction finished.
    pub finished_compact: Option<i64>,
    /// JSON of the raft ConfState (3.5+).
    pub conf_state: Option<String>,
    /// Storage schema version (3.6+).
    pub storage_version: Option<String>,
}

fn u64_be(key: &str, v: &[u8]) -> Result<u64> {
    let a: [u8; 8] = v.try_into().map_err(|_| Error::BadMeta {
        key: key.into(),
        what: format!("{} bytes, expected 8", v.len()),
    })?;
    Ok(u64::from_be_bytes(a))
}

fn rev(key: &str, v: &[u8]) -> Result<i64> {
    match RevisionKey::parse(v) {
        Some(r) if !r.tombstone => Ok(r.rev.main),
        _ => Err(Error::BadMeta {
            key: key.into(),
            what: format!("{} bytes, expected a 17-byte revision", v.len()),
        }),
    }
}

impl EtcdMeta {
    /// Reads the known keys of the `meta` bucket; unknown keys are ignored.
    pub fn read<D: AsRef<[u8]>>(db: &bbolt::Db<D>) -> Result<EtcdMeta> {
        let mut m = EtcdMeta::default();
        let b = match db.bucket(&[buckets::META]) {
            Ok(b) => b,
            Err(bbolt::Error::BucketNotFound(_)) => return Ok(m),
            Err(e) => return Err(e.into()),
        };
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        if let Some(v) = b.get(b"consistent_index")? {
            m.consistent_index = Some(u64_be("consistent_index", v)?);
        }
        if let Some(v) = b.get(b"term")? {
            m.term = Some(u64_be("term", v)?);
        }
        if let Some(v) = b.get(b"scheduledCompactRev")? {
            m.scheduled_compact = Some(rev("scheduledCompactRev", v)?);
        }
        if let Some(v) = b.get(b"finishedCompactRev")? {
            m.finished_compact = Some(rev("finishedCompactRev", v)?);
        }
        m.conf_state = b.get(b"confState")?.map(text);
        m.storage_version = b.get(b"storageVersion")?.map(text);
        Ok(m)
    }

    /// The compact revision etcd uses after boot: the finished one, or the
    /// scheduled one if larger (boot resumes it); -1 when there is none.
    pub fn compact_revision(&self) -> i64 {
        match (self.finished_compact, self.scheduled_compact) {
            (Some(f), Some(s)) => f.max(s),
            (Some(f), None) => f,
            (None, Some(s)) => s,
            (None, None) => -1,
        }
    }
}
