//! `boltsnap etcd ...` against real etcd 3.4.23 and 3.5.1 on loopback:
//! a scripted history (overwrites, a txn, a range delete, a lease, a
//! compaction, auth), then our offline answers compared with what the
//! running member and etcd's own tools said.

use serde_json::Value;

use crate::peers::{etcd, EtcdServer, EtcdVersion};
use crate::{boltsnap, ok, tempdir, testdata};

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b)
        .unwrap_or_else(|e| panic!("bad JSON {e}: {}", String::from_utf8_lossy(b)))
}

/// What the running member said before it stopped.
struct Observed {
    get_all: Value,
    hashes: Vec<(i64, Result<u64, String>)>,
    snapshot: std::path::PathBuf,
    db: std::path::PathBuf,
    /// Holds `snapshot` and `db`: removed when the check is done.
    _dir: crate::TempDir,
}

fn run_history(v: EtcdVersion) -> Option<(Observed, crate::peers::EtcdBins)> {
    let bins = etcd(v)?;
    let dir = tempdir(&format!("etcd-{v:?}"));
    let mut s = EtcdServer::start(&bins, &dir.join("data"));
    s.ctl_ok(&["put", "a", "1"]); // 2
    s.ctl_ok(&["put", "b", "2"]); // 3
    s.ctl_ok(&["put", "a", "11"]); // 4
    s.ctl_stdin(&["txn"], "\nput c 3\nput d 4\ndel b\n\n\n"); // 5 (3 changes)
    s.ctl_ok(&["put", "p/1", "x"]); // 6
    s.ctl_ok(&["put", "p/2", "y"]); // 7
    s.ctl_ok(&["put", "p/3", "z"]); // 8
    s.ctl_ok(&["del", "--prefix", "p/"]); // 9 (3 tombstones)
    let lease = s.ctl_ok(&["lease", "grant", "600"]);
    let id = lease
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    s.ctl_ok(&["put", "leased", "v", &format!("--lease={id}")]); // 10
    s.ctl_ok(&["put", "e", "5"]); // 11
    s.ctl_ok(&["compaction", "6"]);
    s.ctl_ok(&["put", "a", "111"]); // 12
    s.ctl_ok(&["put", "empty", ""]); // 13
    s.ctl_ok(&["del", "e"]); // 14
    s.ctl_ok(&["user", "add", "root:rootpw"]);
    s.ctl_ok(&["role", "add", "reader"]);
    s.ctl_ok(&["auth", "enable"]);
    s.user = Some("root:rootpw".into());
    s.ctl_ok(&["put", "g", "7"]); // 15
    s.ctl_ok(&["put", "binary\u{1}key", "v\u{2}"]); // 16
    let get_all = json(s.ctl_ok(&["get", "--prefix", "", "-w", "json"]).as_bytes());
    let mut hashes = Vec::new();
    for r in [0i64, 6, 7, 9, 12, 14, 16] {
        let out = s.ctl(&["endpoint", "hashkv", &format!("--rev={r}"), "-w", "json"]);
        let res = if out.status.success() {
            let v = json(&out.stdout);
            Ok(v[0]["HashKV"]["hash"].as_u64().expect("hash"))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        };
        hashes.push((r, res));
    }
    let snapshot = dir.join("snap.db");
    s.ctl_ok(&["snapshot", "save", snapshot.to_str().unwrap()]);
    let db = s.stop();
    Some((
        Observed {
            get_all,
            hashes,
            snapshot,
            db,
            _dir: dir,
        },
        bins,
    ))
}

