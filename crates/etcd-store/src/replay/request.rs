//! etcd's raft requests (`etcdserverpb.InternalRaftRequest`), decoded
//! without copying: keys and values borrow from the WAL entry.
//!
//! Only what changes the store a rescue reads is decoded in full; every
//! other request is recognised by its field number and named.

use crate::wal::pb::{for_each, Fields, PbError};

/// `PutRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Put<'a> {
    /// Key.
    pub key: &'a [u8],
    /// Value.
    pub value: &'a [u8],
    /// Lease id (0: none).
    pub lease: i64,
    /// Return the previous KeyValue (a read, checked as one with auth on).
    pub prev_kv: bool,
    /// Keep the current value.
    pub ignore_value: bool,
    /// Keep the current lease.
    pub ignore_lease: bool,
}

/// `DeleteRangeRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteRange<'a> {
    /// First key.
    pub key: &'a [u8],
    /// End of the range: empty for the one key, `"\0"` for every key from
    /// `key` on, else exclusive.
    pub range_end: &'a [u8],
    /// Return the deleted KeyValues (a read, checked as one with auth on).
    pub prev_kv: bool,
}

/// `Compare.target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Version.
    Version,
    /// Create revision.
    Create,
    /// Mod revision.
    Mod,
    /// Value.
    Value,
    /// Lease.
    Lease,
}

/// `Compare.result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpResult {
    /// ==
    Equal,
    /// >
    Greater,
    /// <
    Less,
    /// !=
    NotEqual,
}

/// `Compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compare<'a> {
    /// How to compare.
    pub result: CmpResult,
    /// What to compare.
    pub target: Target,
    /// Key.
    pub key: &'a [u8],
    /// Range end (as for delete ranges).
    pub range_end: &'a [u8],
    /// The number compared with (version, create, mod revision or lease).
    pub number: i64,
    /// The value compared with.
    pub value: &'a [u8],
}

/// A `RequestOp` of a txn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// A range read (its revision, checked against the store; its range,
    /// checked against the user's permissions with auth on).
    Range {
        /// `RangeRequest.key`.
        key: &'a [u8],
        /// `RangeRequest.range_end`.
        range_end: &'a [u8],
        /// `RangeRequest.revision`.
        revision: i64,
    },
    /// A put.
    Put(Put<'a>),
    /// A delete range.
    Delete(DeleteRange<'a>),
    /// A nested txn.
    Txn(Txn<'a>),
    /// An empty op.
    Empty,
}

/// `TxnRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn<'a> {
    /// Compares.
    pub compare: Vec<Compare<'a>>,
    /// Ops when every compare holds.
    pub success: Vec<Op<'a>>,
    /// Ops otherwise.
    pub failure: Vec<Op<'a>>,
}

/// `AlarmRequest.action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmAction {
    /// Read.
    Get,
    /// Raise.
    Activate,
    /// Clear.
    Deactivate,
}

/// What one raft request does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// A v2 request, or an entry that is no v3 request: no v3 effect.
    V2,
    /// A range read: no effect.
    Range,
    /// Put.
    Put(Put<'a>),
    /// Delete range.
    Delete(DeleteRange<'a>),
    /// Txn.
    Txn(Txn<'a>),
    /// Compaction to a revision.
    Compaction {
        /// The revision.
        revision: i64,
    },
    /// Lease grant.
    LeaseGrant {
        /// Lease id.
        id: i64,
        /// Requested TTL.
        ttl: i64,
    },
    /// Lease revoke.
    LeaseRevoke {
        /// Lease id.
        id: i64,
    },
    /// Lease checkpoints (remaining TTLs, kept in memory by etcd 3.4/3.5).
    LeaseCheckpoint,
    /// An alarm.
    Alarm {
        /// Action.
        action: AlarmAction,
        /// Member.
        member: u64,
        /// 0 NONE, 1 NOSPACE, 2 CORRUPT.
        alarm: i32,
    },
    /// Auth on.
    AuthEnable,
    /// Auth off.
    AuthDisable,
    /// A change to users or roles.
    AuthChange(super::auth::AuthOp),
    /// Another auth request (field number), or one that did not decode.
    Auth(u32),
    /// A read-only auth request (authenticate, status, get, list).
    AuthRead,
    /// `ClusterVersionSetRequest`.
    ClusterVersion(&'a [u8]),
    /// Member attributes (3.5): the members bucket.
    MemberAttr,
    /// Downgrade info (3.5).
    Downgrade,
}

/// `RequestHeader`: who asked, and at which auth revision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header<'a> {
    /// User name.
    pub username: &'a [u8],
    /// Auth revision the request was checked at.
    pub auth_revision: u64,
}

fn put(buf: &[u8]) -> Result<Put<'_>, PbError> {
    let mut p = Put::default();
    let mut f = Fields::new(buf);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => p.key = v.bytes("Put.key")?,
            2 => p.value = v.bytes("Put.value")?,
            3 => p.lease = v.int64("Put.lease")?,
            4 => p.prev_kv = v.bool("Put.prev_kv")?,
            5 => p.ignore_value = v.bool("Put.ignore_value")?,
            6 => p.ignore_lease = v.bool("Put.ignore_lease")?,
            _ => {}
        }
    }
    Ok(p)
}

