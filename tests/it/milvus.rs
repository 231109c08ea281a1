//! The rescue commands on real Milvus 2.3.5 dbs: export equals a reference
//! computation (Go bbolt + etcd's own mvccpb), inspect shows what the
//! workload created, verify catches every kind of damage, diff, and the
//! input is never modified.

use serde_json::Value;
use sha2::Digest;

use crate::peers::{gobolt, run_gobolt};
use crate::{boltsnap, export_ok, ok, tempdir, testdata};

const DBS: [(&str, &str); 3] = [
    ("small.db", "by-dev"),
    ("two-databases.db", "by-dev"),
    ("custom-root.db", "tenant-a/milvus"),
];

fn sha(p: &std::path::Path) -> Vec<u8> {
    sha2::Sha256::digest(std::fs::read(p).unwrap()).to_vec()
}

fn jsonl_records(p: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(p).unwrap();
    let mut lines = text.lines();
    let first: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert!(
        first.get("manifest").is_some(),
        "first line is the manifest"
    );
    lines.map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Exports `db` as JSON lines to `out` and checks the records equal the Go
/// reference (Go bbolt, etcd's mvccpb, `skip` and leased keys left out);
/// returns them.
fn export_matches_go(db: &std::path::Path, out: &std::path::Path, skip: &str) -> Vec<Value> {
    ok(
        &boltsnap([
            "export".as_ref(),
            db.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--format".as_ref(),
            "jsonl".as_ref(),
        ]),
        "export",
    );
    let ours = jsonl_records(out);
    let (code, go, err) = run_gobolt(&[
        "live-json".as_ref(),
        db.as_os_str(),
        "--prefix-skip".as_ref(),
        skip.as_ref(),
    ])
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let theirs: Vec<Value> = String::from_utf8(go)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{}: key count differs from the reference",
        db.display()
    );
    assert!(
        ours == theirs,
        "{}: exported records differ from the reference",
        db.display()
    );
    ours
}

#[test]
fn export_equals_reference_computation() {
    if gobolt().is_none() {
        return;
    }
    let dir = tempdir("export-ref");
    for (name, root) in DBS {
        let db = testdata(&format!("milvus-2.3.5/{name}"));
        let before = sha(&db);
        let ours = export_matches_go(
            &db,
            &dir.join(format!("{name}.jsonl")),
            &format!("{root}/meta/session/"),
        );
        assert!(!ours.is_empty(), "{name}");
        assert_eq!(sha(&db), before, "{name}: the input was modified");
    }
}

#[test]
fn bsnap_and_jsonl_carry_the_same_records() {
    let dir = tempdir("bsnap-jsonl");
    for (name, root) in DBS {
        let db = testdata(&format!("milvus-2.3.5/{name}"));
        let b = dir.join(format!("{name}.bsnap"));
        let j = dir.join(format!("{name}.jsonl"));
        let out = boltsnap([
            "export".as_ref(),
            db.as_os_str(),
            "-o".as_ref(),
            b.as_os_str(),
            "--json".as_ref(),
        ]);
        let summary: Value = serde_json::from_slice(&ok(&out, "export")).unwrap();
        assert!(
            summary["left_out"]["session"].as_u64().unwrap() >= 1,
            "{name}: sessions are left out and counted"
        );
        assert_eq!(
            summary["roots"][root]["left_out"]["session"],
            summary["left_out"]["session"]
        );
        ok(
            &boltsnap([
                "export".as_ref(),
                db.as_os_str(),
                "-o".as_ref(),
                j.as_os_str(),
                "--format".as_ref(),
                "jsonl".as_ref(),
            ]),
            "export jsonl",
        );
        let v = json_of(&boltsnap([
            "verify".as_ref(),
            "--json".as_ref(),
            b.as_os_str(),
        ]));
        assert_eq!(v["ok"], true);
        assert_eq!(v["records"].as_u64(), Some(jsonl_records(&j).len() as u64));
        assert_eq!(v["manifest"]["roots"][0], root);
        assert!(jsonl_records(&j)
            .iter()
            .all(|r| !base64_decode(r["key"].as_str().unwrap())
                .starts_with(format!("{root}/meta/session/").as_bytes())));
    }
}

