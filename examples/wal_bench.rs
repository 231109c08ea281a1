//! The WAL benchmark's two halves (`benches/wal.sh`):
//!
//! ```text
//! cargo run --release --example wal_bench -- gen DB OUT-DIR [MB]
//! cargo run --release --example wal_bench -- replay DATA-DIR
//! ```
//!
//! `gen` makes a data dir from an etcd db: the db as `member/snap/db`, a
//! raft snapshot at the db's consistent index, and one WAL segment of
//! about MB megabytes (default 64, etcd's segment size) of Milvus-shaped
//! puts and some deletes and txns above it, framed as etcd frames them.
//! `replay` times the WAL read (frames, CRC chain, decode) and the replay
//! onto the db (not the rewrite of the db), best of 5, and prints JSON.

use std::io::Write as _;
use std::time::Instant;

use etcd_store::wal::{self, encode, record_type};

use encode::{field_bytes as bytes_field, field_varint as varint_field};

/// An InternalRaftRequest { header { ID }, put { key, value } }.
fn put_request(id: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut header = Vec::new();
    varint_field(&mut header, 1, id);
    let mut put = Vec::new();
    bytes_field(&mut put, 1, key);
    bytes_field(&mut put, 2, value);
    let mut r = Vec::new();
    bytes_field(&mut r, 100, &header);
    bytes_field(&mut r, 4, &put);
    r
}

/// An InternalRaftRequest { delete_range { key } }.
fn delete_request(id: u64, key: &[u8]) -> Vec<u8> {
    let mut header = Vec::new();
    varint_field(&mut header, 1, id);
    let mut del = Vec::new();
    bytes_field(&mut del, 1, key);
    let mut r = Vec::new();
    bytes_field(&mut r, 100, &header);
    bytes_field(&mut r, 5, &del);
    r
}

/// An InternalRaftRequest { txn { compare: mod(key) > 0, success: put } }.
fn txn_request(id: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut header = Vec::new();
    varint_field(&mut header, 1, id);
    let mut cmp = Vec::new();
    varint_field(&mut cmp, 1, 1); // GREATER
    varint_field(&mut cmp, 2, 2); // MOD
    bytes_field(&mut cmp, 3, key);
    varint_field(&mut cmp, 6, 0);
    let mut put = Vec::new();
    bytes_field(&mut put, 1, key);
    bytes_field(&mut put, 2, value);
    let mut op = Vec::new();
    bytes_field(&mut op, 2, &put);
    let mut txn = Vec::new();
    bytes_field(&mut txn, 1, &cmp);
    bytes_field(&mut txn, 2, &op);
    let mut r = Vec::new();
    bytes_field(&mut r, 100, &header);
    bytes_field(&mut r, 6, &txn);
    r
}

fn map(path: &std::path::Path) -> Result<memmap2::Mmap, Box<dyn std::error::Error>> {
    let f = std::fs::File::open(path)?;
    // SAFETY: read-only map of a file nobody writes during the benchmark.
    #[allow(unsafe_code)]
    let m = unsafe { memmap2::Mmap::map(&f)? };
    Ok(m)
}

fn gen(db_path: &str, out: &str, mb: u64) -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out.join("member/snap"))?;
    std::fs::create_dir_all(out.join("member/wal"))?;
    std::fs::copy(db_path, out.join("member/snap/db"))?;
    let m = map(std::path::Path::new(db_path))?;
    let db = etcd_store::EtcdDb::open(&m[..])?;
    let ci = db.meta().consistent_index.unwrap_or(0);
    let term = db.meta().term.unwrap_or(2).max(1);
    // The raft snapshot at the consistent index.
    let mut meta = Vec::new();
    bytes_field(&mut meta, 1, &[]);
    varint_field(&mut meta, 2, ci);
    varint_field(&mut meta, 3, term);
    let mut snap = Vec::new();
    bytes_field(&mut snap, 1, b"{}");
    bytes_field(&mut snap, 2, &meta);
    let mut file = Vec::new();
    varint_field(&mut file, 1, u64::from(crc32c::crc32c(&snap)));
    bytes_field(&mut file, 2, &snap);
    std::fs::write(
        out.join(format!("member/snap/{term:016x}-{ci:016x}.snap")),
        &file,
    )?;
    // The segment.
    let mut w = encode::WalWriter::new(0, 1, 1);
    let mut mark = Vec::new();
    varint_field(&mut mark, 1, ci);
    varint_field(&mut mark, 2, term);
    w.push(record_type::SNAPSHOT, &mark);
    let limit = (mb * 1_000_000) as usize;
    let mut index = ci;
    let mut n: u64 = 0;
    let value_base = vec![b'v'; 600];
    while w.buf.len() < limit {
        n += 1;
        index += 1;
        let key = format!(
            "by-dev/meta/datacoord-meta/s/{}/{}/{}",
            n % 97,
            n % 1009,
            n % 40_000
        );
        let vlen = 200 + (n * 7919 % 400) as usize;
        let value = value_base.get(..vlen).unwrap_or(&value_base);
        let data = match n % 20 {
            0 => delete_request(n, key.as_bytes()),
            1 => txn_request(n, key.as_bytes(), value),
            _ => put_request(n, key.as_bytes(), value),
        };
        w.push(record_type::ENTRY, &encode::entry(term, index, &data));
        if n % 64 == 0 {
            w.push(record_type::STATE, &encode::hard_state(term, 1, index));
        }
    }
    w.push(record_type::STATE, &encode::hard_state(term, 1, index));
    let name = wal::segment_name(0, ci);
    let mut f = std::fs::File::create(out.join("member/wal").join(&name))?;
    f.write_all(&w.buf)?;
    // Preallocated as etcd does: the zero tail up to the segment size.
    let seg = 64_000_000u64.max(w.buf.len() as u64);
    f.set_len(seg)?;
    println!(
        "{{\"entries\":{},\"wal_bytes\":{},\"first_index\":{},\"last_index\":{index}}}",
        n,
        w.buf.len(),
        ci + 1
    );
    Ok(())
}

