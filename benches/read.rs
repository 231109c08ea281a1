//! Criterion benches of the reader's hot paths on an etcd-shaped file.
//!
//! Uses `BOLTSNAP_BENCH_DB` when set (e.g. the 650 MB file that
//! `benches/vs_go.sh` makes), else the small fixture in testdata. The
//! comparison with Go is `benches/vs_go.sh`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn input() -> Vec<u8> {
    let path = std::env::var("BOLTSNAP_BENCH_DB").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bolt/etcd-small.db").to_string()
    });
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bench(c: &mut Criterion) {
    let bytes = input();
    let db = bbolt::Db::open(&bytes[..]).unwrap();
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("walk (every key and value)", |b| {
        b.iter(|| {
            let mut n = 0u64;
            db.walk(|item| -> bbolt::Result<()> {
                if let bbolt::WalkItem::Pair { key, value, .. } = item {
                    n += (key.len() + value.len()) as u64;
                }
                Ok(())
            })
            .unwrap();
            n
        })
    });
    g.bench_function("check", |b| b.iter(|| db.check().findings.len()));
    g.bench_function("stats", |b| b.iter(|| db.stats(b"").unwrap().0.key_n));
    g.bench_function("seek every 97th key", |b| {
        let key = db.bucket(&[b"key"]).unwrap();
        let mut keys = Vec::new();
        let mut cur = key.cursor();
        let mut e = cur.first().unwrap();
        while let Some(x) = e {
            keys.push(x.key.to_vec());
            e = cur.next().unwrap();
        }
        b.iter(|| {
            keys.iter()
                .step_by(97)
                .filter(|k| key.get(k).unwrap().is_some())
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
