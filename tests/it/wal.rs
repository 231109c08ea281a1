//! The WAL replay against real etcd 3.4 and 3.5: a member under a write
//! load (puts, txns taking both branches, nested txns, deletes of keys and
//! ranges, leases granted and revoked, compactions) is killed with SIGKILL.
//! The truth is what that etcd serves after a restart on a copy of its data
//! dir; boltsnap reads the killed dir offline and must give exactly that:
//! the same keys, values, revisions, versions and leases, the same HashKV,
//! and a repaired snapshot that `snapshot restore` takes and that serves the
//! same keys.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::peers::{self, EtcdServer, EtcdVersion};
use crate::{boltsnap, ok, tempdir};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// etcd's v3 JSON gateway, for a load without a process per request.
pub(crate) struct Gateway {
    agent: ureq::Agent,
    base: String,
}

impl Gateway {
    pub(crate) fn new(endpoint: &str) -> Gateway {
        Gateway {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build(),
            base: endpoint.to_string(),
        }
    }

    fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let r = self
            .agent
            .post(&format!("{}/v3/{path}", self.base))
            .send_json(body);
        match r {
            Ok(resp) => resp.into_json::<Value>().map_err(|e| e.to_string()),
            Err(ureq::Error::Status(code, resp)) => Err(format!(
                "{code}: {}",
                resp.into_string().unwrap_or_default()
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What the load did (acknowledged requests per kind), to check that the
/// test exercised what it claims to.
#[derive(Default)]
pub(crate) struct LoadCounts {
    pub(crate) ok: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) txn_success: AtomicU64,
    pub(crate) txn_failure: AtomicU64,
    pub(crate) revoked: AtomicU64,
    pub(crate) compacted: AtomicU64,
}

/// One writer: a mix of every request the replay must get right.
pub(crate) fn writer(
    gw: &Gateway,
    id: usize,
    stop: &AtomicBool,
    leases: &Mutex<Vec<String>>,
    counts: &LoadCounts,
    big: bool,
    compact: bool,
) {
    let mut n: u64 = 0;
    let value = |n: u64| {
        if big {
            format!("{n}-{}", "x".repeat(60_000))
        } else {
            format!("v{n}")
        }
    };
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let k = |m: u64| format!("w{id}/k{:03}", m % 97);
        let r = match n % 12 {
            0..=3 => gw.post(
                "kv/put",
                json!({"key": b64(&k(n)), "value": b64(&value(n))}),
            ),
            4 => {
                // Both branches: every other time the compare asks for the
                // value written 4 steps ago (it holds unless another request
                // changed the key since), else for another one (it fails).
                let want = if n % 24 == 4 { value(n - 4) } else { value(n - 3) };
                let r = gw.post(
                    "kv/txn",
                    json!({
                        "compare": [{"target": "VALUE", "key": b64(&k(n - 4)), "result": "EQUAL", "value": b64(&want)}],
                        "success": [
                            {"request_put": {"key": b64(&k(n)), "value": b64("txn-success")}},
                            {"request_put": {"key": b64(&format!("w{id}/t{}", n % 13)), "value": b64(&value(n))}},
                            {"request_delete_range": {"key": b64(&k(n + 1))}}
                        ],
                        "failure": [
                            {"request_put": {"key": b64(&format!("w{id}/f{}", n % 11)), "value": b64(&value(n))}},
                            {"request_range": {"key": b64(&k(n))}}
                        ]
                    }),
                );
                if let Ok(v) = &r {
                    if v.get("succeeded").and_then(Value::as_bool) == Some(true) {
                        counts.txn_success.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counts.txn_failure.fetch_add(1, Ordering::Relaxed);
                    }
                }
                r
            }
            5 => gw.post("kv/deleterange", json!({"key": b64(&k(n * 7))})),
            6 => gw.post(
                "kv/deleterange",
                json!({"key": b64(&format!("w{id}/k02")), "range_end": b64(&format!("w{id}/k04"))}),
            ),
            7 => gw.post(
                // A compare over a range (every key of the prefix) and a
                // nested txn in the success branch.
                "kv/txn",
                json!({
                    "compare": [{"target": "MOD", "key": b64(&format!("w{id}/")), "range_end": b64(&format!("w{id}0")), "result": "GREATER", "mod_revision": "0"}],
                    "success": [{"request_txn": {
                        "compare": [{"target": "VERSION", "key": b64(&k(n)), "result": "LESS", "version": "3"}],
                        "success": [{"request_put": {"key": b64(&format!("w{id}/nested")), "value": b64(&value(n))}}],
                        "failure": [{"request_put": {"key": b64(&format!("w{id}/nested-f")), "value": b64(&value(n))}}]
                    }}],
                    "failure": []
                }),
            ),
            8 if id == 0 => {
                let r = gw.post("lease/grant", json!({"TTL": 600}));
                if let Ok(v) = &r {
                    if let Some(lid) = v.get("ID").and_then(Value::as_str) {
                        let lid = lid.to_string();
                        let _ = gw.post(
                            "kv/put",
                            json!({"key": b64(&format!("leased/{n}a")), "value": b64("a"), "lease": lid}),
                        );
                        let _ = gw.post(
                            "kv/put",
                            json!({"key": b64(&format!("leased/{n}b")), "value": b64("b"), "lease": lid}),
                        );
                        // ignore_value keeps the value, takes the lease off.
                        let _ = gw.post(
                            "kv/put",
                            json!({"key": b64(&format!("leased/{n}b")), "ignore_value": true}),
                        );
                        leases.lock().unwrap().push(lid);
                    }
                }
                r
            }
            8 if id == 1 => {
                let lid = leases.lock().unwrap().pop();
                match lid {
                    Some(lid) if n % 24 == 8 => {
                        let r = gw.post("lease/revoke", json!({"ID": lid}));
                        if r.is_ok() {
                            counts.revoked.fetch_add(1, Ordering::Relaxed);
                        }
                        r
                    }
                    Some(lid) => {
                        // ignore_lease: a new value, the key keeps its lease.
                        let _ = gw.post(
                            "kv/put",
                            json!({"key": b64("leased/kept"), "value": b64("l"), "lease": lid}),
                        );
                        gw.post(
                            "kv/put",
                            json!({"key": b64("leased/kept"), "value": b64(&value(n)), "ignore_lease": true}),
                        )
                    }
                    None => gw.post("kv/put", json!({"key": b64(&k(n)), "value": b64("x")})),
                }
            }
            9 if id == 2 && compact && n % 48 == 9 => {
                let st = gw.post("maintenance/status", json!({}));
                let rev = st
                    .ok()
                    .and_then(|v| v["header"]["revision"].as_str()?.parse::<i64>().ok())
                    .unwrap_or(0);
                let r = gw.post(
                    "kv/compaction",
                    json!({"revision": (rev - 40).max(1).to_string()}),
                );
                if r.is_ok() {
                    counts.compacted.fetch_add(1, Ordering::Relaxed);
                }
                r
            }
            _ => gw.post(
                "kv/put",
                json!({"key": b64(&format!("shared/{}", n % 31)), "value": b64(&value(n))}),
            ),
        };
        match r {
            Ok(_) => counts.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => counts.refused.fetch_add(1, Ordering::Relaxed),
        };
    }
}

pub(crate) fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

/// The kvs of an `etcdctl get -w json` answer, and its revision.
pub(crate) fn kvs(v: &Value) -> (Vec<Value>, i64) {
    let rev = v["header"]["revision"]
        .as_i64()
        .or_else(|| v["header"]["revision"].as_str()?.parse().ok())
        .unwrap_or(-1);
    let mut k: Vec<Value> = v["kvs"].as_array().cloned().unwrap_or_default();
    for x in &mut k {
        // etcdctl leaves out zero fields; boltsnap writes them.
        if let Some(o) = x.as_object_mut() {
            o.retain(|_, v| v != &json!(0));
        }
    }
    (k, rev)
}

/// A copy of a killed member's data dir (`cp -a`), in `dir`: the restarted
/// etcd runs on it, so the offline reads see the dir as the crash left it.
fn copy_of(data: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let copy = dir.join("copy");
    cp_a(data, &copy);
    copy
}

/// `cp -a from to`, as the crash left the dir (modes, times), with runs of
/// zeros made holes: an etcd WAL segment is 64 MB preallocated, mostly zeros,
/// and a copy that allocates them all costs the disk 64 MB a segment.
pub(crate) fn cp_a(from: &std::path::Path, to: &std::path::Path) {
    let st = std::process::Command::new("cp")
        .args(["-a", "--sparse=always"])
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a {}", from.display());
}

/// `boltsnap etcd ls DIR -w json`: the keys and the WAL line it printed.
fn ls_with_wal(d: &str, what: &str) -> (Value, String) {
    let ls = boltsnap(["etcd", "ls", d, "-w", "json"]);
    let keys = json_of(&ok(&ls, what));
    let line = String::from_utf8_lossy(&ls.stderr).into_owned();
    assert!(line.contains("WAL "), "no WAL line: {line}");
    (keys, line)
}

fn first_difference(a: &[Value], b: &[Value]) -> String {
    let n = a.len().max(b.len());
    for i in 0..n {
        if a.get(i) != b.get(i) {
            return format!("at {i}: boltsnap {:?}\n etcd {:?}", a.get(i), b.get(i));
        }
    }
    String::new()
}

struct Scenario {
    name: &'static str,
    etcd_args: &'static [&'static str],
    /// 60 kB values, to fill a small quota (NOSPACE).
    big: bool,
    /// Compactions in the load (each one forces a backend commit).
    compact: bool,
    run_for: Duration,
}

/// The load, the kill, and every offline answer checked against the
/// restarted etcd. Returns the WAL report of `export --json`.
fn crash_under_load(v: EtcdVersion, sc: &Scenario) -> Option<Value> {
    let bins = peers::etcd(v)?;
    let dir = tempdir(&format!("wal-{v:?}-{}", sc.name));
    let data = dir.join("data");
    let peer = peers::free_port();
    let mut srv = EtcdServer::start_with_args(&bins, &data, peer, sc.etcd_args);
    let stop = Arc::new(AtomicBool::new(false));
    let leases = Arc::new(Mutex::new(Vec::new()));
    let counts = Arc::new(LoadCounts::default());
    let handles: Vec<_> = (0..4)
        .map(|id| {
            let (stop, leases, counts) = (stop.clone(), leases.clone(), counts.clone());
            let gw = Gateway::new(&srv.endpoint);
            let (big, compact) = (sc.big, sc.compact);
            std::thread::spawn(move || writer(&gw, id, &stop, &leases, &counts, big, compact))
        })
        .collect();
    let t0 = Instant::now();
    std::thread::sleep(sc.run_for);
    // Killed while the writers still write: some requests are in flight.
    srv.sigkill();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    eprintln!(
        "{v:?} {}: {:?} of load, {} acknowledged, {} refused, txn {} success / {} failure, {} revokes, {} compactions",
        sc.name,
        t0.elapsed(),
        counts.ok.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        counts.txn_success.load(Ordering::Relaxed),
        counts.txn_failure.load(Ordering::Relaxed),
        counts.revoked.load(Ordering::Relaxed),
        counts.compacted.load(Ordering::Relaxed),
    );
    // With 60 kB values a 1 MB quota is full after about 17 puts, and
    // everything after is refused, so a slow machine acknowledges few
    // (CI once acknowledged 96 and saw 355 refused in 2.5 s).
    let min_ok = if sc.big { 17 } else { 100 };
    assert!(
        counts.ok.load(Ordering::Relaxed) > min_ok,
        "the load did not run"
    );
    if sc.big {
        assert!(
            counts.refused.load(Ordering::Relaxed) > 0,
            "the quota never refused a write"
        );
    }
    if !sc.big && sc.run_for >= Duration::from_millis(1000) {
        assert!(counts.txn_success.load(Ordering::Relaxed) > 0);
        assert!(counts.txn_failure.load(Ordering::Relaxed) > 0);
    }
    // Offline, on the killed dir (read-only: the copy is made first, and
    // the dir is compared after).
    let copy = copy_of(&data, &dir);
    let d = data.to_str().unwrap();
    let (ours, wal_line) = ls_with_wal(d, "etcd ls DIR");
    let ours_hash = json_of(&ok(
        &boltsnap(["etcd", "hashkv", d, "-w", "json"]),
        "etcd hashkv DIR",
    ));
    let snap = dir.join("repaired.db");
    ok(
        &boltsnap(["etcd", "snapshot", d, "-o", snap.to_str().unwrap()]),
        "etcd snapshot DIR",
    );
    let exported = dir.join("all.bsnap");
    let summary = json_of(&ok(
        &boltsnap(["export", d, "-o", exported.to_str().unwrap(), "--json"]),
        "export DIR",
    ));
    let db_alone = json_of(&ok(
        &boltsnap(["etcd", "ls", d, "--no-wal", "-w", "json"]),
        "etcd ls --no-wal",
    ));
    let until_commit = boltsnap(["etcd", "ls", d, "--wal-until", "commit", "-w", "json"]);
    ok(&until_commit, "etcd ls --wal-until commit");

    // The truth: the same etcd restarted on the copy.
    let truth_srv = EtcdServer::start_with_args(&bins, &copy, peer, sc.etcd_args);
    let theirs = json_of(
        truth_srv
            .ctl_ok(&["get", "", "--prefix", "-w", "json"])
            .as_bytes(),
    );
    let hk = json_of(
        truth_srv
            .ctl_ok(&["endpoint", "hashkv", "-w", "json"])
            .as_bytes(),
    );
    if sc.big {
        let alarms = truth_srv.ctl_ok(&["alarm", "list"]);
        assert!(
            alarms.contains("NOSPACE"),
            "the load did not fill the quota: {alarms}"
        );
    }
    drop(truth_srv);

    let (ok_kvs, our_rev) = kvs(&ours);
    let (their_kvs, their_rev) = kvs(&theirs);
    let (alone_kvs, _) = kvs(&db_alone);
    eprintln!(
        "{v:?} {}: etcd serves {} keys at revision {their_rev}; the db alone gives {} keys ({} differ); {wal_line}",
        sc.name,
        their_kvs.len(),
        alone_kvs.len(),
        their_kvs
            .iter()
            .filter(|k| !alone_kvs.contains(k))
            .count()
            + alone_kvs.iter().filter(|k| !their_kvs.contains(k)).count()
    );
    assert_eq!(
        ok_kvs.len(),
        their_kvs.len(),
        "{v:?} {}: key count; {}",
        sc.name,
        first_difference(&ok_kvs, &their_kvs)
    );
    assert!(
        ok_kvs == their_kvs,
        "{v:?} {}: keys differ {}",
        sc.name,
        first_difference(&ok_kvs, &their_kvs)
    );
    assert_eq!(our_rev, their_rev, "{v:?} {}: revision", sc.name);
    let hkv = &hk[0]["HashKV"];
    assert_eq!(
        ours_hash["hash"].as_u64(),
        hkv["hash"].as_u64(),
        "{v:?} {}: HashKV (ours {ours_hash}, etcd {hkv})",
        sc.name
    );
    assert_eq!(
        ours_hash["compactRevision"].as_i64(),
        hkv["compact_revision"].as_i64(),
        "{v:?} {}: compact revision",
        sc.name
    );

    // The repaired snapshot: restored by etcd's own tool (sha256 checked),
    // it serves the same keys.
    let rdir = dir.join("restored");
    let rpeer = peers::free_port();
    let out = peers::snapshot_restore(&bins, &snap, &rdir, rpeer);
    assert!(
        out.status.success(),
        "{v:?} {}: snapshot restore of the repaired snapshot: {}",
        sc.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let rsrv = EtcdServer::start_with_args(&bins, &rdir, rpeer, sc.etcd_args);
    let restored = json_of(
        rsrv.ctl_ok(&["get", "", "--prefix", "-w", "json"])
            .as_bytes(),
    );
    drop(rsrv);
    let (restored_kvs, restored_rev) = kvs(&restored);
    assert!(
        restored_kvs == their_kvs,
        "{v:?} {}: the restored repaired snapshot serves other keys {}",
        sc.name,
        first_difference(&restored_kvs, &their_kvs)
    );
    assert!(restored_rev >= their_rev);

    let wal = summary["wal"].clone();
    assert!(
        wal.is_object(),
        "export --json has no wal report: {summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Some(wal)
}

/// Ten kills at pseudo-random moments (0.5 to 3 s into the load; the seed
/// is printed, `BOLTSNAP_KILL_SEED` repeats a run).
fn ten_kills(v: EtcdVersion) {
    let mut seed: u64 = std::env::var("BOLTSNAP_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{v:?}: BOLTSNAP_KILL_SEED={seed}");
    for _ in 0..10 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ms = 500 + (seed >> 33) % 2500;
        let sc = Scenario {
            name: "plain",
            etcd_args: &[],
            big: false,
            compact: true,
            run_for: Duration::from_millis(ms),
        };
        if crash_under_load(v, &sc).is_none() {
            return;
        }
    }
}

#[test]
fn ten_sigkills_under_load_etcd_34() {
    ten_kills(EtcdVersion::V34);
}

#[test]
fn ten_sigkills_under_load_etcd_35() {
    ten_kills(EtcdVersion::V35);
}

/// Raft snapshots every 300 entries: the WAL holds snapshot records, the
/// start point is the newest one the db covers.
#[test]
fn sigkill_with_raft_snapshots_etcd_35() {
    crash_under_load(
        EtcdVersion::V35,
        &Scenario {
            name: "snapshots",
            etcd_args: &["--snapshot-count=300"],
            big: false,
            compact: true,
            run_for: Duration::from_millis(3000),
        },
    );
}

/// A backend that commits only every 30 s: everything after the first
/// commit is in the WAL alone. The replay must add it all (this variant
/// cannot pass by reading the db alone).
#[test]
fn sigkill_with_the_db_far_behind_etcd_34() {
    let Some(wal) = crash_under_load(
        EtcdVersion::V34,
        &Scenario {
            name: "behind",
            etcd_args: &[
                "--backend-batch-interval=30s",
                "--backend-batch-limit=1000000",
            ],
            big: false,
            compact: false,
            run_for: Duration::from_millis(2000),
        },
    ) else {
        return;
    };
    let added = wal["replay"]["revisions_added"].as_u64().unwrap_or(0);
    assert!(added > 1000, "the WAL should hold most of the load: {wal}");
}

/// A 1 MB quota filled with 60 kB values: the NOSPACE alarm is raised
/// and what etcd rejects after it is rejected by the replay too.
#[test]
fn sigkill_after_nospace_etcd_35() {
    let Some(wal) = crash_under_load(
        EtcdVersion::V35,
        &Scenario {
            name: "nospace",
            etcd_args: &["--quota-backend-bytes=1048576"],
            big: true,
            compact: false,
            run_for: Duration::from_millis(2500),
        },
    ) else {
        return;
    };
    eprintln!("nospace WAL report: {}", wal["replay"]);
}

/// The same data dir read with `--wal-dir` when the WAL lives elsewhere.
#[test]
fn wal_dir_elsewhere_and_damage() {
    let Some(bins) = peers::etcd(EtcdVersion::V35) else {
        return;
    };
    let dir = tempdir("wal-elsewhere");
    let data = dir.join("data");
    let waldir = dir.join("wal-elsewhere");
    let peer = peers::free_port();
    let wal_arg = format!("--wal-dir={}", waldir.display());
    let mut srv = EtcdServer::start_with_args(
        &bins,
        &data,
        peer,
        &[&wal_arg, "--backend-batch-interval=30s"],
    );
    for i in 0..200 {
        srv.ctl_ok(&["put", &format!("k{i:03}"), &format!("v{i}")]);
    }
    srv.sigkill();
    let d = data.to_str().unwrap();
    let w = waldir.to_str().unwrap();
    let with = json_of(&ok(
        &boltsnap(["etcd", "ls", d, "--wal-dir", w, "-w", "json"]),
        "ls --wal-dir",
    ));
    assert_eq!(kvs(&with).0.len(), 200);
    // Without the WAL dir the db alone is behind, and the note says no WAL.
    let alone = boltsnap(["etcd", "ls", d, "-w", "json"]);
    let alone_kvs = kvs(&json_of(&ok(&alone, "ls without wal"))).0;
    assert!(alone_kvs.len() < 200, "{}", alone_kvs.len());
    assert!(
        String::from_utf8_lossy(&alone.stderr).contains("no WAL found"),
        "{}",
        String::from_utf8_lossy(&alone.stderr)
    );

    // Damage: the segment, its zero tail trimmed (the file's end is the
    // log's end) and then one byte flipped in the middle of the log.
    let seg = std::fs::read_dir(&waldir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "wal"))
        .unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    let end = end.div_ceil(8) * 8;
    std::fs::write(&seg, &bytes[..end]).unwrap();
    let trimmed = json_of(&ok(
        &boltsnap(["etcd", "ls", d, "--wal-dir", w, "-w", "json"]),
        "ls of the trimmed WAL",
    ));
    assert_eq!(
        kvs(&trimmed).0,
        kvs(&with).0,
        "trimming the zero tail changes nothing"
    );

    // A torn tail: the last record cut in half ends the log there, as etcd
    // ends it (exit 0, one key fewer at most).
    std::fs::write(&seg, &bytes[..end - 20]).unwrap();
    let torn = boltsnap(["etcd", "ls", d, "--wal-dir", w, "-w", "json"]);
    let torn_kvs = kvs(&json_of(&ok(&torn, "ls of a torn WAL"))).0;
    assert!(torn_kvs.len() >= 199 && torn_kvs.len() <= 200);
    assert!(
        String::from_utf8_lossy(&torn.stderr).contains("torn"),
        "{}",
        String::from_utf8_lossy(&torn.stderr)
    );

    // A flipped byte in the middle: everything before it is replayed, the
    // rest is reported lost, exit status 1.
    // The byte is chosen inside a record's data, never in a frame's padding
    // (padding is outside the CRC, so a flip there is rightly not damage).
    let mut flipped = bytes[..end].to_vec();
    let mid = byte_inside_a_record_past(&flipped, end / 2);
    flipped[mid] ^= 0x5a;
    std::fs::write(&seg, &flipped).unwrap();
    let bad = boltsnap(["etcd", "ls", d, "--wal-dir", w, "-w", "json"]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let bad_kvs = kvs(&json_of(&bad.stdout)).0;
    assert!(
        bad_kvs.len() > alone_kvs.len() && bad_kvs.len() < 200,
        "before the damage replayed, after it lost: {} keys",
        bad_kvs.len()
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("lost"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The offset of a byte in the middle of the data of the first WAL frame
/// that starts at or after `from`: frames are an 8-byte little-endian length
/// (low 56 bits the record's size; top bit set when padding follows, its
/// count in the low 3 bits of the top byte), the record, the padding.
fn byte_inside_a_record_past(seg: &[u8], from: usize) -> usize {
    let mut at = 0usize;
    while at + 8 <= seg.len() {
        let word = u64::from_le_bytes(seg[at..at + 8].try_into().unwrap());
        let len = (word & 0x00ff_ffff_ffff_ffff) as usize;
        let pad = if word >> 63 == 1 {
            ((word >> 56) & 7) as usize
        } else {
            0
        };
        if at >= from && len > 8 {
            return at + 8 + len / 2;
        }
        at += 8 + len + pad;
    }
    panic!(
        "no frame starts past {from} in a {}-byte segment",
        seg.len()
    );
}

/// Never a panic on a damaged WAL: every byte position zeroed in turn over
/// a small real log, each run ends with exit 0, 1 or 2 and no crash.
#[test]
fn wal_garbage_never_crashes() {
    let Some(bins) = peers::etcd(EtcdVersion::V34) else {
        return;
    };
    let dir = tempdir("wal-garbage");
    let data = dir.join("data");
    let peer = peers::free_port();
    let mut srv =
        EtcdServer::start_with_args(&bins, &data, peer, &["--backend-batch-interval=30s"]);
    for i in 0..20 {
        srv.ctl_ok(&["put", &format!("k{i}"), "v"]);
    }
    srv.sigkill();
    let seg = std::fs::read_dir(data.join("member/wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "wal"))
        .unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    let end = (bytes.iter().rposition(|&b| b != 0).unwrap() + 1).div_ceil(8) * 8;
    let d = data.to_str().unwrap();
    let mut codes = std::collections::BTreeMap::new();
    for pos in (0..end).step_by(97) {
        let mut b = bytes[..end].to_vec();
        b[pos] ^= 0xff;
        std::fs::write(&seg, &b).unwrap();
        let out = boltsnap(["etcd", "ls", d, "-w", "json"]);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "byte {pos}: exit {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        *codes.entry(code).or_insert(0) += 1;
    }
    eprintln!("exit codes over {end} bytes, every 97th flipped: {codes:?}");
    assert!(
        codes.contains_key(&Some(1)),
        "some flip must be reported as damage"
    );
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// The committed fixtures (real etcd 3.4.23 and 3.5.1 data dirs killed with
/// SIGKILL, the db behind the WAL; made by tools/make-wal-fixture.sh): the
/// offline answers equal what etcd served after a restart on a copy. No
/// peer needed.
#[test]
fn committed_killed_dirs_read_as_etcd_serves_them() {
    for v in ["3.4.23", "3.5.1"] {
        let d = crate::testdata(&format!("etcd-wal/{v}-killed"));
        let before: Vec<Vec<u8>> = [
            "member/snap/db",
            "member/wal/0000000000000000-0000000000000000.wal",
        ]
        .iter()
        .map(|f| std::fs::read(d.join(f)).unwrap())
        .collect();
        let expected = json_of(&std::fs::read(d.join("expected.json")).unwrap());
        let (want, want_rev) = kvs(&expected);
        // The data dir, its member/ dir, and its db with the WAL beside it.
        for input in [d.clone(), d.join("member"), d.join("member/snap/db")] {
            let out = boltsnap([
                "etcd".as_ref(),
                "ls".as_ref(),
                input.as_os_str(),
                "-w".as_ref(),
                "json".as_ref(),
            ]);
            let (got, rev) = kvs(&json_of(&ok(&out, "etcd ls")));
            assert!(
                got == want,
                "{v} {}: {}",
                input.display(),
                first_difference(&got, &want)
            );
            assert_eq!(rev, want_rev);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("38 revisions added"), "{err}");
        }
        let hk = json_of(&std::fs::read(d.join("hashkv.json")).unwrap());
        let ours = json_of(&ok(
            &boltsnap([
                "etcd".as_ref(),
                "hashkv".as_ref(),
                d.as_os_str(),
                "-w".as_ref(),
                "json".as_ref(),
            ]),
            "hashkv",
        ));
        assert_eq!(ours["hash"], hk["hash"], "{v}: HashKV");
        assert_eq!(ours["compactRevision"], hk["compact_revision"]);
        // The db alone is behind: 40 keys at revision 41 (the first put is revision 2).
        let alone = json_of(&ok(
            &boltsnap([
                "etcd".as_ref(),
                "ls".as_ref(),
                d.as_os_str(),
                "--no-wal".as_ref(),
                "-w".as_ref(),
                "json".as_ref(),
            ]),
            "ls --no-wal",
        ));
        let (alone_kvs, alone_rev) = kvs(&alone);
        assert_eq!((alone_kvs.len(), alone_rev), (40, 41));
        // --rev: the db's head is read from the db, a revision of the
        // replay from the whole store, one past the newest is refused.
        let at = |rev: i64| {
            boltsnap([
                "etcd".as_ref(),
                "ls".as_ref(),
                d.as_os_str(),
                "--rev".as_ref(),
                rev.to_string().as_ref(),
                "-w".as_ref(),
                "json".as_ref(),
            ])
        };
        assert_eq!(kvs(&json_of(&ok(&at(41), "ls --rev 41"))), (alone_kvs, 41));
        let mid = json_of(&ok(&at(want_rev - 1), "ls --rev inside the replay"));
        assert_eq!(kvs(&mid).1, want_rev - 1);
        assert_eq!(kvs(&json_of(&ok(&at(want_rev), "ls --rev head"))).0, want);
        let future = at(want_rev + 1);
        assert!(
            !future.status.success()
                && String::from_utf8_lossy(&future.stderr).contains("future revision"),
            "{v}: --rev past the head: {}",
            String::from_utf8_lossy(&future.stderr)
        );
        // History sees the replayed revisions.
        let h = json_of(&ok(
            &boltsnap([
                "etcd".as_ref(),
                "history".as_ref(),
                d.as_os_str(),
                "app/k1".as_ref(),
                "-w".as_ref(),
                "json".as_ref(),
            ]),
            "history",
        ));
        assert_eq!(h["history"].as_array().map(Vec::len), Some(2), "{h}");
        // export: the manifest and the summary carry the WAL report.
        let dir = tempdir(&format!("wal-fixture-{v}"));
        let out = dir.join("x.jsonl");
        let summary = json_of(&ok(
            &boltsnap([
                "export".as_ref(),
                d.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--format".as_ref(),
                "jsonl".as_ref(),
                "--json".as_ref(),
            ]),
            "export",
        ));
        assert_eq!(summary["wal"]["replay"]["revisions_added"], json!(38));
        assert_eq!(summary["revision"], json!(want_rev));
        let manifest: Value = serde_json::from_str(
            std::fs::read_to_string(&out)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            manifest["manifest"]["extra"]["wal"]["stop"]["kind"],
            json!("end"),
            "{manifest}"
        );
        // The repaired snapshot reads back as the same store.
        let snap = dir.join("repaired.db");
        ok(
            &boltsnap([
                "etcd".as_ref(),
                "snapshot".as_ref(),
                d.as_os_str(),
                "-o".as_ref(),
                snap.as_os_str(),
            ]),
            "etcd snapshot",
        );
        let back = json_of(&ok(
            &boltsnap([
                "etcd".as_ref(),
                "ls".as_ref(),
                snap.as_os_str(),
                "-w".as_ref(),
                "json".as_ref(),
            ]),
            "ls of the snapshot",
        ));
        assert!(kvs(&back).0 == want);
        // Not overwritten without --force.
        let again = boltsnap([
            "etcd".as_ref(),
            "snapshot".as_ref(),
            d.as_os_str(),
            "-o".as_ref(),
            snap.as_os_str(),
        ]);
        assert_eq!(again.status.code(), Some(2));
        // Read-only: the inputs are unchanged.
        let after: Vec<Vec<u8>> = [
            "member/snap/db",
            "member/wal/0000000000000000-0000000000000000.wal",
        ]
        .iter()
        .map(|f| std::fs::read(d.join(f)).unwrap())
        .collect();
        assert!(before == after, "{v}: an input file changed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// etcd purges old WAL segments (`--max-wals`, every 30 s): then the oldest
/// segment left starts above index 0 and its CRC record carries the purged
/// segment's CRC. The rescue must start from the raft snapshot recorded in
/// the segments that are left, as a restarting etcd does.
#[test]
fn sigkill_after_old_segments_were_purged_etcd_35() {
    let Some(bins) = peers::etcd(EtcdVersion::V35) else {
        return;
    };
    let dir = tempdir("wal-purged");
    let data = dir.join("data");
    let peer = peers::free_port();
    let args = ["--max-wals=1", "--snapshot-count=20"];
    let mut srv = EtcdServer::start_with_args(&bins, &data, peer, &args);
    let gw = Gateway::new(&srv.endpoint);
    // 1 MB values over four keys: about three 64 MB segments of WAL.
    let big = "x".repeat(1_000_000);
    for i in 0..200 {
        gw.post(
            "kv/put",
            serde_json::json!({"key": b64(&format!("big/{}", i % 4)), "value": b64(&big)}),
        )
        .unwrap();
    }
    let wal = data.join("member/wal");
    let first_seq = || {
        let mut names: Vec<String> = std::fs::read_dir(&wal)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".wal"))
            .collect();
        names.sort();
        names
            .first()
            .and_then(|n| u64::from_str_radix(n.get(..16)?, 16).ok())
            .unwrap_or(0)
    };
    let t0 = Instant::now();
    while first_seq() == 0 && t0.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(first_seq() > 0, "etcd purged no WAL segment in 90 s");
    for i in 0..30 {
        srv.ctl_ok(&["put", &format!("small/{i:02}"), &format!("v{i}")]);
    }
    srv.sigkill();
    let copy = copy_of(&data, &dir);
    let d = data.to_str().unwrap();
    let (ours, line) = ls_with_wal(d, "etcd ls DIR (purged WAL)");
    let truth = EtcdServer::start_with_args(&bins, &copy, peer, &args);
    let theirs = json_of(
        truth
            .ctl_ok(&["get", "", "--prefix", "-w", "json"])
            .as_bytes(),
    );
    drop(truth);
    let (a, ra) = kvs(&ours);
    let (b, rb) = kvs(&theirs);
    assert_eq!(a.len(), 34, "four big keys and thirty small ones");
    assert!(a == b, "keys differ {}", first_difference(&a, &b));
    assert_eq!(ra, rb, "revision");
    eprintln!("purged WAL (oldest segment {}): {line}", first_seq());
}

/// etcd flags that keep the db about 30 s behind the WAL (no batch commit
/// by count): what a test writes after a forced commit is in the WAL only.
const DB_LAGS: &[&str] = &[
    "--backend-batch-interval=30s",
    "--backend-batch-limit=1000000",
];

/// Users, roles and permissions changed while the db lagged (a 30 s batch
/// interval: everything after `auth enable`, which forces a commit, is in
/// the WAL only), then SIGKILL. The repaired snapshot, restored by etcd's
/// tool, has the users, roles, grants and auth revision the restarted etcd
/// has, and alice logs in with her new password only.
fn auth_changes_come_back(v: EtcdVersion) {
    let Some(bins) = peers::etcd(v) else { return };
    let dir = tempdir(&format!("wal-auth-{v:?}"));
    let data = dir.join("data");
    let args = DB_LAGS;
    let peer = peers::free_port();
    let mut s = EtcdServer::start_with_args(&bins, &data, peer, args);
    for a in [
        &["user", "add", "root:rootpw"][..],
        &["user", "grant-role", "root", "root"],
        &["role", "add", "reader"],
        &[
            "role",
            "grant-permission",
            "reader",
            "read",
            "app/",
            "--prefix=true",
        ],
        &["user", "add", "alice:alicepw"],
        &["user", "add", "bob:bobpw"],
        &["put", "app/a", "1"],
        &["auth", "enable"],
    ] {
        s.ctl_ok(a);
    }
    s.user = Some("root:rootpw".into());
    for a in [
        &["role", "grant-permission", "reader", "readwrite", "x"][..],
        &["role", "grant-permission", "reader", "write", "app/w"],
        &["role", "revoke-permission", "reader", "x"],
        &["user", "grant-role", "alice", "reader"],
        &["user", "grant-role", "alice", "reader"],
        &["user", "delete", "bob"],
        &["role", "add", "temp"],
        &["user", "grant-role", "alice", "temp"],
        &["role", "delete", "temp"],
        &["role", "add", "writer"],
        &["user", "grant-role", "alice", "writer"],
        &["user", "revoke-role", "alice", "writer"],
        &["put", "app/b", "2"],
    ] {
        s.ctl_ok(a);
    }
    s.ctl_stdin(
        &["user", "passwd", "alice", "--interactive=false"],
        "alicepw2\n",
    );
    s.ctl_ok(&["put", "app/c", "3"]);
    s.sigkill();
    let copy = copy_of(&data, &dir);

    let snap = dir.join("repaired.db");
    let out = json_of(&ok(
        &boltsnap([
            "etcd",
            "snapshot",
            data.to_str().unwrap(),
            "-o",
            snap.to_str().unwrap(),
            "--json",
        ]),
        "etcd snapshot DIR",
    ));
    let changes = out["wal"]["replay"]["auth_changes"].as_u64().unwrap_or(0);
    assert!(changes >= 8, "the WAL should hold the auth changes: {out}");

    let asked: &[&[&str]] = &[
        &["user", "list"],
        &["role", "list"],
        &["user", "get", "alice"],
        &["user", "get", "root"],
        &["role", "get", "reader"],
        &["get", "", "--prefix"],
    ];
    let answers = |srv: &EtcdServer| -> Vec<String> {
        let mut a: Vec<String> = asked.iter().map(|q| srv.ctl_ok(q)).collect();
        if v == EtcdVersion::V35 {
            a.push(srv.ctl_ok(&["auth", "status"]));
        }
        a
    };
    let mut truth = EtcdServer::start_with_args(&bins, &copy, peer, args);
    truth.user = Some("root:rootpw".into());
    let want = answers(&truth);
    drop(truth);
    assert!(
        want[0].contains("alice") && !want[0].contains("bob"),
        "{want:?}"
    );

    let rdir = dir.join("restored");
    let rpeer = peers::free_port();
    let r = peers::snapshot_restore(&bins, &snap, &rdir, rpeer);
    assert!(
        r.status.success(),
        "snapshot restore: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let mut restored = EtcdServer::start_with_args(&bins, &rdir, rpeer, args);
    restored.user = Some("root:rootpw".into());
    assert_eq!(answers(&restored), want, "{v:?}: the restored auth store");
    restored.user = Some("alice:alicepw2".into());
    restored.ctl_ok(&["get", "app/a"]);
    restored.user = Some("alice:alicepw".into());
    assert!(
        !restored.ctl(&["get", "app/a"]).status.success(),
        "alice's old password still works"
    );
}

#[test]
fn auth_changes_in_the_wal_come_back_etcd_34() {
    auth_changes_come_back(EtcdVersion::V34);
}

#[test]
fn auth_changes_in_the_wal_come_back_etcd_35() {
    auth_changes_come_back(EtcdVersion::V35);
}

/// A user without the root role writes inside and outside its roles'
/// permissions while the db lags (30 s batch interval), then SIGKILL.
/// etcd puts every request in the WAL and refuses the ones outside the
/// permissions when it applies them (a put outside, a txn whose compare
/// reads outside, a delete with prev_kv where only writing is granted, a
/// lease revoke or a put onto a lease that holds a key the user may not
/// write); boltsnap's view of the killed dir and its hash equal what the
/// restarted etcd serves.
fn key_permissions_hold(v: EtcdVersion) {
    let Some(bins) = peers::etcd(v) else { return };
    let dir = tempdir(&format!("wal-perm-{v:?}"));
    let data = dir.join("data");
    let args = DB_LAGS;
    let peer = peers::free_port();
    let mut s = EtcdServer::start_with_args(&bins, &data, peer, args);
    for a in [
        &["user", "add", "root:rootpw"][..],
        &["user", "grant-role", "root", "root"],
        &["role", "add", "app"],
        &[
            "role",
            "grant-permission",
            "app",
            "readwrite",
            "app/",
            "--prefix=true",
        ],
        &[
            "role",
            "grant-permission",
            "app",
            "read",
            "pub/",
            "--prefix=true",
        ],
        &["role", "grant-permission", "app", "write", "w"],
        &["user", "add", "carol:carolpw"],
        &["user", "grant-role", "carol", "app"],
        &["put", "pub/x", "1"],
        &["put", "other/x", "0"],
        &["put", "w", "0"],
        &["auth", "enable"],
    ] {
        s.ctl_ok(a);
    }
    s.user = Some("root:rootpw".into());
    let lease = s.ctl_ok(&["lease", "grant", "600"]);
    let lease = lease.split_whitespace().nth(1).unwrap().to_string();
    s.user = Some("carol:carolpw".into());
    let allowed: &[&[&str]] = &[
        &["put", "app/1", "a"],
        &["put", "w", "1"],
        &["put", "app/l", "on-lease", &format!("--lease={lease}")],
    ];
    for a in allowed {
        s.ctl_ok(a);
    }
    let refused: &[&[&str]] = &[
        &["put", "other/y", "b"],
        &["put", "pub/x", "2"],
        &["del", "other/x"],
        &["del", "--prefix", "other/"],
        &["del", "--prev-kv", "w"],
        &["put", "--prev-kv", "w", "2"],
    ];
    for a in refused {
        assert!(!s.ctl(a).status.success(), "etcd let carol {a:?}");
    }
    // Compares read pub/x (allowed) or other/x (refused); ops write app/.
    let txn =
        |s: &EtcdServer, input: &str| s.ctl_stdin_output(&["txn", "--interactive=false"], input);
    assert!(txn(
        &s,
        "value(\"pub/x\") = \"1\"\n\nput app/2 t\n\nput app/3 f\n\n"
    )
    .status
    .success());
    assert!(txn(
        &s,
        "value(\"pub/x\") = \"9\"\n\nput app/4 t\n\nput app/5 f\n\n"
    )
    .status
    .success());
    assert!(!txn(&s, "value(\"other/x\") = \"0\"\n\nput app/6 t\n\n\n")
        .status
        .success());
    assert!(!txn(&s, "\nput app/7 t\nput other/z t\n\n\n")
        .status
        .success());
    s.ctl_ok(&["del", "--prefix", "app/"]);
    s.ctl_ok(&["put", "app/8", "c"]);
    // A top-level range carol may not read: refused to her (etcd checks it
    // while she waits for the answer), applied by a restarted etcd, which
    // drops a replayed txn's top-level ranges (nobody waits for them).
    assert!(!txn(&s, "\nget other/x\nput app/r t\n\n\n").status.success());
    // Root puts a key carol may not write onto carol's lease: she can
    // neither revoke it nor put onto it any more.
    s.user = Some("root:rootpw".into());
    s.ctl_ok(&["put", "other/q", "root's", &format!("--lease={lease}")]);
    s.user = Some("carol:carolpw".into());
    assert!(!s.ctl(&["lease", "revoke", &lease]).status.success());
    assert!(!s
        .ctl(&["put", "app/9", "x", &format!("--lease={lease}")])
        .status
        .success());
    s.ctl_ok(&["put", "app/10", "d"]);
    s.sigkill();
    let copy = copy_of(&data, &dir);

    let d = data.to_str().unwrap();
    let (ours, wal_line) = ls_with_wal(d, "etcd ls DIR");
    let hash = json_of(&ok(
        &boltsnap(["etcd", "hashkv", d, "-w", "json"]),
        "etcd hashkv DIR",
    ));
    let alone = json_of(&ok(
        &boltsnap(["etcd", "ls", d, "--no-wal", "-w", "json"]),
        "etcd ls --no-wal",
    ));
    let mut truth = EtcdServer::start_with_args(&bins, &copy, peer, args);
    truth.user = Some("root:rootpw".into());
    let theirs = json_of(
        truth
            .ctl_ok(&["get", "", "--prefix", "-w", "json"])
            .as_bytes(),
    );
    let hk = json_of(
        truth
            .ctl_ok(&["endpoint", "hashkv", "-w", "json"])
            .as_bytes(),
    );
    drop(truth);
    let (ours, our_rev) = kvs(&ours);
    let (theirs, their_rev) = kvs(&theirs);
    let (alone, _) = kvs(&alone);
    assert_ne!(
        alone, theirs,
        "{v:?}: the db alone already had it all; the test proves nothing"
    );
    assert!(
        ours == theirs,
        "{v:?}: keys differ ({wal_line}) {}",
        first_difference(&ours, &theirs)
    );
    assert_eq!(our_rev, their_rev, "{v:?}: revision");
    assert_eq!(
        hash["hash"].as_u64(),
        hk[0]["HashKV"]["hash"].as_u64(),
        "{v:?}: hashkv {hash} vs {hk}"
    );
    let keys: Vec<&str> = theirs.iter().filter_map(|k| k["key"].as_str()).collect();
    assert!(!keys.contains(&b64("other/y").as_str()), "{keys:?}");
    assert!(
        keys.contains(&b64("app/r").as_str()),
        "a restarted etcd applies the txn whose range it drops: {keys:?}"
    );
}

#[test]
fn key_permissions_in_the_wal_etcd_34() {
    key_permissions_hold(EtcdVersion::V34);
}

#[test]
fn key_permissions_in_the_wal_etcd_35() {
    key_permissions_hold(EtcdVersion::V35);
}
