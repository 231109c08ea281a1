//! `boltsnap bolt ...` output equals what the Go tools print for the same
//! files: golden files in testdata/bolt/golden, made by
//! tools/gen-bolt-fixtures.sh with Go bbolt 1.3.6 (`gobolt`) and the
//! boltdb 1.3.1 `bolt` CLI (Debian ships no bbolt CLI). Re-bless with
//! `tools/gen-bolt-fixtures.sh golden testdata/bolt`.

use crate::{boltsnap, ok, tempdir, testdata};

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
    ok(
        &boltsnap([
            "export".as_ref(),
            db.as_os_str(),
            "-o".as_ref(),
            backup.as_os_str(),
        ]),
        "export",
    );
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
    assert!(
        std::fs::read(&db).unwrap() == before,
        "the input db changed"
    );
    assert!(
        std::fs::read(&backup).unwrap() == backup_before,
        "the backup changed"
    );
}
