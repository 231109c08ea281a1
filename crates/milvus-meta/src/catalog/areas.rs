//! Every area Milvus 2.2 to 2.6 keeps in etcd, by key prefix below the root,
//! with the line that added it. [`sub_area`] names the area of a key finely
//! enough to tell a 2.3 deployment from a 2.6 one (`datacoord-meta/import-job`,
//! `streamingcoord-meta/pchannel`, `wp`), and [`describe`] says what it holds;
//! a prefix no line writes comes back as `None` there and is shown as
//! unknown, never refused.

/// One known area: its prefix below the root, the Milvus line that first
/// writes it, and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownArea {
    /// Prefix below `<root>/`, whole path segments (`meta/field-index`).
    pub prefix: &'static str,
    /// The first Milvus line that writes it.
    pub since: &'static str,
    /// In a few words.
    pub holds: &'static str,
}

const fn a(prefix: &'static str, since: &'static str, holds: &'static str) -> KnownArea {
    KnownArea {
        prefix,
        since,
        holds,
    }
}

/// The table, most specific prefixes first where one contains another.
pub const KNOWN: &[KnownArea] = &[
    a("meta/root-coord/database/db-info", "2.2", "databases"),
    a(
        "meta/root-coord/database/collection-info",
        "2.2",
        "collections, by database",
    ),
    a(
        "meta/root-coord/database/aliases",
        "2.2",
        "aliases, by database",
    ),
    a(
        "meta/root-coord/collection",
        "2.0",
        "collections of releases before databases",
    ),
    a("meta/root-coord/partitions", "2.2", "partitions"),
    a("meta/root-coord/fields", "2.2", "field schemas"),
    a(
        "meta/root-coord/aliases",
        "2.2",
        "aliases of releases before databases",
    ),
    a("meta/root-coord/collection-alias", "2.1", "aliases of 2.1"),
    a(
        "meta/root-coord/functions",
        "2.5",
        "functions (BM25, text embedding)",
    ),
    a(
        "meta/root-coord/struct-array-fields",
        "2.6",
        "struct-array field schemas",
    ),
    a("meta/root-coord/privilege-group", "2.5", "privilege groups"),
    a(
        "meta/root-coord/credential/users",
        "2.0",
        "users (password hashes)",
    ),
    a("meta/root-coord/credential/roles", "2.2", "roles"),
    a(
        "meta/root-coord/credential/user-role-mapping",
        "2.2",
        "users' roles",
    ),
    a(
        "meta/root-coord/credential/grantee-privileges",
        "2.2",
        "privileges granted to roles",
    ),
    a(
        "meta/root-coord/credential/grantee-id",
        "2.2",
        "who granted each privilege",
    ),
    a("meta/datacoord-meta/s", "2.2", "segments"),
    a("meta/datacoord-meta/binlog", "2.2", "insert binlog paths"),
    a("meta/datacoord-meta/deltalog", "2.2", "delete log paths"),
    a("meta/datacoord-meta/statslog", "2.2", "stats log paths"),
    a(
        "meta/datacoord-meta/channel-removal",
        "2.2",
        "channels being removed",
    ),
    a(
        "meta/datacoord-meta/channel-cp",
        "2.2",
        "channel checkpoints",
    ),
    a("meta/datacoord-meta/import-job", "2.4", "bulk import jobs"),
    a(
        "meta/datacoord-meta/import-task",
        "2.4",
        "bulk import tasks",
    ),
    a(
        "meta/datacoord-meta/preimport-task",
        "2.4",
        "bulk import pre-tasks",
    ),
    a(
        "meta/datacoord-meta/compaction-task",
        "2.5",
        "compaction tasks",
    ),
    a(
        "meta/datacoord-meta/analyze-task",
        "2.5",
        "analyze tasks (clustering)",
    ),
    a(
        "meta/datacoord-meta/partition-stats",
        "2.5",
        "partition stats",
    ),
    a(
        "meta/datacoord-meta/current-partition-stats-version",
        "2.5",
        "current partition stats versions",
    ),
    a(
        "meta/datacoord-meta/stats-task",
        "2.5",
        "stats tasks (sort, text, JSON key)",
    ),
    a("meta/datacoord-meta/bm25log", "2.5", "BM25 stats log paths"),
    a("meta/datacoord-meta/file_resource", "2.6", "file resources"),
    a(
        "meta/datacoord-meta/snapshot",
        "2.6",
        "collection snapshots",
    ),
    a("meta/field-index", "2.2", "index definitions"),
    a("meta/segment-index", "2.2", "built segment indexes"),
    a(
        "meta/querycoord-collection-loadinfo",
        "2.2",
        "loaded collections",
    ),
    a(
        "meta/querycoord-partition-loadinfo",
        "2.2",
        "loaded partitions",
    ),
    a("meta/querycoord-replica", "2.2", "replicas"),
    a("meta/queryCoord-ResourceGroup", "2.3", "resource groups"),
    a(
        "meta/queryCoord-Collection-Target",
        "2.4",
        "collection targets",
    ),
    a("meta/channelwatch", "2.2", "channel watch infos"),
    a("meta/session", "2.0", "sessions of running processes"),
    a("meta/snapshots", "2.2", "RootCoord's timestamped copies"),
    a(
        "meta/streamingcoord-meta/pchannel",
        "2.5",
        "streaming physical channels",
    ),
    a(
        "meta/streamingcoord-meta/broadcast-task",
        "2.6",
        "streaming broadcast tasks",
    ),
    a(
        "meta/streamingcoord-meta/version",
        "2.6",
        "streaming version",
    ),
    a(
        "meta/streamingcoord-meta/cchannel",
        "2.6",
        "streaming control channel",
    ),
    a(
        "meta/streamingcoord-meta/replicating-pchannel",
        "2.6",
        "replicating channels",
    ),
    a(
        "meta/streamingcoord-meta/replicate-configuration",
        "2.6",
        "replication configuration",
    ),
    a(
        "meta/streamingnode-meta/segment-assign",
        "2.5",
        "streaming segment assignments",
    ),
    a(
        "meta/streamingnode-meta/wal",
        "2.6",
        "streaming WAL metadata per channel",
    ),
    a("meta/idTimestamp", "2.6", "DataCoord's ID allocator"),
    a("kv/gid", "2.0", "global ID and timestamp allocators"),
    a("kv/tso", "2.0", "timestamp oracle"),
    a(
        "kv/querycoord-id-allocator",
        "2.2",
        "QueryCoord's ID allocator",
    ),
    a(
        "wp",
        "2.6",
        "Woodpecker's log metadata (its data is in object storage)",
    ),
    a(
        "woodpecker",
        "2.6",
        "Woodpecker's log metadata, under the root (later 2.6)",
    ),
];