/// A jsonl backup is read wherever a `.bsnap` one is: `verify` (which says
/// it has no checksum), `inspect`, `diff` and `restore --snapshot`, with
/// the same records; a cut or reordered file is refused.
#[test]
fn a_jsonl_backup_is_read_like_a_bsnap_one() {
    let dir = tempdir("jsonl-read");
    for (name, _root) in DBS {
        let db = testdata(&format!("milvus-2.3.5/{name}"));
        let b = dir.join(format!("{name}.bsnap"));
        let j = dir.join(format!("{name}.jsonl"));
        export_ok(&db, &b);
        crate::export_jsonl_ok(&db, &j);
        let v = json_of(&boltsnap([
            "verify".as_ref(),
            "--json".as_ref(),
            j.as_os_str(),
        ]));
        assert_eq!(v["ok"], true, "{name}");
        assert_eq!(v["format"], "jsonl");
        assert_eq!(v["checksummed"], false);
        let vb = json_of(&boltsnap([
            "verify".as_ref(),
            "--json".as_ref(),
            b.as_os_str(),
        ]));
        assert_eq!(vb["format"], "bsnap");
        assert_eq!(vb["checksummed"], true);
        assert_eq!(v["records"], vb["records"], "{name}");
        assert_eq!(v["bytes"], vb["bytes"], "{name}");
        let text =
            String::from_utf8(ok(&boltsnap(["verify".as_ref(), j.as_os_str()]), "verify")).unwrap();
        assert!(text.contains("no checksum"), "{text}");

        // inspect sees the same catalog in both.
        let ib = ok(
            &boltsnap(["inspect".as_ref(), "--json".as_ref(), b.as_os_str()]),
            "inspect",
        );
        let ij = ok(
            &boltsnap(["inspect".as_ref(), "--json".as_ref(), j.as_os_str()]),
            "inspect",
        );
        let (mut ib, mut ij): (Value, Value) = (
            serde_json::from_slice(&ib).unwrap(),
            serde_json::from_slice(&ij).unwrap(),
        );
        ib.as_object_mut().unwrap().remove("input");
        ij.as_object_mut().unwrap().remove("input");
        assert_eq!(ib, ij, "{name}: inspect of the two forms");

        // diff finds them equal; exit 0.
        ok(
            &boltsnap(["diff".as_ref(), b.as_os_str(), j.as_os_str()]),
            "diff",
        );

        // restore --snapshot from either form writes the same store.
        let sb = dir.join(format!("{name}.b.snap.db"));
        let sj = dir.join(format!("{name}.j.snap.db"));
        for (bk, snap) in [(&b, &sb), (&j, &sj)] {
            ok(
                &boltsnap([
                    "restore".as_ref(),
                    bk.as_os_str(),
                    "--snapshot".as_ref(),
                    snap.as_os_str(),
                ]),
                "restore --snapshot",
            );
        }
        let hb = ok(
            &boltsnap(["etcd".as_ref(), "hashkv".as_ref(), sb.as_os_str()]),
            "hashkv",
        );
        let hj = ok(
            &boltsnap(["etcd".as_ref(), "hashkv".as_ref(), sj.as_os_str()]),
            "hashkv",
        );
        assert_eq!(hb, hj, "{name}: the stores restored from the two forms");

        // Damage: cut mid-line, cut at a line end, two lines swapped.
        let bytes = std::fs::read(&j).unwrap();
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&c| c == b'\n').collect();
        assert!(lines.len() > 3);
        let mut swapped: Vec<&[u8]> = lines.clone();
        swapped.swap(1, 2);
        let cases: [(&str, Vec<u8>, &str); 3] = [
            ("mid-line", bytes[..bytes.len() - 10].to_vec(), "cut short"),
            ("line-end", lines[..lines.len() - 1].concat(), "cut short"),
            ("swapped", swapped.concat(), "order"),
        ];
        for (what, data, says) in cases {
            let bad = dir.join(format!("{name}.{what}.jsonl"));
            std::fs::write(&bad, data).unwrap();
            for cmd in ["verify", "inspect"] {
                let out = boltsnap([cmd.as_ref(), bad.as_os_str()]);
                assert!(!out.status.success(), "{name} {what}: {cmd} accepted it");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains(says), "{name} {what} {cmd}: {err}");
            }
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn export_options() {
    let dir = tempdir("export-opts");
    let db = testdata("milvus-2.3.5/custom-root.db");
    let o = dir.join("a.bsnap");
    // --keep-session-id keeps exactly one more key.
    let plain = json_of(&boltsnap([
        "export".as_ref(),
        db.as_os_str(),
        "-o".as_ref(),
        o.as_os_str(),
        "--json".as_ref(),
    ]));
    let keep = json_of(&boltsnap([
        "export".as_ref(),
        db.as_os_str(),
        "-o".as_ref(),
        o.as_os_str(),
        "--force".as_ref(),
        "--json".as_ref(),
        "--keep-session-id".as_ref(),
    ]));
    assert_eq!(
        keep["kept"].as_u64().unwrap(),
        plain["kept"].as_u64().unwrap() + 1
    );
    // A root that is not there is a clear error.
    let out = boltsnap([
        "export".as_ref(),
        db.as_os_str(),
        "-o".as_ref(),
        dir.join("b.bsnap").as_os_str(),
        "--root".as_ref(),
        "by-dev".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("root \"by-dev\" not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("b.bsnap").exists(), "no output on failure");
    // An existing output is refused without --force.
    let out = boltsnap([
        "export".as_ref(),
        db.as_os_str(),
        "-o".as_ref(),
        o.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // -o - writes the backup to stdout.
    let out = boltsnap([
        "export".as_ref(),
        db.as_os_str(),
        "-o".as_ref(),
        "-".as_ref(),
    ]);
    let piped = dir.join("piped.bsnap");
    std::fs::write(&piped, ok(&out, "export -o -")).unwrap();
    ok(
        &boltsnap(["verify".as_ref(), piped.as_os_str()]),
        "verify piped",
    );
}

#[test]
fn verify_catches_truncation_and_any_flipped_byte() {
    let dir = tempdir("verify-damage");
    let db = testdata("milvus-2.3.5/small.db");
    let good = dir.join("good.bsnap");
    export_ok(&db, &good);
    let bytes = std::fs::read(&good).unwrap();
    ok(
        &boltsnap(["verify".as_ref(), good.as_os_str()]),
        "verify good",
    );
    let bad = dir.join("bad.bsnap");
    let check = |b: &[u8], what: &str| {
        std::fs::write(&bad, b).unwrap();
        let out = boltsnap(["verify".as_ref(), bad.as_os_str()]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: verify must fail\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.is_empty(), "{what}: a reason");
        err
    };
    for cut in [
        0,
        7,
        16,
        100,
        bytes.len() / 2,
        bytes.len() - 57,
        bytes.len() - 56,
        bytes.len() - 1,
    ] {
        check(&bytes[..cut], &format!("truncated to {cut}"));
    }
    // Every byte of the header, manifest start and trailer, and a stride through the rest.
    let n = bytes.len();
    let positions: Vec<usize> = (0..64)
        .chain((64..n - 56).step_by(37))
        .chain(n - 56..n)
        .collect();
    for i in positions {
        let mut b = bytes.clone();
        b[i] ^= 0x20;
        let err = check(&b, &format!("byte {i} flipped"));
        // Outside the trailer's own fields the cause is named, whatever
        // the flip broke first (the version, a length, the JSON, ...).
        if i < n - 56 || i >= n - 32 {
            assert!(err.contains("checksum mismatch"), "byte {i} flipped: {err}");
        }
        // inspect reads the same file as a damaged backup too.
        let out = boltsnap(["inspect".as_ref(), bad.as_os_str()]);
        assert_eq!(out.status.code(), Some(2), "inspect, byte {i} flipped");
    }
    // A file of format version 1 (one zstd frame) is still read: this
    // small backup is one frame; made a version 1 file by its header and
    // manifest, with the checksum redone.
    let mut b = bytes.clone();
    b[8] = 1;
    let field = b"\"format_version\":2";
    let at = b
        .windows(field.len())
        .position(|w| w == field)
        .expect("format_version in the manifest")
        + field.len()
        - 1;
    b[at] = b'1';
    let n = b.len();
    let digest = sha2::Sha256::digest(&b[..n - 56]);
    b[n - 32..].copy_from_slice(&digest);
    std::fs::write(&bad, &b).unwrap();
    let v = json_of(&boltsnap([
        "verify".as_ref(),
        "--json".as_ref(),
        bad.as_os_str(),
    ]));
    assert_eq!(v["ok"], true, "a version 1 file: {v}");
    // A newer format version (as a newer boltsnap writes it, checksum
    // and all) is refused with a clear message, not called damaged.
    let mut b = bytes.clone();
    b[8] = (milvus_meta::backup::FORMAT_VERSION + 1) as u8;
    let n = b.len();
    let digest = sha2::Sha256::digest(&b[..n - 56]);
    b[n - 32..].copy_from_slice(&digest);
    std::fs::write(&bad, &b).unwrap();
    let out = boltsnap(["verify".as_ref(), bad.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer than this boltsnap reads"), "{err}");
    assert!(!err.contains("checksum mismatch"), "{err}");
    // Not a backup at all.
    let out = boltsnap(["verify".as_ref(), db.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a boltsnap backup"));
}

#[test]
fn inspect_shows_what_the_workload_created() {
    let v = json_of(&boltsnap([
        "inspect",
        "--json",
        testdata("milvus-2.3.5/custom-root.db").to_str().unwrap(),
    ]));
    let r = &v["catalog"]["roots"][0];
    assert_eq!(r["root"], "tenant-a/milvus");
    let dbs: Vec<&str> = r["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(dbs, ["default", "analytics"]);
    let colls = r["collections"].as_array().unwrap();
    let by_name = |n: &str| {
        colls
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no collection {n}"))
    };
    for db in ["default", "analytics"] {
        let c0 = by_name(&format!("{db}_c0"));
        assert_eq!(
            (c0["database"].as_str(), c0["rows"].as_i64()),
            (Some(db), Some(500))
        );
        assert_eq!(c0["aliases"][0], format!("{db}_alias"));
        let parts: Vec<&str> = c0["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(parts, ["_default", "p1"]);
        let fields: Vec<(&str, &str)> = c0["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"].as_i64().unwrap() >= 100)
            .map(|f| {
                (
                    f["name"].as_str().unwrap(),
                    f["data_type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("id", "Int64"),
                ("emb", "FloatVector"),
                ("title", "VarChar")
            ]
        );
        assert_eq!(by_name(&format!("{db}_c1"))["rows"].as_i64(), Some(1000));
        assert_ne!(
            by_name(&format!("{db}_c2"))["state"],
            "Created",
            "c2 was dropped"
        );
    }
    let users: Vec<&str> = r["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice", "root"]);
    assert_eq!(r["milvus_versions"][0], "2.3.5");
    let text = String::from_utf8(v.to_string().into_bytes()).unwrap();
    assert!(!text.contains("$2a$"), "password hashes are never shown");
    // The same catalog from a backup of it (sessions are not in the backup).
    let dir = tempdir("inspect-backup");
    let b = dir.join("c.bsnap");
    ok(
        &boltsnap([
            "export",
            testdata("milvus-2.3.5/custom-root.db").to_str().unwrap(),
            "-o",
            b.to_str().unwrap(),
        ]),
        "export",
    );
    let vb = json_of(&boltsnap(["inspect", "--json", b.to_str().unwrap()]));
    assert_eq!(vb["catalog"]["roots"][0]["collections"], r["collections"]);
    assert_eq!(vb["catalog"]["roots"][0]["sessions"], Value::Array(vec![]));
    // two-databases.db: 12 collections, three users.
    let v = json_of(&boltsnap([
        "inspect",
        "--json",
        testdata("milvus-2.3.5/two-databases.db").to_str().unwrap(),
    ]));
    let r = &v["catalog"]["roots"][0];
    assert_eq!(r["collections"].as_array().unwrap().len(), 12);
    // The workload dropped the last collection of each database.
    let dropped: Vec<&str> = r["collections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] != "Created")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(dropped, ["default_coll_5", "analytics_coll_5"]);
    assert_eq!(r["users"], serde_json::json!(["alice", "bob", "root"]));
}

#[test]
fn diff_compares_dbs_and_backups() {
    let dir = tempdir("diff");
    let db = testdata("milvus-2.3.5/small.db");
    let same = boltsnap(["diff".as_ref(), db.as_os_str(), db.as_os_str()]);
    assert_eq!(same.status.code(), Some(0));
    let b = dir.join("s.bsnap");
    export_ok(&db, &b);
    let d = boltsnap([
        "diff".as_ref(),
        "--json".as_ref(),
        db.as_os_str(),
        b.as_os_str(),
    ]);
    assert_eq!(d.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&d.stdout).unwrap();
    // What the export left out, and nothing else.
    assert_eq!(v["only_in_b"]["count"], 0);
    assert_eq!(v["value_differs"]["count"], 0);
    assert_eq!(v["revisions_differ"]["count"], 0);
    let only_a = v["only_in_a"]["keys"].as_array().unwrap();
    assert!(
        !only_a.is_empty()
            && only_a
                .iter()
                .all(|k| k.as_str().unwrap().starts_with("by-dev/meta/session/")),
        "{only_a:?}"
    );
    let b2 = dir.join("s2.bsnap");
    ok(
        &boltsnap([
            "export".as_ref(),
            db.as_os_str(),
            "-o".as_ref(),
            b2.as_os_str(),
        ]),
        "export again",
    );
    assert_eq!(
        boltsnap(["diff".as_ref(), b.as_os_str(), b2.as_os_str()])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn export_of_a_large_generated_db_equals_reference() {
    // Large enough for every parallel path of the live view: the scan's
    // hand-off between threads, the parallel string sort (over 16,384
    // keys), long runs of keys with a common prefix.
    if gobolt().is_none() {
        return;
    }
    let dir = tempdir("export-big");
    let db = dir.join("gen.db");
    let (code, _, err) = run_gobolt(&[
        "gen-etcd".as_ref(),
        db.as_os_str(),
        "--revisions".as_ref(),
        "60000".as_ref(),
        "--keys".as_ref(),
        "40000".as_ref(),
        "--seed".as_ref(),
        "7".as_ref(),
    ])
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let ours = export_matches_go(&db, &dir.join("gen.jsonl"), "by-dev/meta/session/");
    assert!(
        ours.len() > 20_000,
        "{} keys: too few to exercise the parallel paths",
        ours.len()
    );
    // The same export as a backup: many zstd frames (2 MiB of records each),
    // compressed on several threads and written in order.
    let b = dir.join("gen.bsnap");
    ok(
        &boltsnap([
            "export".as_ref(),
            db.as_os_str(),
            "-o".as_ref(),
            b.as_os_str(),
        ]),
        "export bsnap",
    );
    assert!(
        std::fs::metadata(&b).unwrap().len() > 8 << 20,
        "several frames"
    );
    let v = json_of(&boltsnap([
        "verify".as_ref(),
        "--json".as_ref(),
        b.as_os_str(),
    ]));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"].as_u64(), Some(ours.len() as u64));
    let restored = dir.join("gen-restored.db");
    ok(
        &boltsnap([
            "restore".as_ref(),
            b.as_os_str(),
            "--snapshot".as_ref(),
            restored.as_os_str(),
        ]),
        "restore --snapshot",
    );
    let back = dir.join("gen-back.jsonl");
    ok(
        &boltsnap([
            "export".as_ref(),
            restored.as_os_str(),
            "-o".as_ref(),
            back.as_os_str(),
            "--format".as_ref(),
            "jsonl".as_ref(),
        ]),
        "export of the restored db",
    );
    assert!(
        jsonl_records(&back) == ours,
        "the backup does not carry the exported records"
    );
}
