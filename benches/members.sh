#!/usr/bin/env bash
# Several members: `boltsnap export A B C` (three copies of one member's
# db, merged revision by revision, every revision checked against the
# other two) against `boltsnap export A` on the 1,000,000-revision etcd
# file of benches/vs_go.sh (tools/gobolt gen-etcd, 700,000 keys, 4 KiB
# pages). Wall time and peak RSS, best of 3. Issue 13's target: the merge
# of three costs at most 1.5 times the single export.
#
#   bash benches/members.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/gen-bolt-fixtures.sh build
db=target/bench/etcd-1m.db
if [ ! -f "$db" ]; then
  mkdir -p target/bench
  target/go/gobolt gen-etcd "$db" --revisions 1000000 --keys 700000 --page-size 4096 --seed 1
fi
cargo build -q --release --bin boltsnap
b=target/release/boltsnap
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for m in 0 1 2; do cp "$db" "$work/member-$m.db"; done
best() { # label, args...: best wall time of 3, its peak RSS
  local label="$1"; shift
  local best_s="" best_kb=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r secs kb < "$work/time"
    if [ -z "$best_s" ] || awk -v a="$secs" -v b="$best_s" 'BEGIN { exit !(a < b) }'; then
      best_s=$secs best_kb=$kb
    fi
  done
  printf '%-34s %8.2f s %8d MB peak RSS\n' "$label" "$best_s" "$((best_kb / 1024))"
  echo "$best_s" > "$work/last"
}
echo "== $(du -m "$db" | cut -f1) MB db, $(nproc) cores"
best "export one member" "$b" export "$work/member-0.db" --no-wal -o "$work/one.bsnap" --force
one=$(cat "$work/last")
best "export three members (merged)" "$b" export "$work/member-0.db" "$work/member-1.db" "$work/member-2.db" --no-wal -o "$work/three.bsnap" --force
three=$(cat "$work/last")
awk -v a="$three" -v b="$one" 'BEGIN { printf "ratio three/one: %.2f (target <= 1.5)\n", a / b }'
cmp <("$b" verify "$work/one.bsnap" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("records"), d.get("revision"))') \
    <("$b" verify "$work/three.bsnap" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("records"), d.get("revision"))') \
  && echo "the two backups hold the same records and revision"
