//! `boltsnap restore --snapshot`: export a real Milvus db, restore the
//! backup to a snapshot file, run the official restore (hash check on),
//! boot etcd, and `etcdctl get --prefix ""` returns exactly the backup.

use serde_json::Value;

use crate::peers::{etcd, free_port, snapshot_restore, EtcdServer, EtcdVersion};
use crate::{boltsnap, ok, tempdir, testdata};

fn restore_on(v: EtcdVersion) {
    let Some(bins) = etcd(v) else { return };
    for name in ["two-databases.db", "custom-root.db"] {
        let dir = tempdir(&format!("restore-{v:?}-{name}"));
        let db = testdata(&format!("milvus-2.3.5/{name}"));
        let backup = dir.join("b.bsnap");
        let jsonl = dir.join("b.jsonl");
        ok(&boltsnap(["export".as_ref(), db.as_os_str(), "-o".as_ref(), backup.as_os_str()]), "export");
        ok(&boltsnap(["export".as_ref(), db.as_os_str(), "-o".as_ref(), jsonl.as_os_str(), "--format".as_ref(), "jsonl".as_ref()]), "export jsonl");
        let text = std::fs::read_to_string(&jsonl).unwrap();
        let mut lines = text.lines();
        let manifest: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let want: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
        let snap = dir.join("restore.db");
        let out = ok(&boltsnap(["restore".as_ref(), backup.as_os_str(), "--snapshot".as_ref(), snap.as_os_str()]), "restore");
        assert!(String::from_utf8_lossy(&out).contains("etcdutl snapshot restore"), "prints the next command");
        let peer = free_port();
        let data = dir.join("data");
        let r = snapshot_restore(&bins, &snap, &data, peer);
        assert!(r.status.success(), "{v:?}: {}", String::from_utf8_lossy(&r.stderr));
        let server = EtcdServer::start_with_peer(&bins, &data, peer);
        let got: Value = serde_json::from_str(&server.ctl_ok(&["get", "--prefix", "", "-w", "json"])).unwrap();
        assert_eq!(got["kvs"], Value::Array(want.clone()), "{v:?} {name}: restored keys differ from the backup");
        // Revisions continue above the source's, never behind it.
        let rev = manifest["manifest"]["revision"].as_i64().unwrap();
        assert_eq!(got["header"]["revision"].as_i64(), Some(rev));
        server.ctl_ok(&["put", "next", "x"]);
        let n: Value = serde_json::from_str(&server.ctl_ok(&["get", "next", "-w", "json"])).unwrap();
        assert_eq!(n["kvs"][0]["mod_revision"].as_i64(), Some(rev + 1));
        drop(server);
        // Refuses to overwrite without --force.
        let again = boltsnap(["restore".as_ref(), backup.as_os_str(), "--snapshot".as_ref(), snap.as_os_str()]);
        assert_eq!(again.status.code(), Some(2));
    }
}

#[test]
fn offline_restore_etcd_34() {
    restore_on(EtcdVersion::V34);
}

#[test]
fn offline_restore_etcd_35() {
    restore_on(EtcdVersion::V35);
}
