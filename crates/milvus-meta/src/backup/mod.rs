//! The `.bsnap` backup file: self-describing, streamed, compressed,
//! checksummed. Layout (all integers little-endian):
//!
//! ```text
//! offset  size  field
//! 0       8     magic "BSNAP\0\r\n"
//! 8       4     format version (2; 1 is read too)
//! 12      4     manifest length M
//! 16      M     manifest: JSON (see Manifest)
//! 16+M    R     records: the record stream in zstd frames, one after another
//! 16+M+R  56    trailer: "BSNAPEND", record count u64, R u64,
//!               SHA-256 of bytes [0, 16+M+R)
//! ```
//!
//! A record is `varint key length, key, varint value length, value,
//! varint create revision, varint mod revision, varint version`. Records
//! are in key order. The SHA-256 covers everything before the trailer, so
//! a truncation or any flipped byte is detected; the trailer's lengths tie
//! it to the file. See `docs/backup-format.md` for the version history.

mod any;
mod jsonl;
mod read;
mod write;

pub use any::{AnyRecords, BackupFile};
pub use jsonl::{write_jsonl, write_jsonl_view, JsonlReader, JsonlRecords, JSONL_PREFIX};
pub use read::{checksum_matches, explain_error, verify, BackupReader, Records, VerifyReport};
pub use write::BackupWriter;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::select::{ExportOptions, SelectionReport};

/// The magic at the start of every backup.
pub const MAGIC: &[u8; 8] = b"BSNAP\0\r\n";
/// The magic at the start of the trailer.
pub const TRAILER_MAGIC: &[u8; 8] = b"BSNAPEND";
/// Length of the trailer.
pub const TRAILER_LEN: usize = 56;
/// The format version this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 2;
/// Manifests larger than this are refused (they are a few KB).
pub const MAX_MANIFEST: u32 = 64 << 20;
/// Keys and values larger than this are refused when reading.
pub const MAX_FIELD: u64 = 1 << 31;

/// One backed-up key: what `etcdctl get -w json` shows, less the lease.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The etcd key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Revision that created this generation of the key.
    pub create_revision: i64,
    /// Revision of the last change.
    pub mod_revision: i64,
    /// Changes since creation.
    pub version: i64,
}

impl Record {
    /// From a live key of an etcd db.
    pub fn from_live(k: &etcd_store::LiveKey<'_>) -> Record {
        Record {
            key: k.kv.key.to_vec(),
            value: k.kv.value.to_vec(),
            create_revision: k.kv.create_revision,
            mod_revision: k.kv.mod_revision,
            version: k.kv.version,
        }
    }

    /// As an etcd KeyValue (no lease).
    pub fn to_key_value(&self) -> etcd_store::KeyValue {
        etcd_store::KeyValue {
            key: self.key.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            value: self.value.clone(),
            lease: 0,
        }
    }
}

/// Where the backup came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// File name as given.
    pub file_name: String,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
}

/// The JSON manifest at the start of a backup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format version (repeats the header's).
    pub format_version: u32,
    /// The tool that wrote it, e.g. "boltsnap 0.1.0".
    pub tool: String,
    /// UTC time of writing, RFC 3339.
    pub created_at: String,
    /// The db read.
    pub source: SourceInfo,
    /// The revision the export was taken at.
    pub revision: i64,
    /// The source's compact revision (-1: never compacted).
    pub compact_revision: i64,
    /// Milvus roots found in the source.
    pub roots: Vec<String>,
    /// The filters used.
    pub filters: ExportOptions,
    /// Number of records.
    pub records: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
    /// Kept, left out, per root and per Milvus area.
    pub selection: SelectionReport,
    /// Extra, free-form sections (salvage reports), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Today's UTC time as RFC 3339, from the system clock.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
