//! `boltsnap restore --snapshot`: export a real Milvus db, restore the
//! backup to a snapshot file, run the official restore (hash check on),
//! boot etcd, and `etcdctl get --prefix ""` returns exactly the backup.

use serde_json::Value;

use crate::peers::{etcd, free_port, snapshot_restore, EtcdServer, EtcdVersion};
use crate::{boltsnap, export_jsonl_ok, export_ok, ok, tempdir, testdata};

fn restore_on(v: EtcdVersion) {
    let Some(bins) = etcd(v) else { return };
    for name in ["two-databases.db", "custom-root.db"] {
        let dir = tempdir(&format!("restore-{v:?}-{name}"));
        let db = testdata(&format!("milvus-2.3.5/{name}"));
        let backup = dir.join("b.bsnap");
        let jsonl = dir.join("b.jsonl");
        export_ok(&db, &backup);
        let (manifest, want) = export_jsonl_ok(&db, &jsonl);
        let snap = dir.join("restore.db");
        // A dry run reads and checks everything and writes nothing.
        let _ = std::fs::remove_file(&snap);
        let dry = ok(
            &boltsnap([
                "restore".as_ref(),
                backup.as_os_str(),
                "--snapshot".as_ref(),
                snap.as_os_str(),
                "--dry-run".as_ref(),
            ]),
            "restore --dry-run",
        );
        assert!(String::from_utf8_lossy(&dry).contains("nothing written"));
        assert!(!snap.exists(), "--dry-run wrote {}", snap.display());
        // It checks that the output could be written.
        let nowhere = dir.join("no-such-dir").join("x.db");
        let out = boltsnap([
            "restore".as_ref(),
            backup.as_os_str(),
            "--snapshot".as_ref(),
            nowhere.as_os_str(),
            "--dry-run".as_ref(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--dry-run into a missing directory"
        );
        let out = ok(
            &boltsnap([
                "restore".as_ref(),
                backup.as_os_str(),
                "--snapshot".as_ref(),
                snap.as_os_str(),
            ]),
            "restore",
        );
        assert!(
            String::from_utf8_lossy(&out).contains("etcdutl snapshot restore"),
            "prints the next command"
        );
        let peer = free_port();
        let data = dir.join("data");
        let r = snapshot_restore(&bins, &snap, &data, peer);
        assert!(
            r.status.success(),
            "{v:?}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let server = EtcdServer::start_with_peer(&bins, &data, peer);
        let got: Value =
            serde_json::from_str(&server.ctl_ok(&["get", "--prefix", "", "-w", "json"])).unwrap();
        assert_eq!(
            got["kvs"],
            Value::Array(want.clone()),
            "{v:?} {name}: restored keys differ from the backup"
        );
        // Revisions continue above the source's, never behind it.
        let rev = manifest["manifest"]["revision"].as_i64().unwrap();
        assert_eq!(got["header"]["revision"].as_i64(), Some(rev));
        server.ctl_ok(&["put", "next", "x"]);
        let n: Value =
            serde_json::from_str(&server.ctl_ok(&["get", "next", "-w", "json"])).unwrap();
        assert_eq!(n["kvs"][0]["mod_revision"].as_i64(), Some(rev + 1));
        drop(server);
        // Refuses to overwrite without --force.
        let again = boltsnap([
            "restore".as_ref(),
            backup.as_os_str(),
            "--snapshot".as_ref(),
            snap.as_os_str(),
        ]);
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

/// Online restore into a fresh member: read-back equal, second restore
/// refused without --force, batches, auth, wrong password, unreachable.
fn online_on(v: EtcdVersion) {
    let Some(bins) = etcd(v) else { return };
    let dir = tempdir(&format!("online-{v:?}"));
    let db = testdata("milvus-2.3.5/two-databases.db");
    let backup = dir.join("b.bsnap");
    let jsonl = dir.join("b.jsonl");
    export_ok(&db, &backup);
    let want: Vec<(Value, Value)> = export_jsonl_ok(&db, &jsonl)
        .1
        .into_iter()
        .map(|v| {
            (
                v["key"].clone(),
                v.get("value").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let server = EtcdServer::start(&bins, &dir.join("data"));
    let ep = server.endpoint.clone();
    let b = backup.to_str().unwrap();
    // Dry run writes nothing.
    let dry: Value = serde_json::from_slice(&ok(
        &boltsnap(["restore", b, "--endpoints", &ep, "--dry-run", "--json"]),
        "dry run",
    ))
    .unwrap();
    assert_eq!(dry["report"]["written"], 0);
    let empty: Value =
        serde_json::from_str(&server.ctl_ok(&["get", "--prefix", "", "-w", "json"])).unwrap();
    assert!(empty.get("kvs").is_none(), "dry run wrote nothing: {empty}");
    // Small transactions: many batches.
    let out = boltsnap([
        "restore",
        b,
        "--endpoints",
        &format!("http://127.0.0.1:1,{ep}"),
        "--max-ops",
        "50",
        "--json",
    ]);
    let r: Value = serde_json::from_slice(&ok(&out, "online restore")).unwrap();
    assert_eq!(r["report"]["written"].as_u64(), Some(want.len() as u64));
    assert_eq!(r["report"]["verified"].as_u64(), Some(want.len() as u64));
    assert!(
        r["report"]["batches"].as_u64().unwrap() >= (want.len() as u64).div_ceil(50),
        "{r}"
    );
    let got: Value =
        serde_json::from_str(&server.ctl_ok(&["get", "--prefix", "", "-w", "json"])).unwrap();
    let got: Vec<(Value, Value)> = got["kvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            (
                kv["key"].clone(),
                kv.get("value").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        got, want,
        "{v:?}: the target holds exactly the backup's keys and values"
    );
    // A second restore is refused without --force, and writes nothing.
    let again = boltsnap(["restore", b, "--endpoints", &ep]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite without --force"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    ok(
        &boltsnap(["restore", b, "--endpoints", &ep, "--force"]),
        "restore --force",
    );
    // Auth: a user that may write works; a wrong password is a clear error.
    let mut server = server;
    server.ctl_ok(&["user", "add", "root:rootpw"]);
    server.ctl_ok(&["auth", "enable"]);
    server.user = Some("root:rootpw".into());
    server.ctl_ok(&["del", "--prefix", ""]);
    let bad = boltsnap(["restore", b, "--endpoints", &ep, "--user", "root:wrong"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("authentication failed"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let noauth = boltsnap(["restore", b, "--endpoints", &ep]);
    assert_eq!(
        noauth.status.code(),
        Some(2),
        "auth is enabled: no user, no restore"
    );
    let r: Value = serde_json::from_slice(&ok(
        &boltsnap([
            "restore",
            b,
            "--endpoints",
            &ep,
            "--user",
            "root:rootpw",
            "--json",
        ]),
        "auth restore",
    ))
    .unwrap();
    assert_eq!(r["report"]["verified"].as_u64(), Some(want.len() as u64));
    drop(server);
    // Unreachable: a clear error, nothing reported as written.
    let down = boltsnap(["restore", b, "--endpoints", &ep]);
    assert_eq!(down.status.code(), Some(2));
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(err.contains("unreachable"), "{err}");
    assert!(down.stdout.is_empty());
}

#[test]
fn online_restore_etcd_34() {
    online_on(EtcdVersion::V34);
}

#[test]
fn online_restore_etcd_35() {
    online_on(EtcdVersion::V35);
}

/// Kills the child when dropped, so a failing test leaves no server.
struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Online restore over TLS with a private CA and client certificates.
#[test]
fn online_restore_over_tls_with_client_certs() {
    let Some(bins) = etcd(EtcdVersion::V35) else {
        return;
    };
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        assert!(
            !crate::peers::required(),
            "openssl is required for the TLS test"
        );
        eprintln!("SKIPPED: no openssl");
        return;
    }
    let dir = tempdir("tls");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=boltsnap-test-ca",
        ],
    );
    std::fs::write(
        dir.join("san.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    for who in ["server", "client"] {
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{who}-key.pem"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &format!("/CN={who}"),
            ],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &format!("{who}.pem"),
                "-days",
                "2",
                "-extfile",
                "san.cnf",
            ],
        );
    }
    let (client, peer) = (free_port(), free_port());
    let ep = format!("https://127.0.0.1:{client}");
    let d = |f: &str| dir.join(f).display().to_string();
    let log = std::fs::File::create(dir.join("etcd.log")).unwrap();
    let _etcd = Kill(
        std::process::Command::new(&bins.etcd)
            .arg(format!("--data-dir={}", d("data")))
            .arg(format!("--listen-client-urls={ep}"))
            .arg(format!("--advertise-client-urls={ep}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=default=http://127.0.0.1:{peer}"))
            .arg(format!("--cert-file={}", d("server.pem")))
            .arg(format!("--key-file={}", d("server-key.pem")))
            .arg(format!("--trusted-ca-file={}", d("ca.pem")))
            .arg("--client-cert-auth")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let ctl = |args: &[&str]| {
        std::process::Command::new(&bins.etcdctl)
            .env("ETCDCTL_API", "3")
            .args([
                format!("--endpoints={ep}"),
                format!("--cacert={}", d("ca.pem")),
                format!("--cert={}", d("client.pem")),
                format!("--key={}", d("client-key.pem")),
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ctl(&["endpoint", "health"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "etcd with TLS did not start: {}",
            std::fs::read_to_string(dir.join("etcd.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let backup = dir.join("b.bsnap");
    ok(
        &boltsnap([
            "export".as_ref(),
            testdata("milvus-2.3.5/custom-root.db").as_os_str(),
            "-o".as_ref(),
            backup.as_os_str(),
        ]),
        "export",
    );
    let b = backup.to_str().unwrap();
    // Without our CA the server is not trusted: a clear error.
    let untrusted = boltsnap(["restore", b, "--endpoints", &ep]);
    assert_eq!(untrusted.status.code(), Some(2));
    // With the CA and a client certificate it works, and reads back equal.
    let r: Value = serde_json::from_slice(&ok(
        &boltsnap([
            "restore",
            b,
            "--endpoints",
            &ep,
            "--cacert",
            &d("ca.pem"),
            "--cert",
            &d("client.pem"),
            "--key",
            &d("client-key.pem"),
            "--json",
        ]),
        "restore over TLS",
    ))
    .unwrap();
    assert_eq!(r["report"]["verified"], r["keys"]);
    let n: Value =
        serde_json::from_slice(&ctl(&["get", "--prefix", "", "--keys-only", "-w", "json"]).stdout)
            .unwrap();
    assert_eq!(n["count"], r["keys"]);
}
