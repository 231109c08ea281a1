#!/usr/bin/env bash
# Restore benchmarks on etcd-shaped files made by tools/gobolt gen-etcd:
#   - offline: `boltsnap restore --snapshot` (the etcd db writer, sha256 trailer);
#   - online: `boltsnap restore --endpoints` into a fresh local etcd 3.5.1
#     (loopback), over gRPC and over the JSON gateway, in keys per second
#     and peak memory, read-back included,
#     this tree's binary side by side with one built from the commit before
#     several transactions were kept in flight and records were streamed
#     (BASE, default 9b20954; one transaction at a time, all records held).
#
#   bash benches/restore.sh [SIZE...]     SIZE: 140k (default), 609k
#
# 140k: 200,000 revisions over 160,000 keys (about 140,000 exported keys);
# 609k: 1,000,000 revisions over 700,000 keys (benches/vs_go.sh's file).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(140k)
bash tools/gen-bolt-fixtures.sh build
mkdir -p target/bench
# The baseline binary, built in a temporary worktree (its own target dir
# under target/bench, kept for the next run), then this tree's.
base="${BASE:-9b20954}"
old=target/bench/boltsnap-base
if [ ! -x "$old" ] || [ "$(cat "$old.rev" 2>/dev/null)" != "$(git rev-parse "$base")" ]; then
  wt="$(mktemp -d)/main"
  git worktree add -q --detach "$wt" "$base"
  (cd "$wt" && cargo build -q --release --bin boltsnap --target-dir "$OLDPWD/target/bench/main-target")
  cp target/bench/main-target/release/boltsnap "$old"
  git rev-parse "$base" > "$old.rev"
  git worktree remove --force "$wt"
fi
cargo build -q --release --bin boltsnap
b=target/release/boltsnap
etcd_dir="$(bash tools/peers.sh etcd35)"
work="$(mktemp -d)"
trap 'kill $(cat "$work/etcd.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
# Peak resident memory of each restore, where GNU time is there.
timed() { # OUT COMMAND...
  local out=$1; shift
  if [ -x /usr/bin/time ]; then /usr/bin/time -f %M -o "$out" "$@"; else "$@"; fi
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fresh_etcd() {
  kill "$(cat "$work/etcd.pid" 2>/dev/null)" 2>/dev/null || true
  sleep 0.5; rm -rf "$work/etcd"
  cport=$(port); pport=$(port)
  "$etcd_dir/etcd" --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "default=http://127.0.0.1:$pport" --quota-backend-bytes 8589934592 > "$work/etcd.log" 2>&1 &
  echo $! > "$work/etcd.pid"
  for _ in $(seq 100); do "$etcd_dir/etcdctl" --endpoints "127.0.0.1:$cport" endpoint health > /dev/null 2>&1 && break; sleep 0.1; done
}
online() { # BINARY LABEL [ARGS...]
  local bin=$1 label=$2; shift 2
  fresh_etcd
  local t0 t1; t0=$(date +%s.%N)
  timed "$work/rss" "$bin" restore "$work/b.bsnap" --endpoints "http://127.0.0.1:$cport" "$@" > "$work/online.txt"; t1=$(date +%s.%N)
  local rss; rss=$(cat "$work/rss" 2>/dev/null || echo 0)
  python3 -c "print(f'  {\"$label\":34} {$keys/($t1-$t0):>9,.0f} keys/s  ({$t1-$t0:.1f} s, peak {${rss:-0}/1024:.0f} MiB)')"
  echo "$t0 $t1" > "$work/$label.t"
}
for size in "${sizes[@]}"; do
  case "$size" in
    140k) revs=200000 nkeys=160000 ;;
    609k) revs=1000000 nkeys=700000 ;;
    *) echo "unknown size $size (140k or 609k)" >&2; exit 2 ;;
  esac
  file="target/bench/etcd-$size.db"
  [ -f "$file" ] || target/go/gobolt gen-etcd "$file" --revisions $revs --keys $nkeys --page-size 4096 --seed 1 >&2
  $b export "$file" -o "$work/b.bsnap" --force 2>/dev/null
  keys=$($b verify --json "$work/b.bsnap" | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
  echo "== $size: $keys keys, $(($(stat -c %s "$work/b.bsnap") / 1000000)) MB backup"
  sync
  t0=$(date +%s.%N); $b restore "$work/b.bsnap" --snapshot "$work/r.db" --force > /dev/null; t1=$(date +%s.%N)
  python3 -c "print(f'  offline restore: {$keys/($t1-$t0):,.0f} keys/s ({$t1-$t0:.2f} s, {$(stat -c %s "$work/r.db")/1e6:.0f} MB snapshot file)')"
  echo "  online restore into etcd 3.5.1 on loopback, read-back included:"
  online "$old" "base (one txn at a time)"
  before=$(cat "$work/base (one txn at a time).t")
  online "$b" "this tree (gRPC, --parallel 8)"
  after=$(cat "$work/this tree (gRPC, --parallel 8).t")
  python3 -c "b='$before'.split(); a='$after'.split(); print(f'  speed-up: {(float(b[1])-float(b[0]))/(float(a[1])-float(a[0])):.1f}x')"
  online "$b" "this tree (gateway, --parallel 8)" --transport gateway
  for p in 1 4 16 32; do online "$b" "this tree (gRPC) --parallel $p" --parallel $p; done
done
