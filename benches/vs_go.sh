#!/usr/bin/env bash
# Side-by-side benchmark of boltsnap's reader against Go bbolt 1.3.6 on the
# same etcd-shaped file (1,000,000 revisions, 700,000 keys, values of 200 to
# 600 bytes; made by the Go oracle, about 650 MB, kept in target/bench/).
#
#   bash benches/vs_go.sh [FILE]
#
# Prints one row per workload: Go seconds, boltsnap seconds, ratio (Go time
# divided by boltsnap time: above 1 means boltsnap is faster). Every timing
# is the best of several runs on a warm page cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/gen-bolt-fixtures.sh build
cargo build -q --release --example bolt_bench --bin boltsnap
file="${1:-target/bench/etcd-1m.db}"
if [ ! -f "$file" ]; then
  mkdir -p "$(dirname "$file")"
  echo "generating $file with the Go oracle..." >&2
  target/go/gobolt gen-etcd "$file" --revisions 1000000 --keys 700000 --page-size 4096 --seed 1 >&2
fi
size=$(stat -c %s "$file")
go=target/go/gobolt
rs=target/release/examples/bolt_bench
sec() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seconds"])'; }
row() { # name go_seconds rs_seconds
  python3 -c 'import sys; n,g,r=sys.argv[1],float(sys.argv[2]),float(sys.argv[3]); print(f"| {n:<34} | {g:>9.3f} | {r:>9.3f} | {g/r:>6.2f}x |")' "$@"
}
cat /dev/null "$file" > /dev/null   # warm the page cache
echo "file: $file ($((size / 1000000)) MB)"
echo
echo "| workload                           |  Go (s)   | boltsnap (s) | Go/boltsnap |"
echo "|------------------------------------|-----------|-----------|---------|"
row "cursor scan, keys+values untouched" "$($go bench-scan --no-touch "$file" | sec)" "$($rs scan-no-touch "$file" | sec)"
row "cursor scan, every byte summed" "$($go bench-scan "$file" | sec)" "$($rs scan "$file" | sec)"
row "check (Tx.Check)" "$($go bench-check "$file" | sec)" "$($rs check "$file" | sec)"
# Export: Go's baseline is the scan + real mvccpb decode + latest-per-key
# map + session/lease filter + sort (gobolt bench-live); ours is the same
# work through the libraries (live view + selection), and the whole
# `boltsnap export` command (which also hashes the source and writes a
# zstd-compressed, checksummed backup to tmpfs or the target dir).
sel() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seconds"])'; }
row "live keys + export filter (library)" "$($go bench-live "$file" | sel)" "$($rs live "$file" 2>/dev/null | sel)"
outdir=/dev/shm; [ -w /dev/shm ] || outdir="$(dirname "$file")"
rm -f "$outdir/boltsnap-bench.bsnap"
/usr/bin/time -o "$outdir/boltsnap-bench.time" -f %e target/release/boltsnap export "$file" -o "$outdir/boltsnap-bench.bsnap" --force > /dev/null 2>&1
ex=$(cat "$outdir/boltsnap-bench.time"); rm -f "$outdir/boltsnap-bench.time"
rm -f "$outdir/boltsnap-bench.bsnap"
row "boltsnap export (whole command)" "$($go bench-live "$file" | sel)" "$ex"
# compact: Go's `bolt.Compact` as the bbolt CLI runs it (default options,
# a commit every 64 KiB, each synced), and with NoSync, against `boltsnap
# bolt compact` (one pass, one fsync at the end). Best of 3 each, every run
# after a sync; disk timings on this VM vary by 2-3x from run to run.
tmpc="$(dirname "$file")/compact-out"
best3() { # command... (prints the best "seconds")
  local best=999 t
  for _ in 1 2 3; do
    rm -rf "$tmpc"; mkdir -p "$tmpc"; sync
    t=$("$@")
    best=$(python3 -c "print(min($best, $t))")
  done
  echo "$best"
}
go_c() { $go bench-compact "$@" "$file" "$tmpc/out.db" | sec; }
rs_c() { { /usr/bin/time -f %e target/release/boltsnap bolt compact "$file" "$tmpc/out.db" > /dev/null; } 2>&1; }
rc=$(best3 rs_c)
row "compact (Go synced per 64 KiB tx)" "$(best3 go_c)" "$rc"
row "compact (Go with NoSync)" "$(best3 go_c --no-sync)" "$rc"
rm -rf "$tmpc"
# walk --json: every bucket and pair as hex JSON lines (no Go peer prints
# this; gobolt walk is the oracle's equivalent, used for correctness).
best_walk() {
  local best=999 t
  for _ in 1 2 3; do
    t=$( { /usr/bin/time -f %e "$@" > /dev/null; } 2>&1 )
    best=$(python3 -c "print(min($best, $t))")
  done
  echo "$best"
}
gw=$(best_walk $go walk "$file")
rw=$(best_walk target/release/boltsnap bolt walk --json "$file")
row "walk --json (to /dev/null)" "$gw" "$rw"
out=$(target/release/boltsnap bolt walk --json "$file" | wc -c)
python3 -c "print(f'\nwalk --json: {$out/1e6:.0f} MB of output in {$rw:.2f} s = {$out/1e6/$rw:.0f} MB/s of JSON, {$size/1e6/$rw:.0f} MB/s of db file')"
