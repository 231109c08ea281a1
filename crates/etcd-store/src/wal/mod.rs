//! etcd's write-ahead log and raft snapshot files, read offline.
//!
//! A data dir holds `member/wal/<seq>-<index>.wal` segments (frames of
//! `walpb.Record`, a CRC-32C chain running across segments) and
//! `member/snap/<term>-<index>.snap` raft snapshots. [`reader::read`] reads
//! the log the way a restarting etcd does: from the segment that holds the
//! snapshot's index, entries above it, a later record for an index
//! replacing the tail, stopping where etcd stops ([`Stop`]). The layouts
//! are in `docs/etcd-wal.md` of the repository.
//!
//! ```
//! use etcd_store::wal::{self, encode::WalWriter, record_type, Segment, SnapshotMark};
//! let mut w = WalWriter::new(0, 1, 2);
//! w.push(record_type::SNAPSHOT, &[]);
//! w.push(record_type::ENTRY, &wal::encode::entry(1, 1, b""));
//! let log = wal::read(&[Segment { seq: 0, index: 0, bytes: &w.buf }], SnapshotMark::default())?;
//! assert_eq!(log.entries.len(), 1);
//! # Ok::<(), wal::WalError>(())
//! ```

pub mod pb;
pub mod reader;

pub use reader::{
    decode_entry, encode, parse_segment_name, read, record_type, segment_name, valid_snapshots,
    Entry, EntryType, HardState, Segment, SegmentReport, SnapshotMark, Stop, WalError, WalLog,
    WalMetadata,
};

use pb::for_each;

/// Parses a raft snapshot file name `<term>-<index>.snap`.
pub fn parse_snap_name(name: &str) -> Option<SnapshotMark> {
    let stem = name.strip_suffix(".snap")?;
    let (t, i) = stem.split_once('-')?;
    let hex16 = |s: &str| {
        (s.len() == 16 && s.bytes().all(|c| c.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
    };
    Some(SnapshotMark {
        term: hex16(t)?,
        index: hex16(i)?,
    })
}

/// The index and term a `.snap` file records, after checking its CRC
/// (`snappb.Snapshot { crc, data }`, data a `raftpb.Snapshot`).
pub fn decode_snap_file(bytes: &[u8]) -> Result<SnapshotMark, String> {
    let (mut crc, mut data) = (None, None);
    for_each(bytes, |n, v| {
        match n {
            1 => crc = Some(v.varint("snappb.crc")? as u32),
            2 => data = Some(v.bytes("snappb.data")?),
            _ => {}
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let data = data.ok_or("no data")?;
    let got = crc32c::crc32c(data);
    if crc != Some(got) {
        return Err(format!(
            "CRC mismatch (file says {:08x?}, data gives {got:08x})",
            crc
        ));
    }
    let mut mark = SnapshotMark::default();
    for_each(data, |n, v| {
        if n == 2 {
            for_each(v.bytes("Snapshot.metadata")?, |n, v| {
                match n {
                    2 => mark.index = v.varint("metadata.index")?,
                    3 => mark.term = v.varint("metadata.term")?,
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(mark)
}
