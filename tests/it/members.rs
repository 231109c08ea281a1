//! Several members of one cluster merged into one history: a revision
//! names the same bytes on every member, so a copy that differs is outvoted
//! (three or more) or reported as undecidable (two).

use std::path::{Path, PathBuf};

use crate::{boltsnap, export_jsonl_ok, ok, tempdir, testdata};

/// A copy of `db` with one byte flipped inside the value of a live key's
/// newest revision; returns the copy, the key and the revision.
fn flipped_copy(db: &Path, out: &Path) -> (PathBuf, String, i64) {
    let mut bytes = std::fs::read(db).unwrap();
    let (at, key, rev) = {
        let e = etcd_store::EtcdDb::open(bytes.as_slice()).unwrap();
        let view = e.live(0).unwrap();
        // The live key with the longest value, in the entry of its newest revision.
        let live = view
            .keys
            .iter()
            .filter(|k| k.kv.lease == 0 && !k.kv.key.ends_with(b"/session/id"))
            .max_by_key(|k| k.kv.value.len())
            .unwrap();
        let mut found = None;
        for r in e.revisions().unwrap() {
            let r = r.unwrap();
            if r.rev.rev.main != live.kv.mod_revision || r.rev.tombstone {
                continue;
            }
            let kv = r.decode().unwrap();
            if kv.key == live.kv.key {
                let base = bytes.as_ptr() as usize;
                let v = kv.value.as_ptr() as usize;
                assert!(v >= base && v + kv.value.len() <= base + bytes.len());
                found = Some((
                    v - base + kv.value.len() / 2,
                    String::from_utf8_lossy(live.kv.key).into_owned(),
                    live.kv.mod_revision,
                ));
            }
        }
        found.expect("the newest revision of a live key")
    };
    bytes[at] ^= 0x20;
    std::fs::write(out, &bytes).unwrap();
    (out.to_path_buf(), key, rev)
}

