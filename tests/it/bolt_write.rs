//! `boltsnap bolt compact`: Go `Check()` is OK on the output, Go's walk of
//! the output equals Go's walk of the source, and Go keeps writing it.

use crate::peers::{gobolt, run_gobolt};
use crate::{boltsnap, dbs, ok, stem, tempdir};

#[test]
fn compact_every_fixture_go_accepts() {
    if gobolt().is_none() {
        return;
    }
    let dir = tempdir("compact");
    let mut all = dbs("bolt");
    all.extend(dbs("milvus-2.3.5"));
    for src in all {
        let dst = dir.join(format!("{}.compact.db", stem(&src)));
        let out = boltsnap([
            "bolt".as_ref(),
            "compact".as_ref(),
            src.as_os_str(),
            dst.as_os_str(),
        ]);
        let text = String::from_utf8(ok(&out, "compact")).unwrap();
        assert!(text.contains("bytes (gain="), "{text}");
        let (code, msg, _) = run_gobolt(&["check".as_ref(), dst.as_os_str()]).unwrap();
        assert_eq!(
            code,
            0,
            "{}: Go check: {}",
            dst.display(),
            String::from_utf8_lossy(&msg)
        );
        let (_, want, _) = run_gobolt(&["walk".as_ref(), src.as_os_str()]).unwrap();
        let (_, got, _) = run_gobolt(&["walk".as_ref(), dst.as_os_str()]).unwrap();
        assert!(
            got == want,
            "{}: Go's walk of the compacted file differs",
            src.display()
        );
        let (code, msg, err) = run_gobolt(&["rwtest".as_ref(), dst.as_os_str()]).unwrap();
        assert_eq!(
            code,
            0,
            "{}: {}{err}",
            dst.display(),
            String::from_utf8_lossy(&msg)
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn compact_refuses_to_overwrite_without_force() {
    let dir = tempdir("compact-force");
    let src = crate::testdata("bolt/nested.db");
    let dst = dir.join("out.db");
    std::fs::write(&dst, b"precious").unwrap();
    let out = boltsnap([
        "bolt".as_ref(),
        "compact".as_ref(),
        src.as_os_str(),
        dst.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&dst).unwrap(), b"precious");
    let out = boltsnap([
        "bolt".as_ref(),
        "compact".as_ref(),
        "--force".as_ref(),
        "--page-size".as_ref(),
        "8192".as_ref(),
        src.as_os_str(),
        dst.as_os_str(),
    ]);
    ok(&out, "compact --force");
    let db = bbolt::Db::open(std::fs::read(&dst).unwrap()).unwrap();
    assert_eq!(db.page_size(), 8192);
    assert!(db.check().is_ok());
    // No temporary files left behind.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    let _ = std::fs::remove_dir_all(dir);
}
