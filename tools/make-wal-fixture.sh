#!/usr/bin/env bash
# Makes testdata/etcd-wal/<version>-killed/: a real etcd data dir killed with
# SIGKILL while its db was behind its WAL (the backend commits every 30 s,
# so the writes after start-up are in the WAL alone), with the WAL's zero
# tail trimmed (the file's end is the log's end) and the spare segment left
# out. expected.json is what the same etcd serves after a restart on a copy
# of the dir (etcdctl get "" --prefix -w json); hashkv.json its HashKV.
#
#   bash tools/make-wal-fixture.sh ETCD_BIN_DIR VERSION
set -euo pipefail
bin=$1 ver=$2
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/testdata/etcd-wal/$ver-killed
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
c=$(port) p=$(port)
start() {
  "$bin/etcd" --name default --data-dir "$1" --listen-client-urls "http://127.0.0.1:$c" \
    --advertise-client-urls "http://127.0.0.1:$c" --listen-peer-urls "http://127.0.0.1:$p" \
    --initial-advertise-peer-urls "http://127.0.0.1:$p" --initial-cluster "default=http://127.0.0.1:$p" \
    --backend-batch-interval=30s >"$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do ETCDCTL_API=3 "$bin/etcdctl" --endpoints "127.0.0.1:$c" endpoint health >/dev/null 2>&1 && return; sleep 0.1; done
  echo "etcd did not start"; cat "$1.log"; exit 1
}
ctl() { ETCDCTL_API=3 "$bin/etcdctl" --endpoints "127.0.0.1:$c" "$@"; }
start "$work/d"
for i in $(seq 1 40); do ctl put "app/k$i" "v$i" >/dev/null; done
# A compaction forces a backend commit: the db holds up to here, the rest
# is in the WAL alone.
ctl compact 20 >/dev/null
for i in $(seq 1 10); do ctl put "app/k$i" "again-$i" >/dev/null; done
ctl del app/k3 >/dev/null
ctl del app/k2 app/k29 >/dev/null   # a range: k2, k20..k28
lease=$(ctl lease grant 900 | awk '{print $2}')
ctl put --lease="$lease" app/leased x >/dev/null
ctl put --lease="$lease" app/leased2 y >/dev/null
gone=$(ctl lease grant 900 | awk '{print $2}')
ctl put --lease="$gone" app/revoked z >/dev/null
ctl lease revoke "$gone" >/dev/null
ctl txn <<<'value("app/k1") = "again-1"

put app/txn-ok yes
del app/k4

put app/txn-failed yes

' >/dev/null
ctl txn <<<'value("app/k1") = "nope"

put app/txn-ok2 yes

put app/txn-failed2 yes

' >/dev/null
for i in $(seq 41 60); do ctl put "app/k$i" "v$i" >/dev/null; done
kill -9 $pid; wait $pid 2>/dev/null || true
cp -a "$work/d" "$work/copy"
start "$work/copy"
rm -rf "$out"; mkdir -p "$out/member/snap" "$out/member/wal"
ctl get "" --prefix -w json | python3 -m json.tool --sort-keys >"$out/expected.json"
ctl endpoint hashkv -w json | python3 -c 'import json,sys; h=json.load(sys.stdin)[0]["HashKV"]; print(json.dumps({"hash":h["hash"],"compact_revision":h["compact_revision"]}))' >"$out/hashkv.json"
kill $pid; wait $pid 2>/dev/null || true
cp "$work/d/member/snap/db" "$out/member/snap/db"
for f in "$work"/d/member/wal/*.wal; do
  python3 - "$f" "$out/member/wal/$(basename "$f")" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
end = len(b.rstrip(b'\0'))
end = (end + 7) // 8 * 8
open(sys.argv[2], 'wb').write(b[:end])
PY
done
ls -la "$out/member/snap" "$out/member/wal"
