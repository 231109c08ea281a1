//! Reading WAL segments as a restarting etcd does, without writing them.
//!
//! Segments are given as byte slices (memory maps in the CLI); entries
//! borrow from them. Reading stops at the first thing that is not a valid
//! record and says where and why ([`Stop`]): etcd's own rules decide
//! whether that is the normal end, a torn last write (the log simply ends
//! there), or damage (what follows is lost).

use std::fmt;

use super::pb::{for_each, PbError};

/// Frames start on this boundary.
const FRAME_ALIGN: u64 = 8;
/// etcd checks for torn writes per sector of this size (file offsets).
const SECTOR: u64 = 512;

/// Record types of `walpb.Record`.
pub mod record_type {
    /// `etcdserverpb.Metadata`: node and cluster id.
    pub const METADATA: i64 = 1;
    /// A `raftpb.Entry`.
    pub const ENTRY: i64 = 2;
    /// A `raftpb.HardState`.
    pub const STATE: i64 = 3;
    /// The running CRC at the end of the previous segment.
    pub const CRC: i64 = 4;
    /// A `walpb.Snapshot`: index and term of a raft snapshot.
    pub const SNAPSHOT: i64 = 5;
}

/// One WAL segment file, `<seq>-<index>.wal` (16 hex digits each).
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Sequence number from the name.
    pub seq: u64,
    /// Raft index of the first entry the segment was made for.
    pub index: u64,
    /// The file's bytes (a preallocated segment has a zero tail).
    pub bytes: &'a [u8],
}

/// Parses a segment file name; `None` for every other file (spares such as
/// `0.tmp`, `*.wal.broken` backups, anything else).
pub fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (a, b) = stem.split_once('-')?;
    let hex16 = |s: &str| {
        (s.len() == 16 && s.bytes().all(|c| c.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
    };
    Some((hex16(a)?, hex16(b)?))
}

/// The name etcd gives segment `seq` starting at `index`.
pub fn segment_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.wal")
}

/// `raftpb.EntryType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum EntryType {
    /// A client request (or a leader's empty no-op).
    Normal,
    /// A membership change (v1).
    ConfChange,
    /// A membership change (v2, joint consensus).
    ConfChangeV2,
    /// A type this reader does not know.
    Other(u64),
}

/// One raft entry, its data borrowing from the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Raft term.
    pub term: u64,
    /// Raft index.
    pub index: u64,
    /// Entry type.
    pub kind: EntryType,
    /// The payload (an `InternalRaftRequest` for normal entries).
    pub data: &'a [u8],
}

/// `raftpb.HardState`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HardState {
    /// Current term.
    pub term: u64,
    /// Vote in that term.
    pub vote: u64,
    /// Highest index known committed (may lag what was acknowledged:
    /// a state that only moves `commit` is not synced on its own).
    pub commit: u64,
}

/// `walpb.Snapshot`: where a raft snapshot was taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct SnapshotMark {
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
}

/// `etcdserverpb.Metadata` of the WAL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WalMetadata {
    /// This member's id.
    pub node_id: u64,
    /// The cluster's id.
    pub cluster_id: u64,
}

/// Where and why reading stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stop {
    #[default]
    /// Every selected segment was read to its end (or to a zero length
    /// word, etcd's end of the written part).
    End,
    /// The last record of the last segment was cut short or partly zero:
    /// a write that never completed. The log ends before it, as etcd ends
    /// it (etcd never acknowledged that record).
    TornTail {
        /// Segment index in [`WalLog::segments`].
        segment: usize,
        /// File offset of the frame.
        offset: u64,
    },
    /// A record that fails its CRC or does not decode, not at the torn
    /// tail: everything from here on is lost (etcd refuses to start).
    Corrupt {
        /// Segment index in [`WalLog::segments`].
        segment: usize,
        /// File offset of the frame.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// The segment sequence has a hole: segments after it are not read.
    Gap {
        /// The last sequence number read.
        after_seq: u64,
        /// The sequence number found next.
        next_seq: u64,
    },
}

