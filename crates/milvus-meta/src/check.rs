//! Does a Milvus instance's metadata hang together? The cross-references
//! Milvus relies on when it starts, checked offline: every segment, index,
//! partition, field, alias, load record and channel record names a
//! collection that exists; collections sit in databases that exist; binlog
//! and segment-index records belong to segments that exist; indexes are
//! on fields the collection has; the ID and timestamp allocators are ahead
//! of every ID and timestamp stored.
//!
//! Findings are facts about keys, one per problem, with the keys involved;
//! what each means for a restore is in `docs/milvus-keys.md`. The check
//! reads key paths first (they carry the collection, partition and segment
//! IDs in every version from 2.2 to 2.6) and values only where the
//! reference lives in the value (an alias's collection, an index's field,
//! a collection's channels).
//!
//! ```
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/milvus-2.3.5/small.db");
//! let db = etcd_store::EtcdDb::open(std::fs::read(path)?)?;
//! let live = db.live(0)?;
//! let findings = milvus_meta::check::check(
//!     live.keys.iter().map(|k| (k.kv.key, k.kv.value)),
//! );
//! assert!(findings.is_empty(), "{findings:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use serde::Serialize;

use crate::catalog::proto::{AliasInfo, CollectionInfo, FieldIndex, FieldSchema, SegmentInfo};
use crate::catalog::TOMBSTONE;
use crate::roots;

/// Keys listed per finding (the count is always complete).
const KEYS_PER_FINDING: usize = 10;

/// Segment state `Dropped` (commonpb.SegmentState): such a segment waits
/// for Milvus's garbage collector, whatever became of its collection.
const SEGMENT_DROPPED: i32 = 6;
/// Segment state `NotExist`.
const SEGMENT_NOT_EXIST: i32 = 1;
/// The partition id of an L0 segment whose deletes apply to every
/// partition (common.AllPartitionsID).
const ALL_PARTITIONS: i64 = -1;
/// Collection state `CollectionDropped` (etcdpb.CollectionState).
const COLLECTION_DROPPED: i32 = 3;

/// What kind of problem a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A collection's info sits under a database id with no database.
    CollectionWithoutDatabase,
    /// A partition record of a collection that does not exist.
    PartitionWithoutCollection,
    /// A field record of a collection that does not exist.
    FieldWithoutCollection,
    /// An alias naming a collection that does not exist.
    AliasWithoutCollection,
    /// A live segment of a collection that does not exist or is dropped.
    SegmentWithoutCollection,
    /// A live segment in a partition its collection does not have.
    SegmentWithoutPartition,
    /// Binlog, deltalog or statslog records of a segment that does not exist.
    LogsWithoutSegment,
    /// An index of a collection that does not exist.
    IndexWithoutCollection,
    /// An index on a field its collection does not have.
    IndexOnMissingField,
    /// A segment-index record of a segment that does not exist.
    SegmentIndexWithoutSegment,
    /// A load info or replica of a collection that does not exist.
    LoadInfoWithoutCollection,
    /// A channel checkpoint or watch info of a channel no collection has.
    ChannelWithoutCollection,
    /// An allocator below an ID or timestamp already stored.
    AllocatorBehind,
}

/// One problem, with the keys involved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The Milvus root.
    pub root: String,
    /// What kind.
    pub kind: Kind,
    /// In plain words.
    pub message: String,
    /// How many keys are involved.
    pub key_count: u64,
    /// The first of them.
    pub keys: Vec<String>,
}

/// A collection as the check sees it.
#[derive(Default)]
struct Coll {
    dropped: bool,
    partitions: BTreeSet<i64>,
    fields: BTreeSet<i64>,
    channels: Vec<String>,
}

