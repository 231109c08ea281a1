//! `inspect --json` of every Milvus layout, field by field: the real 2.3.5
//! files (testdata/milvus-2.3.5, written by a real Milvus 2.3.5; 2.3.9 has
//! no Linux build on PyPI) and the GENERATED 2.4, 2.5 and 2.6 files
//! (testdata/milvus-generated, written by tools/gen-milvus-layouts.py into a
//! real etcd 3.5.1, laid out per the Milvus sources: not written by Milvus).

use serde_json::Value;

use crate::{boltsnap, export_jsonl_ok, ok, tempdir, testdata};

fn inspect(rel: &str) -> Value {
    let out = boltsnap(["inspect", "--json", testdata(rel).to_str().unwrap()]);
    serde_json::from_slice(&ok(&out, rel)).unwrap()
}

fn root(v: &Value) -> &Value {
    let roots = v["catalog"]["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 1, "{v}");
    &roots[0]
}

fn coll<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no collection {name}"))
}

fn field<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {}", c["name"]))
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Every area a layout writes is one boltsnap knows, with the line that
/// added it; no field number is unknown.
fn all_known(r: &Value, file: &str) {
    for (name, a) in r["fine_areas"].as_object().unwrap() {
        assert_ne!(a["holds"], "", "{file}: area {name} unknown");
    }
    assert_eq!(r["unknown_fields"], serde_json::json!({}), "{file}");
    assert_eq!(r["undecodable"], serde_json::json!([]), "{file}");
}

fn area_since(r: &Value, area: &str) -> String {
    r["fine_areas"][area]["since"]
        .as_str()
        .unwrap_or_else(|| panic!("no area {area}"))
        .to_string()
}

#[test]
fn real_2_3_partition_key_dynamic_field_roles_and_a_dropped_collection() {
    for (file, want_root) in [
        ("milvus-2.3.5/rich.db", "by-dev"),
        ("milvus-2.3.5/custom-root-b.db", "tenant-b/milvus"),
    ] {
        let v = inspect(file);
        let r = root(&v);
        assert_eq!(r["root"], want_root);
        assert_eq!(strs(&r["milvus_versions"]), ["2.3.5"], "{file}");
        all_known(r, file);
        assert_eq!(names(&r["databases"], "name"), ["default", "analytics"]);
        let docs = coll(r, "docs");
        assert_eq!(docs["database"], "default");
        assert_eq!(docs["dynamic_field"], true);
        assert_eq!(field(docs, "tenant")["partition_key"], true);
        assert_eq!(field(docs, "tenant")["data_type"], "VarChar");
        assert_eq!(field(docs, "$meta")["dynamic"], true);
        assert_eq!(field(docs, "id")["primary_key"], true);
        assert_eq!(
            names(&docs["partitions"], "name"),
            ["_default_0", "_default_1", "_default_2", "_default_3"]
        );
        assert_eq!(docs["rows"], 600);
        assert_eq!(docs["load"]["status"], "Loaded");
        assert_eq!(docs["indexes"][0]["builds"]["Finished"], 3);
        assert_eq!(docs["indexes"][0]["indexed_rows"], 600);
        let plain = coll(r, "plain");
        assert_eq!(strs(&plain["aliases"]), ["plain_alias"]);
        assert_eq!(names(&plain["partitions"], "name"), ["_default", "p1"]);
        assert_eq!(plain["rows"], 500);
        let gone = coll(r, "gone");
        assert_eq!(gone["state"], "Dropping");
        assert_eq!(gone["rows"], 0);
        let events = coll(r, "events");
        assert_eq!(events["database"], "analytics");
        assert_eq!(events["load"], Value::Null, "never loaded");
        assert_eq!(strs(&r["users"]), ["alice", "bob", "root"]);
        assert!(strs(&r["roles"]).contains(&"reader".to_string()));
        assert_eq!(r["user_roles"], serde_json::json!([["alice", "reader"]]));
        let check = boltsnap(["inspect", "--check", testdata(file).to_str().unwrap()]);
        assert!(check.status.success(), "{file}: {check:?}");
    }
}