impl Stop {
    /// True for the normal end and a torn tail (nothing acknowledged lost).
    pub fn is_clean(&self) -> bool {
        matches!(self, Stop::End | Stop::TornTail { .. })
    }
}

/// What one segment gave.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SegmentReport {
    /// Sequence number.
    pub seq: u64,
    /// First index it was made for.
    pub index: u64,
    /// Valid records read.
    pub records: u64,
    /// Bytes of valid frames (where the written part ends).
    pub valid_bytes: u64,
    /// File length.
    pub file_bytes: u64,
}

/// A problem that makes the WAL unusable as a whole (etcd would refuse to
/// start), named with the segment and offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalError {
    /// No segment to start from at or below the snapshot index.
    NoSegment {
        /// The snapshot index to start from.
        index: u64,
    },
    /// Two metadata records differ.
    MetadataConflict {
        /// Segment index.
        segment: usize,
        /// File offset.
        offset: u64,
    },
    /// The WAL's snapshot record for the start index has another term.
    SnapshotMismatch {
        /// The snapshot the read started from.
        start: SnapshotMark,
        /// The term the WAL holds for that index.
        wal_term: u64,
    },
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::NoSegment { index } => write!(f, "no WAL segment starts at or below index {index}"),
            WalError::MetadataConflict { segment, offset } => write!(
                f,
                "segment {segment}, offset {offset}: the WAL metadata (node and cluster id) differs from the first segment's"
            ),
            WalError::SnapshotMismatch { start, wal_term } => write!(
                f,
                "the raft snapshot at index {} has term {}, but the WAL's snapshot record for that index has term {wal_term}",
                start.index, start.term
            ),
        }
    }
}

impl std::error::Error for WalError {}

/// The log as a restart would read it.
#[derive(Clone, Debug, Default)]
pub struct WalLog<'a> {
    /// The segments read, in order (index into the slice given, and what
    /// each gave).
    pub segments: Vec<SegmentReport>,
    /// The WAL's metadata (node and cluster id).
    pub metadata: Option<WalMetadata>,
    /// The last HardState read.
    pub hard_state: HardState,
    /// The entries above the start snapshot, in index order, a later
    /// record for an index having replaced the earlier one and everything
    /// after it.
    pub entries: Vec<Entry<'a>>,
    /// Every snapshot record read.
    pub snapshots: Vec<SnapshotMark>,
    /// Whether a snapshot record matched the start (always for {0, 0}).
    pub start_found: bool,
    /// The snapshot the read started from.
    pub start: SnapshotMark,
    /// Entries replaced by a later record for the same index.
    pub replaced: u64,
    /// Where and why reading stopped.
    pub stop: Stop,
}