#[derive(Default)]
struct Root {
    dbs: BTreeSet<i64>,
    /// Collection id -> what is known of it.
    colls: BTreeMap<i64, Coll>,
    /// Partition and field ids from their own keys, by collection.
    part_ids: BTreeMap<i64, BTreeSet<i64>>,
    field_ids: BTreeMap<i64, BTreeSet<i64>>,
    /// (db id, key) of every collection-info key.
    coll_dbs: Vec<(i64, String)>,
    partitions: Vec<(i64, String)>,
    fields: Vec<(i64, String)>,
    aliases: Vec<(i64, String)>,
    /// (collection, partition, segment, state, key).
    segments: Vec<(i64, i64, i64, i32, String)>,
    logs: Vec<(i64, String)>,
    indexes: Vec<(i64, Option<i64>, bool, String)>,
    segment_indexes: Vec<(i64, String)>,
    loads: Vec<(i64, String)>,
    channels: Vec<(String, String)>,
    id_alloc: Option<(u64, String)>,
    ts_alloc: Option<(u64, String)>,
    max_id: Option<(i64, String)>,
    max_ts: Option<(u64, String)>,
}

fn id(s: &str) -> Option<i64> {
    s.parse().ok()
}

impl Root {
    fn coll(&mut self, id: i64) -> &mut Coll {
        self.colls.entry(id).or_default()
    }

    fn saw_id(&mut self, n: i64, key: &str) {
        if self.max_id.as_ref().is_none_or(|(m, _)| n > *m) {
            self.max_id = Some((n, key.to_string()));
        }
    }

    fn saw_ts(&mut self, n: u64, key: &str) {
        if self.max_ts.as_ref().is_none_or(|(m, _)| n > *m) {
            self.max_ts = Some((n, key.to_string()));
        }
    }

    fn add(&mut self, key: &str, rel: &str, v: &[u8]) {
        let seg: Vec<&str> = rel.split('/').collect();
        // Every ID in a key path (RootCoord's snapshot copies carry a
        // `_ts<timestamp>` suffix instead).
        if let Some(snap) = rel.strip_prefix("meta/snapshots/") {
            if let Some(ts) = snap
                .rsplit_once("_ts")
                .and_then(|(_, t)| t.parse::<u64>().ok())
            {
                self.saw_ts(ts, key);
            }
            return;
        }
        if !rel.starts_with("meta/session/") {
            for part in &seg {
                if part.len() >= 15 {
                    if let Some(n) = id(part) {
                        self.saw_id(n, key);
                    }
                }
            }
        }
        let tomb = v == TOMBSTONE;
        match seg.as_slice() {
            ["kv", "gid", "idTimestamp"] => {
                self.id_alloc = be_u64(v).map(|n| (n, key.to_string()));
            }
            ["kv", "gid", "timestamp"] => {
                self.ts_alloc = be_u64(v).map(|n| (n, key.to_string()));
            }
            ["meta", "root-coord", "database", "db-info", d] if !tomb => {
                if let Some(d) = id(d) {
                    self.dbs.insert(d);
                }
            }
            ["meta", "root-coord", "database", "collection-info", d, c] => {
                if let (Some(d), Some(c)) = (id(d), id(c)) {
                    self.collection(c, v, tomb, key);
                    if !tomb {
                        self.coll_dbs.push((d, key.to_string()));
                    }
                }
            }
            ["meta", "root-coord", "collection", c] => {
                if let Some(c) = id(c) {
                    self.collection(c, v, tomb, key);
                }
            }
            ["meta", "root-coord", "partitions", c, p] if !tomb => {
                if let (Some(c), Some(p)) = (id(c), id(p)) {
                    self.part_ids.entry(c).or_default().insert(p);
                    self.partitions.push((c, key.to_string()));
                }
            }
            ["meta", "root-coord", "fields", c, f] if !tomb => {
                if let (Some(c), Some(f)) = (id(c), id(f)) {
                    self.field_ids.entry(c).or_default().insert(f);
                    self.fields.push((c, key.to_string()));
                }
            }
            ["meta", "root-coord", "database", "aliases", _, _]
            | ["meta", "root-coord", "aliases", _]
                if !tomb =>
            {
                if let Ok(a) = AliasInfo::decode(v) {
                    if a.state == 0 {
                        self.aliases.push((a.collection_id, key.to_string()));
                    }
                }
            }
            ["meta", "datacoord-meta", "s", c, p, s] => {
                if let (Some(c), Some(p), Some(s)) = (id(c), id(p), id(s)) {
                    let state = SegmentInfo::decode(v).map_or(0, |i| i.state);
                    self.segments.push((c, p, s, state, key.to_string()));
                }
            }
            ["meta", "datacoord-meta", "binlog" | "deltalog" | "statslog", _, _, s, ..] => {
                if let Some(s) = id(s) {
                    self.logs.push((s, key.to_string()));
                }
            }
            ["meta", "field-index", c, _] => {
                if let Some(c) = id(c) {
                    let fi = FieldIndex::decode(v).ok();
                    let field = fi
                        .as_ref()
                        .and_then(|f| f.index_info.as_ref())
                        .map(|i| i.field_id);
                    let deleted = tomb || fi.is_some_and(|f| f.deleted);
                    self.indexes.push((c, field, deleted, key.to_string()));
                }
            }
            ["meta", "segment-index", _, _, s, _] => {
                if let Some(s) = id(s) {
                    self.segment_indexes.push((s, key.to_string()));
                }
            }
            ["meta", "querycoord-collection-loadinfo", c]
            | ["meta", "querycoord-partition-loadinfo", c, _]
            | ["meta", "querycoord-replica", c, _] => {
                if let Some(c) = id(c) {
                    self.loads.push((c, key.to_string()));
                }
            }
            ["meta", "datacoord-meta", "channel-cp", ch] | ["meta", "channelwatch", _, ch] => {
                self.channels.push(((*ch).to_string(), key.to_string()));
            }
            _ => {}
        }
    }

