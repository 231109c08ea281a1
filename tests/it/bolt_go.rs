//! The reader against Go bbolt itself: walks equal on every fixture, the
//! fixtures regenerate byte for byte, the big freelist form reads.

use crate::peers::{gobolt, run_gobolt};
use crate::{boltsnap, dbs, ok, tempdir};

fn all_dbs() -> Vec<std::path::PathBuf> {
    let mut v = dbs("bolt");
    v.extend(dbs("milvus-2.3.5"));
    v
}

#[test]
fn walk_equals_go_walk_live() {
    if gobolt().is_none() {
        return;
    }
    for db in all_dbs() {
        let (code, go, err) = run_gobolt(&["walk".as_ref(), db.as_os_str()]).unwrap();
        assert_eq!(code, 0, "gobolt walk {}: {err}", db.display());
        let ours = ok(
            &boltsnap([
                "bolt".as_ref(),
                "walk".as_ref(),
                "--json".as_ref(),
                db.as_os_str(),
            ]),
            "walk",
        );
        assert!(
            ours == go,
            "{}: walk differs from Go's ({} vs {} bytes)",
            db.display(),
            ours.len(),
            go.len()
        );
    }
}

#[test]
fn check_agrees_with_go_live() {
    if gobolt().is_none() {
        return;
    }
    for db in all_dbs() {
        let (code, go, _) = run_gobolt(&["check".as_ref(), db.as_os_str()]).unwrap();
        let out = boltsnap(["bolt".as_ref(), "check".as_ref(), db.as_os_str()]);
        assert_eq!(out.status.code(), Some(code), "{}", db.display());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&go),
            "{}",
            db.display()
        );
    }
}

#[test]
fn fixtures_regenerate_identically() {
    if gobolt().is_none() {
        return;
    }
    let root = crate::root();
    let out = std::process::Command::new("bash")
        .arg(root.join("tools/gen-bolt-fixtures.sh"))
        .args(["verify", "testdata/bolt"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fixtures differ from what Go writes now:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn big_freelist_escape_form() {
    if gobolt().is_none() {
        return;
    }
    let dir = tempdir("bigfl");
    let f = dir.join("big-freelist.db");
    let (code, _, err) = run_gobolt(&["gen-big-freelist".as_ref(), f.as_os_str()]).unwrap();
    assert_eq!(code, 0, "{err}");
    let db = bbolt::Db::open(std::fs::read(&f).unwrap()).unwrap();
    let fl = db.freelist().unwrap();
    assert!(
        matches!(
            fl.source,
            bbolt::FreelistSource::Persisted {
                escaped_count: true,
                ..
            }
        ),
        "{:?}",
        fl.source
    );
    assert!(fl.len() > 65535, "{}", fl.len());
    assert!(db.check().is_ok(), "{:?}", db.check().findings.first());
    let (_, go, _) = run_gobolt(&["walk".as_ref(), f.as_os_str()]).unwrap();
    let ours = ok(
        &boltsnap([
            "bolt".as_ref(),
            "walk".as_ref(),
            "--json".as_ref(),
            f.as_os_str(),
        ]),
        "walk",
    );
    assert!(
        ours == go,
        "walk of the big-freelist file differs from Go's"
    );
    let (code, go, _) = run_gobolt(&["check".as_ref(), f.as_os_str()]).unwrap();
    assert_eq!(
        (code, String::from_utf8_lossy(&go).trim().to_string()),
        (0, "OK".to_string())
    );
    let _ = std::fs::remove_dir_all(dir);
}
