//! The salvage path on a real Milvus etcd db with fuzzer-chosen damage:
//! overwritten words, and optionally a truncation. Salvage, its live view
//! and the tolerant walk must end cleanly on anything.
#![no_main]

static FIXTURE: &[u8] = include_bytes!("../../testdata/milvus-2.3.5/small.db");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut file = FIXTURE.to_vec();
    let (cut, rest) = match data.split_first() {
        Some((c, r)) => (*c, r),
        None => (0, data),
    };
    for chunk in rest.chunks_exact(12) {
        let off = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize % file.len();
        let end = (off + 8).min(file.len());
        file[off..end].copy_from_slice(&chunk[4..4 + end - off]);
    }
    if cut > 200 {
        file.truncate(file.len() * usize::from(cut - 200) / 56);
    }
    if let Ok(mut s) = etcd_store::salvage::salvage(&file) {
        let _ = s.live();
    }
    if let Ok(db) = bbolt::Db::open(&file[..]) {
        let _ = db.walk_salvage(|_| -> bbolt::Result<()> { Ok(()) });
        let _ = db.scan_leaf_pages();
    }
});
