#!/usr/bin/env bash
# Restore benchmarks on the etcd-shaped file of benches/vs_go.sh
# (1,000,000 revisions; its export keeps about 609,000 keys, 290 MB):
#   - offline: `boltsnap restore --snapshot` (the etcd db writer, sha256 trailer);
#   - online: `boltsnap restore --endpoints` into a fresh local etcd 3.5.1
#     (loopback), in keys per second, read-back included.
#
#   bash benches/restore.sh [FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --bin boltsnap
bash tools/gen-bolt-fixtures.sh build
file="${1:-target/bench/etcd-1m.db}"
if [ ! -f "$file" ]; then
  mkdir -p "$(dirname "$file")"
  target/go/gobolt gen-etcd "$file" --revisions 1000000 --keys 700000 --page-size 4096 --seed 1 >&2
fi
b=target/release/boltsnap
work="$(mktemp -d)"
trap 'kill $(cat "$work/etcd.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
$b export "$file" -o "$work/b.bsnap" 2>/dev/null
keys=$($b verify --json "$work/b.bsnap" | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
sync
t0=$(date +%s.%N); $b restore "$work/b.bsnap" --snapshot "$work/r.db" > /dev/null; t1=$(date +%s.%N)
python3 -c "print(f'offline restore: {$keys} keys in {$t1-$t0:.2f} s = {$keys/($t1-$t0):,.0f} keys/s ({$(stat -c %s "$work/r.db")/1e6:.0f} MB snapshot file)')"
etcd_dir="$(bash tools/peers.sh etcd35)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
peer=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$etcd_dir/etcd" --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "default=http://127.0.0.1:$peer" --quota-backend-bytes 8589934592 > "$work/etcd.log" 2>&1 &
echo $! > "$work/etcd.pid"
for _ in $(seq 100); do "$etcd_dir/etcdctl" --endpoints "127.0.0.1:$port" endpoint health > /dev/null 2>&1 && break; sleep 0.1; done
t0=$(date +%s.%N); $b restore "$work/b.bsnap" --endpoints "http://127.0.0.1:$port" > "$work/online.txt"; t1=$(date +%s.%N)
cat "$work/online.txt"
python3 -c "print(f'online restore into etcd 3.5.1 on loopback: {$keys} keys in {$t1-$t0:.1f} s = {$keys/($t1-$t0):,.0f} keys/s (batches of 128, read-back included)')"
