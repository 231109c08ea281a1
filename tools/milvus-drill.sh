#!/usr/bin/env bash
# The rescue drill, end to end, with a real Milvus 2.3.5 (PyPI `milvus`,
# standalone) on an external etcd 3.5.1:
#
#   1. etcd on loopback; Milvus on it; databases, collections, partitions,
#      an alias, a user, rows inserted and flushed, an index;
#   2. Milvus stopped, etcd killed (SIGKILL);
#   3. boltsnap export of the dead etcd's member/snap/db;
#   4. a fresh, empty etcd on the same address; boltsnap restore --endpoints;
#   5. Milvus started again on the same local storage: every database,
#      collection, alias and user must be back with its row count;
#   6. the same from `export --drop-snapshots` (RootCoord's older and
#      dropped objects' timestamped copies left out) into another fresh etcd;
#   7. the same from `restore --rename-root by-dev=copy` into another fresh
#      etcd, Milvus started with etcd.rootPath: copy;
#   8. a crash: a new etcd and a new Milvus storage, a writer creating
#      collections, inserting, flushing and building indexes; etcd SIGKILLed
#      mid-write (its db commits held back by a long batch interval, so the
#      acknowledged writes are in the WAL only); export of its data dir (WAL
#      replayed), restore into a fresh etcd, Milvus started: every
#      collection whose flush Milvus had acknowledged is back with its row
#      count (and the db alone, --no-wal, lacks them).
#
#   tools/milvus-drill.sh [WORKDIR]     (prints a JSON result; exit 0 = all back)
#   tools/milvus-drill.sh --setup       (makes the venv only; .ci/run does this)
#
# Needs python3 with venv (the venv is cached in $MILVUS_VENV, default
# ~/.cache/milvus-2.3.5-venv, as for ../shared/tools/milvus-fixture.sh) and
# takes 2 to 5 minutes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv=${MILVUS_VENV:-$HOME/.cache/milvus-2.3.5-venv}
# The PyPI peers (tools/peers.list), with the pins pymilvus 2.3.5 needs
# to import on today's PyPI.
if ! "$venv/bin/python" -c 'import milvus, pymilvus' 2>/dev/null; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  if ! "$venv/bin/pip" install -q milvus==2.3.5 pymilvus==2.3.5 'marshmallow<4' 'numpy<2' 'pandas<2.2'; then
    rm -rf "$venv"
    echo "milvus-drill: could not install milvus==2.3.5 and pymilvus==2.3.5 from PyPI into $venv" >&2
    exit 1
  fi
fi
if [ "${1:-}" = "--setup" ]; then
  echo "$venv"
  exit 0
fi
work="$(realpath -m "${1:-$(mktemp -d)}")"
mkdir -p "$work"
etcd_dir="$(bash "$root/tools/peers.sh" etcd35)"
(cd "$root" && cargo build -q --release --bin boltsnap)
"$venv/bin/python" - "$work" "$etcd_dir" "$root/target/release/boltsnap" <<'PY'
import json, os, random, signal, socket, subprocess, sys, time
import milvus
from milvus import MilvusServer, MilvusServerConfig
from pymilvus import connections, utility, db, Collection, CollectionSchema, FieldSchema, DataType

work, etcd_dir, boltsnap = sys.argv[1:4]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

client, peer = free_port(), free_port()

def start_etcd(data, *extra):
    log = open(os.path.join(work, os.path.basename(data) + ".log"), "w")
    p = subprocess.Popen([os.path.join(etcd_dir, "etcd"), "--name=default", f"--data-dir={data}",
        f"--listen-client-urls=http://127.0.0.1:{client}", f"--advertise-client-urls=http://127.0.0.1:{client}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=default=http://127.0.0.1:{peer}", *extra], stdout=log, stderr=log)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", client), 0.2).close(); return p
        except OSError:
            time.sleep(0.1)
    raise SystemExit("etcd did not start")

tmpl = open(os.path.join(os.path.dirname(milvus.__file__), "data", "config.yaml.template")).read()
tmpl = tmpl.replace("embed: true # Whether to enable embedded Etcd", "embed: false # Whether to enable embedded Etcd", 1)
tmpl = tmpl.replace("endpoints: localhost:{{ etcd_port(int): 2379 }}", f"endpoints: 127.0.0.1:{client}", 1)
ROOT_LINE = "rootPath: by-dev # The root path where data is stored in etcd"
assert ROOT_LINE in tmpl

def start_milvus(root="by-dev", base="milvus"):
    tpath = os.path.join(work, f"milvus-{root}.yaml.template")
    open(tpath, "w").write(tmpl.replace(ROOT_LINE, f"rootPath: {root} # The root path where data is stored in etcd", 1))
    cfg = MilvusServerConfig(template=tpath)
    cfg.glog_conf_file = os.path.join(os.path.dirname(milvus.__file__), "data", "glog.conf")
    srv = MilvusServer(cfg)
    srv.set_base_dir(os.path.join(work, base))
    srv.start()
    connections.connect(host="127.0.0.1", port=srv.listen_port)
    return srv

def snapshot():
    out = {}
    for name in db.list_database():
        db.using_database(name)
        for c in utility.list_collections():
            col = Collection(c)
            col.flush()
            out[f"{name}.{c}"] = {"rows": col.num_entities, "partitions": sorted(p.name for p in col.partitions),
                                  "aliases": sorted(utility.list_aliases(c))}
    db.using_database("default")
    return {"collections": out, "databases": sorted(db.list_database()), "users": sorted(utility.list_usernames())}

