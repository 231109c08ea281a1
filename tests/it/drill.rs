//! The whole rescue with a real Milvus 2.3.5 (it installs Milvus from PyPI
//! and takes minutes: run by `.ci/run`, and by plain `cargo test` with
//! BOLTSNAP_MILVUS_DRILL=1, or wherever peers are required):
//! Milvus on an external etcd, etcd killed, export, fresh etcd, online
//! restore, Milvus restarted on the same storage: every database,
//! collection (with its row count), partition, alias and user is back; the
//! same from `export --drop-snapshots`, and from `restore --rename-root
//! by-dev=copy` with Milvus on `etcd.rootPath: copy`; and etcd SIGKILLed
//! while Milvus writes: the export of its data dir (WAL replayed) brings
//! back every collection whose flush Milvus acknowledged.

#[test]
fn milvus_comes_back_after_export_and_restore() {
    if std::env::var_os("BOLTSNAP_MILVUS_DRILL").is_none() && !crate::peers::required() {
        eprintln!("!!!!!!!! SKIPPED: the milvus drill: set BOLTSNAP_MILVUS_DRILL=1 (installs Milvus 2.3.5 from PyPI, takes minutes); .ci/run runs it !!!!!!!!");
        return;
    }
    let dir = crate::tempdir("drill");
    let out = std::process::Command::new("bash")
        .arg(crate::root().join("tools/milvus-drill.sh"))
        .arg(&dir)
        .output()
        .expect("run tools/milvus-drill.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "drill failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["equal"], true);
    assert!(!v["after"]["collections"].as_object().unwrap().is_empty());
    assert_eq!(v["crash"]["ok"], true, "{}", v["crash"]);
    assert!(!v["crash"]["acknowledged"].as_object().unwrap().is_empty());
    // The db alone holds fewer keys: the WAL replay is what brought them.
    let kept = |e: &serde_json::Value| e["kept"].as_u64().unwrap();
    assert!(
        kept(&v["crash"]["export_no_wal"]) < kept(&v["crash"]["export"]),
        "{}",
        v["crash"]
    );
    assert_eq!(v["before"], v["after_drop_snapshots"]);
    assert_eq!(v["before"], v["after_rename_root"]);
    assert!(
        v["export_drop_snapshots"]["left_out"]["snapshots"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{}",
        v["export_drop_snapshots"]
    );
}
