//! Revision keys of the `key` bucket.
//!
//! | bytes | meaning |
//! |------:|---------|
//! | 0..8  | main revision, u64 big-endian |
//! | 8     | `_` (0x5f) |
//! | 9..17 | sub revision, u64 big-endian |
//! | 17    | `t` (0x74), only on tombstones (deletions) |
//!
//! Big-endian makes bbolt's byte order the (main, sub) order, so the
//! bucket is a log sorted by revision.

use std::fmt;

/// Length of a revision key.
pub const REVISION_KEY_LEN: usize = 17;
/// Length of a tombstone's revision key.
pub const TOMBSTONE_KEY_LEN: usize = 18;

/// A point in etcd's history: the write transaction (`main`) and the
/// change's position inside it (`sub`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// The store revision of the write transaction.
    pub main: i64,
    /// The change's index in the transaction.
    pub sub: i64,
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.main, self.sub)
    }
}

/// A parsed key of the `key` bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RevisionKey {
    /// The revision.
    pub rev: Revision,
    /// Whether the entry records a deletion.
    pub tombstone: bool,
}

impl RevisionKey {
    /// Parses a bucket key; `None` if it is not a valid revision key.
    pub fn parse(b: &[u8]) -> Option<RevisionKey> {
        let tombstone = match b.len() {
            REVISION_KEY_LEN => false,
            TOMBSTONE_KEY_LEN if b.get(17) == Some(&b't') => true,
            _ => return None,
        };
        if b.get(8) != Some(&b'_') {
            return None;
        }
        let main = i64::try_from(u64::from_be_bytes(b.get(0..8)?.try_into().ok()?)).ok()?;
        let sub = i64::try_from(u64::from_be_bytes(b.get(9..17)?.try_into().ok()?)).ok()?;
        Some(RevisionKey {
            rev: Revision { main, sub },
            tombstone,
        })
    }

    /// The bucket key bytes (17, or 18 for a tombstone).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(TOMBSTONE_KEY_LEN);
        v.extend_from_slice(&(self.rev.main as u64).to_be_bytes());
        v.push(b'_');
        v.extend_from_slice(&(self.rev.sub as u64).to_be_bytes());
        if self.tombstone {
            v.push(b't');
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let k = RevisionKey {
            rev: Revision {
                main: 0x0102,
                sub: 3,
            },
            tombstone: false,
        };
        let b = k.encode();
        assert_eq!(b, [0, 0, 0, 0, 0, 0, 1, 2, b'_', 0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(RevisionKey::parse(&b), Some(k));
        let t = RevisionKey {
            tombstone: true,
            ..k
        };
        assert_eq!(RevisionKey::parse(&t.encode()), Some(t));
        let mut bad = b.clone();
        bad[8] = b'-';
        assert_eq!(RevisionKey::parse(&bad), None);
        let mut bad = t.encode();
        bad[17] = b'x';
        assert_eq!(RevisionKey::parse(&bad), None);
        assert_eq!(RevisionKey::parse(&b[..16]), None);
        let mut neg = b.clone();
        neg[0] = 0x80;
        assert_eq!(RevisionKey::parse(&neg), None, "negative main revision");
    }
}
