//! `boltsnap bolt ...` output equals what the Go tools print for the same
//! files: golden files in testdata/bolt/golden, made by
//! tools/gen-bolt-fixtures.sh with Go bbolt 1.3.6 (`gobolt`) and the
//! boltdb 1.3.1 `bolt` CLI (Debian ships no bbolt CLI). Re-bless with
//! `tools/gen-bolt-fixtures.sh golden testdata/bolt`.

use crate::{boltsnap, export_ok, ok, tempdir, testdata};

struct Golden {
    file: String,
    args: Vec<String>,
    code: i32,
}

fn goldens() -> Vec<Golden> {
    let list = std::fs::read_to_string(testdata("bolt/golden/COMMANDS")).unwrap();
    list.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "bad COMMANDS line {l:?}");
            let file = cols[0].to_string();
            let stem = file.split('.').next().unwrap();
            let words: Vec<String> = cols[1]
                .split(' ')
                .map(|w| {
                    if w == "FIXTURE" {
                        format!("testdata/bolt/{stem}.db")
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            // Map the Go tool's command to ours.
            let args: Vec<String> = match (words[0].as_str(), words[1].as_str()) {
                ("gobolt", "walk") => ["bolt", "walk", "--json"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(words[2..].iter().cloned())
                    .collect(),
                ("gobolt", "check") | ("bolt", _) => std::iter::once("bolt".to_string())
                    .chain(words[1..].iter().cloned())
                    .collect(),
                other => panic!("unknown golden command {other:?}"),
            };
            Golden {
                file,
                args,
                code: cols[2].parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn outputs_equal_go_goldens() {
    let gs = goldens();
    assert!(gs.len() >= 40, "too few goldens: {}", gs.len());
    let mut failures = Vec::new();
    for g in &gs {
        let args: Vec<String> = g
            .args
            .iter()
            .map(|a| {
                if a.starts_with("testdata/") {
                    crate::root().join(a).display().to_string()
                } else {
                    a.clone()
                }
            })
            .collect();
        let out = boltsnap(&args);
        let want = std::fs::read(testdata(&format!("bolt/golden/{}", g.file))).unwrap();
        if out.status.code() != Some(g.code) || out.stdout != want {
            failures.push(format!(
                "{}: boltsnap {} exit {:?} (want {})\n--- want\n{}\n--- got\n{}{}",
                g.file,
                g.args.join(" "),
                out.status.code(),
                g.code,
                String::from_utf8_lossy(&want[..want.len().min(1500)]),
                String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(1500)]),
                String::from_utf8_lossy(&out.stderr),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} goldens differ:\n{}",
        failures.len(),
        gs.len(),
        failures.join("\n")
    );
}

#[test]
fn get_and_keys_on_nested_buckets() {
    let db = testdata("bolt/nested.db");
    let d = db.to_str().unwrap();
    let out = boltsnap(["bolt", "keys", d, "a"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty());
    // A key that is not there: exit 1 with Go's message.
    let out = boltsnap(["bolt", "get", d, "a", "no-such-key"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("key not found"));
    // A bucket that is not there: exit 2 naming it.
    let out = boltsnap(["bolt", "keys", d, "no-such-bucket"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bucket not found: no-such-bucket"));
}

/// No writing command replaces its input, even with --force: the input db
/// (or backup) is the one copy of the data a user has.
#[test]
fn no_command_writes_over_its_input() {
    let dir = tempdir("own-input");
    let src = testdata("milvus-2.3.5/small.db");
    let db = dir.join("in.db");
    std::fs::copy(&src, &db).unwrap();
    let before = std::fs::read(&db).unwrap();
    // The same file by another name, through a hard link.
    let link = dir.join("link.db");
    std::fs::hard_link(&db, &link).unwrap();
    let backup = dir.join("b.bsnap");
    export_ok(&db, &backup);
    let backup_before = std::fs::read(&backup).unwrap();
    let d = db.as_os_str();
    let l = link.as_os_str();
    let b = backup.as_os_str();
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["export".as_ref(), d, "-o".as_ref(), d, "--force".as_ref()],
        vec!["export".as_ref(), d, "-o".as_ref(), l, "--force".as_ref()],
        vec![
            "bolt".as_ref(),
            "compact".as_ref(),
            d,
            d,
            "--force".as_ref(),
        ],
        vec![
            "bolt".as_ref(),
            "surgery".as_ref(),
            "revert-meta".as_ref(),
            d,
            "--output".as_ref(),
            l,
            "--force".as_ref(),
        ],
        vec![
            "restore".as_ref(),
            b,
            "--snapshot".as_ref(),
            b,
            "--force".as_ref(),
        ],
    ];
    for args in cases {
        let out = boltsnap(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("never replaces its input"), "{args:?}: {err}");
    }
    // Standard output redirected into the input (`-o - >> in.db`).
    let appending = std::fs::OpenOptions::new().append(true).open(&db).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boltsnap"))
        .args(["export".as_ref(), d, "-o".as_ref(), "-".as_ref()])
        .stdout(appending)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "-o - into the input: {err}");
    assert!(err.contains("never writes its input"), "{err}");
    assert!(
        std::fs::read(&db).unwrap() == before,
        "the input db changed"
    );
    assert!(
        std::fs::read(&backup).unwrap() == backup_before,
        "the backup changed"
    );
}

/// A db whose last bytes happen to read like a backup's trailer is still a
/// db, and a backup given where a db is expected is named as a backup.
#[test]
fn backups_and_dbs_are_told_apart() {
    let dir = tempdir("tell-apart");
    let mut b = std::fs::read(testdata("milvus-2.3.5/small.db")).unwrap();
    let n = b.len();
    b[n - 56..n - 48].copy_from_slice(b"BSNAPEND");
    let db = dir.join("odd-tail.db");
    std::fs::write(&db, &b).unwrap();
    ok(
        &boltsnap(["inspect".as_ref(), db.as_os_str()]),
        "inspect a db with a trailer-like tail",
    );
    let backup = dir.join("b.bsnap");
    export_ok(&db, &backup);
    let (x, bk) = (dir.join("x.bsnap"), backup.as_os_str());
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["export".as_ref(), bk, "-o".as_ref(), x.as_os_str()],
        vec![
            "export".as_ref(),
            bk,
            "-o".as_ref(),
            x.as_os_str(),
            "--salvage".as_ref(),
        ],
        vec!["inspect".as_ref(), "--salvage".as_ref(), bk],
        vec!["etcd".as_ref(), "status".as_ref(), bk],
        vec!["bolt".as_ref(), "check".as_ref(), bk],
    ];
    for args in cases {
        let out = boltsnap(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("is a boltsnap backup, not a db"),
            "{args:?}: {err}"
        );
    }
}