/// Components whose second path segment names the area (`datacoord-meta/s`).
const TWO_LEVEL: &[&str] = &[
    "root-coord",
    "datacoord-meta",
    "streamingcoord-meta",
    "streamingnode-meta",
];

/// The fine area of a key below its root (`key` without `<root>/`):
/// `meta/datacoord-meta/import-job`, `meta/root-coord/credential/users`,
/// `meta/field-index`, `kv/gid`, `wp`. Known prefixes win; other keys get
/// their component and, for the components above, its next segment.
pub fn sub_area(rel: &[u8]) -> &[u8] {
    for k in KNOWN {
        let p = k.prefix.as_bytes();
        if rel.starts_with(p) && matches!(rel.get(p.len()), None | Some(b'/')) {
            return rel.get(..p.len()).unwrap_or(rel);
        }
    }
    // Unknown: two segments (three under meta/ for the two-level components).
    let mut ends = rel
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == b'/')
        .map(|(i, _)| i);
    let first = ends.next();
    let second = ends.next();
    let third = ends.next();
    let cut = match (rel.starts_with(b"meta/"), first, second) {
        (true, Some(f), Some(s)) => {
            let comp = rel.get(f + 1..s).unwrap_or_default();
            if TWO_LEVEL.iter().any(|t| t.as_bytes() == comp) {
                third
            } else {
                Some(s)
            }
        }
        (false, Some(f), _) => Some(f),
        _ => None,
    };
    match cut {
        Some(c) => rel.get(..c).unwrap_or(rel),
        None => rel,
    }
}

/// What a fine area holds, when a Milvus line writes it.
pub fn describe(area: &str) -> Option<&'static KnownArea> {
    KNOWN.iter().find(|k| k.prefix == area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_areas() {
        let cases: &[(&str, &str)] = &[
            (
                "meta/datacoord-meta/import-job/4711",
                "meta/datacoord-meta/import-job",
            ),
            ("meta/datacoord-meta/s/1/2/3", "meta/datacoord-meta/s"),
            (
                "meta/root-coord/credential/users/alice",
                "meta/root-coord/credential/users",
            ),
            (
                "meta/root-coord/database/collection-info/1/2",
                "meta/root-coord/database/collection-info",
            ),
            ("meta/field-index/1/2", "meta/field-index"),
            ("meta/session/id", "meta/session"),
            ("meta/idTimestamp", "meta/idTimestamp"),
            ("kv/gid/timestamp", "kv/gid"),
            ("wp/logs/1", "wp"),
            (
                "meta/streamingnode-meta/wal/ch/vchannel/v/schema/1",
                "meta/streamingnode-meta/wal",
            ),
            // Unknown ones: the component and, for two-level ones, the next segment.
            (
                "meta/datacoord-meta/new-thing/1",
                "meta/datacoord-meta/new-thing",
            ),
            ("meta/brand-new/1/2", "meta/brand-new"),
            ("meta/root-coord/other", "meta/root-coord/other"),
            ("other/x/y", "other"),
            ("meta", "meta"),
        ];
        for (key, want) in cases {
            let got = String::from_utf8_lossy(sub_area(key.as_bytes()));
            assert_eq!(&got, want, "{key}");
        }
        assert!(describe("meta/datacoord-meta/new-thing").is_none());
        assert_eq!(describe("wp").map(|k| k.since), Some("2.6"));
        // A prefix must match whole segments: `s` is not `segment-index`.
        assert_eq!(
            String::from_utf8_lossy(sub_area(b"meta/datacoord-meta/snapshot/1/2")),
            "meta/datacoord-meta/snapshot"
        );
    }
}