fn check_against(v: EtcdVersion) {
    let Some((o, bins)) = run_history(v) else {
        return;
    };
    let db = o.db.to_str().unwrap().to_string();
    // Live keys equal what the member returned just before it stopped.
    let ours = json(&ok(&boltsnap(["etcd", "ls", &db, "-w", "json"]), "etcd ls"));
    assert_eq!(ours["kvs"], o.get_all["kvs"], "{v:?}: live keys differ");
    assert_eq!(ours["count"], o.get_all["count"]);
    assert_eq!(ours["header"]["revision"], o.get_all["header"]["revision"]);
    // The same from the snapshot file (sha256 trailer).
    let snap = o.snapshot.to_str().unwrap().to_string();
    let ours_snap = json(&ok(
        &boltsnap(["etcd", "ls", &snap, "-w", "json"]),
        "etcd ls snapshot",
    ));
    assert_eq!(ours_snap["kvs"], o.get_all["kvs"]);
    // HashKV at several revisions, errors included (both old-rule versions).
    for (r, want) in &o.hashes {
        let out = boltsnap([
            "etcd",
            "hashkv",
            &db,
            "--rules",
            "legacy",
            "--rev",
            &r.to_string(),
            "-w",
            "json",
        ]);
        match want {
            Ok(h) => {
                let got = json(&ok(&out, "hashkv"));
                assert_eq!(got["hash"].as_u64(), Some(*h), "{v:?}: hashkv --rev {r}");
            }
            Err(e) => {
                assert_eq!(
                    out.status.code(),
                    Some(2),
                    "{v:?}: etcd refused --rev {r} ({e}) but we did not"
                );
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("compacted"),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    // snapshot status: ours equals etcd's own tool, on the db and on the snapshot file.
    for f in [&db, &snap] {
        let tool = std::process::Command::new(bins.snapshot_tool())
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "status", f, "-w", "json"])
            .output()
            .unwrap();
        assert!(
            tool.status.success(),
            "{}",
            String::from_utf8_lossy(&tool.stderr)
        );
        let theirs = json(&tool.stdout);
        let ours = json(&ok(
            &boltsnap(["etcd", "status", f, "-w", "json"]),
            "status",
        ));
        assert_eq!(ours, theirs, "{v:?}: status of {f}");
    }
    // History of a key: every revision on disk after the compaction at 6.
    let h = json(&ok(
        &boltsnap(["etcd", "history", &db, "a", "-w", "json"]),
        "history",
    ));
    let revs: Vec<i64> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(revs, vec![4, 12], "{v:?}: history of a");
    // Below the compact revision: refused.
    let out = boltsnap(["etcd", "ls", &db, "--rev", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("compacted"));
    // The other buckets: the lease, auth, users and roles of the history.
    let d = json(&ok(
        &boltsnap(["etcd", "status", &db, "--detail", "-w", "json"]),
        "status --detail",
    ));
    assert_eq!(d["authEnabled"], true, "{v:?}");
    assert_eq!(d["users"][0]["name"], "root");
    assert_eq!(d["roles"], serde_json::json!(["reader", "root"]));
    assert_eq!(d["leases"][0]["ttl"], 600);
    assert_eq!(d["members"].as_array().unwrap().len(), 1);
    assert!(
        !d.to_string().contains("$2a$"),
        "password hashes are never shown"
    );
    // A live view at an older revision: `a` was 11 at revision 8.
    let at8 = json(&ok(
        &boltsnap(["etcd", "get", &db, "a", "--rev", "8", "-w", "json"]),
        "get --rev",
    ));
    assert_eq!(at8["kvs"][0]["value"], "MTE=");
}

#[test]
fn etcd_34_offline_answers_equal_the_server() {
    check_against(EtcdVersion::V34);
}

#[test]
fn etcd_35_offline_answers_equal_the_server() {
    check_against(EtcdVersion::V35);
}

#[test]
fn status_equals_etcd_tools_on_milvus_dbs() {
    for v in [EtcdVersion::V34, EtcdVersion::V35] {
        let Some(bins) = etcd(v) else { return };
        for name in ["small.db", "two-databases.db"] {
            let dir = tempdir("milvus-status");
            let f = dir.join(name);
            std::fs::copy(testdata(&format!("milvus-2.3.5/{name}")), &f).unwrap();
            let f = f.to_str().unwrap();
            for w in ["json", "simple", "table", "fields"] {
                let tool = std::process::Command::new(bins.snapshot_tool())
                    .env("ETCDCTL_API", "3")
                    .args(["snapshot", "status", f, "-w", w])
                    .output()
                    .unwrap();
                assert!(tool.status.success());
                let ours = ok(&boltsnap(["etcd", "status", f, "-w", w]), "status");
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&tool.stdout),
                    "{v:?} {name} -w {w}"
                );
            }
        }
    }
}