fn replay(dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    let layout = etcd_store::datadir::locate(std::path::Path::new(dir), None, false)?;
    let dbm = map(&layout.db)?;
    let db = etcd_store::EtcdDb::open(&dbm[..])?;
    let maps: Vec<(String, memmap2::Mmap)> = layout
        .segments
        .iter()
        .map(|(p, _, _)| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            map(p).map(|m| (n, m))
        })
        .collect::<Result<_, _>>()?;
    let segs: Vec<(String, wal::Segment<'_>)> = maps
        .iter()
        .zip(&layout.segments)
        .map(|((n, m), (_, seq, index))| {
            (
                n.clone(),
                wal::Segment {
                    seq: *seq,
                    index: *index,
                    bytes: &m[..],
                },
            )
        })
        .collect();
    let plain: Vec<wal::Segment<'_>> = segs.iter().map(|(_, s)| *s).collect();
    let snaps: Vec<(String, Vec<u8>)> = layout
        .snaps
        .iter()
        .filter_map(|(p, _)| {
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(p).ok()?,
            ))
        })
        .collect();
    let snap_refs: Vec<(String, &[u8])> = snaps
        .iter()
        .map(|(n, b)| (n.clone(), b.as_slice()))
        .collect();
    let (start, _) = etcd_store::datadir::start_snapshot(&plain, &snap_refs);
    let mut read_best = f64::MAX;
    let mut replay_best = f64::MAX;
    let mut wal_bytes = 0u64;
    let mut entries = 0usize;
    let mut revisions = 0u64;
    // The db's live view is built once (the export builds it with or
    // without a WAL); what is timed is the WAL's own cost.
    let t = Instant::now();
    let base = db.live(0)?;
    let live_best = t.elapsed().as_secs_f64();
    let rounds: usize = std::env::var("WAL_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut decode_best = f64::MAX;
    let mut hot_best = f64::MAX;
    let mut lookup_best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        let log = wal::read(&plain, start)?;
        read_best = read_best.min(t.elapsed().as_secs_f64());
        wal_bytes = log.segments.iter().map(|s| s.valid_bytes).sum();
        entries = log.entries.len();
        let t = Instant::now();
        let r = etcd_store::replay::replay(&db, &base, &log.entries, &Default::default())?;
        replay_best = replay_best.min(t.elapsed().as_secs_f64());
        revisions = r.stats.revisions_added;
        // Where the replay's time goes: the request decode alone, and the
        // put keys looked up in the db's view one at a time (the replay
        // looks them up 32 requests at a time, in lockstep).
        let t = Instant::now();
        let mut puts: Vec<&[u8]> = Vec::new();
        for e in &log.entries {
            if let (_, etcd_store::replay::request::Request::Put(p)) =
                etcd_store::replay::request::decode(e.data)
            {
                puts.push(p.key);
            }
        }
        decode_best = decode_best.min(t.elapsed().as_secs_f64());
        // The same number of decodes of one entry, in cache: what the
        // decode costs without the reads from memory.
        let t = Instant::now();
        let one = log.entries.get(10).map(|e| e.data).unwrap_or_default();
        for _ in 0..log.entries.len() {
            std::hint::black_box(etcd_store::replay::request::decode(std::hint::black_box(
                one,
            )));
        }
        hot_best = hot_best.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut found = 0usize;
        for k in &puts {
            let i = base.keys.partition_point(|x| x.kv.key < *k);
            found += usize::from(base.keys.get(i).is_some_and(|x| x.kv.key == *k));
        }
        lookup_best = lookup_best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(found);
    }
    println!(
        "{{\"wal_bytes\":{wal_bytes},\"entries\":{entries},\"revisions_added\":{revisions},\"read_seconds\":{read_best:.4},\"replay_seconds\":{replay_best:.4},\"base_live_view_seconds\":{live_best:.4},\"decode_seconds\":{decode_best:.4},\"decode_in_cache_seconds\":{hot_best:.4},\"db_lookups_one_at_a_time_seconds\":{lookup_best:.4},\"read_gb_per_s\":{:.2},\"read_and_replay_gb_per_s\":{:.2}}}",
        wal_bytes as f64 / read_best / 1e9,
        wal_bytes as f64 / (read_best + replay_best) / 1e9
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [op, db, out] if op == "gen" => gen(db, out, 64),
        [op, db, out, mb] if op == "gen" => gen(db, out, mb.parse()?),
        [op, dir] if op == "replay" => replay(dir),
        _ => Err("usage: wal_bench gen DB OUT-DIR [MB] | replay DATA-DIR".into()),
    }
}
