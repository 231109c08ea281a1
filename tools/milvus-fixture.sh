#!/usr/bin/env bash
# Build a Milvus metadata fixture from a real server.
#
#   tools/milvus-fixture.sh OUT.db [ROOT_PATH]        (ROOT_PATH = etcd.rootPath, default by-dev)
#
# Starts the embedded Milvus standalone shipped by the PyPI package `milvus` (it bundles its own
# etcd), builds a known set of metadata through pymilvus, stops the server with SIGTERM and copies
# the embedded etcd's bbolt file (member/snap/db) to OUT.db.  What gets created:
#
#   database default
#     docs   id INT64 pk (no auto id), emb FLOAT_VECTOR(8), title VARCHAR(64),
#            tenant VARCHAR(32) partition key (4 partitions), dynamic field on;
#            600 rows (tenant-0..tenant-4); even ids carry a dynamic "color" key, ids divisible
#            by 7 a dynamic "score"; flushed, IVF_FLAT on emb, loaded
#     plain  id INT64 pk, emb FLOAT_VECTOR(8), title VARCHAR(64); extra partition p1;
#            500 rows (250 in _default, 250 in p1); flushed, IVF_FLAT, loaded; alias plain_alias
#     gone   same fields as plain; 100 rows, flushed, then dropped
#   database analytics
#     events id INT64 pk, emb FLOAT_VECTOR(8), kind VARCHAR(32); 300 rows; flushed, IVF_FLAT,
#            never loaded
#   users alice, bob; role reader granted Query and Search on Collection "*" (granted while
#   using database default, so Milvus stores it as default.*); alice has role reader
#
# Authorization stays off; the script connects as the built-in root user because the grant RPCs
# need a caller.  Every component is pinned to 127.0.0.1, and the query node's graceful-stop wait
# is capped at 10 s so SIGTERM finishes (Milvus 2.3 then exits with a "context canceled" panic
# after the embedded etcd has closed its db; the script checks etcd's log for the clean close).
#
# Environment:
#   MILVUS_VERSION    PyPI `milvus` version (default 2.3.5).  PyPI has Linux x86_64 wheels of
#                     `milvus` only up to 2.3.5; 2.3.8 and 2.3.9 exist as macOS arm64 wheels only.
#   PYMILVUS_VERSION  pymilvus version (default: same as MILVUS_VERSION, 2.3.8 for 2.3.9)
#   MILVUS_VENV       venv to use / create (default ~/.cache/milvus-$MILVUS_VERSION-venv)
#   MILVUS_FIXTURE_KEEP  if set, keep the scratch dir (server config, logs, data) and print it
#
# Needs python3 with the venv module and PyPI the first time; a run takes about a minute
# (plus about 15 s to make the venv).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT.db [ROOT_PATH]" >&2
  exit 2
fi
out_db=$(realpath -m "$1")
root_path=${2:-by-dev}

milvus_version=${MILVUS_VERSION:-2.3.5}
case "$milvus_version" in
  2.3.9) default_pymilvus=2.3.8 ;;   # there is no pymilvus 2.3.9
  *) default_pymilvus=$milvus_version ;;
esac
pymilvus_version=${PYMILVUS_VERSION:-$default_pymilvus}
venv_dir=${MILVUS_VENV:-$HOME/.cache/milvus-$milvus_version-venv}

if [ ! -x "$venv_dir/bin/python" ] || ! "$venv_dir/bin/python" -c 'import milvus, pymilvus' 2>/dev/null; then
  echo "setting up $venv_dir (milvus $milvus_version, pymilvus $pymilvus_version)" >&2
  rm -rf "$venv_dir"
  mkdir -p "$(dirname "$venv_dir")"
  python3 -m venv "$venv_dir"
  # pymilvus 2.3 needs older marshmallow, numpy and pandas than pip picks today.
  if ! "$venv_dir/bin/pip" install -q "milvus==$milvus_version" "pymilvus==$pymilvus_version" \
      'marshmallow<4' 'numpy<2' 'pandas<2.2'; then
    rm -rf "$venv_dir"
    echo "could not install milvus==$milvus_version from PyPI for this platform" \
         "(Linux x86_64 wheels stop at 2.3.5; try MILVUS_VERSION=2.3.5)" >&2
    exit 1
  fi
fi

scratch=$(mktemp -d)
if [ -n "${MILVUS_FIXTURE_KEEP:-}" ]; then
  echo "keeping the server's files (config, logs, data) in $scratch" >&2
else
  trap 'rm -rf "$scratch"' EXIT
fi

"$venv_dir/bin/python" - "$scratch" "$out_db" "$root_path" <<'PYTHON'
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import milvus
from milvus import MilvusServer, MilvusServerConfig
from pymilvus import (Collection, CollectionSchema, DataType, FieldSchema, Role, connections, db,
                      utility)

scratch, out_db, root_path = sys.argv[1:4]
rng = random.Random(20240309)

# etcd.rootPath: the first "rootPath:" key inside the top-level "etcd:" block of the template.
pkg_data = os.path.join(os.path.dirname(milvus.__file__), 'data')
template = open(os.path.join(pkg_data, 'config.yaml.template')).read()
template, hits = re.subn(r'(?m)^(etcd:\n(?:[ \t].*\n|\n)*?[ \t]+rootPath:[ \t]*)by-dev\b',
                         lambda m: m.group(1) + root_path, template, count=1)
if hits != 1:
    sys.exit('etcd.rootPath not found in the milvus config template')
# Advertise and dial 127.0.0.1 only (the default is the first non-loopback address).
template, hits = re.subn(r'(?m)^([ \t]+ip:)[ \t]*(#.*)?$', r'\1 127.0.0.1 \2', template)
if hits == 0:
    sys.exit('no component ip: keys found in the milvus config template')
