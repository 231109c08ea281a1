//! The Builder: whatever goes in reads back identically through our
//! reader, checks clean, and keeps Go's structural rules. (That Go itself
//! accepts the files is tested in the workspace tests with the Go oracle.)

use std::collections::BTreeMap;
use std::io::Cursor;

use bbolt::write::{compact_into, Builder, BuilderOptions, FreelistMode};
use bbolt::{Db, Error, PageType};
use proptest::prelude::*;

use crate::{fixtures, flatten, Flat};

#[derive(Debug, Clone)]
pub enum Node {
    Value(Vec<u8>),
    Bucket(Tree),
}

#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub seq: u64,
    pub entries: BTreeMap<Vec<u8>, Node>,
}

pub fn feed<W: std::io::Write + std::io::Seek>(b: &mut Builder<W>, t: &Tree) -> bbolt::Result<()> {
    b.set_sequence(t.seq)?;
    for (k, n) in &t.entries {
        match n {
            Node::Value(v) => b.put(k, v)?,
            Node::Bucket(sub) => {
                b.begin_bucket(k)?;
                feed(b, sub)?;
                b.end_bucket()?;
            }
        }
    }
    Ok(())
}

pub fn expected(t: &Tree, path: &mut Vec<Vec<u8>>, out: &mut Flat) {
    for (k, n) in &t.entries {
        match n {
            Node::Value(v) => out.push((path.clone(), Some(k.clone()), v.clone())),
            Node::Bucket(sub) => {
                path.push(k.clone());
                out.push((path.clone(), None, sub.seq.to_le_bytes().to_vec()));
                expected(sub, path, out);
                path.pop();
            }
        }
    }
}

pub fn build(root: &Tree, opts: BuilderOptions) -> Vec<u8> {
    let mut b = Builder::new(Cursor::new(Vec::new()), opts).unwrap();
    feed(&mut b, root).unwrap();
    b.finish().unwrap().0.into_inner()
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 1..12),
        2 => proptest::collection::vec(any::<u8>(), 12..300),
        1 => proptest::collection::vec(any::<u8>(), 2000..4000),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..64),
        3 => proptest::collection::vec(any::<u8>(), 64..1500),
        1 => proptest::collection::vec(any::<u8>(), 5000..30000),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = (
        any::<u64>(),
        proptest::collection::btree_map(key(), value().prop_map(Node::Value), 0..40),
    )
        .prop_map(|(seq, entries)| Tree { seq, entries });
    leaf.prop_recursive(4, 200, 8, |inner| {
        (
            any::<u64>(),
            proptest::collection::btree_map(key(), value().prop_map(Node::Value), 0..200),
            proptest::collection::btree_map(key(), inner.prop_map(Node::Bucket), 0..5),
        )
            .prop_map(|(seq, mut vals, subs)| {
                vals.extend(subs);
                Tree { seq, entries: vals }
            })
    })
}

/// Root trees hold only buckets.
pub fn root_tree() -> impl Strategy<Value = Tree> {
    (
        any::<u64>(),
        proptest::collection::btree_map(key(), tree().prop_map(Node::Bucket), 0..6),
    )
        .prop_map(|(seq, entries)| Tree { seq, entries })
}

pub fn options() -> impl Strategy<Value = BuilderOptions> {
    (
        prop_oneof![
            Just(1024u32),
            Just(4096),
            Just(8192),
            Just(16384),
            Just(65536)
        ],
        prop_oneof![Just(0.1f64), Just(0.5), Just(0.9), Just(1.0)],
        prop_oneof![Just(FreelistMode::Empty), Just(FreelistMode::None)],
        1u64..1000,
    )
        .prop_map(|(page_size, fill_percent, freelist, txid)| BuilderOptions {
            page_size,
            fill_percent,
            freelist,
            txid,
        })
}

