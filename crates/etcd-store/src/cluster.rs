//! The other buckets of an etcd db: leases, auth, membership, alarms.
//!
//! | bucket | key | value |
//! |---|---|---|
//! | `lease` | lease id, 8 bytes big-endian | `leasepb.Lease` {1 ID, 2 TTL, 3 RemainingTTL} |
//! | `auth` | `authEnabled`, `authRevision` | 1 byte / u64 big-endian |
//! | `authUsers` | user name | `authpb.User` {1 name, 2 password (bcrypt), 3 roles, 4 options} |
//! | `authRoles` | role name | `authpb.Role` {1 name, 2 keyPermission} |
//! | `members` | member id in hex | member JSON |
//! | `members_removed` | member id in hex | `removed` |
//! | `cluster` | `clusterVersion`, `downgrade` | text, JSON |
//! | `alarm` | `AlarmMember` {1 memberID, 2 alarm} | empty |

use prost::Message;

use crate::error::Result;
use crate::meta::buckets as names;
use crate::store::EtcdDb;

/// `leasepb.Lease`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Lease {
    /// Lease id.
    #[prost(int64, tag = "1")]
    pub id: i64,
    /// TTL in seconds.
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    /// Remaining TTL in seconds, when checkpointing persisted it.
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}

/// `authpb.User`, without its password hash.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct User {
    /// User name.
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    /// Granted roles.
    #[prost(string, repeated, tag = "3")]
    pub roles: Vec<String>,
}

/// `etcdserverpb.AlarmMember` (the key of an `alarm` entry).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AlarmMember {
    /// Member that raised it.
    #[prost(uint64, tag = "1")]
    pub member_id: u64,
    /// 1 NOSPACE, 2 CORRUPT.
    #[prost(int32, tag = "2")]
    pub alarm: i32,
}

/// What the non-`key` buckets say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Leases (decodable ones).
    pub leases: Vec<Lease>,
    /// Auth enabled.
    pub auth_enabled: bool,
    /// Auth revision.
    pub auth_revision: Option<u64>,
    /// Users (names and roles; never password hashes).
    pub users: Vec<User>,
    /// Role names.
    pub roles: Vec<String>,
    /// Members: (hex id, JSON).
    pub members: Vec<(String, String)>,
    /// Removed member ids (hex).
    pub members_removed: Vec<String>,
    /// cluster `clusterVersion`.
    pub cluster_version: Option<String>,
    /// Raised alarms.
    pub alarms: Vec<AlarmMember>,
    /// Entries that did not decode: (bucket, key).
    pub undecodable: Vec<(String, String)>,
}

impl<D: AsRef<[u8]>> EtcdDb<D> {
    /// Reads leases, auth, membership, cluster version and alarms. Missing
    /// buckets are empty; undecodable entries are listed, not fatal.
    pub fn cluster(&self) -> Result<Cluster> {
        let mut c = Cluster::default();
        let db = self.bolt();
        let each = |name: &[u8], f: &mut dyn FnMut(&[u8], &[u8])| -> Result<()> {
            let b = match db.bucket(&[name]) {
                Ok(b) => b,
                Err(bbolt::Error::BucketNotFound(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let mut cur = b.cursor();
            let mut e = cur.first()?;
            while let Some(x) = e {
                f(x.key, x.value);
                e = cur.next()?;
            }
            Ok(())
        };
        let mut bad = Vec::new();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        each(names::LEASE, &mut |k, v| match Lease::decode(v) {
            Ok(l) => c.leases.push(l),
            Err(_) => bad.push(("lease".to_string(), crate::error::hex(k))),
        })?;
        each(names::AUTH, &mut |k, v| match k {
            b"authEnabled" => c.auth_enabled = v.first() == Some(&1),
            b"authRevision" => c.auth_revision = v.try_into().ok().map(u64::from_be_bytes),
            _ => {}
        })?;
        each(names::AUTH_USERS, &mut |k, v| match User::decode(v) {
            Ok(u) => c.users.push(u),
            Err(_) => bad.push(("authUsers".to_string(), text(k))),
        })?;
        each(names::AUTH_ROLES, &mut |k, _| c.roles.push(text(k)))?;
        each(names::MEMBERS, &mut |k, v| {
            c.members.push((text(k), text(v)))
        })?;
        each(names::MEMBERS_REMOVED, &mut |k, _| {
            c.members_removed.push(text(k))
        })?;
        each(names::CLUSTER, &mut |k, v| {
            if k == b"clusterVersion" {
                c.cluster_version = Some(text(v));
            }
        })?;
        each(names::ALARM, &mut |k, _| match AlarmMember::decode(k) {
            Ok(a) => c.alarms.push(a),
            Err(_) => bad.push(("alarm".to_string(), crate::error::hex(k))),
        })?;
        c.undecodable = bad;
        Ok(c)
    }
}
