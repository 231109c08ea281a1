//! Times boltsnap's reader on a file, printing the same JSON lines as the
//! Go oracle's `gobolt bench-*` so `benches/vs_go.sh` can put them side by
//! side.
//!
//! ```text
//! cargo run --release --example bolt_bench -- scan|scan-no-touch|check FILE
//! ```

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, PEAK};

#[global_allocator]
static ALLOC: Counting<mimalloc::MiMalloc> = Counting(mimalloc::MiMalloc);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (op, path) = match args.as_slice() {
        [op, path] => (op.as_str(), path.as_str()),
        _ => return Err("usage: bolt_bench scan|scan-no-touch|check|live FILE".into()),
    };
    let file = std::fs::File::open(path)?;
    // SAFETY: read-only map of a file nobody writes during the benchmark.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file)? };
    let db = bbolt::Db::open(&map[..])?;
    let mut runs = Vec::new();
    let (mut keys, mut bytes, mut buckets, mut sum) = (0u64, 0u64, 0u64, 0u64);
    let reps = if op == "check" { 3 } else { 5 };
    let mut errors = 0;
    for _ in 0..reps {
        let t = Instant::now();
        (keys, bytes, buckets, sum) = (0, 0, 0, 0);
        match op {
            "scan" | "scan-no-touch" => {
                let touch = op == "scan";
                db.walk(|item| -> bbolt::Result<()> {
                    match item {
                        bbolt::WalkItem::Bucket { path, .. } => {
                            buckets += 1;
                            sum += byte_sum(path.last().copied().unwrap_or_default(), touch);
                        }
                        bbolt::WalkItem::Pair { key, value, .. } => {
                            keys += 1;
                            bytes += (key.len() + value.len()) as u64;
                            sum += byte_sum(key, touch) + byte_sum(value, touch);
                        }
                    }
                    Ok(())
                })?;
            }
            "check" => errors = db.check().findings.len(),
            "live" => {
                let edb = etcd_store::EtcdDb::open(&map[..])?;
                let t0 = Instant::now();
                let v = edb.live(0)?;
                keys = v.keys.len() as u64;
                bytes = v.entries_scanned;
                eprintln!("live view {:?}", t0.elapsed());
                let t1 = Instant::now();
                let (kept, _) = milvus_meta::select::select(&v, &Default::default())?;
                eprintln!("select {:?} ({} kept)", t1.elapsed(), kept.len());
            }
            other => return Err(format!("unknown op {other}").into()),
        }
        runs.push(t.elapsed().as_secs_f64());
    }
    let best = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let v = if op == "check" {
        serde_json::json!({"op": op, "seconds": best, "errors": errors, "runs": runs})
    } else {
        serde_json::json!({"op": op, "seconds": best, "keys": keys, "bytes": bytes, "buckets": buckets, "bytesum": sum, "runs": runs, "heap_peak_bytes": PEAK.load(Relaxed)})
    };
    println!("{v}");
    Ok(())
}

fn byte_sum(b: &[u8], touch: bool) -> u64 {
    if touch {
        b.iter().map(|&x| u64::from(x)).sum()
    } else {
        b.len() as u64
    }
}