fn delete(buf: &[u8]) -> Result<DeleteRange<'_>, PbError> {
    let mut d = DeleteRange::default();
    for_each(buf, |n, v| {
        match n {
            1 => d.key = v.bytes("DeleteRange.key")?,
            2 => d.range_end = v.bytes("DeleteRange.range_end")?,
            3 => d.prev_kv = v.bool("DeleteRange.prev_kv")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(d)
}

fn compare(buf: &[u8]) -> Result<Compare<'_>, PbError> {
    let mut c = Compare {
        result: CmpResult::Equal,
        target: Target::Version,
        key: &[],
        range_end: &[],
        number: 0,
        value: &[],
    };
    // Go keeps the last of the oneof fields seen; a target whose field is
    // absent compares with zero (or the empty value).
    for_each(buf, |n, v| {
        match n {
            1 => {
                c.result = match v.varint("Compare.result")? {
                    0 => CmpResult::Equal,
                    1 => CmpResult::Greater,
                    2 => CmpResult::Less,
                    3 => CmpResult::NotEqual,
                    x => return Err(PbError(format!("Compare.result {x}"))),
                }
            }
            2 => {
                c.target = match v.varint("Compare.target")? {
                    0 => Target::Version,
                    1 => Target::Create,
                    2 => Target::Mod,
                    3 => Target::Value,
                    4 => Target::Lease,
                    x => return Err(PbError(format!("Compare.target {x}"))),
                }
            }
            3 => c.key = v.bytes("Compare.key")?,
            4..=6 | 8 => {
                c.number = v.int64("Compare number")?;
                c.value = &[];
            }
            7 => {
                c.value = v.bytes("Compare.value")?;
                c.number = 0;
            }
            64 => c.range_end = v.bytes("Compare.range_end")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(c)
}

/// How deep txns may nest (etcd bounds requests by size, not depth; this
/// bounds the recursion on a damaged entry).
const MAX_TXN_DEPTH: u32 = 64;

fn op(buf: &[u8], depth: u32) -> Result<Op<'_>, PbError> {
    let mut out = Op::Empty;
    let mut f = Fields::new(buf);
    while let Some((n, v)) = f.next_field()? {
        out = match n {
            1 => {
                let (mut key, mut range_end, mut revision) = (&[][..], &[][..], 0);
                for_each(v.bytes("RequestOp.request_range")?, |n, v| {
                    match n {
                        1 => key = v.bytes("Range.key")?,
                        2 => range_end = v.bytes("Range.range_end")?,
                        4 => revision = v.int64("Range.revision")?,
                        _ => {}
                    }
                    Ok(())
                })?;
                Op::Range {
                    key,
                    range_end,
                    revision,
                }
            }
            2 => Op::Put(put(v.bytes("RequestOp.request_put")?)?),
            3 => Op::Delete(delete(v.bytes("RequestOp.request_delete_range")?)?),
            4 => Op::Txn(txn(v.bytes("RequestOp.request_txn")?, depth + 1)?),
            _ => out,
        };
    }
    Ok(out)
}

fn txn(buf: &[u8], depth: u32) -> Result<Txn<'_>, PbError> {
    if depth > MAX_TXN_DEPTH {
        return Err(PbError(format!("txns nested deeper than {MAX_TXN_DEPTH}")));
    }
    let mut t = Txn::default();
    let mut f = Fields::new(buf);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => t.compare.push(compare(v.bytes("Txn.compare")?)?),
            2 => t.success.push(op(v.bytes("Txn.success")?, depth)?),
            3 => t.failure.push(op(v.bytes("Txn.failure")?, depth)?),
            _ => {}
        }
    }
    Ok(t)
}

