//! Restoring one Milvus root under another: `OLD=NEW` writes every key
//! `OLD/...` of a backup as `NEW/...`, so a Milvus configured with
//! `etcd.rootPath: NEW` finds its metadata there.
//!
//! Only keys carry the root. Milvus's values name message-queue channels
//! (`by-dev-rootcoord-dml_0_...v0`, from `msgChannel.chanNamePrefix.cluster`,
//! a setting of its own that merely defaults to the same `by-dev`), object
//! storage paths (under `minio.rootPath`) and IDs, never an etcd key. A
//! value that does hold a path under the old root (`OLD/` followed by
//! anything) would point at a key that no longer exists after the rename,
//! so [`check`] refuses the rename and names those keys.
//!
//! ```
//! use milvus_meta::rename::RootRename;
//! let r = RootRename::parse("by-dev=copy")?;
//! assert_eq!(r.key(b"by-dev/meta/root-coord/collection/1"), Some(b"copy/meta/root-coord/collection/1".to_vec()));
//! assert_eq!(r.key(b"by-devx/meta/x"), None);
//! # Ok::<(), milvus_meta::Error>(())
//! ```

use serde::Serialize;

use crate::backup::Record;
use crate::error::{Error, Result};
use crate::roots;

/// Keys of values that mention the old root kept for the report.
const MENTION_EXAMPLES: usize = 20;

/// One root renamed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RootRename {
    /// The root in the backup.
    pub old: String,
    /// The root to write under.
    pub new: String,
}

/// What [`check`] found over a whole backup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RenameCheck {
    /// Keys that will be written under the new root.
    pub renamed: u64,
    /// Keys outside the old root, written as they are.
    pub unchanged: u64,
    /// Values under the old root that hold a path under it.
    pub mentions: u64,
    /// The first of those keys (lossy UTF-8).
    pub mention_keys: Vec<String>,
}

impl RootRename {
    /// `OLD=NEW`: two roots without a leading or trailing `/`, different,
    /// neither inside the other.
    pub fn parse(spec: &str) -> Result<RootRename> {
        let bad = |why: &str| Error::InvalidArgument(format!("--rename-root {spec:?}: {why}"));
        let (old, new) = spec
            .split_once('=')
            .ok_or_else(|| bad("give it as OLD=NEW, e.g. by-dev=copy"))?;
        for (what, r) in [("OLD", old), ("NEW", new)] {
            if r.is_empty() {
                return Err(bad(&format!("{what} is empty")));
            }
            if r.starts_with('/') || r.ends_with('/') || r.contains("//") {
                return Err(bad(&format!(
                    "{what} {r:?} must not start or end with / or hold an empty part (a rootPath as in milvus.yaml)"
                )));
            }
        }
        if old == new {
            return Err(bad("OLD and NEW are the same root"));
        }
        if roots::under(new.as_bytes(), old) || roots::under(old.as_bytes(), new) {
            return Err(bad("one root is inside the other; their keys would mix"));
        }
        Ok(RootRename {
            old: old.to_string(),
            new: new.to_string(),
        })
    }

    /// The key under the new root, or `None` when `key` is not under the
    /// old one.
    pub fn key(&self, key: &[u8]) -> Option<Vec<u8>> {
        if !roots::under(key, &self.old) {
            return None;
        }
        let rest = key.get(self.old.len()..)?;
        let mut k = Vec::with_capacity(self.new.len() + rest.len());
        k.extend_from_slice(self.new.as_bytes());
        k.extend_from_slice(rest);
        Some(k)
    }

    /// The record as it is written: its key under the new root if it was
    /// under the old one.
    pub fn apply(&self, mut r: Record) -> Record {
        if let Some(k) = self.key(&r.key) {
            r.key = k;
        }
        r
    }

