//! Single-field corruptions of a real etcd db written by Milvus 2.3.5:
//! each must give a clear error naming the page, never a panic or a hang.

use bbolt::{Db, Error, MetaChoice, OpenOptions, PageType};

use crate::{flatten, read};

const P: usize = 4096;

fn small() -> Vec<u8> {
    read("milvus-2.3.5/small.db")
}

/// The `key` bucket's root (a branch page in this file) and its first child.
fn key_tree(bytes: &[u8]) -> (u64, u64) {
    let db = Db::open(bytes).unwrap();
    let key = db.bucket(&[b"key"]).unwrap();
    let root = key.root_page();
    let page = db.page(root).unwrap();
    assert_eq!(
        page.page_type(),
        PageType::Branch,
        "fixture changed: key bucket root is not a branch"
    );
    let first_child = page.branch_entries().unwrap()[0].1;
    (root, first_child)
}

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn corrupt_page(e: &Error) -> Option<u64> {
    e.corruption().and_then(|c| c.page)
}

/// Reading everything must fail with a corruption at `page`, and check
/// must report it.
fn assert_walk_fails_at(bytes: &[u8], page: u64, what: &str) {
    let db = Db::open(bytes).expect("metas are intact, open must work");
    let err = flatten(&db).expect_err("walk must fail");
    assert_eq!(
        corrupt_page(&err),
        Some(page),
        "error {err} should name page {page}"
    );
    assert!(
        err.to_string().contains(what),
        "error {err:?} should say {what:?}"
    );
    let report = db.check();
    assert!(!report.is_ok(), "check must find the damage");
    assert!(
        report.findings.iter().any(|f| f.page == Some(page)),
        "check findings {:?} should name page {page}",
        report.findings
    );
}

#[test]
fn intact_fixture_is_clean() {
    let b = small();
    let db = Db::open(&b[..]).unwrap();
    assert!(db.check().is_ok(), "{:?}", db.check().findings);
    assert!(flatten(&db).unwrap().len() > 100);
}

#[test]
fn empty_file_is_not_a_database() {
    let err = Db::open(Vec::new()).err().unwrap();
    assert!(matches!(err, Error::TooSmall { len: 0, .. }), "{err:?}");
}

#[test]
fn random_bytes_are_not_a_database() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let err = Db::open(bytes).err().unwrap();
    assert!(matches!(err, Error::InvalidDatabase { .. }), "{err:?}");
}

