//! Cursor semantics (Go's): first/last/next/prev/seek agree with a model
//! built from the walk, on every fixture and every bucket.

use std::collections::BTreeMap;

use bbolt::{Bucket, Db};

use crate::fixtures;

fn model(b: &Bucket<'_>) -> BTreeMap<Vec<u8>, (Vec<u8>, bool)> {
    let mut m = BTreeMap::new();
    let mut c = b.cursor();
    let mut e = c.first().unwrap();
    while let Some(x) = e {
        m.insert(x.key.to_vec(), (x.value.to_vec(), x.is_bucket()));
        e = c.next().unwrap();
    }
    m
}

fn check_bucket(b: &Bucket<'_>, depth: usize) {
    let m = model(b);
    // Backwards gives the same entries in reverse.
    let mut back = Vec::new();
    let mut c = b.cursor();
    let mut e = c.last().unwrap();
    while let Some(x) = e {
        back.push(x.key.to_vec());
        e = c.prev().unwrap();
    }
    back.reverse();
    assert_eq!(back, m.keys().cloned().collect::<Vec<_>>());
    // Seek to every key, to a key just below and just above it.
    for (k, (v, is_bucket)) in m.iter().step_by(1 + m.len() / 200) {
        let mut c = b.cursor();
        let got = c.seek(k).unwrap().unwrap();
        assert_eq!(got.key, &k[..]);
        if !is_bucket {
            assert_eq!(b.get(k).unwrap(), Some(&v[..]));
        } else {
            assert_eq!(
                b.get(k).unwrap(),
                None,
                "Get of a bucket key is None, as in Go"
            );
            let child = b.bucket(k).unwrap().unwrap();
            if depth < 8 {
                check_bucket(&child, depth + 1);
            }
        }
        let mut above = k.clone();
        above.push(0);
        let next = m.range(above.clone()..).next().map(|(k, _)| k.clone());
        assert_eq!(
            b.cursor().seek(&above).unwrap().map(|e| e.key.to_vec()),
            next
        );
        // prev after seek returns the key before.
        let mut c = b.cursor();
        c.seek(k).unwrap();
        let before = m.range(..k.clone()).next_back().map(|(k, _)| k.clone());
        assert_eq!(c.prev().unwrap().map(|e| e.key.to_vec()), before);
    }
    // Seek past the end.
    let mut c = b.cursor();
    assert_eq!(c.seek(&[0xff; 40000]).unwrap(), None);
    if let Some((last, _)) = m.iter().next_back() {
        assert_eq!(
            c.prev().unwrap().map(|e| e.key.to_vec()),
            Some(last.clone()),
            "prev from past the end"
        );
    }
    assert_eq!(b.get(b"\xff\xfe-no-such-key").unwrap(), None);
}

#[test]
fn cursors_agree_with_model_on_all_fixtures() {
    for (name, bytes) in fixtures() {
        let db = Db::open(&bytes[..]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let root = db.root();
        let mut c = root.cursor();
        let mut e = c.first().unwrap();
        while let Some(x) = e {
            if x.is_bucket() {
                let b = db.bucket(&[x.key]).unwrap();
                check_bucket(&b, 0);
            }
            e = c.next().unwrap();
        }
    }
}

#[test]
fn missing_bucket_is_a_typed_error() {
    let (_, bytes) = fixtures().remove(0);
    let db = Db::open(&bytes[..]).unwrap();
    let err = db.bucket(&[&b"no such bucket"[..]]).err().unwrap();
    assert!(
        matches!(err, bbolt::Error::BucketNotFound(ref n) if n == "no such bucket"),
        "{err:?}"
    );
}
