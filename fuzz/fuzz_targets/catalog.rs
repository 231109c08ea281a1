//! Milvus values are untrusted too: fuzzer-chosen values under every key
//! pattern the catalog and the consistency check decode. Neither may
//! panic, loop or allocate without bound; undecodable values are listed.
#![no_main]

const KEYS: &[&str] = &[
    "by-dev/meta/root-coord/database/db-info/1",
    "by-dev/meta/root-coord/database/collection-info/1/7",
    "by-dev/meta/root-coord/collection/8",
    "by-dev/meta/root-coord/fields/7/100",
    "by-dev/meta/root-coord/functions/7/5",
    "by-dev/meta/root-coord/struct-array-fields/7/109",
    "by-dev/meta/root-coord/partitions/7/9",
    "by-dev/meta/root-coord/database/aliases/1/a",
    "by-dev/meta/root-coord/privilege-group/g",
    "by-dev/meta/datacoord-meta/s/7/9/11",
    "by-dev/meta/datacoord-meta/binlog/7/9/11/100",
    "by-dev/meta/datacoord-meta/channel-cp/ch",
    "by-dev/meta/field-index/7/12",
    "by-dev/meta/segment-index/7/9/11/13",
    "by-dev/meta/querycoord-collection-loadinfo/7",
    "by-dev/meta/querycoord-replica/7/14",
    "by-dev/meta/queryCoord-ResourceGroup/rg",
    "by-dev/meta/channelwatch/1/ch",
    "by-dev/meta/session/proxy-1",
    "by-dev/kv/gid/timestamp",
    "by-dev/kv/gid/idTimestamp",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Records: a key index byte, a length byte, that many value bytes.
    let mut kvs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut rest = data;
    while let [k, n, tail @ ..] = rest {
        let n = (*n as usize).min(tail.len());
        let key = KEYS[*k as usize % KEYS.len()];
        kvs.push((key.as_bytes().to_vec(), tail[..n].to_vec()));
        rest = &tail[n..];
    }
    let pairs = || kvs.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
    let cat = milvus_meta::catalog::Catalog::build(pairs());
    assert!(cat.roots.len() <= 1);
    let _ = milvus_meta::check::check(pairs());
});