#[test]
fn truncated_below_two_pages() {
    let b = small();
    let err = Db::open(&b[..3000]).err().unwrap();
    assert!(
        matches!(
            err,
            Error::TooSmall {
                len: 3000,
                page_size: 4096
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_in_the_middle() {
    let b = small();
    let cut = &b[..P * 8];
    let db = Db::open(cut).unwrap();
    let err = flatten(&db).expect_err("pages past the cut cannot be read");
    assert!(
        err.to_string().contains("past the end of the file"),
        "{err}"
    );
    let r = db.check();
    assert!(
        r.findings.iter().any(|f| f.message.contains("truncated")),
        "{:?}",
        r.findings
    );
}

#[test]
fn both_metas_bad() {
    let mut b = small();
    b[72] ^= 0xff; // meta 0 checksum
    b[P + 72] ^= 0xff; // meta 1 checksum
    let err = Db::open(b).err().unwrap();
    assert!(
        matches!(
            err,
            Error::InvalidDatabase {
                meta0: bbolt::MetaError::BadChecksum { .. },
                meta1: bbolt::MetaError::BadChecksum { .. }
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_newest_meta_falls_back_to_the_other() {
    let b = small();
    let good = Db::open(&b[..]).unwrap();
    let newest = good.meta_slot();
    let older_txid = good.metas()[1 - newest as usize].as_ref().unwrap().txid;
    let mut bad = b.clone();
    bad[newest as usize * P + 64] ^= 1; // txid byte: checksum no longer matches
    let db = Db::open(&bad[..]).unwrap();
    assert_eq!(db.meta_slot(), 1 - newest);
    assert_eq!(db.meta().txid, older_txid);
    // The older tree is intact in this file: everything reads.
    assert!(flatten(&db).unwrap().len() > 100);
    let r = db.check();
    assert!(
        r.findings
            .iter()
            .any(|f| f.page == Some(u64::from(newest))
                && f.message.contains("meta page is not valid"))
    );
    // Asking for the broken slot explicitly is an error that names it.
    let opts = OpenOptions {
        meta: MetaChoice::Slot(newest),
        ..Default::default()
    };
    let err = Db::open_with(&bad[..], &opts).err().unwrap();
    assert_eq!(corrupt_page(&err), Some(u64::from(newest)));
}

#[test]
fn older_meta_is_selectable() {
    let b = small();
    let newest = Db::open(&b[..]).unwrap();
    let opts = OpenOptions {
        meta: MetaChoice::Older,
        ..Default::default()
    };
    let older = Db::open_with(&b[..], &opts).unwrap();
    assert_eq!(older.meta().txid + 1, newest.meta().txid);
}

#[test]
fn zeroed_leaf() {
    let mut b = small();
    let (_, leaf) = key_tree(&b);
    b[leaf as usize * P..(leaf as usize + 1) * P].fill(0);
    assert_walk_fails_at(&b, leaf, "page header says it is page 0");
}

#[test]
fn branch_child_pointing_at_itself() {
    let mut b = small();
    let (root, _) = key_tree(&b);
    put_u64(&mut b, root as usize * P + 16 + 8, root);
    // The cursor descends into the branch again and again: the depth guard stops it.
    let db = Db::open(&b[..]).unwrap();
    let err = flatten(&db).expect_err("cycle");
    assert!(err.to_string().contains("deeper than"), "{err}");
    let r = db.check();
    assert!(
        r.findings
            .iter()
            .any(|f| f.page == Some(root) && f.message.contains("multiple references")),
        "{:?}",
        r.findings
    );
}

#[test]
fn child_past_the_end() {
    let mut b = small();
    let (root, _) = key_tree(&b);
    put_u64(&mut b, root as usize * P + 16 + 8, 1 << 40);
    assert_walk_fails_at(&b, 1 << 40, "high-water mark");
}

#[test]
fn count_65535() {
    let mut b = small();
    let (_, leaf) = key_tree(&b);
    put_u16(&mut b, leaf as usize * P + 10, 0xffff);
    assert_walk_fails_at(&b, leaf, "65535 elements need");
}

#[test]
fn pos_past_the_end() {
    let mut b = small();
    let (_, leaf) = key_tree(&b);
    put_u32(&mut b, leaf as usize * P + 16 + 4, 0xffff_ff00);
    assert_walk_fails_at(&b, leaf, "run past the node end");
}

#[test]
fn unknown_flags() {
    let mut b = small();
    let (_, leaf) = key_tree(&b);
    put_u16(&mut b, leaf as usize * P + 8, 0x20);
    assert_walk_fails_at(&b, leaf, "unknown<20>");
}

#[test]
fn overflow_past_the_end() {
    let mut b = small();
    let (_, leaf) = key_tree(&b);
    put_u32(&mut b, leaf as usize * P + 12, u32::MAX);
    assert_walk_fails_at(&b, leaf, "overflow pages run past");
}

#[test]
fn freelist_with_absurd_count() {
    // Etcd files carry no freelist: point the meta at a leaf page and give
    // it the freelist flag and the 0xFFFF escape with a huge real count.
    let mut b = small();
    let db = Db::open(&b[..]).unwrap();
    let slot = db.meta_slot() as usize;
    let (_, leaf) = key_tree(&b);
    let _ = db;
    let m = slot * P;
    put_u64(&mut b, m + 48, leaf);
    let mut meta = bbolt::Meta::parse(&b[m..m + P], bbolt::ByteOrder::Little).unwrap();
    meta.freelist = leaf;
    meta.encode_page(slot as u64, &mut b[m..m + P]).unwrap();
    put_u16(&mut b, leaf as usize * P + 8, 0x10);
    put_u16(&mut b, leaf as usize * P + 10, 0xffff);
    put_u64(&mut b, leaf as usize * P + 16, u64::MAX / 2);
    let db = Db::open(&b[..]).unwrap();
    let err = db.freelist().unwrap_err();
    assert_eq!(corrupt_page(&err), Some(leaf));
    assert!(err.to_string().contains("claims"), "{err}");
    assert!(!db.check().is_ok());
}