#[test]
fn generated_2_4_2_5_2_6_every_area_and_field() {
    for (version, release) in [("2.4", "2.4.15"), ("2.5", "2.5.14"), ("2.6", "2.6.3")] {
        let file = format!("milvus-generated/milvus-{version}.db");
        let v = inspect(&file);
        let r = root(&v);
        let at_least = |x: &str| version >= x;
        assert_eq!(r["root"], "by-dev");
        assert_eq!(strs(&r["milvus_versions"]), [release], "{file}");
        all_known(r, &file);

        // Databases with properties (2.4).
        let shop = &r["databases"][1];
        assert_eq!(shop["name"], "shop");
        assert_eq!(shop["properties"]["database.max.collections"], "64");

        // The collection, its fields and flags.
        let p = coll(r, "products");
        assert_eq!(p["database"], "shop");
        assert_eq!(p["dynamic_field"], true);
        assert_eq!(p["properties"]["collection.ttl.seconds"], "86400");
        assert_eq!(p["properties"]["mmap.enabled"], "true");
        assert_eq!(field(p, "tenant")["partition_key"], true);
        assert_eq!(field(p, "category")["clustering_key"], true);
        assert_eq!(field(p, "tags")["data_type"], "Array");
        assert_eq!(field(p, "tags")["element_type"], "VarChar");
        assert_eq!(field(p, "tags")["params"]["max_capacity"], "8");
        assert_eq!(field(p, "$meta")["dynamic"], true);
        assert_eq!(field(p, "emb")["element_type"], Value::Null);
        assert_eq!(p["partitions"].as_array().unwrap().len(), 4);
        if at_least("2.5") {
            let price = field(p, "price");
            assert_eq!(
                (&price["nullable"], &price["default_value"]),
                (&Value::Bool(true), &Value::from("0.5"))
            );
            assert_eq!(field(p, "sparse")["function_output"], true);
            assert_eq!(field(p, "sparse")["data_type"], "SparseFloatVector");
            let f = &p["functions"][0];
            assert_eq!(f["name"], "text_bm25");
            assert_eq!(f["kind"], "BM25");
            assert_eq!(strs(&f["inputs"]), ["text"]);
            assert_eq!(strs(&f["outputs"]), ["sparse"]);
            assert_eq!(names(&r["privilege_groups"], "name"), ["analysts"]);
            assert_eq!(
                strs(&r["privilege_groups"][0]["privileges"]),
                ["Query", "Search", "DescribeCollection"]
            );
        } else {
            assert_eq!(p["functions"], serde_json::json!([]));
            assert_eq!(r["privilege_groups"], serde_json::json!([]));
        }
        if at_least("2.6") {
            let s = &p["struct_fields"][0];
            assert_eq!(
                (&s["id"], &s["name"]),
                (&Value::from(109), &Value::from("reviews"))
            );
            assert_eq!(
                names(&s["fields"], "name"),
                ["reviews[text]", "reviews[stars]"]
            );
            assert_eq!(s["fields"][1]["element_type"], "Int64");
        } else {
            assert_eq!(p["struct_fields"], serde_json::json!([]));
        }

        // Segments: levels, sorted, invisible; rows of live segments.
        assert_eq!(p["segment_levels"]["L0"], 1);
        assert_eq!(p["segment_states"]["Growing"], 1);
        let (l1, rows, sorted, invisible) = if at_least("2.5") {
            (4, 8120, 3, 1)
        } else {
            (3, 5120, 0, 0)
        };
        assert_eq!(p["segment_levels"]["L1"], l1, "{file}");
        assert_eq!(p["rows"], rows, "{file}");
        assert_eq!(p["sorted_segments"], sorted, "{file}");
        assert_eq!(p["invisible_segments"], invisible, "{file}");

        // Indexes with their progress.
        let hnsw = &p["indexes"][0];
        assert_eq!(hnsw["name"], "emb_hnsw");
        assert_eq!(hnsw["params"]["index_type"], "HNSW");
        if at_least("2.5") {
            assert_eq!(
                hnsw["builds"],
                serde_json::json!({"Finished": 1, "InProgress": 1})
            );
            assert_eq!(hnsw["indexed_rows"], 3000);
            assert_eq!(p["indexes"][1]["params"]["metric_type"], "BM25");
        } else {
            assert_eq!(hnsw["builds"], serde_json::json!({"Finished": 2}));
            assert_eq!(hnsw["indexed_rows"], 5000);
        }

        // Load state, replicas, resource groups.
        let load = &p["load"];
        assert_eq!(load["status"], "Loaded");
        assert_eq!(load["load_type"], "LoadCollection");
        assert_eq!(load["replica_number"], 1);
        assert_eq!(load["partitions"], 4);
        assert_eq!(load["replicas"][0]["resource_group"], "rg1");
        assert_eq!(
            load["load_fields"],
            if at_least("2.5") {
                serde_json::json!([100, 101, 102, 105])
            } else {
                serde_json::json!([])
            }
        );
        assert_eq!(
            names(&r["resource_groups"], "name"),
            ["__default_resource_group", "rg1"]
        );
        let logs = coll(r, "logs");
        assert_eq!(strs(&logs["aliases"]), ["logs_latest"]);
        assert_eq!(logs["load"], Value::Null);
        assert_eq!(field(logs, "id")["auto_id"], true);

        // The dropped collection: tombstones, counted as dropped objects.
        let kinds: Vec<String> = names(&r["dropped"], "kind");
        assert_eq!(kinds, ["collection", "field", "partition"], "{file}");
        assert!(r["collections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "old"));

        // Users and roles.
        assert_eq!(strs(&r["users"]), ["alice", "root"]);
        assert_eq!(strs(&r["roles"]), ["admin", "public", "reader"]);

        // Areas of each line, with the line that added them.
        assert_eq!(area_since(r, "meta/datacoord-meta/import-job"), "2.4");
        assert_eq!(area_since(r, "meta/queryCoord-Collection-Target"), "2.4");
        if at_least("2.5") {
            for a in [
                "meta/datacoord-meta/compaction-task",
                "meta/datacoord-meta/analyze-task",
                "meta/datacoord-meta/partition-stats",
                "meta/datacoord-meta/stats-task",
                "meta/datacoord-meta/bm25log",
                "meta/root-coord/functions",
                "meta/root-coord/privilege-group",
                "meta/streamingcoord-meta/pchannel",
            ] {
                assert_eq!(area_since(r, a), "2.5", "{file}: {a}");
            }
        }
        if at_least("2.6") {
            for a in [
                "meta/root-coord/struct-array-fields",
                "meta/streamingcoord-meta/broadcast-task",
                "meta/streamingcoord-meta/version",
                "meta/streamingcoord-meta/cchannel",
                "meta/streamingnode-meta/wal",
            ] {
                assert_eq!(area_since(r, a), "2.6", "{file}: {a}");
            }
            assert_eq!(v["catalog"]["woodpecker_keys"], 7);
            assert!(r["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == "mixcoord"));
        } else {
            assert_eq!(v["catalog"]["woodpecker_keys"], 0);
            assert!(r["fine_areas"].get("meta/streamingnode-meta/wal").is_none());
        }

        // The metadata hangs together.
        let check = boltsnap(["inspect", "--check", testdata(&file).to_str().unwrap()]);
        assert!(check.status.success(), "{file}: {check:?}");
    }
}

/// Woodpecker's top-level keys belong to the 2.6 instance: an export of
/// one root keeps them (a Milvus 2.6 cannot read its log without them).
#[test]
fn export_of_one_root_keeps_woodpecker() {
    let dir = tempdir("woodpecker");
    let db = testdata("milvus-generated/milvus-2.6.db");
    let out = dir.join("by-dev.jsonl");
    let o = boltsnap([
        "export",
        db.to_str().unwrap(),
        "--root",
        "by-dev",
        "--format",
        "jsonl",
        "-o",
        out.to_str().unwrap(),
    ]);
    ok(&o, "export --root by-dev");
    use base64::Engine;
    let keys: Vec<Vec<u8>> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|r| r["key"].as_str().map(str::to_string))
        .map(|k| base64::engine::general_purpose::STANDARD.decode(k).unwrap())
        .collect();
    let wp = keys
        .iter()
        .filter(|k| k.starts_with(b"woodpecker/"))
        .count();
    assert_eq!(wp, 7);
    assert!(keys
        .iter()
        .all(|k| k.starts_with(b"by-dev/") || k.starts_with(b"woodpecker/")));
    // Without --root: the same keys (nothing else is outside the root).
    let (_, all) = export_jsonl_ok(&db, &dir.join("all.jsonl"));
    assert_eq!(all.len(), keys.len());
}

/// Every committed Milvus fixture is in its directory's MANIFEST, with its
/// sha256 and a description that says whether it is real or generated.
#[test]
fn fixtures_match_their_manifests() {
    use sha2::Digest;
    for (dir, real) in [("milvus-2.3.5", true), ("milvus-generated", false)] {
        let manifest = std::fs::read_to_string(testdata(&format!("{dir}/MANIFEST"))).unwrap();
        let mut listed = Vec::new();
        for line in manifest.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "{dir}/MANIFEST: {line}");
            let bytes = std::fs::read(testdata(&format!("{dir}/{}", cols[0]))).unwrap();
            let got: String = sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, cols[1], "{dir}/{}", cols[0]);
            if real {
                assert!(cols[2].contains("real Milvus"), "{dir}/{}", cols[0]);
            } else {
                assert!(
                    cols[2].starts_with("GENERATED, not real"),
                    "{dir}/{}",
                    cols[0]
                );
            }
            listed.push(cols[0].to_string());
        }
        for e in std::fs::read_dir(testdata(dir)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".db") {
                assert!(listed.contains(&name), "{dir}/{name} is not in MANIFEST");
            }
        }
    }
}