    fn collection(&mut self, c: i64, v: &[u8], tomb: bool, key: &str) {
        let info = if tomb {
            None
        } else {
            CollectionInfo::decode(v).ok()
        };
        let coll = self.coll(c);
        coll.dropped |= tomb || info.as_ref().is_some_and(|i| i.state == COLLECTION_DROPPED);
        if let Some(i) = info {
            coll.partitions.extend(i.partition_ids.iter().copied());
            if let Some(s) = &i.schema {
                coll.fields
                    .extend(s.fields.iter().map(|f: &FieldSchema| f.field_id));
            }
            coll.channels
                .extend(i.virtual_channel_names.iter().cloned());
            if i.create_time > 0 {
                self.saw_ts(i.create_time, key);
            }
        }
    }

    fn findings(mut self, root: &str) -> Vec<Finding> {
        for (c, coll) in &mut self.colls {
            coll.partitions
                .extend(self.part_ids.remove(c).unwrap_or_default());
            coll.fields
                .extend(self.field_ids.remove(c).unwrap_or_default());
        }
        let mut out: BTreeMap<(Kind, String), Vec<String>> = BTreeMap::new();
        let mut add = |kind: Kind, msg: String, key: &str| {
            out.entry((kind, msg)).or_default().push(key.to_string());
        };
        let exists = |c: &i64| self.colls.get(c).is_some_and(|x| !x.dropped);
        let known = |c: &i64| self.colls.contains_key(c);
        let what = |c: &i64| {
            if known(c) {
                format!("collection {c}, which is dropped")
            } else {
                format!("collection {c}, which does not exist")
            }
        };
        for (d, k) in &self.coll_dbs {
            if *d != 1 && *d != 0 && !self.dbs.contains(d) {
                add(
                    Kind::CollectionWithoutDatabase,
                    format!("a collection in database {d}, which does not exist"),
                    k,
                );
            }
        }
        for (kind, list) in [
            (Kind::PartitionWithoutCollection, &self.partitions),
            (Kind::FieldWithoutCollection, &self.fields),
            (Kind::AliasWithoutCollection, &self.aliases),
        ] {
            for (c, k) in list {
                if !known(c) {
                    add(
                        kind,
                        format!("names collection {c}, which does not exist"),
                        k,
                    );
                }
            }
        }
        for (c, k) in &self.aliases {
            if known(c) && !exists(c) {
                add(
                    Kind::AliasWithoutCollection,
                    format!("names {}", what(c)),
                    k,
                );
            }
        }
        let mut segments: BTreeSet<i64> = BTreeSet::new();
        for (c, p, s, state, k) in &self.segments {
            segments.insert(*s);
            if *state == SEGMENT_DROPPED || *state == SEGMENT_NOT_EXIST {
                continue;
            }
            if !exists(c) {
                add(
                    Kind::SegmentWithoutCollection,
                    format!("a live segment of {}", what(c)),
                    k,
                );
            } else if *p != ALL_PARTITIONS
                && self.colls.get(c).is_some_and(|x| !x.partitions.contains(p))
            {
                add(
                    Kind::SegmentWithoutPartition,
                    format!("a live segment in partition {p}, which collection {c} does not have"),
                    k,
                );
            }
        }
        for (s, k) in &self.logs {
            if !segments.contains(s) {
                add(
                    Kind::LogsWithoutSegment,
                    format!("logs of segment {s}, which does not exist"),
                    k,
                );
            }
        }
        for (s, k) in &self.segment_indexes {
            if !segments.contains(s) {
                add(
                    Kind::SegmentIndexWithoutSegment,
                    format!("an index build of segment {s}, which does not exist"),
                    k,
                );
            }
        }
        for (c, field, deleted, k) in &self.indexes {
            if *deleted {
                continue;
            }
            if !exists(c) {
                add(
                    Kind::IndexWithoutCollection,
                    format!("an index of {}", what(c)),
                    k,
                );
            } else if let (Some(f), Some(coll)) = (field, self.colls.get(c)) {
                if !coll.fields.is_empty() && !coll.fields.contains(f) {
                    add(
                        Kind::IndexOnMissingField,
                        format!("an index on field {f}, which collection {c} does not have"),
                        k,
                    );
                }
            }
        }
        for (c, k) in &self.loads {
            if !exists(c) {
                add(
                    Kind::LoadInfoWithoutCollection,
                    format!("load state of {}", what(c)),
                    k,
                );
            }
        }
        let channels: BTreeSet<&str> = self
            .colls
            .values()
            .flat_map(|c| c.channels.iter().map(String::as_str))
            .collect();
        for (ch, k) in &self.channels {
            if !channels.contains(ch.as_str()) {
                add(
                    Kind::ChannelWithoutCollection,
                    format!("channel {ch}, which no collection has"),
                    k,
                );
            }
        }
        // TSO values are (physical milliseconds << 18 | logical); the
        // allocators store the top of their window as nanoseconds.
        if let (Some((alloc, ak)), Some((n, k))) = (&self.id_alloc, &self.max_id) {
            let ms = (*n as u64) >> 18;
            if alloc / 1_000_000 < ms {
                add(
                    Kind::AllocatorBehind,
                    format!("{ak} allocates IDs from {} ms, below ID {n} ({ms} ms) already used: new IDs could repeat old ones", alloc / 1_000_000),
                    k,
                );
            }
        }
        if let (Some((alloc, ak)), Some((n, k))) = (&self.ts_alloc, &self.max_ts) {
            let ms = n >> 18;
            if alloc / 1_000_000 < ms {
                add(
                    Kind::AllocatorBehind,
                    format!("{ak} allocates timestamps from {} ms, below timestamp {n} ({ms} ms) already stored: new timestamps could be older than stored ones", alloc / 1_000_000),
                    k,
                );
            }
        }
        out.into_iter()
            .map(|((kind, message), keys)| Finding {
                root: root.to_string(),
                kind,
                message,
                key_count: keys.len() as u64,
                keys: keys.into_iter().take(KEYS_PER_FINDING).collect(),
            })
            .collect()
    }
}