# On SIGTERM the query node waits for its loaded segments to move elsewhere (up to 30 min by
# default); with a single node they never do, so cap that wait.
template, hits = re.subn(r'(?m)^queryNode:\n', 'queryNode:\n  gracefulStopTimeout: 10\n', template)
if hits != 1:
    sys.exit('queryNode section not found in the milvus config template')
template_path = os.path.join(scratch, 'milvus.yaml.template')
with open(template_path, 'w') as f:
    f.write(template)

config = MilvusServerConfig(template=template_path)
config.glog_conf_file = os.path.join(pkg_data, 'glog.conf')
server = MilvusServer(config)
server.set_base_dir(os.path.join(scratch, 'milvus'))
server.start()
print(f'milvus {milvus.__version__} up on port {server.listen_port}, etcd.rootPath {root_path}',
      file=sys.stderr)
# Authorization stays off, but the privilege RPCs read the caller from the request metadata,
# so connect with the built-in root account.
connections.connect(host='127.0.0.1', port=server.listen_port, user='root', password='Milvus')


def vectors(n):
    return [[rng.random() for _ in range(8)] for _ in range(n)]


def ivf_flat(collection):
    collection.create_index('emb', {'index_type': 'IVF_FLAT', 'metric_type': 'L2',
                                    'params': {'nlist': 8}})


def basic_fields(text_name, text_len):
    return [FieldSchema('id', DataType.INT64, is_primary=True, auto_id=False),
            FieldSchema('emb', DataType.FLOAT_VECTOR, dim=8),
            FieldSchema(text_name, DataType.VARCHAR, max_length=text_len)]


# --- database "default" ---------------------------------------------------------------------
db.using_database('default')

docs_schema = CollectionSchema(
    [FieldSchema('id', DataType.INT64, is_primary=True, auto_id=False),
     FieldSchema('emb', DataType.FLOAT_VECTOR, dim=8),
     FieldSchema('title', DataType.VARCHAR, max_length=64),
     FieldSchema('tenant', DataType.VARCHAR, max_length=32, is_partition_key=True)],
    description='documents, partitioned by tenant', enable_dynamic_field=True)
docs = Collection('docs', docs_schema, num_partitions=4)
colors = ['red', 'green', 'blue']
rows = []
for i in range(600):
    row = {'id': i, 'emb': [rng.random() for _ in range(8)], 'title': f'doc {i}',
           'tenant': f'tenant-{i % 5}'}
    if i % 2 == 0:
        row['color'] = colors[i % 3]
    if i % 7 == 0:
        row['score'] = i / 10
    rows.append(row)
docs.insert(rows[:300])
docs.insert(rows[300:])
docs.flush()
ivf_flat(docs)
docs.load()

plain = Collection('plain', CollectionSchema(basic_fields('title', 64),
                                             description='plain collection with partition p1'))
plain.create_partition('p1', description='second partition')
plain.insert([list(range(250)), vectors(250), [f'plain {i}' for i in range(250)]])
plain.insert([list(range(250, 500)), vectors(250), [f'plain {i}' for i in range(250, 500)]],
             partition_name='p1')
plain.flush()
ivf_flat(plain)
plain.load()
utility.create_alias('plain', 'plain_alias')

gone = Collection('gone', CollectionSchema(basic_fields('title', 64),
                                           description='dropped after a flush'))
gone.insert([list(range(100)), vectors(100), [f'gone {i}' for i in range(100)]])
gone.flush()
utility.drop_collection('gone')

# --- database "analytics" -------------------------------------------------------------------
db.create_database('analytics')
db.using_database('analytics')
events = Collection('events', CollectionSchema(basic_fields('kind', 32),
                                               description='events, indexed but not loaded'))
events.insert([list(range(300)), vectors(300), [('click', 'view', 'buy')[i % 3] for i in range(300)]])
events.flush()
ivf_flat(events)

# --- users and roles ------------------------------------------------------------------------
db.using_database('default')
utility.create_user('alice', 'alice-pass-123')
utility.create_user('bob', 'bob-pass-456')
reader = Role('reader')
reader.create()
reader.grant('Collection', '*', 'Query')
reader.grant('Collection', '*', 'Search')
reader.add_user('alice')

print('databases', db.list_database(), file=sys.stderr)
print('default collections', utility.list_collections(), file=sys.stderr)
print('docs partitions', [p.name for p in docs.partitions], file=sys.stderr)
print('users', utility.list_usernames(), file=sys.stderr)
print('reader grants', reader.list_grants(), file=sys.stderr)
connections.disconnect('default')

# Let etcd's backend commit its last batch, then ask Milvus to shut down gracefully.
time.sleep(5)
proc = server.server_proc
proc.send_signal(signal.SIGTERM)
try:
    proc.wait(timeout=90)
    print(f'milvus exited with {proc.returncode}', file=sys.stderr)
except subprocess.TimeoutExpired:
    print('milvus did not stop within 90 s; killing it', file=sys.stderr)
server.stop()
etcd_log = open(os.path.join(scratch, 'milvus', 'logs', 'etcd.log')).read()
if '"closed etcd server"' in etcd_log:
    # Milvus 2.3 then panics with "context canceled" while closing its etcd client (exit -6);
    # by then the embedded etcd has already closed its bbolt file.
    print('embedded etcd closed cleanly', file=sys.stderr)
else:
    print('warning: embedded etcd did not log a clean close', file=sys.stderr)

shutil.copyfile(os.path.join(scratch, 'milvus', 'data', 'etcd.data', 'member', 'snap', 'db'),
                out_db)
print(f'wrote {out_db} ({os.path.getsize(out_db)} bytes, etcd.rootPath {root_path})')
PYTHON
