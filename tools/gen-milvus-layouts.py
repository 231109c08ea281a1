#!/usr/bin/env python3
"""Write etcd dbs laid out as Milvus 2.4, 2.5 and 2.6 write them.

Milvus 2.4 and later do not install here (PyPI `milvus` stops at 2.3; Milvus
Lite has no etcd), so these fixtures are GENERATED, not real: the keys and
protobuf messages follow Milvus's metastore sources (key prefixes in
internal/metastore/kv/{rootcoord,datacoord,querycoord}, streamingcoord and
streamingnode constants; messages in pkg/proto/{etcd_meta,data_coord,
index_coord,query_coord,streaming}.proto and milvus-proto's schema.proto and
milvus.proto, at the 2.4, 2.5 and 2.6 lines), encoded here by hand. Values
of areas that boltsnap counts but does not decode (import, compaction,
analyze and stats tasks, streaming records, Woodpecker) carry only their
IDs and names; every value boltsnap decodes carries every field the
catalog reads.

The keys are written into a real etcd 3.5 through its JSON gateway
(sessions with a lease, as Milvus does) and the etcd's member/snap/db is
copied out after a clean stop, so the bbolt file itself is etcd's.

    tools/gen-milvus-layouts.py OUTDIR [--etcd PATH]

writes OUTDIR/milvus-2.4.db, milvus-2.5.db and milvus-2.6.db. etcd comes
from --etcd, $ETCD, or target/peers/etcd-3.5.1/bin/etcd (tools/peers.sh
etcd35).
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

# ---- protobuf encoding (proto3: packed repeated scalars, defaults left out)


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num, wire):
    return varint(num << 3 | wire)


def msg(*fields):
    """fields: (num, kind, value); kind in int, bool, str, bytes, msg,
    float, double, ints (packed), strs, msgs. Zero values are left out."""
    out = bytearray()
    for num, kind, v in fields:
        if kind in ("int", "bool"):
            if v:
                out += key(num, 0) + varint(int(v))
        elif kind == "str":
            if v:
                b = v.encode()
                out += key(num, 2) + varint(len(b)) + b
        elif kind in ("bytes", "msg"):
            if v is not None:
                out += key(num, 2) + varint(len(v)) + v
        elif kind == "float":
            if v:
                out += key(num, 5) + struct.pack("<f", v)
        elif kind == "double":
            if v:
                out += key(num, 1) + struct.pack("<d", v)
        elif kind == "ints":
            if v:
                p = b"".join(varint(x) for x in v)
                out += key(num, 2) + varint(len(p)) + p
        elif kind == "strs":
            for s in v:
                b = s.encode()
                out += key(num, 2) + varint(len(b)) + b
        elif kind == "msgs":
            for m in v:
                out += key(num, 2) + varint(len(m)) + m
        else:
            raise ValueError(kind)
    return bytes(out)


def kvp(k, v):  # common.KeyValuePair
    return msg((1, "str", k), (2, "str", v))


def kvps(d):
    return [kvp(k, v) for k, v in d.items()]


# ---- Milvus messages (field numbers from the sources named above)

# schemapb.DataType
INT64, FLOAT, VARCHAR, ARRAY, JSON_T = 5, 10, 21, 22, 23
FLOAT_VECTOR, SPARSE = 101, 104


def field_schema(fid, name, dtype, *, pk=False, auto_id=False, params=None,
                 element=0, default=None, dynamic=False, partition_key=False,
                 clustering_key=False, nullable=False, function_output=False,
                 description=""):
    return msg(
        (1, "int", fid), (2, "str", name), (3, "bool", pk), (4, "str", description),
        (5, "int", dtype), (6, "msgs", kvps(params or {})), (8, "bool", auto_id),
        (10, "int", element), (11, "msg", default), (12, "bool", dynamic),
        (13, "bool", partition_key), (14, "bool", clustering_key),
        (15, "bool", nullable), (16, "bool", function_output))


def function_schema(fid, name, ftype, inputs, input_ids, outputs, output_ids, params=None):
    return msg((1, "str", name), (2, "int", fid), (4, "int", ftype),
               (5, "strs", inputs), (6, "ints", input_ids),
               (7, "strs", outputs), (8, "ints", output_ids),
               (9, "msgs", kvps(params or {})))


def struct_array_field(fid, name, subfields, params=None):
    return msg((1, "int", fid), (2, "str", name), (4, "msgs", subfields),
               (5, "msgs", kvps(params or {})))


def collection_schema(name, description, dynamic, properties):
    # Fields, functions and struct fields are stripped from the stored
    # schema and kept under their own keys (root-coord/fields/...).
    return msg((1, "str", name), (2, "str", description), (5, "bool", dynamic),
               (6, "msgs", kvps(properties)))


def collection_info(cid, schema, create_ts, vchannels, pchannels, shards,
                    consistency, db_id, properties, update_ts=0):
    return msg((1, "int", cid), (2, "msg", schema), (3, "int", create_ts),
               (7, "strs", vchannels), (8, "strs", pchannels), (10, "int", shards),
               (12, "int", consistency), (14, "msgs", kvps(properties)),
               (15, "int", db_id), (16, "int", update_ts))


def database_info(did, name, created, properties):
    return msg((2, "str", name), (3, "int", did), (4, "int", 1), (5, "int", created),
               (6, "msgs", kvps(properties)))


def partition_info(pid, name, ts, cid):
    return msg((1, "int", pid), (2, "str", name), (3, "int", ts), (4, "int", cid))


def alias_info(name, cid, ts, db_id):
    return msg((1, "str", name), (2, "int", cid), (3, "int", ts), (5, "int", db_id))


def binlog(rows, ts_from, ts_to, size, log_id):
    return msg((1, "int", rows), (2, "int", ts_from), (3, "int", ts_to),
               (5, "int", size), (6, "int", log_id))


def field_binlog(fid, binlogs):
    return msg((1, "int", fid), (2, "msgs", binlogs))


def msg_position(channel, ts):
    return msg((1, "str", channel), (2, "bytes", struct.pack("<Q", ts)), (4, "int", ts))


def segment_info(sid, cid, pid, channel, rows, state, level, *, sorted_=False,
                 invisible=False, storage_version=0, streaming=False, dml_ts=0):
    # Binlog paths are stripped from the stored SegmentInfo (kept under
    # datacoord-meta/binlog/...).
    return msg((1, "int", sid), (2, "int", cid), (3, "int", pid), (4, "str", channel),
               (5, "int", rows), (6, "int", state), (7, "int", 1048576),
               (10, "msg", msg_position(channel, dml_ts) if dml_ts else None),
               (20, "int", level), (21, "int", storage_version),
               (25, "bool", sorted_), (28, "bool", invisible), (30, "bool", streaming))


def index_info(cid, fid, name, iid, index_params, user_params, auto=False):
    return msg((1, "int", cid), (2, "int", fid), (3, "str", name), (4, "int", iid),
               (6, "msgs", kvps(index_params)), (11, "bool", auto),
               (12, "msgs", kvps(user_params)))


def field_index(info, ts):
    return msg((1, "msg", info), (3, "int", ts))


def segment_index(cid, pid, sid, rows, iid, build, state, ts, size):
    return msg((1, "int", cid), (2, "int", pid), (3, "int", sid), (4, "int", rows),
               (5, "int", iid), (6, "int", build), (8, "int", 1), (9, "int", state),
               (11, "strs", [f"index_{build}_0"]), (13, "int", ts), (14, "int", size))


def collection_load_info(cid, replicas, status, load_type, load_fields, db_id):
    return msg((1, "int", cid), (3, "int", replicas), (4, "int", status),
               (6, "int", load_type), (8, "ints", load_fields), (9, "int", db_id))


def partition_load_info(cid, pid, status):
    return msg((1, "int", cid), (2, "int", pid), (4, "int", status))


def replica(rid, cid, nodes, rg):
    return msg((1, "int", rid), (2, "int", cid), (3, "ints", nodes), (4, "str", rg))


def resource_group(name, nodes, requests):
    config = msg((1, "msg", msg((1, "int", requests))), (2, "msg", msg((1, "int", requests))))
    return msg((1, "str", name), (3, "ints", nodes), (4, "msg", config))


def privilege_group(name, privileges):
    return msg((1, "str", name), (2, "msgs", [msg((1, "str", p)) for p in privileges]))


def zstd_raw(data):
    """A zstd frame holding `data` as one raw block (what a compressor may
    emit for incompressible input): QueryCoord stores targets zstd'ed."""
    assert len(data) < 256
    fhd = 0x20  # single segment, 1-byte content size
    block = (len(data) << 3) | 1  # last block, raw
    return (b"\x28\xb5\x2f\xfd" + bytes([fhd, len(data)]) +
            struct.pack("<I", block)[:3] + data)


