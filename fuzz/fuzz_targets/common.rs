/// Everything a reader can be asked to do with a file: must never panic,
/// hang or allocate without bound.
pub fn exercise(bytes: &[u8]) {
    // The etcd layer on top: the live view (threads, arenas, the string
    // sort), HashKV, status, the other buckets.
    if let Ok(e) = etcd_store::EtcdDb::open(bytes) {
        let _ = e.live(0);
        let _ = e.hash_kv(0, etcd_store::HashRules::default());
        let _ = e.status_unchecked();
        let _ = e.cluster();
        let _ = e.history(b"by-dev/kv/gid/timestamp");
    }
    for opts in [
        bbolt::OpenOptions::default(),
        bbolt::OpenOptions { meta: bbolt::MetaChoice::Older, ..Default::default() },
    ] {
        let Ok(db) = bbolt::Db::open_with(bytes, &opts) else { continue };
        let _ = db.walk(|_| -> bbolt::Result<()> { Ok(()) });
        let _ = db.check();
        let _ = db.stats(b"");
        let _ = db.freelist();
        let root = db.root();
        let mut c = root.cursor();
        let _ = c.last();
        let _ = c.prev();
        let _ = c.seek(b"key");
        if let Ok(Some(b)) = root.bucket(b"key") {
            let mut c = b.cursor();
            let mut n = 0;
            while let Ok(Some(_)) = c.next() {
                n += 1;
                if n > 100_000 {
                    break;
                }
            }
        }
        for id in 0..db.hwm().min(32) {
            if let Ok(p) = db.page(id) {
                let _ = p.leaf_entries();
                let _ = p.branch_entries();
                let _ = p.freelist_ids();
            }
        }
    }
}