    /// A backup's roots after the rename.
    pub fn roots(&self, roots: &[String]) -> Vec<String> {
        let mut out: Vec<String> = roots
            .iter()
            .map(|r| {
                if *r == self.old {
                    self.new.clone()
                } else {
                    r.clone()
                }
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether `value` holds a path under the old root.
    fn mentioned_in(&self, value: &[u8]) -> bool {
        let needle = self.old.as_bytes();
        value
            .windows(needle.len() + 1)
            .any(|w| w.get(..needle.len()) == Some(needle) && w.last() == Some(&b'/'))
    }
}

/// Reads every record once and decides whether the rename is safe: the old
/// root is one of the backup's `roots`, the new one is none of them and
/// inside none of them, no value under the old root holds a path under it,
/// and the renamed records still come in key order (the restore writes and
/// reads back in key order). The error names what is wrong.
pub fn check<I>(rename: &RootRename, backup_roots: &[String], records: I) -> Result<RenameCheck>
where
    I: IntoIterator<Item = Result<Record>>,
{
    if !backup_roots.contains(&rename.old) {
        return Err(Error::InvalidArgument(format!(
            "--rename-root: the backup holds no root {:?} (its roots: {})",
            rename.old,
            if backup_roots.is_empty() {
                "none".to_string()
            } else {
                backup_roots.join(", ")
            }
        )));
    }
    for r in backup_roots.iter().filter(|r| **r != rename.old) {
        if *r == rename.new
            || roots::under(rename.new.as_bytes(), r)
            || roots::under(r.as_bytes(), &rename.new)
        {
            return Err(Error::InvalidArgument(format!(
                "--rename-root: the backup also holds root {r:?}; its keys and the renamed ones would mix"
            )));
        }
    }
    let mut c = RenameCheck::default();
    let mut last: Option<Vec<u8>> = None;
    for r in records {
        let r = r?;
        let key = match rename.key(&r.key) {
            Some(k) => {
                c.renamed += 1;
                if rename.mentioned_in(&r.value) {
                    c.mentions += 1;
                    if c.mention_keys.len() < MENTION_EXAMPLES {
                        c.mention_keys
                            .push(String::from_utf8_lossy(&r.key).into_owned());
                    }
                }
                k
            }
            None => {
                c.unchanged += 1;
                r.key
            }
        };
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(Error::InvalidArgument(format!(
                "--rename-root: renamed, key {:?} would sort among keys of another root; export the root alone (export --root {}) and restore that",
                String::from_utf8_lossy(&key),
                rename.old
            )));
        }
        last = Some(key);
    }
    if c.mentions > 0 {
        return Err(Error::InvalidArgument(format!(
            "--rename-root: {} values under {} hold a path under it (for example in {}); after the rename they would point at keys that are gone, so nothing is written",
            c.mentions,
            rename.old,
            c.mention_keys.first().map_or("", String::as_str)
        )));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(k: &str, v: &str) -> Result<Record> {
        Ok(Record {
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
            ..Default::default()
        })
    }

    #[test]
    fn parse_refuses_what_cannot_be_a_root_pair() {
        for bad in [
            "by-dev", "=x", "x=", "a=a", "a/=b", "/a=b", "a=a/b", "a/b=a", "a=b//c",
        ] {
            assert!(RootRename::parse(bad).is_err(), "{bad}");
        }
        let r = RootRename::parse("tenant-a/milvus=tenant-b/milvus").unwrap();
        assert_eq!(r.old, "tenant-a/milvus");
        assert_eq!(
            r.roots(&["tenant-a/milvus".into()]),
            vec!["tenant-b/milvus"]
        );
    }

    #[test]
    fn check_renames_and_refuses_mentions_order_and_collisions() {
        let r = RootRename::parse("by-dev=copy").unwrap();
        let roots = vec!["by-dev".to_string()];
        let ok = check(
            &r,
            &roots,
            [
                rec("by-dev/kv/gid/timestamp", "x"),
                rec(
                    "by-dev/meta/channelwatch/1/by-dev-rootcoord-dml_0v0",
                    "by-dev-rootcoord-dml_0v0",
                ),
            ],
        )
        .unwrap();
        assert_eq!((ok.renamed, ok.unchanged, ok.mentions), (2, 0, 0));
        let e = check(&r, &roots, [rec("by-dev/meta/a", "see by-dev/meta/b")]).unwrap_err();
        assert!(e.to_string().contains("hold a path under it"), "{e}");
        assert!(check(&r, &["other".into()], [rec("other/meta/a", "")]).is_err());
        let two = vec!["by-dev".to_string(), "copy".to_string()];
        assert!(check(&r, &two, [rec("by-dev/meta/a", "")]).is_err());
        // "a" renamed to "z" passes "m": out of key order.
        let az = RootRename::parse("a=z").unwrap();
        let e = check(
            &az,
            &["a".into(), "m".into()],
            [rec("a/meta/x", ""), rec("m/meta/y", "")],
        )
        .unwrap_err();
        assert!(e.to_string().contains("sort among"), "{e}");
    }
}
