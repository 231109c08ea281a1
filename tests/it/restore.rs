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
fn online_on(v: EtcdVersion, transport: &str) {
    let Some(bins) = etcd(v) else { return };
    let dir = tempdir(&format!("online-{v:?}-{transport}"));
    let rb = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--transport", transport]);
        boltsnap(a)
    };
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
        &rb(&["restore", b, "--endpoints", &ep, "--dry-run", "--json"]),
        "dry run",
    ))
    .unwrap();
    assert_eq!(dry["report"]["written"], 0);
    let empty: Value =
        serde_json::from_str(&server.ctl_ok(&["get", "--prefix", "", "-w", "json"])).unwrap();
    assert!(empty.get("kvs").is_none(), "dry run wrote nothing: {empty}");
    // Small transactions: many batches.
    let out = rb(&[
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
        "{v:?} {transport}: the target holds exactly the backup's keys and values"
    );
    // A second restore is refused without --force, and writes nothing.
    let again = rb(&["restore", b, "--endpoints", &ep]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite without --force"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    ok(
        &rb(&["restore", b, "--endpoints", &ep, "--force"]),
        "restore --force",
    );
    // Auth: a user that may write works; a wrong password is a clear error.
    let mut server = server;
    server.ctl_ok(&["user", "add", "root:rootpw"]);
    server.ctl_ok(&["auth", "enable"]);
    server.user = Some("root:rootpw".into());
    server.ctl_ok(&["del", "--prefix", ""]);
    let bad = rb(&["restore", b, "--endpoints", &ep, "--user", "root:wrong"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("authentication failed"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let noauth = rb(&["restore", b, "--endpoints", &ep]);
    assert_eq!(
        noauth.status.code(),
        Some(2),
        "auth is enabled: no user, no restore"
    );
    let r: Value = serde_json::from_slice(&ok(
        &rb(&[
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
    let down = rb(&["restore", b, "--endpoints", &ep]);
    assert_eq!(down.status.code(), Some(2));
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(err.contains("unreachable"), "{err}");
    assert!(down.stdout.is_empty());
}

#[test]
fn online_restore_etcd_34() {
    online_on(EtcdVersion::V34, "grpc");
}

#[test]
fn online_restore_etcd_34_gateway() {
    online_on(EtcdVersion::V34, "gateway");
}

#[test]
fn online_restore_etcd_35() {
    online_on(EtcdVersion::V35, "grpc");
}

#[test]
fn online_restore_etcd_35_gateway() {
    online_on(EtcdVersion::V35, "gateway");
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

type Kvs = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes a backup of `n` keys under the root `big` (values of 300 bytes,
/// each naming its key) and returns it with its keys and values.
fn big_backup(dir: &std::path::Path, n: usize) -> (std::path::PathBuf, Kvs) {
    use milvus_meta::backup::{BackupWriter, Manifest, Record};
    let kvs: Kvs = (0..n)
        .map(|i| {
            let k = format!("big/meta/key-{i:08}").into_bytes();
            let mut v = format!("value of key {i} ").into_bytes();
            v.resize(300, b'x');
            (k, v)
        })
        .collect();
    let manifest = Manifest {
        format_version: milvus_meta::backup::FORMAT_VERSION,
        tool: "boltsnap tests".into(),
        roots: vec!["big".into()],
        records: n as u64,
        bytes: kvs.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum(),
        ..Default::default()
    };
    let path = dir.join("big.bsnap");
    let f = std::fs::File::create(&path).unwrap();
    let mut w = BackupWriter::new(std::io::BufWriter::new(f), &manifest).unwrap();
    for (i, (k, v)) in kvs.iter().enumerate() {
        w.write(&Record {
            key: k.clone(),
            value: v.clone(),
            create_revision: i as i64 + 2,
            mod_revision: i as i64 + 2,
            version: 1,
        })
        .unwrap();
    }
    use std::io::Write as _;
    w.finish().unwrap().flush().unwrap();
    (path, kvs)
}

/// Every key and value under `prefix` in the target, with its lease, by etcdctl.
fn target_kvs(server: &EtcdServer, prefix: &str) -> Kvs {
    use base64::Engine;
    let got: Value =
        serde_json::from_str(&server.ctl_ok(&["get", "--prefix", prefix, "-w", "json"])).unwrap();
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap()
    };
    got["kvs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| (b64(&kv["key"]), b64(&kv["value"])))
                .collect()
        })
        .unwrap_or_default()
}

fn target_count(server: &EtcdServer, prefix: &str) -> u64 {
    let out = server.ctl(&[
        "get",
        "--prefix",
        prefix,
        "--keys-only",
        "--limit",
        "1",
        "-w",
        "json",
    ]);
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["count"].as_u64())
        .unwrap_or(0)
}

/// A running `boltsnap restore`, killed when dropped (a failing test leaves
/// no process behind).
fn spawn_restore(args: &[&str]) -> Kill {
    Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_boltsnap"))
            .arg("restore")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits until the target holds at least `at_least` keys under `prefix`
/// while `child` still runs; false if the child ended first.
fn wait_for_keys(server: &EtcdServer, prefix: &str, at_least: u64, child: &mut Kill) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        if child.0.try_wait().unwrap().is_some() {
            return false;
        }
        if target_count(server, prefix) >= at_least {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the restore wrote fewer than {at_least} keys in 120 s");
}

fn finish(mut child: Kill) -> std::process::Output {
    use std::io::Read as _;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let status = child.0.wait().unwrap();
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// Why: an interrupted restore must be continued with --resume (not only
/// with --force over a half-written target), whether boltsnap was stopped
/// with Ctrl-C (SIGINT: a clean stop that prints the resume command) or
/// killed outright (SIGKILL), and end with exactly the backup's keys.
#[test]
fn online_restore_interrupted_then_resumed() {
    let Some(bins) = etcd(EtcdVersion::V35) else {
        return;
    };
    let dir = tempdir("online-resume");
    let n = 30_000;
    let (backup, want) = big_backup(&dir, n);
    let server = EtcdServer::start(&bins, &dir.join("data"));
    let ep = server.endpoint.clone();
    let b = backup.to_str().unwrap();
    // Small transactions one at a time: slow enough to stop midway.
    let slow = ["--endpoints", &ep, "--parallel", "1", "--max-ops", "8"];
    let mut args = vec![b];
    args.extend(slow);
    // SIGKILL of boltsnap mid-restore.
    let mut child = spawn_restore(&args);
    assert!(
        wait_for_keys(&server, "big/", 1_000, &mut child),
        "restore ended before it was killed"
    );
    child.0.kill().unwrap();
    let _ = child.0.wait();
    let after_kill = target_count(&server, "big/");
    assert!(
        after_kill > 0 && after_kill < n as u64,
        "killed midway: {after_kill}"
    );
    // Without --resume the half-written target is refused.
    let again = boltsnap(["restore", b, "--endpoints", &ep]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("without --force"));
    // SIGINT of a resumed restore: a clean stop that says how to go on.
    let mut args = args.clone();
    args.push("--resume");
    let mut child = spawn_restore(&args);
    assert!(
        wait_for_keys(&server, "big/", after_kill + 2_000, &mut child),
        "resumed restore ended before it was interrupted"
    );
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let out = finish(child);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("interrupted after"), "{err}");
    assert!(err.contains("--resume"), "prints the resume command: {err}");
    let after_int = target_count(&server, "big/");
    assert!(after_int < n as u64, "interrupted midway: {after_int}");
    // --resume finishes the job: what was there is skipped and counted.
    let r: Value = serde_json::from_slice(&ok(
        &boltsnap(["restore", b, "--endpoints", &ep, "--resume", "--json"]),
        "restore --resume",
    ))
    .unwrap();
    let skipped = r["report"]["skipped"].as_u64().unwrap();
    let written = r["report"]["written"].as_u64().unwrap();
    assert_eq!(skipped, after_int, "{r}");
    assert_eq!(skipped + written, n as u64, "{r}");
    assert_eq!(r["report"]["verified"].as_u64(), Some(n as u64), "{r}");
    assert_eq!(
        target_kvs(&server, "big/"),
        want,
        "nothing lost, nothing extra"
    );
    // A resume of a complete restore writes nothing and verifies all.
    let r: Value = serde_json::from_slice(&ok(
        &boltsnap(["restore", b, "--endpoints", &ep, "--resume", "--json"]),
        "second --resume",
    ))
    .unwrap();
    assert_eq!(r["report"]["written"].as_u64(), Some(0), "{r}");
    assert_eq!(r["report"]["verified"].as_u64(), Some(n as u64), "{r}");
}

/// Why: a target that crashes and comes back mid-restore must not leave a
/// gap: the transactions that failed are retried (puts of known values are
/// idempotent) and the read-back sees every key.
#[test]
fn online_restore_survives_target_restart() {
    let Some(bins) = etcd(EtcdVersion::V35) else {
        return;
    };
    let dir = tempdir("online-target-restart");
    let n = 30_000;
    let (backup, want) = big_backup(&dir, n);
    let mut server = EtcdServer::start(&bins, &dir.join("data"));
    let ep = server.endpoint.clone();
    let b = backup.to_str().unwrap();
    let mut child = spawn_restore(&[
        b,
        "--endpoints",
        &ep,
        "--parallel",
        "4",
        "--max-ops",
        "8",
        "--json",
    ]);
    assert!(
        wait_for_keys(&server, "big/", 1_000, &mut child),
        "restore ended before the kill"
    );
    server.sigkill();
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.restart();
    let out = finish(child);
    let r: Value = serde_json::from_slice(&ok(&out, "restore across a target restart")).unwrap();
    assert_eq!(r["report"]["verified"].as_u64(), Some(n as u64), "{r}");
    assert_eq!(
        target_kvs(&server, "big/"),
        want,
        "nothing lost, nothing extra"
    );
}

/// Why: --resume skips only the backup's own keys; a key under the root that
/// is not the backup's (another key, another value) is refused as before.
#[test]
fn online_resume_refuses_foreign_keys() {
    let Some(bins) = etcd(EtcdVersion::V35) else {
        return;
    };
    let dir = tempdir("online-resume-foreign");
    let (backup, want) = big_backup(&dir, 2_000);
    let server = EtcdServer::start(&bins, &dir.join("data"));
    let ep = server.endpoint.clone();
    let b = backup.to_str().unwrap();
    server.ctl_ok(&[
        "put",
        "big/meta/key-00000001",
        &String::from_utf8_lossy(&want[1].1),
    ]);
    for (key, value) in [
        ("big/meta/zz-someone-else", "x"),
        ("big/meta/key-00000005", "other"),
    ] {
        server.ctl_ok(&["put", key, value]);
        for extra in [&["--resume"][..], &[]] {
            let mut args = vec!["restore", b, "--endpoints", &ep];
            args.extend(extra);
            let out = boltsnap(&args);
            assert_eq!(out.status.code(), Some(2), "{extra:?} over {key}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("without --force"), "{err}");
        }
        assert_eq!(
            target_count(&server, "big/"),
            2,
            "nothing written over {key}"
        );
        server.ctl_ok(&["del", key]);
    }
    // The backup's key and value, but under a lease: not the backup's.
    let lease = server.ctl_ok(&["lease", "grant", "600"]);
    let id = lease.split_whitespace().nth(1).unwrap().to_string();
    let v7 = String::from_utf8_lossy(&want[7].1).into_owned();
    server.ctl_ok(&[
        "put",
        "big/meta/key-00000007",
        &v7,
        &format!("--lease={id}"),
    ]);
    let out = boltsnap(["restore", b, "--endpoints", &ep, "--resume"]);
    assert_eq!(out.status.code(), Some(2), "a leased key is refused");
    server.ctl_ok(&["lease", "revoke", &id]);
    // The backup's own key and value alone: resumed, and the rest written.
    let r: Value = serde_json::from_slice(&ok(
        &boltsnap(["restore", b, "--endpoints", &ep, "--resume", "--json"]),
        "resume",
    ))
    .unwrap();
    assert_eq!(r["report"]["skipped"].as_u64(), Some(1), "{r}");
    assert_eq!(target_kvs(&server, "big/"), want);
}

/// The backup is read in full and checked before the first write, even
/// though the restore streams it: a damaged or cut backup writes nothing.
#[test]
fn online_restore_of_a_damaged_backup_writes_nothing() {
    let Some(bins) = etcd(EtcdVersion::V35) else {
        return;
    };
    let dir = tempdir("online-damaged-backup");
    let (backup, _) = big_backup(&dir, 5_000);
    let bytes = std::fs::read(&backup).unwrap();
    let server = EtcdServer::start(&bins, &dir.join("data"));
    let ep = server.endpoint.clone();
    let mut flipped = bytes.clone();
    let at = flipped.len() * 3 / 4;
    flipped[at] ^= 0x40;
    let cut = bytes[..bytes.len() * 3 / 4].to_vec();
    for (name, damaged) in [("flipped", flipped), ("cut", cut)] {
        let path = dir.join(format!("{name}.bsnap"));
        std::fs::write(&path, &damaged).unwrap();
        let out = boltsnap(["restore", path.to_str().unwrap(), "--endpoints", &ep]);
        assert!(!out.status.success(), "{name}: a damaged backup is refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{name}.bsnap")), "{name}: {err}");
        assert!(
            err.contains("damaged") || err.contains("checksum"),
            "{name}: {err}"
        );
        assert_eq!(target_count(&server, "big/"), 0, "{name}: nothing written");
    }
    // The sound backup still goes in whole.
    let out = boltsnap(["restore", backup.to_str().unwrap(), "--endpoints", &ep]);
    ok(&out, "restore");
    assert_eq!(target_count(&server, "big/"), 5_000);
}