fn records(
    db_args: &[&Path],
    dir: &Path,
    name: &str,
) -> (Vec<serde_json::Value>, String, Option<i32>) {
    let out = dir.join(format!("{name}.jsonl"));
    let mut args: Vec<&std::ffi::OsStr> = vec!["export".as_ref()];
    args.extend(db_args.iter().map(|p| p.as_os_str()));
    args.extend([
        "--force".as_ref(),
        "--format".as_ref(),
        "jsonl".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    let o = boltsnap(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let recs = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (recs, err, o.status.code())
}

#[test]
fn three_members_outvote_a_flipped_value() {
    let dir = tempdir("members-flip");
    let db = testdata("milvus-2.3.5/two-databases.db");
    let (_, want) = export_jsonl_ok(&db, &dir.join("want.jsonl"));
    let (bad, key, rev) = flipped_copy(&db, &dir.join("bad.db"));
    // The flipped copy alone exports a different value: the damage is real.
    let (alone, _, code) = records(&[&bad], &dir, "alone");
    assert_eq!(code, Some(0));
    assert_ne!(alone, want, "the flip changes the export");
    let a = dir.join("a.db");
    let b = dir.join("b.db");
    std::fs::copy(&db, &a).unwrap();
    std::fs::copy(&db, &b).unwrap();
    for order in [[&a, &bad, &b], [&bad, &a, &b], [&a, &b, &bad]] {
        let (got, err, code) = records(&order.map(|p| p.as_path()), &dir, "merged");
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(
            got, want,
            "the merged export equals the undamaged one\n{err}"
        );
        assert!(err.contains("settled by majority"), "{err}");
        let line = err
            .lines()
            .find(|l| l.contains("outvoted"))
            .unwrap_or_else(|| panic!("no outvoted line: {err}"));
        assert!(line.contains(&format!("revision {rev}.")), "{line}");
        assert!(line.contains(&format!("{key:?}")), "{line}");
        assert!(line.contains(&bad.display().to_string()), "{line}");
    }
    // The manifest records the merge.
    let text = std::fs::read_to_string(dir.join("merged.jsonl")).unwrap();
    let m: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let merge = &m["manifest"]["extra"]["merge"];
    assert_eq!(merge["decided"], 1, "{merge}");
    assert_eq!(merge["undecided"], 0, "{merge}");
    assert_eq!(merge["disagreements"][0]["key"], key.as_str());
    assert_eq!(
        merge["disagreements"][0]["outvoted"][0],
        bad.display().to_string()
    );
}

#[test]
fn two_members_that_disagree_are_undecidable() {
    let dir = tempdir("members-two");
    let db = testdata("milvus-2.3.5/two-databases.db");
    let (bad, key, rev) = flipped_copy(&db, &dir.join("bad.db"));
    let (_, err, code) = records(&[&db, &bad], &dir, "two");
    assert_eq!(code, Some(1), "undecidable: exit 1\n{err}");
    assert!(err.contains("UNDECIDABLE"), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("no majority to settle it"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains(&format!("revision {rev}.")) && line.contains(&format!("{key:?}")),
        "{line}"
    );
    // The same for the etcd commands.
    let o = boltsnap([
        "etcd".as_ref(),
        "ls".as_ref(),
        db.as_os_str(),
        bad.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn members_of_different_clusters_are_refused() {
    let dir = tempdir("members-foreign");
    let a = testdata("milvus-2.3.5/small.db");
    let b = testdata("milvus-2.3.5/two-databases.db");
    let (_, err, code) = records(&[&a, &b], &dir, "foreign");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("different clusters") || err.contains("not members of one cluster"),
        "{err}"
    );
    assert!(!dir.join("foreign.jsonl").exists(), "nothing written");
}

#[test]
fn a_member_named_twice_and_merge_with_salvage_or_diff_are_refused() {
    let db = testdata("milvus-2.3.5/small.db");
    let o = boltsnap([
        "etcd".as_ref(),
        "ls".as_ref(),
        db.as_os_str(),
        db.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("named twice"));
    let o = boltsnap([
        "diff".as_ref(),
        db.as_os_str(),
        db.as_os_str(),
        db.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("one too many"));
    let _ = ok;
}

/// The damaged copies of tools/damage-corpus.py, in a directory of the
/// caller's own.
fn damaged_copies(dir: &Path, src: &Path) {
    let out = std::process::Command::new("python3")
        .arg(crate::root().join("tools/damage-corpus.py"))
        .arg(dir)
        .arg(src)
        .output()
        .expect("python3 tools/damage-corpus.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn damaged_members_fill_each_other() {
    let dir = tempdir("members-damaged");
    let db = testdata("milvus-2.3.5/two-databases.db");
    let (_, want) = export_jsonl_ok(&db, &dir.join("want.jsonl"));
    damaged_copies(&dir, &db);
    let f = |d: &str| dir.join(format!("two-databases.{d}.db"));
    // Each copy alone loses keys or values: the damage is real.
    for d in ["zero-leaf-mid", "cycle", "zero-leaf-last", "header-flips"] {
        let p = f(d);
        let (alone, err, _) = records(&[p.as_path()], &dir, "alone");
        assert_ne!(alone, want, "{d} alone is not the undamaged export\n{err}");
    }
    // A zeroed leaf, a branch cycle and a bad newest meta; then three
    // copies all read by salvage (zeroed middle and last leaves, damaged
    // page headers): each exports exactly what the undamaged db holds.
    for (set, salvaged) in [
        (["zero-leaf-mid", "cycle", "newest-meta-bad"], 2),
        (["zero-leaf-mid", "zero-leaf-last", "header-flips"], 3),
    ] {
        let paths = set.map(f);
        let (got, err, code) = records(&paths.each_ref().map(|p| p.as_path()), &dir, "merged");
        assert_eq!(code, Some(0), "{set:?}: {err}");
        assert_eq!(got, want, "{set:?}: the undamaged export\n{err}");
        assert!(!err.contains("LOST"), "{err}");
        let text = std::fs::read_to_string(dir.join("merged.jsonl")).unwrap();
        let m: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let merge = &m["manifest"]["extra"]["merge"];
        let n = merge["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["salvaged"] == true)
            .count();
        assert_eq!(n, salvaged, "{set:?}: {merge}");
        assert_eq!(merge["lost_in_every_member"], serde_json::json!([]));
    }
    // The same damage twice: what both lost is lost, said so, exit 1.
    let twin = dir.join("twin.db");
    std::fs::copy(f("zero-leaf-mid"), &twin).unwrap();
    let (_, err, code) = records(&[&f("zero-leaf-mid"), &twin], &dir, "twins");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("LOST in every member: revisions ["), "{err}");
}
