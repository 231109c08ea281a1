//! Damaged copies of real Milvus and Go-made files (tools/damage-corpus.py):
//! every command ends cleanly within seconds, and `export --salvage` gets
//! back what survives, never a value it did not find, and announces every
//! key that may be stale.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{boltsnap, ok, tempdir, testdata};

/// The damaged corpus, made in a directory of the caller's own (tests run
/// in parallel).
fn corpus(name: &str) -> (crate::TempDir, Vec<PathBuf>) {
    let dir = tempdir(&format!("corpus-{name}"));
    let srcs = [
        "milvus-2.3.5/two-databases.db",
        "milvus-2.3.5/custom-root.db",
        "bolt/nested.db",
        "bolt/many-keys.db",
    ];
    let out = std::process::Command::new("python3")
        .arg(crate::root().join("tools/damage-corpus.py"))
        .arg(&dir)
        .args(srcs.iter().map(|s| testdata(s)))
        .output()
        .expect("python3 tools/damage-corpus.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    files.sort();
    assert!(files.len() >= 50, "{}", files.len());
    (dir, files)
}

#[test]
fn every_command_ends_cleanly_on_the_corpus() {
    let (dir, files) = corpus("commands");
    let out = dir.join("out");
    for f in &files {
        let fs = f.to_str().unwrap();
        let o = out.to_str().unwrap();
        let mut cmds: Vec<Vec<&str>> = vec![
            vec!["bolt", "check", fs],
            vec!["bolt", "walk", "--json", fs],
            vec!["bolt", "walk", "--json", "--salvage", fs],
            vec!["bolt", "stats", fs],
            vec!["bolt", "pages", fs],
            vec!["bolt", "info", "--json", fs],
        ];
        if fs.contains("two-databases") || fs.contains("custom-root") {
            cmds.extend([
                vec!["etcd", "status", fs],
                vec!["etcd", "ls", "--keys-only", fs],
                vec!["etcd", "ls", "--keys-only", "--salvage", fs],
                vec!["export", fs, "-o", o, "--force"],
                vec!["export", fs, "-o", o, "--force", "--salvage"],
                vec!["inspect", fs],
                vec!["inspect", "--salvage", fs],
            ]);
        }
        for c in cmds {
            let t = Instant::now();
            let r = boltsnap(&c);
            let code = r.status.code();
            let err = String::from_utf8_lossy(&r.stderr);
            assert!(matches!(code, Some(0..=2)), "{c:?}: exit {code:?}\n{err}");
            assert!(!err.contains("panicked"), "{c:?} panicked: {err}");
            if code == Some(2) {
                assert!(
                    err.contains(f.file_name().unwrap().to_str().unwrap()),
                    "{c:?}: the error must name the file: {err}"
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{c:?} took {:?}",
                t.elapsed()
            );
        }
    }
}

fn export_jsonl(db: &Path, out: &Path, extra: &[&str]) -> (Value, BTreeMap<String, String>) {
    let mut args = vec![
        db.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--force",
        "--format",
        "jsonl",
    ];
    args.extend(extra);
    let mut full = vec!["export"];
    full.extend(args);
    let run = boltsnap(&full);
    let text = std::fs::read_to_string(out).unwrap();
    let mut lines = text.lines();
    let manifest: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    // A salvage that found damage writes the export and exits 1; one that
    // found none (the damage missed the live tree) exits 0.
    let r = &manifest["manifest"]["extra"]["salvage"];
    let listed = |f: &str| r[f].as_array().is_some_and(|a| !a.is_empty());
    let damaged = ["damaged", "conflicts", "revision_gaps", "lost_ranges"]
        .iter()
        .any(|f| listed(f))
        || !r["consistent_up_to"].is_null()
        || [
            "possibly_stale_keys",
            "entries_from_scan",
            "entries_rebuilt",
        ]
        .iter()
        .any(|f| r[f].as_u64().unwrap_or(0) > 0);
    assert_eq!(
        run.status.code(),
        Some(if damaged { 1 } else { 0 }),
        "export {}: {}",
        db.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let recs = lines
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["key"].as_str().unwrap().to_string(),
                v.get("value")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    (manifest, recs)
}

/// (keys with the same value as in `good`, keys differing or absent there).
fn got_exact(got: &BTreeMap<String, String>, good: &BTreeMap<String, String>) -> (usize, usize) {
    let same = got.iter().filter(|(k, v)| good.get(*k) == Some(*v)).count();
    (same, got.len() - same)
}

fn b64(s: &str) -> String {
    use base64::Engine;
    String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(s).unwrap())
        .into_owned()
}

#[test]
fn salvage_recovers_what_survives_and_announces_the_rest() {
    let (dir, _) = corpus("salvage");
    for src in ["two-databases", "custom-root"] {
        let undamaged = testdata(&format!("milvus-2.3.5/{src}.db"));
        let (_, head) = export_jsonl(&undamaged, &dir.join("good.jsonl"), &[]);
        // A sound file salvages clean: exit 0.
        let clean = dir.join("clean.bsnap");
        let out = boltsnap([
            "export".as_ref(),
            undamaged.as_os_str(),
            "-o".as_ref(),
            clean.as_os_str(),
            "--force".as_ref(),
            "--salvage".as_ref(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{src}: salvage of the sound file: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for damage in [
            "zero-leaf-mid",
            "zero-leaf-last",
            "cycle",
            "child-out-of-range",
            "header-flips",
            "newest-meta-bad",
        ] {
            let f = dir.join(format!("{src}.{damage}.db"));
            let (m, got) = export_jsonl(&f, &dir.join("salvaged.jsonl"), &["--salvage"]);
            let report = &m["manifest"]["extra"]["salvage"];
            assert!(
                report.is_object(),
                "{src} {damage}: the manifest carries the salvage report"
            );
            // Where the newest revisions are lost, what is recovered is the
            // store at an earlier revision: compared with that state.
            let good = match report["consistent_up_to"].as_i64() {
                Some(rev) => {
                    assert_eq!(
                        m["manifest"]["revision"].as_i64(),
                        Some(rev),
                        "{src} {damage}: the backup's revision is the cut"
                    );
                    let rev = rev.to_string();
                    export_jsonl(&undamaged, &dir.join("good-at.jsonl"), &["--rev", &rev]).1
                }
                None => head.clone(),
            };
            if damage == "zero-leaf-last" || damage == "newest-meta-bad" {
                // The last commit's pages are what is lost: the store just before it survives whole.
                assert_eq!(
                    got_exact(&got, &good),
                    (good.len(), 0),
                    "{src} {damage}: not the whole earlier state"
                );
            }
            let stale: std::collections::HashSet<&str> = report["possibly_stale"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap())
                .collect();
            let recovered = got.keys().filter(|k| good.contains_key(*k)).count();
            assert!(
                recovered * 10 >= good.len() * 9,
                "{src} {damage}: recovered {recovered} of {} keys",
                good.len()
            );
            for (k, v) in &got {
                match good.get(k) {
                    Some(gv) if gv == v => {}
                    _ => assert!(stale.contains(b64(k).as_str()), "{src} {damage}: key {} differs from the undamaged file and is not announced", b64(k)),
                }
            }
            // Strict mode: possibly stale keys left out, every value exact.
            let (_, strict) = export_jsonl(
                &f,
                &dir.join("strict.jsonl"),
                &["--salvage", "--exclude-stale"],
            );
            for (k, v) in &strict {
                assert_eq!(good.get(k), Some(v), "{src} {damage} --exclude-stale: key {} has another value than in the undamaged file", b64(k));
            }
        }
    }
}

#[test]
fn revert_meta_rolls_back_the_last_commit() {
    let dir = tempdir("revert");
    let src = testdata("milvus-2.3.5/small.db");
    let before = std::fs::read(&src).unwrap();
    let out = dir.join("reverted.db");
    ok(
        &boltsnap([
            "bolt".as_ref(),
            "surgery".as_ref(),
            "revert-meta".as_ref(),
            src.as_os_str(),
            "--output".as_ref(),
            out.as_os_str(),
        ]),
        "revert-meta",
    );
    assert_eq!(
        std::fs::read(&src).unwrap(),
        before,
        "the input is never modified"
    );
    let a = bbolt::Db::open(before).unwrap();
    let b = bbolt::Db::open(std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(b.meta().txid + 1, a.meta().txid);
    assert!(b.metas().iter().all(|m| m.is_ok()));
    assert!(b.check().is_ok(), "{:?}", b.check().findings);
    // Refused over an existing file without --force.
    let again = boltsnap([
        "bolt".as_ref(),
        "surgery".as_ref(),
        "revert-meta".as_ref(),
        src.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(again.status.code(), Some(2));
}

/// `inspect --check` on the sound fixtures finds nothing and exits 0; on a
/// salvaged copy cut at 90 % it names the segments and channels whose
/// collection was lost with the cut pages, and exits 1.
#[test]
fn inspect_check_names_what_a_damaged_copy_lost() {
    for f in ["small.db", "two-databases.db", "custom-root.db"] {
        let db = testdata(&format!("milvus-2.3.5/{f}"));
        let out = boltsnap(["inspect", "--check", db.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&ok(&out, f)).to_string();
        assert!(text.contains("no finding"), "{f}: {text}");
        let out = boltsnap(["inspect", "--check", "--json", db.to_str().unwrap()]);
        let v: Value = serde_json::from_slice(&ok(&out, f)).unwrap();
        assert_eq!(v["findings"], serde_json::json!([]), "{f}");
        assert!(v["keys"].as_u64().unwrap() > 100, "{f}: {v}");
    }

    let dir = tempdir("check-corpus");
    let made = std::process::Command::new("python3")
        .arg(crate::root().join("tools/damage-corpus.py"))
        .arg(&dir)
        .arg(testdata("milvus-2.3.5/two-databases.db"))
        .output()
        .expect("python3 tools/damage-corpus.py");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let cut = dir.join("two-databases.truncate-90.db");
    let cut = cut.to_str().unwrap();

    // Without --salvage the damage is refused, as every reading command does.
    let refused = boltsnap(["inspect", "--check", cut]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");

    let out = boltsnap(["inspect", "--check", "--salvage", cut]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("by-dev: segment_without_collection: ")
                && l.contains("(3 keys)")
                && l.contains("by-dev/meta/datacoord-meta/s/470649191588831562/")),
        "{text}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("by-dev: channel_without_collection: "))
            .count(),
        2,
        "{text}"
    );
    assert!(lines.last().unwrap().ends_with(": 3 findings"), "{text}");

    let out = boltsnap(["inspect", "--check", "--salvage", "--json", cut]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "segment_without_collection",
            "channel_without_collection",
            "channel_without_collection"
        ],
        "{v}"
    );
    let seg = &v["findings"][0];
    assert_eq!(seg["root"], "by-dev");
    assert_eq!(seg["key_count"], 3);
    assert_eq!(seg["keys"].as_array().unwrap().len(), 3);
    assert!(
        v["salvage"]["damaged"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{v}"
    );

    // --root keeps one root's findings: another root has none.
    let out = boltsnap(["inspect", "--check", "--salvage", "--root", "nosuch", cut]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("no finding"), "{text}");
}