fn first_varint(buf: &[u8], field: u32, name: &str) -> Result<u64, PbError> {
    let mut out = 0;
    for_each(buf, |n, v| {
        if n == field {
            out = v.varint(name)?;
        }
        Ok(())
    })?;
    Ok(out)
}

/// Decodes the data of a normal entry. An entry that is not a v3 request
/// (a v2 request, or bytes that do not decode) is [`Request::V2`], as etcd
/// falls back to the v2 applier for it.
pub fn decode(data: &[u8]) -> (Header<'_>, Request<'_>) {
    decode_strict(data).unwrap_or((Header::default(), Request::V2))
}

fn decode_strict(data: &[u8]) -> Result<(Header<'_>, Request<'_>), PbError> {
    let mut header = Header::default();
    let mut req: Option<Request<'_>> = None;
    let mut v2 = false;
    let mut f = Fields::new(data);
    while let Some((n, v)) = f.next_field()? {
        let r = match n {
            100 => {
                for_each(v.bytes("header")?, |n, v| {
                    match n {
                        2 => header.username = v.bytes("header.username")?,
                        3 => header.auth_revision = v.varint("header.auth_revision")?,
                        _ => {}
                    }
                    Ok(())
                })?;
                continue;
            }
            1 => continue,
            2 => {
                v2 = true;
                continue;
            }
            3 => Request::Range,
            4 => Request::Put(put(v.bytes("put")?)?),
            5 => Request::Delete(delete(v.bytes("delete_range")?)?),
            6 => Request::Txn(txn(v.bytes("txn")?, 0)?),
            7 => Request::Compaction {
                revision: first_varint(v.bytes("compaction")?, 1, "Compaction.revision")? as i64,
            },
            8 => {
                let b = v.bytes("lease_grant")?;
                Request::LeaseGrant {
                    ttl: first_varint(b, 1, "LeaseGrant.TTL")? as i64,
                    id: first_varint(b, 2, "LeaseGrant.ID")? as i64,
                }
            }
            9 => Request::LeaseRevoke {
                id: first_varint(v.bytes("lease_revoke")?, 1, "LeaseRevoke.ID")? as i64,
            },
            10 => {
                let b = v.bytes("alarm")?;
                let action = match first_varint(b, 1, "Alarm.action")? {
                    0 => AlarmAction::Get,
                    1 => AlarmAction::Activate,
                    2 => AlarmAction::Deactivate,
                    x => return Err(PbError(format!("Alarm.action {x}"))),
                };
                Request::Alarm {
                    action,
                    member: first_varint(b, 2, "Alarm.memberID")?,
                    alarm: first_varint(b, 3, "Alarm.alarm")? as i32,
                }
            }
            11 => Request::LeaseCheckpoint,
            1000 => Request::AuthEnable,
            1011 => Request::AuthDisable,
            1012 | 1013 | 1102 | 1106 | 1107 | 1202 => Request::AuthRead,
            1100..=1105 | 1200..=1204 => match super::auth::AuthOp::decode(n, v.bytes("auth")?) {
                Some(op) => Request::AuthChange(op),
                None => Request::Auth(n),
            },
            1300 => {
                let mut ver: &[u8] = &[];
                for_each(v.bytes("cluster_version_set")?, |n, v| {
                    if n == 1 {
                        ver = v.bytes("ClusterVersionSet.ver")?;
                    }
                    Ok(())
                })?;
                Request::ClusterVersion(ver)
            }
            1301 => Request::MemberAttr,
            1302 => Request::Downgrade,
            _ => continue,
        };
        req = Some(r);
    }
    if v2 {
        return Ok((header, Request::V2));
    }
    Ok((header, req.unwrap_or(Request::V2)))
}
