#!/usr/bin/env bash
# The way out of "database space exceeded": a real etcd 3.5.1 db that holds
# the two-databases Milvus 2.3.5 metadata plus 1,000,000 RootCoord snapshot
# keys (`by-dev/meta/snapshots/root-coord/fields/<coll>/<field>_ts<ts>`:
# 100 timestamped copies of each of 10,000 field keys, 120-byte values: the
# shape of milvus issues 44614, 36748 and 47959; `--drop-snapshots` keeps
# the newest copy of each), loaded
# into the etcd through `restore --endpoints` and read from its data dir
# after a clean stop. Then, timed: `export --drop-snapshots` of that data
# dir, `restore --snapshot` of the backup, `etcdutl snapshot restore` and a
# fresh etcd started on it with the default 2 GiB quota, its keys counted.
#
#   bash benches/quota.sh [SNAPSHOT_KEYS]     default 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
cargo build -q --release --bin boltsnap
b="$PWD/target/release/boltsnap"
etcd_dir="$(bash tools/peers.sh etcd35)"
work="$(mktemp -d)"
trap 'kill $(cat "$work/etcd.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_etcd() { # DATA_DIR [ETCD ARGS...]
  local data=$1; shift
  cport=$(port); pport=$(port)
  "$etcd_dir/etcd" --data-dir "$data" --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "default=http://127.0.0.1:$pport" "$@" > "$work/etcd.log" 2>&1 &
  echo $! > "$work/etcd.pid"
  for _ in $(seq 300); do "$etcd_dir/etcdctl" --endpoints "127.0.0.1:$cport" endpoint health > /dev/null 2>&1 && return; sleep 0.1; done
  echo "etcd did not start:"; tail -5 "$work/etcd.log"; exit 1
}
stop_etcd() { kill "$(cat "$work/etcd.pid")"; while kill -0 "$(cat "$work/etcd.pid")" 2>/dev/null; do sleep 0.1; done; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.2f}')" "$@"; }
mb() { python3 -c "import os,sys; print(f'{os.path.getsize(sys.argv[1])/1e6:,.1f} MB')" "$1"; }

# The input: the fixture's keys and the generated snapshot keys, one jsonl
# backup in key order.
"$b" export testdata/milvus-2.3.5/two-databases.db --format jsonl -o "$work/fixture.jsonl" 2>/dev/null
python3 - "$work/fixture.jsonl" "$work/big.jsonl" "$n" <<'PY'
import base64, json, os, random, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(src).read().splitlines()
manifest = json.loads(lines[0])
recs = [json.loads(l) for l in lines[1:]]
rnd = random.Random(1)
per_field = 100
fields = 10
colls = max(1, n // (per_field * fields))
made = 0
for c in range(colls):
    for f in range(fields):
        for t in range(per_field):
            if made == n:
                break
            key = f"by-dev/meta/snapshots/root-coord/fields/{470650202190774000 + c}/{100 + f}_ts{470650202190774000 + 1000 * t + c}"
            recs.append({"key": base64.b64encode(key.encode()).decode(), "create_revision": 1, "mod_revision": 1, "version": 1,
                         "value": base64.b64encode(rnd.randbytes(120)).decode()})
            made += 1
recs.sort(key=lambda r: base64.b64decode(r["key"]))
m = manifest["manifest"]
m["records"] = len(recs)
m["bytes"] = sum(len(base64.b64decode(r["key"])) + len(base64.b64decode(r.get("value", ""))) for r in recs)
with open(dst, "w") as out:
    out.write(json.dumps(manifest) + "\n")
    for r in recs:
        out.write(json.dumps(r) + "\n")
print(f"input: {len(recs):,} keys, {made:,} of them RootCoord snapshots")
PY
start_etcd "$work/full" --quota-backend-bytes 8589934592
"$b" restore "$work/big.jsonl" --endpoints "http://127.0.0.1:$cport" > /dev/null
stop_etcd
# With a quota below its size, that etcd refuses writes as users saw it.
start_etcd "$work/full" --quota-backend-bytes 209715200
echo "the full etcd with a 200 MiB quota, a put: $("$etcd_dir/etcdctl" --endpoints "127.0.0.1:$cport" put by-dev/x y 2>&1 | grep -o "etcdserver: [^\"]*" | tail -1)"
stop_etcd
echo "full etcd db: $(mb "$work/full/member/snap/db") ($("$b" etcd status "$work/full" -w json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["totalKey"])') keys)"

t0=$(date +%s.%N)
"$b" export "$work/full" --drop-snapshots -o "$work/small.bsnap" 2> "$work/export.txt"
t1=$(date +%s.%N)
"$b" restore "$work/small.bsnap" --snapshot "$work/small.db" > /dev/null
t2=$(date +%s.%N)
grep "snapshots" "$work/export.txt" | sed 's/^/  /'
echo "export --drop-snapshots: $(secs "$t0" "$t1") s; restore --snapshot: $(secs "$t1" "$t2") s"
echo "restored db: $(mb "$work/small.db")"
"$etcd_dir/etcdutl" snapshot restore "$work/small.db" --data-dir "$work/fresh" > /dev/null 2>&1
start_etcd "$work/fresh"
echo "fresh etcd (default quota) serves $("$etcd_dir/etcdctl" --endpoints "127.0.0.1:$cport" get --prefix "" --keys-only --limit 1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])') keys"
stop_etcd
