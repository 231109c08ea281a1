#!/usr/bin/env bash
# WAL replay benchmark on the 1,000,000-revision etcd file of
# benches/vs_go.sh (tools/gobolt gen-etcd, 700,000 keys, 4 KiB pages):
#   - the WAL read (frames, CRC-32C chain, protobuf decode) and the replay
#     onto the db, in GB/s of WAL, best of 5, one core
#     (examples/wal_bench.rs, which also makes the data dir: the db, a raft
#     snapshot at its consistent index and one 64 MB segment of
#     Milvus-shaped puts, deletes and txns);
#   - `boltsnap export DIR` (WAL replayed, its keys laid over the db's
#     live view) against `boltsnap export DIR --no-wal`: wall time
#     and peak RSS.
#
#   bash benches/wal.sh [MB]     MB: WAL size, default 64
set -euo pipefail
cd "$(dirname "$0")/.."
mb="${1:-64}"
bash tools/gen-bolt-fixtures.sh build
db=target/bench/etcd-1m.db
if [ ! -f "$db" ]; then
  mkdir -p target/bench
  target/go/gobolt gen-etcd "$db" --revisions 1000000 --keys 700000 --page-size 4096 --seed 1
fi
cargo build -q --release --bin boltsnap --example wal_bench
b=target/release/boltsnap
ex=target/release/examples/wal_bench
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$ex" gen "$db" "$work/data" "$mb" >&2
echo "== WAL read and replay (best of 5)"
"$ex" replay "$work/data"
measure() { # label, args...: every run's wall time, then the best and its RSS
  local label="$1"; shift
  local all="" best="" best_kb=0
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r secs kb < "$work/time"
    all="$all $secs"
    if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
      best="$secs" best_kb="$kb"
    fi
  done
  printf '%-28s %8.2f s %8d MB peak RSS  (runs:%s)\n' "$label" "$best" "$((best_kb / 1024))" "$all"
}
echo "== export (wall time: best of 3 runs, in two rounds; peak RSS)"
for round in 1 2; do
  measure "export DIR --no-wal" "$b" export "$work/data" --no-wal -o "$work/a.bsnap" --force
  measure "export DIR (WAL replayed)" "$b" export "$work/data" -o "$work/b.bsnap" --force
done
