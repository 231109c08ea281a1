//! Finding the real peers, failing or skipping loudly when one is missing.
//! Shared by the test crates of the workspace (included with `#[path]`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The repository root, found from the including crate's manifest dir.
pub fn repo_root() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !d.join("tools/gen-bolt-fixtures.sh").exists() {
        if !d.pop() {
            panic!("repository root not found above {}", env!("CARGO_MANIFEST_DIR"));
        }
    }
    d
}

/// Whether a missing peer must fail the test (CI) rather than skip it.
pub fn required() -> bool {
    std::env::var_os("BOLTSNAP_REQUIRE_PEERS").is_some() || std::env::var_os("CI").is_some()
}

fn missing(what: &str, why: &str) -> Option<PathBuf> {
    if required() {
        panic!("required peer missing: {what}: {why} (install it with `bash .ci/run`)");
    }
    eprintln!("\n!!!!!!!! SKIPPED: peer {what} is missing ({why}); run `bash .ci/run` to install the peers !!!!!!!!\n");
    None
}

/// The repo's Go oracle (tools/gobolt, built against Debian's Go bbolt).
pub fn gobolt() -> Option<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = BUILT.get_or_init(|| {
        let root = repo_root();
        let out = Command::new("bash")
            .arg(root.join("tools/gen-bolt-fixtures.sh"))
            .arg("build")
            .current_dir(&root)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let bin = root.join("target/go/gobolt");
        if bin.exists() {
            Ok(bin)
        } else {
            Err("tools/gen-bolt-fixtures.sh build did not produce target/go/gobolt".into())
        }
    });
    match r {
        Ok(p) => Some(p.clone()),
        Err(e) => missing("Go bbolt oracle (golang-go, golang-github-coreos-bbolt-dev)", e.trim()),
    }
}

/// Runs gobolt with arguments; returns (exit code, stdout, stderr).
pub fn run_gobolt(args: &[&std::ffi::OsStr]) -> Option<(i32, Vec<u8>, String)> {
    let bin = gobolt()?;
    let out = Command::new(bin).args(args).output().expect("run gobolt");
    Some((out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned()))
}