# ---- the layout


TOMBSTONE = b"\xe2\x9b\xbc"


class Layout:
    def __init__(self, version, root="by-dev"):
        self.version = version  # "2.4", "2.5", "2.6"
        self.v = tuple(int(x) for x in version.split("."))
        self.root = root
        self.kvs = {}  # key -> value (bytes)
        self.leased = {}
        self.base_ms = {"2.4": 1_735_000_000_000, "2.5": 1_750_000_000_000,
                        "2.6": 1_765_000_000_000}[version]
        self.seq = 0

    def uid(self):
        self.seq += 1
        return (self.base_ms << 18) + self.seq

    def ts(self, dt_ms=0):
        self.seq += 1
        return ((self.base_ms + dt_ms) << 18) + self.seq

    def put(self, rel, value, leased=False):
        k = f"{self.root}/{rel}"
        v = value if isinstance(value, bytes) else value.encode()
        (self.leased if leased else self.kvs)[k] = v

    def meta(self, rel, value, leased=False):
        self.put(f"meta/{rel}", value, leased)

    def rootcoord(self, rel, value, ts):
        # RootCoord writes the plain key and a timestamped copy.
        self.meta(rel, value)
        self.meta(f"snapshots/{rel}_ts{ts}", value)

    def build(self):
        v = self.v
        later = lambda x: v >= x  # noqa: E731
        release = {"2.4": "2.4.15", "2.5": "2.5.14", "2.6": "2.6.3"}[self.version]
        t0 = self.ts()

        # Databases.
        self.rootcoord("root-coord/database/db-info/1",
                       database_info(1, "default", t0, {}), t0)
        shop = self.uid()
        self.rootcoord(f"root-coord/database/db-info/{shop}",
                       database_info(shop, "shop", t0, {"database.max.collections": "64",
                                                        "database.replica.number": "1"}), t0)

        # products: partition key, clustering key, array, dynamic field;
        # 2.5: nullable with a default, BM25 function; 2.6: struct array.
        cid = self.uid()
        ts = self.ts(1000)
        vch = [f"{self.root}-rootcoord-dml_{i}_{cid}v{i}" for i in range(2)]
        pch = [f"{self.root}-rootcoord-dml_{i}" for i in range(2)]
        props = {"collection.ttl.seconds": "86400", "mmap.enabled": "true"}
        self.rootcoord(
            f"root-coord/database/collection-info/{shop}/{cid}",
            collection_info(cid, collection_schema("products", "catalog of products", True, props),
                            ts, vch, pch, 2, 2, shop, props,
                            update_ts=ts if later((2, 6)) else 0), ts)
        fields = [
            field_schema(0, "RowID", INT64, description="row id"),
            field_schema(1, "Timestamp", INT64, description="time stamp"),
            field_schema(100, "id", INT64, pk=True),
            field_schema(101, "emb", FLOAT_VECTOR, params={"dim": "8"}),
            field_schema(102, "tenant", VARCHAR, params={"max_length": "32"},
                         partition_key=True),
            field_schema(103, "category", INT64, clustering_key=True),
            field_schema(104, "tags", ARRAY, element=VARCHAR,
                         params={"max_capacity": "8", "max_length": "16"}),
            field_schema(105, "$meta", JSON_T, dynamic=True, description="dynamic schema"),
        ]
        if later((2, 5)):
            fields += [
                field_schema(106, "price", FLOAT, nullable=True,
                             default=msg((4, "float", 0.5))),
                field_schema(107, "text", VARCHAR,
                             params={"max_length": "256", "enable_analyzer": "true"}),
                field_schema(108, "sparse", SPARSE, function_output=True),
            ]
        for f_id, f in enumerate(fields):
            fid = [0, 1, 100, 101, 102, 103, 104, 105, 106, 107, 108][f_id]
            self.rootcoord(f"root-coord/fields/{cid}/{fid}", f, ts)
        if later((2, 5)):
            fn = self.uid()
            self.rootcoord(f"root-coord/functions/{cid}/{fn}",
                           function_schema(fn, "text_bm25", 1, ["text"], [107], ["sparse"], [108]),
                           ts)
        if later((2, 6)):
            sub = [field_schema(110, "reviews[text]", ARRAY, element=VARCHAR,
                                params={"max_length": "128", "max_capacity": "4"}),
                   field_schema(111, "reviews[stars]", ARRAY, element=INT64,
                                params={"max_capacity": "4"})]
            self.rootcoord(f"root-coord/struct-array-fields/{cid}/109",
                           struct_array_field(109, "reviews", sub, {"max_capacity": "4"}), ts)
        parts = []
        for i in range(4):
            pid = self.uid()
            parts.append(pid)
            self.rootcoord(f"root-coord/partitions/{cid}/{pid}",
                           partition_info(pid, f"_default_{i}", ts, cid), ts)

        # Segments: two flushed L1 (sorted on 2.5+), one L0 delete segment,
        # one growing; 2.5+: one invisible (a sort task's target).
        segs = []
        for i, (state, level, rows) in enumerate([(4, 2, 3000), (4, 2, 2000), (4, 1, 0), (2, 2, 120)]):
            sid = self.uid()
            pid = parts[i % len(parts)] if level != 1 else -1
            segs.append((sid, pid, state, level, rows))
            self.meta(f"datacoord-meta/s/{cid}/{pid}/{sid}", segment_info(
                sid, cid, pid, vch[i % 2], rows, state, level,
                sorted_=later((2, 5)) and state == 4 and level == 2,
                storage_version=2 if later((2, 6)) else 0,
                streaming=later((2, 6)), dml_ts=self.ts(2000)))
            if state == 4 and rows:
                for fid in [0, 1, 100, 101, 102, 103, 104, 105]:
                    self.meta(f"datacoord-meta/binlog/{cid}/{pid}/{sid}/{fid}",
                              field_binlog(fid, [binlog(rows, t0, ts, rows * 8, self.uid())]))
                self.meta(f"datacoord-meta/statslog/{cid}/{pid}/{sid}/100",
                          field_binlog(100, [binlog(rows, t0, ts, 64, self.uid())]))
            if level == 1:
                self.meta(f"datacoord-meta/deltalog/{cid}/{pid}/{sid}/0",
                          field_binlog(0, [binlog(25, t0, ts, 400, self.uid())]))
        if later((2, 5)):
            sid = self.uid()
            self.meta(f"datacoord-meta/s/{cid}/{parts[0]}/{sid}", segment_info(
                sid, cid, parts[0], vch[0], 3000, 4, 2, sorted_=True, invisible=True,
                storage_version=2 if later((2, 6)) else 0, dml_ts=self.ts(2000)))
        for ch in vch:
            self.meta(f"datacoord-meta/channel-cp/{ch}", msg_position(ch, self.ts(3000)))
            self.meta(f"datacoord-meta/channel-removal/{ch}", "non-removed")
            self.meta(f"channelwatch/1/{ch}",
                      msg((1, "msg", msg((1, "int", cid), (2, "str", ch))), (2, "int", 3)))

        # Indexes: HNSW on emb (one growing segment not indexed; one build
        # in progress on 2.5+), BM25's sparse index on 2.5+.
        iid = self.uid()
        self.meta(f"field-index/{cid}/{iid}", field_index(index_info(
            cid, 101, "emb_hnsw", iid,
            {"index_type": "HNSW", "metric_type": "COSINE", "M": "16", "efConstruction": "200"},
            {"index_type": "HNSW", "metric_type": "COSINE", "M": "16", "efConstruction": "200"}),
            ts))
        for sid, pid, state, level, rows in segs:
            if state == 4 and rows:
                b = self.uid()
                st = 2 if (later((2, 5)) and rows == 2000) else 3
                self.meta(f"segment-index/{cid}/{pid}/{sid}/{b}",
                          segment_index(cid, pid, sid, rows, iid, b, st, ts, rows * 40))
        if later((2, 5)):
            iid2 = self.uid()
            self.meta(f"field-index/{cid}/{iid2}", field_index(index_info(
                cid, 108, "sparse_bm25", iid2,
                {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25"},
                {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25"}), ts))

        # Load: products is loaded, one replica in rg1.
        self.meta(f"querycoord-collection-loadinfo/{cid}", collection_load_info(
            cid, 1, 2, 2, [100, 101, 102, 105] if later((2, 5)) else [], shop))
        for pid in parts:
            self.meta(f"querycoord-partition-loadinfo/{cid}/{pid}", partition_load_info(cid, pid, 2))
        self.meta(f"querycoord-replica/{cid}/{self.uid()}", replica(0, cid, [3], "rg1"))
        self.meta("queryCoord-ResourceGroup/__default_resource_group",
                  resource_group("__default_resource_group", [], 0))
        self.meta("queryCoord-ResourceGroup/rg1", resource_group("rg1", [3], 1))

        # logs: plain, in default, with an alias; not loaded.
        lid = self.uid()
        lts = self.ts(5000)
        lv = [f"{self.root}-rootcoord-dml_0_{lid}v0"]
        self.rootcoord(f"root-coord/database/collection-info/1/{lid}", collection_info(
            lid, collection_schema("logs", "", False, {}), lts, lv, pch[:1], 1, 1, 1, {}), lts)
        for fid, f in [(0, field_schema(0, "RowID", INT64)), (1, field_schema(1, "Timestamp", INT64)),
                       (100, field_schema(100, "id", INT64, pk=True, auto_id=True)),
                       (101, field_schema(101, "vec", FLOAT_VECTOR, params={"dim": "4"}))]:
            self.rootcoord(f"root-coord/fields/{lid}/{fid}", f, lts)
        lp = self.uid()
        self.rootcoord(f"root-coord/partitions/{lid}/{lp}", partition_info(lp, "_default", lts, lid), lts)
        self.rootcoord("root-coord/database/aliases/1/logs_latest", alias_info("logs_latest", lid, lts, 1), lts)
        sid = self.uid()
        self.meta(f"datacoord-meta/s/{lid}/{lp}/{sid}", segment_info(sid, lid, lp, lv[0], 700, 4, 2,
                                                                     dml_ts=self.ts(6000)))
        self.meta(f"datacoord-meta/channel-cp/{lv[0]}", msg_position(lv[0], self.ts(6000)))

        # old: dropped; RootCoord leaves tombstones over its keys and the
        # timestamped copies of what it was.
        oid = self.uid()
        ots = self.ts(7000)
        self.meta(f"snapshots/root-coord/database/collection-info/1/{oid}_ts{ots}", collection_info(
            oid, collection_schema("old", "", False, {}), ots, [], [], 1, 2, 1, {}))
        drop = self.ts(8000)
        for rel in [f"root-coord/database/collection-info/1/{oid}", f"root-coord/fields/{oid}/100",
                    f"root-coord/partitions/{oid}/{oid + 1}"]:
            self.meta(rel, TOMBSTONE)
            self.meta(f"snapshots/{rel}_ts{drop}", TOMBSTONE)

        # Users, roles, grants; privilege groups from 2.5.
        for user in ["root", "alice"]:
            self.meta(f"root-coord/credential/users/{user}",
                      json.dumps({"encrypted_password": "$2a$10$" + "x" * 53}, separators=(",", ":")))
        for role in ["admin", "public", "reader"]:
            self.meta(f"root-coord/credential/roles/{role}", "")
        self.meta("root-coord/credential/user-role-mapping/alice/reader", "")
        self.meta("root-coord/credential/grantee-privileges/reader/Collection/shop.products", "a1b2c3d4e5f60718")
        self.meta("root-coord/credential/grantee-id/a1b2c3d4e5f60718/PrivilegeQuery", "root")
        if later((2, 5)):
            self.meta("root-coord/privilege-group/analysts",
                      privilege_group("analysts", ["Query", "Search", "DescribeCollection"]))

        # Version-specific areas (IDs only: boltsnap counts them).
        if later((2, 4)):
            job = self.uid()
            self.meta(f"datacoord-meta/import-job/{job}", msg((1, "int", job), (3, "int", cid)))
            self.meta(f"datacoord-meta/preimport-task/{self.uid()}", msg((1, "int", job)))
            self.meta(f"datacoord-meta/import-task/{self.uid()}", msg((1, "int", job)))
            self.meta(f"queryCoord-Collection-Target/{cid}",
                      zstd_raw(msg((1, "int", cid), (3, "int", self.ts(9000)))))
        if later((2, 5)):
            plan = self.uid()
            self.meta(f"datacoord-meta/compaction-task/ClusteringCompaction/{self.uid()}/{plan}",
                      msg((1, "int", plan)))
            task = self.uid()
            self.meta(f"datacoord-meta/analyze-task/{task}", msg(
                (1, "int", cid), (2, "int", parts[0]), (3, "int", 103), (4, "str", "category"),
                (6, "int", task), (10, "int", 3)))
            self.meta(f"datacoord-meta/partition-stats/{cid}/{parts[0]}/{vch[0]}/3", msg(
                (1, "int", cid), (2, "int", parts[0]), (3, "str", vch[0]), (4, "int", 3)))
            self.meta(f"datacoord-meta/current-partition-stats-version/{cid}/{parts[0]}/{vch[0]}", "3")
            stats = self.uid()
            self.meta(f"datacoord-meta/stats-task/{stats}", msg(
                (1, "int", cid), (2, "int", parts[0]), (3, "int", segs[0][0]), (4, "str", vch[0]),
                (5, "int", stats), (8, "int", 2), (11, "int", 1)))
            s0 = segs[0]
            self.meta(f"datacoord-meta/bm25log/{cid}/{s0[1]}/{s0[0]}/108",
                      field_binlog(108, [binlog(s0[4], t0, ts, 900, self.uid())]))
        if later((2, 5)) and not later((2, 6)):
            for p in pch:
                self.meta(f"streamingcoord-meta/pchannel/{p}", msg(
                    (1, "msg", msg((1, "str", p), (2, "int", 1))),
                    (2, "msg", msg((1, "int", 5), (2, "str", "192.0.2.5:22222"))), (3, "int", 2)))
        if later((2, 6)):
            for p in pch:
                self.meta(f"streamingcoord-meta/pchannel/{p}", msg(
                    (1, "msg", msg((1, "str", p), (2, "int", 2))),
                    (2, "msg", msg((1, "int", 5), (2, "str", "192.0.2.5:22222"))), (3, "int", 2)))
                self.meta(f"streamingnode-meta/wal/{p}/consume-checkpoint",
                          msg((2, "int", self.ts(9500))))
            self.meta(f"streamingcoord-meta/broadcast-task/{self.uid()}", msg((2, "int", 1)))
            self.meta("streamingcoord-meta/version/", msg((1, "int", 1)))
            self.meta("streamingcoord-meta/cchannel/", msg((1, "str", pch[0])))
            for ch in vch:
                p = ch.rsplit("_", 1)[0]
                self.meta(f"streamingnode-meta/wal/{p}/vchannel/{ch}", msg((1, "str", ch), (2, "int", 1)))
                self.meta(f"streamingnode-meta/wal/{p}/vchannel/{ch}/schema/{ts}",
                          msg((2, "int", ts), (3, "int", 1)))
            self.meta(f"streamingnode-meta/wal/{pch[1]}/segment-assign/{segs[3][0]}",
                      msg((1, "int", cid), (2, "int", segs[3][1]), (3, "int", segs[3][0])))
            # Woodpecker (the 2.6 WAL) keeps its metadata at the top level.
            self.kvs["woodpecker/instance"] = b"9f0c3c9e-5d0e-4b8e-9a53-2f7f1b8f6a10"
            self.kvs["woodpecker/version"] = msg((1, "int", 0), (2, "int", 1), (3, "int", 0))
            self.kvs["woodpecker/logidgen"] = b"2"
            for i, p in enumerate(pch):
                self.kvs[f"woodpecker/logs/{p}"] = msg((1, "int", i + 1))
                self.kvs[f"woodpecker/logs/{p}/segments/0"] = msg((1, "int", 0), (4, "int", 0))

        # Allocators: ahead of every ID and timestamp above (nanoseconds).
        ahead = struct.pack(">Q", (self.base_ms + 60_000) * 1_000_000)
        self.put("kv/gid/idTimestamp", ahead)
        self.put("kv/gid/timestamp", ahead)
        self.put("kv/querycoord-id-allocator/idTimestamp", ahead)

        # Sessions (leased, as Milvus registers them).
        roles = (["mixcoord", "proxy-2", "querynode-3", "datanode-4", "streamingnode-5"]
                 if later((2, 6)) else
                 ["rootcoord", "datacoord", "querycoord", "proxy-2", "querynode-3",
                  "datanode-4", "indexnode-5"])
        for i, r in enumerate(roles):
            name = r.split("-")[0]
            exclusive = "-" not in r
            self.meta(f"session/{r}", json.dumps({
                "ServerID": 1 if exclusive else int(r.split("-")[1]), "ServerName": name,
                "Address": f"192.0.2.{i + 2}:19530", "Exclusive": exclusive,
                "TriggerKill": True, "Version": release, "IndexEngineVersion": {},
                "LeaseID": 7_587_000_000_000_000_000 + i, "HostName": "gen"},
                separators=(",", ":")), leased=True)
        self.meta("session/id", "6")


# ---- etcd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def b64(b):
    return base64.b64encode(b if isinstance(b, bytes) else b.encode()).decode()


def write_db(layout, etcd, out):
    work = tempfile.mkdtemp(prefix="gen-milvus-")
    cport, pport = free_port(), free_port()
    url = f"http://127.0.0.1:{cport}"
    proc = subprocess.Popen(
        [etcd, "--data-dir", os.path.join(work, "data"), "--name", "gen",
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{pport}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
         "--initial-cluster", f"gen=http://127.0.0.1:{pport}"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "etcd.log"), "w"))
    try:
        for _ in range(100):
            try:
                post(f"{url}/v3/kv/range", {"key": b64("x")})
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"etcd did not start: {work}/etcd.log")
        for k, v in sorted(layout.kvs.items()):
            post(f"{url}/v3/kv/put", {"key": b64(k), "value": b64(v)})
        lease = post(f"{url}/v3/lease/grant", {"TTL": 3600})["ID"]
        for k, v in sorted(layout.leased.items()):
            post(f"{url}/v3/kv/put", {"key": b64(k), "value": b64(v), "lease": lease})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    shutil.copyfile(os.path.join(work, "data", "member", "snap", "db"), out)
    shutil.rmtree(work)


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    outdir = args[0]
    etcd = os.environ.get("ETCD") or os.path.join(
        os.path.dirname(__file__), "..", "target", "peers", "etcd-3.5.1", "bin", "etcd")
    if "--etcd" in args:
        etcd = args[args.index("--etcd") + 1]
    os.makedirs(outdir, exist_ok=True)
    for version in ["2.4", "2.5", "2.6"]:
        layout = Layout(version)
        layout.build()
        out = os.path.join(outdir, f"milvus-{version}.db")
        write_db(layout, etcd, out)
        print(f"wrote {out}: {len(layout.kvs) + len(layout.leased)} keys "
              f"({os.path.getsize(out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
