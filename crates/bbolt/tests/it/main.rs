//! Integration tests of the `bbolt` reader: damaged files, random
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! mutations, cursor semantics. Files written by Go live in
//! `testdata/`; the comparison with Go itself is in the workspace tests.

mod big_endian;
mod corrupt;
mod cursor;
mod mutate;
#[path = "../../../../tests/support/peers.rs"]
#[allow(dead_code)]
mod peers;
pub mod writer;
mod writer_go;

use std::path::PathBuf;

pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = testdata(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every fixture the reader tests run on.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["milvus-2.3.5", "bolt"] {
        let Ok(rd) = std::fs::read_dir(testdata(dir)) else {
            continue;
        };
        let mut names: Vec<_> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names.into_iter().filter(|n| n.ends_with(".db")) {
            let rel = format!("{dir}/{n}");
            out.push((rel.clone(), read(&rel)));
        }
    }
    assert!(out.len() >= 2, "no fixtures found under testdata/");
    out
}

/// Everything a full read visits, as (path, key, value) with bucket lines
/// marked by `None` key.
pub type Flat = Vec<(Vec<Vec<u8>>, Option<Vec<u8>>, Vec<u8>)>;

pub fn flatten<D: AsRef<[u8]>>(db: &bbolt::Db<D>) -> bbolt::Result<Flat> {
    let mut v = Vec::new();
    db.walk(|item| -> bbolt::Result<()> {
        match item {
            bbolt::WalkItem::Bucket { path, sequence, .. } => v.push((
                path.iter().map(|p| p.to_vec()).collect(),
                None,
                sequence.to_le_bytes().to_vec(),
            )),
            bbolt::WalkItem::Pair { path, key, value } => v.push((
                path.iter().map(|p| p.to_vec()).collect(),
                Some(key.to_vec()),
                value.to_vec(),
            )),
        }
        Ok(())
    })?;
    Ok(v)
}
