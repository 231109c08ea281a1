//! `export --drop-snapshots` and `restore --rename-root`, on the real
//! Milvus 2.3.5 dbs, restored into real etcd 3.4 and 3.5.

use base64::Engine;
use serde_json::Value;

use crate::peers::{etcd, free_port, snapshot_restore, EtcdServer, EtcdVersion};
use crate::{boltsnap, export_jsonl_ok, export_ok, ok, tempdir, testdata};

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .unwrap()
}

fn json_of(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(out));
    })
}

/// Every key and value in the target, by etcdctl.
fn target(server: &EtcdServer) -> Vec<(Vec<u8>, Vec<u8>)> {
    let got: Value =
        serde_json::from_str(&server.ctl_ok(&["get", "--prefix", "", "-w", "json"])).unwrap();
    got["kvs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| (b64(&kv["key"]), b64(&kv["value"])))
                .collect()
        })
        .unwrap_or_default()
}

/// The databases and collections `inspect --json` finds under each root,
/// the areas and sessions aside (what a restore must keep).
fn catalog_of(path: &std::path::Path) -> Vec<(Value, Value, Value)> {
    let v = json_of(&ok(
        &boltsnap(["inspect".as_ref(), path.as_os_str(), "--json".as_ref()]),
        "inspect",
    ));
    v["catalog"]["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["databases"].clone(),
                r["collections"].clone(),
                r["users"].clone(),
            )
        })
        .collect()
}

#[test]
fn drop_snapshots_leaves_out_rootcoord_copies_and_counts_them() {
    let Some(bins) = etcd(EtcdVersion::V35) else {
        return;
    };
    for name in [
        "milvus-2.3.5/two-databases.db",
        "milvus-2.3.5/custom-root.db",
        "milvus-generated/milvus-2.6.db",
    ] {
        let dir = tempdir(&format!("drop-snapshots-{}", name.replace('/', "-")));
        let db = testdata(name);
        let (_, all) = export_jsonl_ok(&db, &dir.join("all.jsonl"));
        let roots = json_of(&ok(
            &boltsnap(["inspect".as_ref(), db.as_os_str(), "--json".as_ref()]),
            "inspect",
        ))["catalog"]["roots"][0]["root"]
            .as_str()
            .unwrap()
            .to_string();
        let prefix = format!("{roots}/meta/snapshots/");
        // What Milvus still reads: per original key (split at the last
        // `_ts`), the newest copy, unless it is the tombstone.
        let mut newest: std::collections::BTreeMap<Vec<u8>, (u64, usize)> = Default::default();
        for (i, r) in all.iter().enumerate() {
            let k = b64(&r["key"]);
            if !k.starts_with(prefix.as_bytes()) {
                continue;
            }
            let at = k.windows(3).rposition(|w| w == b"_ts").unwrap();
            let ts: u64 = std::str::from_utf8(&k[at + 3..]).unwrap().parse().unwrap();
            let e = newest.entry(k[..at].to_vec()).or_insert((ts, i));
            if ts >= e.0 {
                *e = (ts, i);
            }
        }
        let read: std::collections::BTreeSet<usize> = newest
            .values()
            .filter(|(_, i)| b64(&all[*i]["value"]) != b"\xe2\x9b\xbc")
            .map(|(_, i)| *i)
            .collect();
        let (mut snaps, mut rest): (Vec<&Value>, Vec<&Value>) = (Vec::new(), Vec::new());
        for (i, r) in all.iter().enumerate() {
            if b64(&r["key"]).starts_with(prefix.as_bytes()) && !read.contains(&i) {
                snaps.push(r);
            } else {
                rest.push(r);
            }
        }
        assert!(
            !snaps.is_empty(),
            "{name} has copies Milvus no longer reads"
        );
        assert!(!read.is_empty(), "{name} has copies Milvus reads");
        let snap_bytes: u64 = snaps
            .iter()
            .map(|r| (b64(&r["key"]).len() + b64(&r["value"]).len()) as u64)
            .sum();

        let out = dir.join("small.bsnap");
        let summary = json_of(&ok(
            &boltsnap([
                "export".as_ref(),
                db.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--drop-snapshots".as_ref(),
                "--json".as_ref(),
            ]),
            "export --drop-snapshots",
        ));
        assert_eq!(
            summary["kept"].as_u64(),
            Some(rest.len() as u64),
            "{summary}"
        );
        assert_eq!(
            summary["left_out"]["snapshots"].as_u64(),
            Some(snaps.len() as u64)
        );
        assert_eq!(
            summary["left_out_bytes"]["snapshots"].as_u64(),
            Some(snap_bytes)
        );
        // The text summary says it too.
        let text = boltsnap([
            "export".as_ref(),
            db.as_os_str(),
            "-o".as_ref(),
            dir.join("t.bsnap").as_os_str(),
            "--drop-snapshots".as_ref(),
        ]);
        let err = String::from_utf8_lossy(&text.stderr);
        assert!(
            err.contains(&format!(
                "left out {} keys ({snap_bytes} bytes) under <root>/meta/snapshots/",
                snaps.len()
            )),
            "{err}"
        );
        // inspect shows their share of the db.
        let shown = String::from_utf8_lossy(&ok(
            &boltsnap(["inspect".as_ref(), db.as_os_str()]),
            "inspect",
        ))
        .into_owned();
        let every: Vec<&Value> = all
            .iter()
            .filter(|r| b64(&r["key"]).starts_with(prefix.as_bytes()))
            .collect();
        let every_bytes: u64 = every
            .iter()
            .map(|r| (b64(&r["key"]).len() + b64(&r["value"]).len()) as u64)
            .sum();
        assert!(
            shown.contains(&format!(
                "snapshots: {} keys, {every_bytes} bytes",
                every.len()
            )),
            "{shown}"
        );
        // Milvus's view is the same without them.
        assert_eq!(catalog_of(&out), catalog_of(&dir.join("all.jsonl")));

        // Into a fresh etcd through a snapshot file: exactly the rest.
        let snap = dir.join("restore.db");
        ok(
            &boltsnap([
                "restore".as_ref(),
                out.as_os_str(),
                "--snapshot".as_ref(),
                snap.as_os_str(),
            ]),
            "restore --snapshot",
        );
        let peer = free_port();
        let data = dir.join("data");
        let r = snapshot_restore(&bins, &snap, &data, peer);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let server = EtcdServer::start_with_peer(&bins, &data, peer);
        let want: Vec<(Vec<u8>, Vec<u8>)> = rest
            .iter()
            .map(|r| (b64(&r["key"]), b64(&r["value"])))
            .collect();
        assert_eq!(target(&server), want, "{name}");
    }
}

