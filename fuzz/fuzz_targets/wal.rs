//! The WAL reader and the replay on a real etcd 3.5.1 data dir (killed
//! with its db behind its WAL) with fuzzer-chosen damage to the segment:
//! overwritten words and optionally a truncation, then the start point,
//! the read, the replay onto the db and the rewritten db, whose live keys
//! must equal the replay's overlay on the db's. Everything must end
//! cleanly; a panic (other than that check), a hang or a huge allocation
//! is a bug.
#![no_main]

use etcd_store::datadir::{self, Until};
use etcd_store::wal::{Segment, SnapshotMark};

static DB: &[u8] = include_bytes!("../../testdata/etcd-wal/3.5.1-killed/member/snap/db");
static WAL: &[u8] =
    include_bytes!("../../testdata/etcd-wal/3.5.1-killed/member/wal/0000000000000000-0000000000000000.wal");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut wal = WAL.to_vec();
    let (cut, rest) = match data.split_first() {
        Some((c, r)) => (*c, r),
        None => (0, data),
    };
    for chunk in rest.chunks_exact(12) {
        let off = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize % wal.len();
        let end = (off + 8).min(wal.len());
        wal[off..end].copy_from_slice(&chunk[4..4 + end - off]);
    }
    if cut > 200 {
        wal.truncate(wal.len() * usize::from(cut - 200) / 56);
    }
    // The raw bytes as a second segment too: the CRC chain and the
    // sequence check across segments.
    let segs = [
        ("0000000000000000-0000000000000000.wal".to_string(), Segment { seq: 0, index: 0, bytes: &wal[..] }),
        ("0000000000000001-0000000000000040.wal".to_string(), Segment { seq: 1, index: 64, bytes: rest }),
    ];
    let n = if cut % 2 == 0 { 1 } else { 2 };
    let plain: Vec<Segment<'_>> = segs[..n].iter().map(|(_, s)| *s).collect();
    let _ = etcd_store::wal::read(&plain, SnapshotMark::default());
    let (start, _) = datadir::start_snapshot(&plain, &[]);
    let Ok(db) = etcd_store::EtcdDb::open(DB) else { return };
    let until = if cut % 3 == 0 { Until::Commit } else { Until::End };
    let Ok(base) = db.live(0) else { return };
    if let Ok((replay, overlay, _report)) =
        datadir::replay_wal_over(&db, &base, &segs[..n], start, until, &Default::default())
    {
        let over = base.clone().overlaid(&overlay);
        let out = std::io::Cursor::new(Vec::new());
        if let Ok(out) = replay.write_db(&db, out) {
            let bytes = out.into_inner();
            if let Ok(d) = etcd_store::EtcdDb::open(&bytes[..]) {
                // The two ways to the state after the replay agree.
                if let Ok(v) = d.live(0) {
                    assert_eq!(v.keys, over.keys);
                    assert_eq!((v.revision, v.compact_revision), (over.revision, over.compact_revision));
                }
            }
        }
    }
});
