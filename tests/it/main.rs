//! End-to-end tests of the `boltsnap` binary against the real peers: Go
//! bbolt (the oracle for reading and writing), and later etcd 3.4/3.5.
//!
//! Peers are required when `BOLTSNAP_REQUIRE_PEERS` (set by `.ci/run`) or
//! `CI` is set: a missing peer then fails the test. Plain `cargo test` on a
//! machine without them skips those tests with a loud notice.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bolt_cli;
mod bolt_go;
mod bolt_write;
mod damaged;
mod drill;
mod etcd;
mod layouts;
mod members;
mod milvus;
#[path = "../support/peers.rs"]
mod peers;
mod peers_list;
mod restore;
mod roots;
mod salvage;
mod wal;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

/// Runs `boltsnap ARGS` and returns its output.
pub fn boltsnap<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_boltsnap"))
        .args(args)
        .output()
        .expect("run boltsnap")
}

/// Asserts a clean run and returns stdout.
pub fn ok(out: &Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.clone()
}

/// Runs `boltsnap export DB -o OUT` and asserts it succeeded.
pub fn export_ok(db: &Path, out: &Path) {
    ok(
        &boltsnap([
            "export".as_ref(),
            db.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]),
        "export",
    );
}

/// Runs `boltsnap export DB -o OUT --format jsonl`, asserts it succeeded,
/// and returns the manifest line and the record lines, parsed.
pub fn export_jsonl_ok(db: &Path, out: &Path) -> (serde_json::Value, Vec<serde_json::Value>) {
    ok(
        &boltsnap([
            "export".as_ref(),
            db.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--format".as_ref(),
            "jsonl".as_ref(),
        ]),
        "export jsonl",
    );
    let text = std::fs::read_to_string(out).unwrap();
    let mut lines = text.lines().map(|l| serde_json::from_str(l).unwrap());
    let manifest = lines.next().expect("a manifest line");
    (manifest, lines.collect())
}

/// The `.db` fixtures of a testdata directory, sorted.
pub fn dbs(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(testdata(dir))
        .unwrap_or_else(|e| panic!("testdata/{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    v.sort();
    v
}

pub fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// A test's scratch dir under the system temp dir, removed when the test
/// ends, passed or failed (a panic unwinds through the drop). The etcd data
/// dirs the tests make hold 64 MB preallocated WAL segments each: a CI run
/// that kept them filled the disk of a fresh machine in under five minutes.
/// `BOLTSNAP_KEEP_TMP=1` keeps them for a look after a failure.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("BOLTSNAP_KEEP_TMP").is_some_and(|v| v == "1") {
            eprintln!("kept {} (BOLTSNAP_KEEP_TMP=1)", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tempdir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("boltsnap-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}