/// The backup's records with the root renamed, as (key, value).
fn renamed(records: &[Value], old: &str, new: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    records
        .iter()
        .map(|r| {
            let k = b64(&r["key"]);
            let k = match k.strip_prefix(format!("{old}/").as_bytes()) {
                Some(rest) => [format!("{new}/").as_bytes(), rest].concat(),
                None => k,
            };
            (k, b64(&r["value"]))
        })
        .collect()
}

fn rename_on(v: EtcdVersion) {
    let Some(bins) = etcd(v) else { return };
    for (name, old, new) in [
        ("two-databases.db", "by-dev", "copy"),
        ("custom-root.db", "tenant-a/milvus", "tenant-b/milvus"),
    ] {
        let dir = tempdir(&format!("rename-{v:?}-{name}"));
        let db = testdata(&format!("milvus-2.3.5/{name}"));
        let backup = dir.join("b.bsnap");
        export_ok(&db, &backup);
        let (_, records) = export_jsonl_ok(&db, &dir.join("b.jsonl"));
        let want = renamed(&records, old, new);
        let spec = format!("{old}={new}");

        // Offline: a snapshot file, restored by etcd's own tool.
        let snap = dir.join("renamed.db");
        let r = json_of(&ok(
            &boltsnap([
                "restore".as_ref(),
                backup.as_os_str(),
                "--snapshot".as_ref(),
                snap.as_os_str(),
                "--rename-root".as_ref(),
                spec.as_ref(),
                "--json".as_ref(),
            ]),
            "restore --snapshot --rename-root",
        ));
        assert_eq!(r["rename"]["renamed"].as_u64(), Some(records.len() as u64));
        let peer = free_port();
        let data = dir.join("data-offline");
        let out = snapshot_restore(&bins, &snap, &data, peer);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = EtcdServer::start_with_peer(&bins, &data, peer);
        assert_eq!(target(&server), want, "{v:?} {name}: offline");
        drop(server);
        // Milvus's view of the new root is the old root's.
        let before = catalog_of(&backup);
        assert_eq!(catalog_of(&snap), before);

        // Online, into a running etcd.
        let server = EtcdServer::start(&bins, &dir.join("data-online"));
        let r = json_of(&ok(
            &boltsnap([
                "restore",
                backup.to_str().unwrap(),
                "--endpoints",
                &server.endpoint,
                "--rename-root",
                &spec,
                "--json",
            ]),
            "restore --endpoints --rename-root",
        ));
        assert_eq!(
            r["report"]["verified"].as_u64(),
            Some(records.len() as u64),
            "{r}"
        );
        assert_eq!(r["rename"]["new"], new);
        assert_eq!(target(&server), want, "{v:?} {name}: online");
        // The target now holds keys under the new root: a second restore
        // under it is refused, as any restore into a non-empty target.
        let again = boltsnap([
            "restore",
            backup.to_str().unwrap(),
            "--endpoints",
            &server.endpoint,
            "--rename-root",
            &spec,
        ]);
        assert_eq!(again.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    }
}

#[test]
fn rename_root_etcd_34() {
    rename_on(EtcdVersion::V34);
}

#[test]
fn rename_root_etcd_35() {
    rename_on(EtcdVersion::V35);
}

/// A value that names a key under the old root, a root the backup does not
/// have, and a new root the backup already has: refused before anything is
/// written, online and offline.
#[test]
fn rename_root_refusals_write_nothing() {
    let Some(bins) = etcd(EtcdVersion::V35) else {
        return;
    };
    let dir = tempdir("rename-refusals");
    let db = testdata("milvus-2.3.5/two-databases.db");
    let jsonl = dir.join("b.jsonl");
    export_jsonl_ok(&db, &jsonl);
    // Plant a value that holds a key path under the root (jsonl has no
    // checksum: the edit is a valid backup).
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut rec: Value = serde_json::from_str(&lines[5]).unwrap();
    let planted_key = String::from_utf8(b64(&rec["key"])).unwrap();
    let planted_value = b"see by-dev/meta/root-coord/x";
    let grew = planted_value.len() as i64 - b64(&rec["value"]).len() as i64;
    rec["value"] = Value::String(base64::engine::general_purpose::STANDARD.encode(planted_value));
    lines[5] = rec.to_string();
    // The manifest's byte count follows the edit (it is checked on read).
    let mut manifest: Value = serde_json::from_str(&lines[0]).unwrap();
    let bytes = manifest["manifest"]["bytes"].as_i64().unwrap();
    manifest["manifest"]["bytes"] = Value::from(bytes + grew);
    lines[0] = manifest.to_string();
    let planted = dir.join("planted.jsonl");
    std::fs::write(&planted, lines.join("\n") + "\n").unwrap();

    let server = EtcdServer::start(&bins, &dir.join("data"));
    let snap = dir.join("x.db");
    for (backup, spec, says) in [
        (&planted, "by-dev=copy", "hold a path under it"),
        (&jsonl, "tenant-a=copy", "holds no root \"tenant-a\""),
        (&jsonl, "by-dev=by-dev/x", "one root is inside the other"),
        (&jsonl, "by-dev", "OLD=NEW"),
    ] {
        for offline in [true, false] {
            let mut args: Vec<String> = vec!["restore".into(), backup.display().to_string()];
            if offline {
                args.extend(["--snapshot".into(), snap.display().to_string()]);
            } else {
                args.extend(["--endpoints".into(), server.endpoint.clone()]);
            }
            args.extend(["--rename-root".into(), spec.into()]);
            let out = boltsnap(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{spec}: {err}");
            assert!(err.contains(says), "{spec}: {err}");
            if spec.starts_with("by-dev=copy") {
                assert!(err.contains(&planted_key), "names the key: {err}");
            }
            assert!(!snap.exists(), "{spec}: nothing written");
        }
    }
    assert!(target(&server).is_empty(), "nothing written into etcd");
}