fn decode_record(buf: &[u8]) -> Result<(i64, u32, &[u8]), PbError> {
    let (mut kind, mut crc, mut data) = (0i64, 0u32, &[][..]);
    for_each(buf, |n, v| {
        match n {
            1 => kind = v.int64("Record.type")?,
            2 => crc = v.varint("Record.crc")? as u32,
            3 => data = v.bytes("Record.data")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((kind, crc, data))
}

/// Decodes a `raftpb.Entry`.
pub fn decode_entry(buf: &[u8]) -> Result<Entry<'_>, PbError> {
    let mut e = Entry {
        term: 0,
        index: 0,
        kind: EntryType::Normal,
        data: &[],
    };
    for_each(buf, |n, v| {
        match n {
            1 => {
                e.kind = match v.varint("Entry.Type")? {
                    0 => EntryType::Normal,
                    1 => EntryType::ConfChange,
                    2 => EntryType::ConfChangeV2,
                    t => EntryType::Other(t),
                }
            }
            2 => e.term = v.varint("Entry.Term")?,
            3 => e.index = v.varint("Entry.Index")?,
            4 => e.data = v.bytes("Entry.Data")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(e)
}

/// Decodes a `raftpb.HardState`.
pub fn decode_hard_state(buf: &[u8]) -> Result<HardState, PbError> {
    let mut s = HardState::default();
    for_each(buf, |n, v| {
        match n {
            1 => s.term = v.varint("HardState.term")?,
            2 => s.vote = v.varint("HardState.vote")?,
            3 => s.commit = v.varint("HardState.commit")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

/// Decodes a `walpb.Snapshot` (index and term; the conf state of 3.5+ is
/// not needed here).
pub fn decode_snapshot_mark(buf: &[u8]) -> Result<SnapshotMark, PbError> {
    let mut s = SnapshotMark::default();
    for_each(buf, |n, v| {
        match n {
            1 => s.index = v.varint("Snapshot.index")?,
            2 => s.term = v.varint("Snapshot.term")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

fn decode_metadata(buf: &[u8]) -> Result<WalMetadata, PbError> {
    let mut m = WalMetadata::default();
    for_each(buf, |n, v| {
        match n {
            1 => m.node_id = v.varint("Metadata.NodeID")?,
            2 => m.cluster_id = v.varint("Metadata.ClusterID")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(m)
}

/// One decoded frame.
struct Frame<'a> {
    kind: i64,
    crc: u32,
    data: &'a [u8],
    /// Offset of the next frame.
    next: u64,
}

/// Why a frame could not be read.
enum FrameEnd {
    /// End of file or a zero length word: the segment's end.
    End,
    /// Cut short, or invalid with a zeroed sector, in the last segment.
    Torn,
    /// Invalid.
    Bad(String),
}

/// The decoder: frames across segments with the running CRC.
struct Decoder<'s, 'a> {
    segments: &'s [Segment<'a>],
    crc: u32,
}

fn zero_sector(bytes: &[u8], start: u64) -> bool {
    // Split at file offsets that are multiples of SECTOR; any all-zero
    // piece marks a write that never reached the disk.
    let mut off = start;
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = ((SECTOR - off % SECTOR) as usize).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        if piece.iter().all(|&b| b == 0) {
            return true;
        }
        rest = tail;
        off += n as u64;
    }
    false
}

impl<'a> Decoder<'_, 'a> {
    /// Reads the frame at `off` of segment `seg`.
    fn frame(&mut self, seg: usize, off: u64, last: bool) -> Result<Frame<'a>, FrameEnd> {
        let bytes = self.segments.get(seg).map_or(&[][..], |s| s.bytes);
        let len = bytes.len() as u64;
        if off + 8 > len {
            // etcd reads the length word with binary.Read: a partial word
            // is an unexpected EOF, no word at all is the end.
            return if off >= len
                || bytes
                    .get(off as usize..)
                    .is_some_and(|r| r.iter().all(|&b| b == 0))
            {
                Err(FrameEnd::End)
            } else if last {
                Err(FrameEnd::Torn)
            } else {
                Err(FrameEnd::Bad("segment ends inside a length word".into()))
            };
        }
        let word_bytes = bytes
            .get(off as usize..off as usize + 8)
            .unwrap_or_default();
        let mut w = [0u8; 8];
        w.copy_from_slice(word_bytes);
        let word = u64::from_le_bytes(w);
        if word == 0 {
            return Err(FrameEnd::End);
        }
        let rec_len = word & 0x00FF_FFFF_FFFF_FFFF;
        let pad = if word >> 63 == 1 { (word >> 56) & 7 } else { 0 };
        let body = off + 8;
        let Some(end) = body.checked_add(rec_len).and_then(|e| e.checked_add(pad)) else {
            return Err(if last {
                FrameEnd::Torn
            } else {
                FrameEnd::Bad("frame length overflows".into())
            });
        };
        if end > len {
            return Err(if last {
                FrameEnd::Torn
            } else {
                FrameEnd::Bad(format!(
                    "a frame of {rec_len} bytes runs past the end of the segment"
                ))
            });
        }
        let framed = bytes.get(body as usize..end as usize).unwrap_or_default();
        let rec = framed.get(..rec_len as usize).unwrap_or_default();
        let torn = |what: String| {
            if last && zero_sector(framed, body) {
                FrameEnd::Torn
            } else {
                FrameEnd::Bad(what)
            }
        };
        let (kind, crc, data) =
            decode_record(rec).map_err(|e| torn(format!("undecodable record: {e}")))?;
        if kind != record_type::CRC {
            let running = crc32c::crc32c_append(self.crc, data);
            if running != crc {
                return Err(torn(format!(
                    "CRC mismatch: the record says {crc:08x}, its data gives {running:08x}"
                )));
            }
            self.crc = running;
        }
        Ok(Frame {
            kind,
            crc,
            data,
            next: end.div_ceil(FRAME_ALIGN) * FRAME_ALIGN,
        })
    }
}

/// Reads the WAL from the segment a restart at snapshot `start` would
/// begin with. `segments` must be every `.wal` file of the directory, in
/// name order.
pub fn read<'a>(segments: &[Segment<'a>], start: SnapshotMark) -> Result<WalLog<'a>, WalError> {
    let first = segments
        .iter()
        .rposition(|s| s.index <= start.index)
        .ok_or(WalError::NoSegment { index: start.index })?;
    read_from(segments, first, start, true)
}

/// [`read`] from segment `first` on. Without `entries` the entry records
/// are framed and CRC-checked but neither decoded nor kept: the scan for
/// snapshot records and the last HardState, which etcd makes over every
/// segment, whatever index the oldest one starts at.
fn read_from<'a>(
    segments: &[Segment<'a>],
    first: usize,
    start: SnapshotMark,
    entries: bool,
) -> Result<WalLog<'a>, WalError> {
    let mut log = WalLog {
        start,
        start_found: start == SnapshotMark::default(),
        stop: Stop::End,
        ..WalLog::default()
    };
    let chosen = segments.get(first..).unwrap_or_default();
    // Segments after a hole in the sequence are not read.
    let mut upto = chosen.len();
    for (i, w) in chosen.windows(2).enumerate() {
        if let [a, b] = w {
            if b.seq != a.seq.wrapping_add(1) {
                log.stop = Stop::Gap {
                    after_seq: a.seq,
                    next_seq: b.seq,
                };
                upto = i + 1;
                break;
            }
        }
    }
    let chosen = chosen.get(..upto).unwrap_or_default();
    let gap = log.stop.clone();
    let mut dec = Decoder {
        segments: chosen,
        crc: 0,
    };
    let mut metadata_raw: Option<&[u8]> = None;
    'segments: for (si, seg) in chosen.iter().enumerate() {
        let last = si + 1 == chosen.len();
        let mut rep = SegmentReport {
            seq: seg.seq,
            index: seg.index,
            file_bytes: seg.bytes.len() as u64,
            ..SegmentReport::default()
        };
        let mut off = 0u64;
        loop {
            let f = match dec.frame(si, off, last) {
                Ok(f) => f,
                Err(FrameEnd::End) => break,
                Err(FrameEnd::Torn) => {
                    log.stop = Stop::TornTail {
                        segment: si,
                        offset: off,
                    };
                    log.segments.push(rep);
                    break 'segments;
                }
                Err(FrameEnd::Bad(what)) => {
                    log.stop = Stop::Corrupt {
                        segment: si,
                        offset: off,
                        what,
                    };
                    log.segments.push(rep);
                    break 'segments;
                }
            };
            let bad = |what: String| Stop::Corrupt {
                segment: si,
                offset: off,
                what,
            };
            match f.kind {
                record_type::ENTRY if !entries => {}
                record_type::ENTRY => match decode_entry(f.data) {
                    Ok(e) => {
                        if e.index > start.index {
                            let up = e.index - start.index - 1;
                            if up > log.entries.len() as u64 {
                                log.stop = bad(format!(
                                    "entry {} follows entry {}: entries are missing",
                                    e.index,
                                    start.index + log.entries.len() as u64
                                ));
                                log.segments.push(rep);
                                break 'segments;
                            }
                            let up = up as usize;
                            if up < log.entries.len() {
                                log.replaced += (log.entries.len() - up) as u64;
                                log.entries.truncate(up);
                            }
                            log.entries.push(e);
                        }
                    }
                    Err(e) => {
                        log.stop = bad(format!("undecodable entry: {e}"));
                        log.segments.push(rep);
                        break 'segments;
                    }
                },
                record_type::STATE => match decode_hard_state(f.data) {
                    Ok(s) => log.hard_state = s,
                    Err(e) => {
                        log.stop = bad(format!("undecodable HardState: {e}"));
                        log.segments.push(rep);
                        break 'segments;
                    }
                },
                record_type::METADATA => {
                    if let Some(m) = metadata_raw {
                        if m != f.data {
                            return Err(WalError::MetadataConflict {
                                segment: si,
                                offset: off,
                            });
                        }
                    } else {
                        metadata_raw = Some(f.data);
                        log.metadata = decode_metadata(f.data).ok();
                    }
                }
                record_type::CRC => {
                    if dec.crc != 0 && dec.crc != f.crc {
                        log.stop = bad(format!(
                            "CRC chain broken: the segment starts from {:08x}, the previous one ended at {:08x}",
                            f.crc, dec.crc
                        ));
                        log.segments.push(rep);
                        break 'segments;
                    }
                    dec.crc = f.crc;
                }
                record_type::SNAPSHOT => match decode_snapshot_mark(f.data) {
                    Ok(s) => {
                        if s.index == start.index {
                            if s.term != start.term {
                                return Err(WalError::SnapshotMismatch {
                                    start,
                                    wal_term: s.term,
                                });
                            }
                            log.start_found = true;
                        }
                        log.snapshots.push(s);
                    }
                    Err(e) => {
                        log.stop = bad(format!("undecodable snapshot record: {e}"));
                        log.segments.push(rep);
                        break 'segments;
                    }
                },
                t => {
                    log.stop = bad(format!("unknown record type {t}"));
                    log.segments.push(rep);
                    break 'segments;
                }
            }
            rep.records += 1;
            rep.valid_bytes = f.next.min(rep.file_bytes);
            off = f.next;
        }
        log.segments.push(rep);
    }
    if log.stop == Stop::End {
        log.stop = gap;
    }
    Ok(log)
}

/// The snapshot records of the whole WAL that a restart may start from:
/// those at or below the last HardState's commit (etcd's
/// `ValidSnapshotEntries`), oldest first. Every segment is read, from the
/// oldest one kept: once etcd has purged old segments the oldest starts
/// above index 0. Reading stops where [`read`] would stop.
pub fn valid_snapshots(segments: &[Segment<'_>]) -> Vec<SnapshotMark> {
    let Ok(log) = read_from(segments, 0, SnapshotMark::default(), false) else {
        return Vec::new();
    };
    let commit = log.hard_state.commit;
    log.snapshots
        .into_iter()
        .filter(|s| s.index <= commit)
        .collect()
}

/// Encoding, for tests and for writers of synthetic WALs (benches, fuzz
/// seeds): frames exactly as etcd writes them.
pub mod encode {
    use super::record_type;

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Appends protobuf field `n` as a varint.
    pub fn field_varint(out: &mut Vec<u8>, n: u32, v: u64) {
        varint(out, u64::from(n) << 3);
        varint(out, v);
    }

    /// Appends protobuf field `n` as length-delimited bytes.
    pub fn field_bytes(out: &mut Vec<u8>, n: u32, b: &[u8]) {
        varint(out, (u64::from(n) << 3) | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    /// A `raftpb.Entry` (normal).
    pub fn entry(term: u64, index: u64, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 24);
        field_varint(&mut out, 1, 0);
        field_varint(&mut out, 2, term);
        field_varint(&mut out, 3, index);
        field_bytes(&mut out, 4, data);
        out
    }

    /// A snapshot record's data (walpb.Snapshot: index, term).
    pub fn snapshot_mark(index: u64, term: u64) -> Vec<u8> {
        let mut out = Vec::new();
        field_varint(&mut out, 1, index);
        field_varint(&mut out, 2, term);
        out
    }

    /// A `raftpb.HardState`.
    pub fn hard_state(term: u64, vote: u64, commit: u64) -> Vec<u8> {
        let mut out = Vec::new();
        field_varint(&mut out, 1, term);
        field_varint(&mut out, 2, vote);
        field_varint(&mut out, 3, commit);
        out
    }

    /// Appends WAL frames, keeping the running CRC.
    #[derive(Debug, Default)]
    pub struct WalWriter {
        /// The segment bytes so far.
        pub buf: Vec<u8>,
        crc: u32,
    }

    impl WalWriter {
        /// A segment that continues from `crc` (0 for the first segment):
        /// starts with the crc record and the metadata record.
        pub fn new(crc: u32, node_id: u64, cluster_id: u64) -> Self {
            let mut w = WalWriter {
                buf: Vec::new(),
                crc,
            };
            w.record(record_type::CRC, None, crc);
            let mut meta = Vec::new();
            field_varint(&mut meta, 1, node_id);
            field_varint(&mut meta, 2, cluster_id);
            w.push(record_type::METADATA, &meta);
            w
        }

        /// The running CRC (what the next segment's crc record carries).
        pub fn crc(&self) -> u32 {
            self.crc
        }

        /// Appends a record of `kind` with `data`.
        pub fn push(&mut self, kind: i64, data: &[u8]) {
            self.crc = crc32c::crc32c_append(self.crc, data);
            self.record(kind, Some(data), self.crc);
        }

        fn record(&mut self, kind: i64, data: Option<&[u8]>, crc: u32) {
            let mut rec = Vec::with_capacity(data.map_or(0, |d| d.len()) + 16);
            field_varint(&mut rec, 1, kind as u64);
            field_varint(&mut rec, 2, u64::from(crc));
            if let Some(d) = data {
                field_bytes(&mut rec, 3, d);
            }
            let pad = (8 - rec.len() % 8) % 8;
            let mut word = rec.len() as u64;
            if pad != 0 {
                word |= (0x80 | pad as u64) << 56;
            }
            self.buf.extend_from_slice(&word.to_le_bytes());
            self.buf.extend_from_slice(&rec);
            self.buf.resize(self.buf.len() + pad, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = WalWriter::new(0, 1, 2);
        w.push(record_type::SNAPSHOT, &[]);
        for i in 1..=5u64 {
            w.push(
                record_type::ENTRY,
                &entry(1, i, format!("data-{i}").as_bytes()),
            );
            w.push(record_type::STATE, &hard_state(1, 1, i));
        }
        w.buf
    }

    fn seg(bytes: &[u8]) -> [Segment<'_>; 1] {
        [Segment {
            seq: 0,
            index: 0,
            bytes,
        }]
    }

    #[test]
    fn reads_what_it_writes() {
        let mut b = sample();
        b.resize(b.len() + 4096, 0);
        let log = read(&seg(&b), SnapshotMark::default()).unwrap();
        assert_eq!(log.stop, Stop::End);
        assert_eq!(log.entries.len(), 5);
        assert_eq!(log.entries[4].data, b"data-5");
        assert_eq!(log.hard_state.commit, 5);
        assert_eq!(
            log.metadata,
            Some(WalMetadata {
                node_id: 1,
                cluster_id: 2
            })
        );
    }

    #[test]
    fn a_cut_tail_is_torn_and_a_flipped_byte_is_corrupt() {
        let b = sample();
        let cut = &b[..b.len() - 3];
        let log = read(&seg(cut), SnapshotMark::default()).unwrap();
        assert!(matches!(log.stop, Stop::TornTail { .. }), "{:?}", log.stop);
        assert_eq!(
            log.entries.len(),
            5,
            "the last HardState is the torn record"
        );
        let mut flipped = b.clone();
        let pos = b.windows(6).position(|w| w == b"data-2").unwrap();
        flipped[pos] ^= 1;
        let log = read(&seg(&flipped), SnapshotMark::default()).unwrap();
        assert!(matches!(log.stop, Stop::Corrupt { .. }), "{:?}", log.stop);
        assert_eq!(log.entries.len(), 1);
    }

    #[test]
    fn a_later_record_replaces_the_tail() {
        let mut w = WalWriter::new(0, 1, 2);
        w.push(record_type::SNAPSHOT, &[]);
        for i in 1..=4u64 {
            w.push(record_type::ENTRY, &entry(1, i, b"old"));
        }
        w.push(record_type::ENTRY, &entry(2, 3, b"new"));
        let log = read(&seg(&w.buf), SnapshotMark::default()).unwrap();
        assert_eq!(log.entries.len(), 3);
        assert_eq!(log.entries[2].data, b"new");
        assert_eq!(log.replaced, 2);
    }

    #[test]
    fn crc_chains_across_segments_and_gaps_stop() {
        let mut a = WalWriter::new(0, 1, 2);
        a.push(record_type::SNAPSHOT, &[]);
        a.push(record_type::ENTRY, &entry(1, 1, b"x"));
        let mut b = WalWriter::new(a.crc(), 1, 2);
        b.push(record_type::ENTRY, &entry(1, 2, b"y"));
        let segs = [
            Segment {
                seq: 0,
                index: 0,
                bytes: &a.buf,
            },
            Segment {
                seq: 1,
                index: 2,
                bytes: &b.buf,
            },
        ];
        let log = read(&segs, SnapshotMark::default()).unwrap();
        assert_eq!((log.entries.len(), log.stop.clone()), (2, Stop::End));
        let bad = WalWriter::new(a.crc() ^ 1, 1, 2);
        let segs = [
            Segment {
                seq: 0,
                index: 0,
                bytes: &a.buf,
            },
            Segment {
                seq: 1,
                index: 2,
                bytes: &bad.buf,
            },
        ];
        assert!(matches!(
            read(&segs, SnapshotMark::default()).unwrap().stop,
            Stop::Corrupt { .. }
        ));
        let segs = [
            Segment {
                seq: 0,
                index: 0,
                bytes: &a.buf,
            },
            Segment {
                seq: 2,
                index: 2,
                bytes: &b.buf,
            },
        ];
        let log = read(&segs, SnapshotMark::default()).unwrap();
        assert_eq!(
            log.stop,
            Stop::Gap {
                after_seq: 0,
                next_seq: 2
            }
        );
        assert_eq!(log.entries.len(), 1);
    }

    #[test]
    fn after_a_purge_the_oldest_segment_starts_above_zero() {
        // etcd keeps the newest --max-wals segments: the oldest one left
        // starts at index 100, its CRC record carries the purged one's CRC.
        let mut w = WalWriter::new(0x1234_5678, 1, 2);
        w.push(record_type::SNAPSHOT, &snapshot_mark(100, 3));
        for i in 101..=103u64 {
            w.push(record_type::ENTRY, &entry(3, i, b"x"));
        }
        w.push(record_type::STATE, &hard_state(3, 1, 103));
        let segs = [Segment {
            seq: 5,
            index: 100,
            bytes: &w.buf,
        }];
        let marks = valid_snapshots(&segs);
        assert_eq!(
            marks,
            vec![SnapshotMark {
                index: 100,
                term: 3
            }]
        );
        let log = read(&segs, marks[0]).unwrap();
        assert!(log.start_found);
        assert_eq!(log.entries.len(), 3);
        assert_eq!(log.entries[0].index, 101);
        assert_eq!(log.stop, Stop::End);
        // No snapshot at or above the oldest segment: nothing to start from.
        assert!(matches!(
            read(&segs, SnapshotMark::default()),
            Err(WalError::NoSegment { index: 0 })
        ));
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_segment_name("0000000000000001-00000000000000ff.wal"),
            Some((1, 255))
        );
        assert_eq!(parse_segment_name("0.tmp"), None);
        assert_eq!(
            parse_segment_name("0000000000000001-00000000000000ff.wal.broken"),
            None
        );
        assert_eq!(
            segment_name(1, 255),
            "0000000000000001-00000000000000ff.wal"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let b = sample();
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] = c[i].wrapping_add(0x41);
            let _ = read(&seg(&c), SnapshotMark::default());
            let _ = read(&seg(&b[..i]), SnapshotMark::default());
        }
    }
}