#[test]
fn not_an_etcd_db_and_bad_trailer() {
    let out = boltsnap([
        "etcd",
        "status",
        testdata("bolt/nested.db").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no `key` bucket"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A snapshot whose trailer does not match its content.
    let dir = tempdir("bad-trailer");
    let mut b = std::fs::read(testdata("milvus-2.3.5/small.db")).unwrap();
    b.extend_from_slice(&[7u8; 32]);
    let f = dir.join("bad.snap");
    std::fs::write(&f, &b).unwrap();
    let out = boltsnap(["etcd", "ls", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sha256 trailer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The etcd-ready db writer: its output restores with the official tool
/// (hash check on), boots, and serves exactly the written keys with their
/// revisions; older history is refused as compacted.
#[test]
fn written_db_restores_and_serves_on_34_and_35() {
    use etcd_store::{write_db_file, DbWriterOptions, EtcdDb};
    let src =
        EtcdDb::open(std::fs::read(testdata("milvus-2.3.5/two-databases.db")).unwrap()).unwrap();
    let live = src.live(0).unwrap();
    let kvs: Vec<etcd_store::KeyValue> = live.keys.iter().map(|k| k.kv.to_owned()).collect();
    let head = kvs.iter().map(|k| k.mod_revision).max().unwrap();
    let leased = kvs.iter().filter(|k| k.lease != 0).count();
    assert!(leased > 0, "the fixture has leased keys (sessions)");
    let expected: Vec<Value> = kvs
        .iter()
        .map(|kv| {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut v = serde_json::json!({"key": b64.encode(&kv.key), "create_revision": kv.create_revision, "mod_revision": kv.mod_revision, "version": kv.version});
            if !kv.value.is_empty() {
                v["value"] = Value::from(b64.encode(&kv.value));
            }
            v
        })
        .collect();
    let dir = tempdir("writer-restore");
    let snap = dir.join("restore.db");
    let s = write_db_file(&snap, kvs, &DbWriterOptions::default(), false).unwrap();
    assert_eq!((s.revision, s.leases_dropped as usize), (head, leased));
    for v in [EtcdVersion::V34, EtcdVersion::V35] {
        let Some(bins) = etcd(v) else { return };
        let data = dir.join(format!("{v:?}"));
        let peer = crate::peers::free_port();
        let out = crate::peers::snapshot_restore(&bins, &snap, &data, peer);
        assert!(
            out.status.success(),
            "{v:?} restore: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let server = EtcdServer::start_with_peer(&bins, &data, peer);
        let got = json(
            server
                .ctl_ok(&["get", "--prefix", "", "-w", "json"])
                .as_bytes(),
        );
        assert_eq!(
            got["kvs"],
            Value::Array(expected.clone()),
            "{v:?}: served keys differ from the written ones"
        );
        assert_eq!(got["header"]["revision"].as_i64(), Some(head));
        let old = server.ctl(&["get", "--prefix", "", &format!("--rev={}", head - 1)]);
        assert!(
            !old.status.success(),
            "{v:?}: history below the head must be refused"
        );
        assert!(
            String::from_utf8_lossy(&old.stderr).contains("compacted"),
            "{}",
            String::from_utf8_lossy(&old.stderr)
        );
        server.ctl_ok(&["put", "after-restore", "x"]);
        let after = json(
            server
                .ctl_ok(&["get", "after-restore", "-w", "json"])
                .as_bytes(),
        );
        assert_eq!(
            after["kvs"][0]["mod_revision"].as_i64(),
            Some(head + 1),
            "{v:?}: revisions continue from the head"
        );
        drop(server);
    }
}

#[test]
fn undecodable_values_are_clear_errors() {
    use bbolt::write::{Builder, BuilderOptions};
    let mut b = Builder::new(std::io::Cursor::new(Vec::new()), BuilderOptions::default()).unwrap();
    b.begin_bucket(b"key").unwrap();
    let k = etcd_store::RevisionKey {
        rev: etcd_store::Revision { main: 2, sub: 0 },
        tombstone: false,
    }
    .encode();
    b.put(&k, &[0x0a, 0x40, 0x61]).unwrap(); // a key field longer than the value
    b.end_bucket().unwrap();
    let bytes = b.finish().unwrap().0.into_inner();
    let dir = tempdir("undecodable");
    let f = dir.join("bad-value.db");
    std::fs::write(&f, bytes).unwrap();
    for cmd in [
        vec!["etcd", "ls"],
        vec!["etcd", "hashkv"],
        vec!["export", "-o", "/dev/null", "--force"],
    ] {
        let mut args = cmd.clone();
        args.insert(if cmd[0] == "export" { 1 } else { 2 }, f.to_str().unwrap());
        let out = boltsnap(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("undecodable KeyValue at revision 2.0") && err.contains("bad-value.db"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn live_view_with_one_worker_thread_ends() {
    // With one rayon thread (one CPU, or a container limited to one), the
    // live view's two scans must still run at once: they wait on each other.
    let db = crate::testdata("milvus-2.3.5/two-databases.db");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_boltsnap"))
        .args([
            "etcd".as_ref(),
            "ls".as_ref(),
            "--keys-only".as_ref(),
            db.as_os_str(),
        ])
        .env("RAYON_NUM_THREADS", "1")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("etcd ls with RAYON_NUM_THREADS=1 did not end within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success());
}