etcd = start_etcd(os.path.join(work, "etcd-1"))
srv = start_milvus()
db.create_database("analytics")
for name in ["default", "analytics"]:
    db.using_database(name)
    for c in range(2):
        fields = [FieldSchema("id", DataType.INT64, is_primary=True), FieldSchema("emb", DataType.FLOAT_VECTOR, dim=8)]
        col = Collection(f"{name}_c{c}", CollectionSchema(fields))
        col.create_partition("p1")
        n = 300 * (c + 1)
        col.insert([list(range(n)), [[random.random() for _ in range(8)] for _ in range(n)]])
        col.flush()
        col.create_index("emb", {"index_type": "IVF_FLAT", "metric_type": "L2", "params": {"nlist": 8}})
    utility.create_alias(f"{name}_c0", f"{name}_alias")
    # History RootCoord keeps timestamped copies of: a dropped collection
    # and a dropped partition (their newest copies are tombstones), an
    # alias moved away and back (older copies).
    Collection(f"{name}_tmp", CollectionSchema([FieldSchema("id", DataType.INT64, is_primary=True),
                                               FieldSchema("emb", DataType.FLOAT_VECTOR, dim=8)])).drop()
    col.create_partition("p2")
    col.drop_partition("p2")
    utility.alter_alias(f"{name}_c1", f"{name}_alias")
    utility.alter_alias(f"{name}_c0", f"{name}_alias")
db.using_database("default")
utility.create_user("alice", "alicepass123")
before = snapshot()
connections.disconnect("default")
srv.stop()
etcd.send_signal(signal.SIGKILL); etcd.wait()

db_file = os.path.join(work, "etcd-1", "member", "snap", "db")

def export(name, *extra, src=db_file):
    out = os.path.join(work, name)
    r = subprocess.run([boltsnap, "export", src, "-o", out, "--force", "--json", *extra], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("export failed: " + r.stderr)
    return out, json.loads(r.stdout)

def drill(backup, etcd_name, root="by-dev", *extra, base="milvus"):
    """Restore `backup` into a fresh etcd, start Milvus on it: what it serves."""
    etcd = start_etcd(os.path.join(work, etcd_name))
    try:
        r = subprocess.run([boltsnap, "restore", backup, "--endpoints", f"http://127.0.0.1:{client}", "--json", *extra],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("restore failed: " + r.stderr)
        srv = start_milvus(root, base)
        after = snapshot()
        connections.disconnect("default")
        srv.stop()
    finally:
        etcd.terminate(); etcd.wait()
    return after, json.loads(r.stdout)["report"]

backup, exp = export("milvus.bsnap")
after, res = drill(backup, "etcd-2")
small, exp_small = export("milvus-no-snapshots.bsnap", "--drop-snapshots")
after_small, _ = drill(small, "etcd-3")
after_renamed, res_renamed = drill(backup, "etcd-4", "copy", "--rename-root", "by-dev=copy")
# 8. The crash: etcd SIGKILLed while Milvus writes.
import threading
# etcd commits its db every 100 ms; a long batch interval keeps the
# acknowledged writes of the whole run in the WAL only, as a crash right
# before a commit would: the export must replay the WAL to find them.
etcd = start_etcd(os.path.join(work, "etcd-crash"), "--backend-batch-interval=60s", "--backend-batch-limit=1000000")
srv = start_milvus(base="milvus-crash")
acked = {}
def writer():
    i = 0
    while True:
        name = f"w{i}"
        try:
            col = Collection(name, CollectionSchema([FieldSchema("id", DataType.INT64, is_primary=True),
                                                      FieldSchema("emb", DataType.FLOAT_VECTOR, dim=8)]))
            n = 200 + 50 * i
            col.insert([list(range(n)), [[random.random() for _ in range(8)] for _ in range(n)]])
            col.flush()
            if i % 2 == 0:
                col.create_index("emb", {"index_type": "IVF_FLAT", "metric_type": "L2", "params": {"nlist": 8}})
            acked[name] = col.num_entities
        except Exception:
            return
        i += 1
t = threading.Thread(target=writer, daemon=True)
t.start()
deadline = time.time() + 120
while len(acked) < 3 and time.time() < deadline:
    time.sleep(0.2)
time.sleep(random.uniform(0.3, 2.0))  # mid-write: the next collection is under way
etcd.send_signal(signal.SIGKILL); etcd.wait()
acked_at_kill = dict(acked)
t.join(timeout=30)
try:
    connections.disconnect("default")
except Exception:
    pass
srv.stop()
crash_dir = os.path.join(work, "etcd-crash")  # the data dir: db + WAL
crash_backup, crash_exp = export("crash.bsnap", src=crash_dir)
no_wal = subprocess.run([boltsnap, "export", crash_dir, "--no-wal", "-o", os.path.join(work, "crash-no-wal.bsnap"),
                         "--force", "--json"], capture_output=True, text=True)
after_crash, _ = drill(crash_backup, "etcd-crash-restored", base="milvus-crash")
back = {n: after_crash["collections"].get(f"default.{n}", {}).get("rows") for n in acked_at_kill}
crash_ok = bool(acked_at_kill) and all(back[n] == rows for n, rows in acked_at_kill.items())

ok = before == after == after_small == after_renamed and crash_ok
result = {"equal": ok, "before": before, "after": after,
          "after_drop_snapshots": after_small, "after_rename_root": after_renamed,
          "export": exp, "export_drop_snapshots": exp_small,
          "restore": res, "restore_rename_root": res_renamed,
          "crash": {"acknowledged": acked_at_kill, "back": back, "ok": crash_ok,
                    "after": after_crash, "export": crash_exp,
                    "export_no_wal": json.loads(no_wal.stdout) if no_wal.returncode == 0 else no_wal.stderr}}
print(json.dumps(result, indent=1))
sys.exit(0 if ok else 1)
PY
