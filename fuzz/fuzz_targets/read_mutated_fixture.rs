//! A real Milvus etcd db with a few fuzzer-chosen 8-byte words overwritten:
//! reaches deep into the tree, where raw random bytes rarely get.
#![no_main]
mod common;

static FIXTURE: &[u8] = include_bytes!("../../testdata/milvus-2.3.5/small.db");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut file = FIXTURE.to_vec();
    // Each 12-byte chunk: a u32 offset and the 8 bytes to write there.
    for chunk in data.chunks_exact(12) {
        let off = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize % file.len();
        let end = (off + 8).min(file.len());
        file[off..end].copy_from_slice(&chunk[4..4 + end - off]);
    }
    common::exercise(&file);
});