/// A big-endian u64 (how Milvus stores its allocators).
fn be_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// Checks every Milvus root found among `kvs` (live keys and values, any
/// order); the findings come sorted by root and kind.
pub fn check<'a>(kvs: impl IntoIterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<Finding> {
    let found: Vec<String> = roots::discover(kvs.clone().into_iter().map(|(k, _)| k))
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let mut by_root: BTreeMap<&str, Root> = found
        .iter()
        .map(|r| (r.as_str(), Root::default()))
        .collect();
    for (k, v) in kvs {
        let Some(root) = found
            .iter()
            .filter(|r| roots::under(k, r))
            .max_by_key(|r| r.len())
        else {
            continue;
        };
        let key = String::from_utf8_lossy(k);
        let Some(rel) = key.get(root.len() + 1..) else {
            continue;
        };
        if let Some(r) = by_root.get_mut(root.as_str()) {
            r.add(&key, rel, v);
        }
    }
    by_root
        .into_iter()
        .flat_map(|(name, r)| r.findings(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::proto::IndexInfo;

    #[test]
    fn be_u64_needs_eight_bytes() {
        assert_eq!(be_u64(&[0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(be_u64(&[1]), None);
    }

    type Kvs = BTreeMap<String, Vec<u8>>;

    /// The live keys of the real two-databases fixture (root `by-dev`).
    fn fixture() -> Kvs {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/milvus-2.3.5/two-databases.db"
        );
        let db = etcd_store::EtcdDb::open(std::fs::read(path).unwrap()).unwrap();
        let live = db.live(0).unwrap();
        live.keys
            .iter()
            .map(|k| {
                (
                    String::from_utf8(k.kv.key.to_vec()).unwrap(),
                    k.kv.value.to_vec(),
                )
            })
            .collect()
    }

    fn kinds(kvs: &Kvs) -> BTreeSet<Kind> {
        check(kvs.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())))
            .into_iter()
            .map(|f| f.kind)
            .collect()
    }

    fn first(kvs: &Kvs, prefix: &str) -> (String, Vec<u8>) {
        kvs.iter()
            .find(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap_or_else(|| panic!("no key under {prefix}"))
    }

    /// A path part of `key` (0 is the root).
    fn part(key: &str, n: usize) -> String {
        key.split('/').nth(n).unwrap().to_string()
    }

    const GONE: &str = "470000000000000999";

    #[test]
    fn the_real_fixtures_hang_together() {
        assert!(kinds(&fixture()).is_empty());
    }

    /// Each planted inconsistency is found, as the only kind of finding.
    #[test]
    fn every_planted_inconsistency_is_found() {
        let seg = SegmentInfo {
            id: 1,
            collection_id: 1,
            partition_id: 1,
            insert_channel: String::new(),
            num_of_rows: 10,
            state: 4,
            level: 0,
            ..Default::default()
        };
        let base = fixture();
        let (coll_key, _) = first(&base, "by-dev/meta/root-coord/database/collection-info/");
        let coll = part(&coll_key, 6);
        let (seg_key, _) = first(&base, "by-dev/meta/datacoord-meta/s/");
        let (sc, sp) = (part(&seg_key, 4), part(&seg_key, 5));
        let other_db = base
            .keys()
            .filter_map(|k| k.strip_prefix("by-dev/meta/root-coord/database/db-info/"))
            .find(|d| *d != "1")
            .unwrap()
            .to_string();
        let (fi_key, fi_val) = first(&base, "by-dev/meta/field-index/");
        let mut moved_index = FieldIndex::decode(fi_val.as_slice()).unwrap();
        let info = moved_index
            .index_info
            .get_or_insert_with(IndexInfo::default);
        info.field_id = 999;
        let (alias_key, alias_val) = first(&base, "by-dev/meta/root-coord/database/aliases/");
        let mut alias = AliasInfo::decode(alias_val.as_slice()).unwrap();
        alias.collection_id = GONE.parse().unwrap();

        type Plant = Box<dyn Fn(&mut Kvs)>;
        let put = |k: String, v: Vec<u8>| -> Plant {
            Box::new(move |kvs: &mut Kvs| {
                kvs.insert(k.clone(), v.clone());
            })
        };
        let cases: Vec<(Kind, Plant)> = vec![
            (
                Kind::CollectionWithoutDatabase,
                Box::new(move |kvs: &mut Kvs| {
                    kvs.remove(&format!(
                        "by-dev/meta/root-coord/database/db-info/{other_db}"
                    ));
                }),
            ),
            (
                Kind::PartitionWithoutCollection,
                put(
                    format!("by-dev/meta/root-coord/partitions/{GONE}/1"),
                    vec![8, 1],
                ),
            ),
            (
                Kind::FieldWithoutCollection,
                put(
                    format!("by-dev/meta/root-coord/fields/{GONE}/100"),
                    vec![8, 100],
                ),
            ),
            (
                Kind::AliasWithoutCollection,
                put(alias_key, alias.encode_to_vec()),
            ),
            (
                Kind::SegmentWithoutCollection,
                put(
                    format!("by-dev/meta/datacoord-meta/s/{GONE}/1/2"),
                    seg.encode_to_vec(),
                ),
            ),
            (
                Kind::SegmentWithoutPartition,
                put(
                    format!("by-dev/meta/datacoord-meta/s/{coll}/{GONE}/2"),
                    seg.encode_to_vec(),
                ),
            ),
            (
                Kind::LogsWithoutSegment,
                put(
                    format!("by-dev/meta/datacoord-meta/binlog/{sc}/{sp}/{GONE}/100"),
                    vec![],
                ),
            ),
            (
                Kind::IndexWithoutCollection,
                put(format!("by-dev/meta/field-index/{GONE}/1"), fi_val.clone()),
            ),
            (
                Kind::IndexOnMissingField,
                put(fi_key, moved_index.encode_to_vec()),
            ),
            (
                Kind::SegmentIndexWithoutSegment,
                put(
                    format!("by-dev/meta/segment-index/{sc}/{sp}/{GONE}/1"),
                    vec![],
                ),
            ),
            (
                Kind::LoadInfoWithoutCollection,
                put(
                    format!("by-dev/meta/querycoord-collection-loadinfo/{GONE}"),
                    vec![],
                ),
            ),
            (
                Kind::ChannelWithoutCollection,
                put(
                    format!(
                        "by-dev/meta/datacoord-meta/channel-cp/by-dev-rootcoord-dml_9_{GONE}v0"
                    ),
                    vec![],
                ),
            ),
            (
                Kind::AllocatorBehind,
                put(
                    "by-dev/kv/gid/idTimestamp".into(),
                    1_000_000_000u64.to_be_bytes().to_vec(),
                ),
            ),
            (
                Kind::AllocatorBehind,
                put(
                    "by-dev/kv/gid/timestamp".into(),
                    1_000_000_000u64.to_be_bytes().to_vec(),
                ),
            ),
        ];
        for (want, plant) in cases {
            let mut kvs = base.clone();
            plant(&mut kvs);
            assert_eq!(kinds(&kvs), BTreeSet::from([want]), "{want:?}");
        }
    }

    /// A dropped collection (RootCoord's tombstone over its info): its live
    /// segments, indexes and load state are findings; its dropped segments
    /// wait for the garbage collector and are not.
    #[test]
    fn a_dropped_collection_leaves_findings_only_where_milvus_would_trip() {
        let mut kvs = fixture();
        let (coll_key, _) = first(&kvs, "by-dev/meta/root-coord/database/collection-info/");
        let coll = part(&coll_key, 6);
        kvs.insert(coll_key, TOMBSTONE.to_vec());
        let f = check(kvs.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())));
        assert!(f
            .iter()
            .any(|f| f.kind == Kind::SegmentWithoutCollection
                && f.message.contains("which is dropped")));
        // Every segment of it marked dropped: no segment finding.
        let segs: Vec<String> = kvs
            .keys()
            .filter(|k| k.starts_with(&format!("by-dev/meta/datacoord-meta/s/{coll}/")))
            .cloned()
            .collect();
        for k in segs {
            let mut s = SegmentInfo::decode(kvs[&k].as_slice()).unwrap();
            s.state = SEGMENT_DROPPED;
            kvs.insert(k, s.encode_to_vec());
        }
        let f = check(kvs.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())));
        assert!(
            !f.iter().any(|f| f.kind == Kind::SegmentWithoutCollection),
            "{f:?}"
        );
    }
}
