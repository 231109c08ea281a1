//! Finding Milvus instances in an etcd keyspace, and naming the area of a key.
//!
//! Milvus writes under `<rootPath>/meta/` (coordinators' metadata and
//! sessions) and `<rootPath>/kv/` (ID and TSO allocators); rootPath is
//! `by-dev` by default and is often changed, and several instances can
//! share one etcd. A root is recognised by what follows `/meta/` or
//! `/kv/`: a Milvus area name, not just the word.

/// Area names that mark `<root>/meta/<area>...` as Milvus's.
const META_MARKERS: [&str; 11] = [
    "session/",
    "root-coord/",
    "datacoord-meta/",
    "field-index/",
    "segment-index/",
    "querycoord-",
    "queryCoord-",
    "snapshots/root-coord/",
    "channelwatch/",
    "streamingcoord-meta/",
    "streamingnode-meta/",
];
/// Allocator keys that mark `<root>/kv/...`.
const KV_MARKERS: [&str; 2] = ["gid/", "tso/"];

/// The Milvus root a key belongs to, found from the key alone.
pub fn root_of(key: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    while let Some(pos) = key.get(i..)?.iter().position(|&b| b == b'/') {
        let slash = i + pos;
        if slash > 0 && marker_follows(key.get(slash + 1..)?) {
            return key.get(..slash);
        }
        i = slash + 1;
    }
    None
}

/// Whether `rest` (what follows `<root>/`) starts like a Milvus key.
fn marker_follows(rest: &[u8]) -> bool {
    if let Some(after) = rest.strip_prefix(b"meta/") {
        return META_MARKERS.iter().any(|m| after.starts_with(m.as_bytes()));
    }
    if let Some(after) = rest.strip_prefix(b"kv/") {
        return KV_MARKERS.iter().any(|m| after.starts_with(m.as_bytes()));
    }
    false
}

/// The distinct roots among `keys`, sorted, with their key counts.
pub fn discover<'a>(keys: impl IntoIterator<Item = &'a [u8]>) -> Vec<(String, u64)> {
    let mut m: std::collections::BTreeMap<&[u8], u64> = Default::default();
    // Sorted input keeps a root's keys together: try the last root first.
    let mut last: Option<&[u8]> = None;
    for k in keys {
        let r = match last {
            Some(r)
                if k.len() > r.len()
                    && k.starts_with(r)
                    && k.get(r.len()) == Some(&b'/')
                    && k.get(r.len() + 1..).is_some_and(marker_follows) =>
            {
                Some(r)
            }
            _ => root_of(k),
        };
        if let Some(r) = r {
            *m.entry(r).or_default() += 1;
            last = Some(r);
        }
    }
    // A key counts for every root it is under (the marker finds the innermost).
    m.into_iter()
        .map(|(r, n)| (String::from_utf8_lossy(r).into_owned(), n))
        .collect()
}

/// Whether `key` lies under root `root` (`<root>/...`).
pub fn under(key: &[u8], root: &str) -> bool {
    key.len() > root.len() && key.starts_with(root.as_bytes()) && key.get(root.len()) == Some(&b'/')
}

/// The Milvus area of a key under `root`: `session`, `root-coord`,
/// `root-coord-snapshots`, `datacoord-meta`, `field-index`,
/// `segment-index`, `querycoord`, `channelwatch`, `kv`, `config`, ...
pub fn area(key: &[u8], root: &str) -> String {
    String::from_utf8_lossy(area_bytes(key, root)).into_owned()
}

/// [`area`] without allocating: a slice of the key or a fixed name.
pub fn area_bytes<'k>(key: &'k [u8], root: &str) -> &'k [u8] {
    let rest = key.get(root.len() + 1..).unwrap_or_default();
    let first_segment = |b: &'k [u8]| b.split(|&c| c == b'/').next().unwrap_or_default();
    if let Some(m) = rest.strip_prefix(b"meta/") {
        let first = first_segment(m);
        return match first {
            b"snapshots" => b"root-coord-snapshots",
            f if f.starts_with(b"querycoord-") || f.starts_with(b"queryCoord-") => b"querycoord",
            b"" => b"meta",
            f => f,
        };
    }
    first_segment(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_by_markers() {
        assert_eq!(root_of(b"by-dev/meta/session/id"), Some(&b"by-dev"[..]));
        assert_eq!(root_of(b"by-dev/kv/gid/idTimestamp"), Some(&b"by-dev"[..]));
        assert_eq!(
            root_of(b"tenant-a/milvus/meta/root-coord/database/db-info/1"),
            Some(&b"tenant-a/milvus"[..])
        );
        assert_eq!(
            root_of(b"app/meta/data"),
            None,
            "meta/ without a Milvus area"
        );
        assert_eq!(root_of(b"meta/session/id"), None, "no root");
        let roots = discover([
            &b"a/meta/session/id"[..],
            b"a/kv/tso/timestamp",
            b"b/x/meta/field-index/1/2",
            b"other",
        ]);
        assert_eq!(roots, vec![("a".to_string(), 2), ("b/x".to_string(), 1)]);
    }

    #[test]
    fn areas() {
        assert_eq!(area(b"by-dev/meta/session/rootcoord", "by-dev"), "session");
        assert_eq!(
            area(b"by-dev/meta/snapshots/root-coord/x_ts1", "by-dev"),
            "root-coord-snapshots"
        );
        assert_eq!(
            area(b"by-dev/meta/queryCoord-ResourceGroup/x", "by-dev"),
            "querycoord"
        );
        assert_eq!(area(b"by-dev/kv/gid/timestamp", "by-dev"), "kv");
        assert!(
            under(b"by-dev/x", "by-dev")
                && !under(b"by-dev2/x", "by-dev")
                && !under(b"by-dev", "by-dev")
        );
    }
}