/// Go's structural rules: every non-root branch has >= 2 children, no
/// plain values at the root, inline buckets only when Go would inline.
fn assert_go_shape(bytes: &[u8]) {
    let db = Db::open(bytes).unwrap();
    let p = db.page_size() as usize;
    let mut stack = vec![(db.meta().root, true)];
    let mut roots = vec![];
    // Every bucket root from the walk.
    db.walk(|item| -> bbolt::Result<()> {
        if let bbolt::WalkItem::Bucket { path, .. } = item {
            let b = db.bucket(path)?;
            if !b.is_inline() {
                roots.push(b.root_page());
            } else {
                let mut c = b.cursor();
                let mut size = 16;
                let mut e = c.first()?;
                while let Some(x) = e {
                    assert!(!x.is_bucket(), "an inline bucket holds a sub-bucket");
                    size += 16 + x.key.len() + x.value.len();
                    e = c.next()?;
                }
                assert!(size <= p / 4, "inline bucket of {size} bytes > P/4");
            }
        }
        Ok(())
    })
    .unwrap();
    stack.extend(roots.into_iter().map(|r| (r, true)));
    while let Some((id, is_root)) = stack.pop() {
        let page = db.page(id).unwrap();
        if page.page_type() == PageType::Branch {
            let items = page.branch_entries().unwrap();
            assert!(
                is_root || items.len() >= 2,
                "non-root branch {id} with {} children",
                items.len()
            );
            stack.extend(items.iter().map(|(_, c)| (*c, false)));
        } else {
            let n = page.leaf_entries().unwrap().len();
            assert!(is_root || n >= 1, "empty non-root leaf {id}");
        }
    }
    // Top level: buckets only.
    let root = db.root();
    let mut c = root.cursor();
    let mut e = c.first().unwrap();
    while let Some(x) = e {
        assert!(x.is_bucket());
        e = c.next().unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn model_builder_reader_round_trip(root in root_tree(), opts in options()) {
        let bytes = build(&root, opts.clone());
        let db = Db::open(&bytes[..]).unwrap();
        prop_assert_eq!(db.page_size(), opts.page_size);
        prop_assert_eq!(db.meta().txid, opts.txid);
        prop_assert_eq!(db.meta().root_sequence, root.seq);
        let mut want = Vec::new();
        expected(&root, &mut Vec::new(), &mut want);
        let got = flatten(&db).unwrap();
        prop_assert_eq!(got, want);
        let r = db.check();
        prop_assert!(r.is_ok(), "{:?}", r.findings);
        let min = (4 * u64::from(db.page_size())).max(4096);
        prop_assert_eq!(bytes.len() as u64, (db.hwm() * u64::from(db.page_size())).max(min));
        assert_go_shape(&bytes);
    }
}

#[test]
fn deep_trees_many_keys() {
    let mut t = Tree::default();
    for i in 0..60_000u32 {
        t.entries.insert(
            format!("key-{i:08}").into_bytes(),
            Node::Value(vec![b'x'; (i % 50) as usize]),
        );
    }
    let root = Tree {
        seq: 0,
        entries: [(b"b".to_vec(), Node::Bucket(t))].into_iter().collect(),
    };
    for (p, fill) in [(1024, 0.5), (4096, 1.0), (512, 0.1)] {
        let bytes = build(
            &root,
            BuilderOptions {
                page_size: p,
                fill_percent: fill,
                ..Default::default()
            },
        );
        let db = Db::open(&bytes[..]).unwrap();
        let (s, _) = db.stats(b"").unwrap();
        assert!(s.depth >= 3, "page {p}: depth {}", s.depth);
        assert_eq!(s.key_n, 60_000);
        assert!(db.check().is_ok());
        let mut want = Vec::new();
        expected(&root, &mut Vec::new(), &mut want);
        assert_eq!(flatten(&db).unwrap(), want);
        assert_go_shape(&bytes);
    }
}

#[test]
fn compact_of_every_fixture_reads_back_equal() {
    for (name, bytes) in fixtures() {
        let src = Db::open(&bytes[..]).unwrap();
        let (out, summary) = compact_into(
            &src,
            Builder::new(
                Cursor::new(Vec::new()),
                BuilderOptions {
                    page_size: src.page_size(),
                    ..Default::default()
                },
            )
            .unwrap(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = out.into_inner();
        let dst = Db::open(&out[..]).unwrap();
        assert_eq!(flatten(&dst).unwrap(), flatten(&src).unwrap(), "{name}");
        assert!(dst.check().is_ok(), "{name}: {:?}", dst.check().findings);
        assert_eq!(summary.file_size, out.len() as u64);
        assert_go_shape(&out);
    }
}

#[test]
fn refuses_bad_input_with_typed_errors() {
    let mut b = Builder::new(Cursor::new(Vec::new()), BuilderOptions::default()).unwrap();
    assert!(
        matches!(b.put(b"k", b"v"), Err(Error::IncompatibleValue(_))),
        "no values at the root"
    );
    b.begin_bucket(b"b").unwrap();
    assert!(matches!(b.put(b"", b"v"), Err(Error::KeyRequired)));
    assert!(matches!(
        b.put(&vec![1u8; 32769], b"v"),
        Err(Error::KeyTooLarge {
            len: 32769,
            max: 32768
        })
    ));
    b.put(&vec![1u8; 32768], b"max").unwrap();
    b.put(&[2], b"v").unwrap();
    assert!(matches!(b.put(&[2], b"v"), Err(Error::DuplicateKey(ref k)) if k == &[2]));
    assert!(
        matches!(b.put(&[1], b"v"), Err(Error::OutOfOrder { ref previous, ref got }) if previous == &[2] && got == &[1])
    );
    assert!(
        matches!(b.begin_bucket(&[2]), Err(Error::DuplicateKey(_))),
        "a bucket name is a key too"
    );
    b.end_bucket().unwrap();
    assert!(matches!(b.end_bucket(), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        b.begin_bucket(b"a"),
        Err(Error::OutOfOrder { .. })
    ));
    let bad = |o: BuilderOptions| Builder::new(Cursor::new(Vec::new()), o).err().unwrap();
    assert!(matches!(
        bad(BuilderOptions {
            page_size: 100,
            ..Default::default()
        }),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        bad(BuilderOptions {
            fill_percent: 0.0,
            ..Default::default()
        }),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        bad(BuilderOptions {
            txid: 0,
            ..Default::default()
        }),
        Error::InvalidArgument(_)
    ));
}

/// Regression: an empty database with 1 KiB pages and no freelist page is
/// 3 pages (3072 bytes); Go 1.3.6 reads 4096 bytes to find the page size and
/// refused it as "invalid database". Files are now at least 4096 bytes.
#[test]
fn tiny_files_are_padded_to_what_go_reads() {
    let bytes = build(
        &Tree::default(),
        BuilderOptions {
            page_size: 1024,
            freelist: FreelistMode::None,
            ..Default::default()
        },
    );
    assert_eq!(bytes.len(), 4096);
    let db = Db::open(&bytes[..]).unwrap();
    assert_eq!(db.hwm(), 3);
    assert!(db.check().is_ok());
}

#[test]
fn empty_database_is_valid() {
    let bytes = build(&Tree::default(), BuilderOptions::default());
    assert_eq!(bytes.len(), 4 * 4096, "metas, root leaf, freelist");
    let db = Db::open(&bytes[..]).unwrap();
    assert!(db.check().is_ok());
    assert!(flatten(&db).unwrap().is_empty());
}

#[test]
fn inline_exactly_when_go_would() {
    // P/4 = 1024: 16 + (16 + 1 + v) <= 1024 <=> v <= 991.
    for (v, inline) in [(991usize, true), (992, false)] {
        let sub = Tree {
            seq: 3,
            entries: [(b"k".to_vec(), Node::Value(vec![7; v]))]
                .into_iter()
                .collect(),
        };
        let root = Tree {
            seq: 0,
            entries: [(b"b".to_vec(), Node::Bucket(sub))].into_iter().collect(),
        };
        let bytes = build(&root, BuilderOptions::default());
        let db = Db::open(&bytes[..]).unwrap();
        assert_eq!(
            db.bucket(&[b"b"]).unwrap().is_inline(),
            inline,
            "value of {v} bytes"
        );
    }
    // A bucket holding a sub-bucket is never inline, however small.
    let inner = Tree::default();
    let sub = Tree {
        seq: 0,
        entries: [(b"s".to_vec(), Node::Bucket(inner))].into_iter().collect(),
    };
    let root = Tree {
        seq: 0,
        entries: [(b"b".to_vec(), Node::Bucket(sub))].into_iter().collect(),
    };
    let db_bytes = build(&root, BuilderOptions::default());
    let db = Db::open(&db_bytes[..]).unwrap();
    assert!(!db.bucket(&[b"b"]).unwrap().is_inline());
    assert!(db.bucket(&[&b"b"[..], b"s"]).unwrap().is_inline());
}

/// Buckets nested thousands deep: written, walked, checked and counted
/// without recursion blowing the stack.
#[test]
fn deeply_nested_buckets() {
    let nested = |depth: usize| {
        let mut b = Builder::new(Cursor::new(Vec::new()), BuilderOptions::default()).unwrap();
        for i in 0..depth {
            b.begin_bucket(format!("z{i}").as_bytes()).unwrap();
            b.put(b"k", format!("v{i}").as_bytes()).unwrap();
        }
        b.finish().unwrap().0.into_inner()
    };
    let bytes = nested(500);
    let db = Db::open(&bytes[..]).unwrap();
    let (s, n) = db.stats(b"").unwrap();
    assert_eq!((n, s.bucket_n, s.key_n), (1, 500, 999));
    let depth = 3000;
    let bytes = nested(depth);
    let db = Db::open(&bytes[..]).unwrap();
    let flat = flatten(&db).unwrap();
    assert_eq!(flat.len(), 2 * depth);
    assert!(db.check().is_ok(), "{:?}", db.check().findings.first());
    // Statistics recurse (Go's definition adds nested depths): past about
    // a thousand levels they are refused rather than risking the stack.
    let err = db.stats(b"").unwrap_err();
    assert!(err.to_string().contains("nested too deep"), "{err}");
}
