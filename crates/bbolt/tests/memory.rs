//! The Builder streams: its heap does not grow with the file. Measured with
//! a counting allocator (its own test binary, since the allocator is global).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::Ordering::Relaxed;

use bbolt::write::{Builder, BuilderOptions};

#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, NOW, PEAK};

#[global_allocator]
static A: Counting<std::alloc::System> = Counting(std::alloc::System);

/// A seekable sink that keeps nothing.
#[derive(Default)]
struct Sink {
    pos: u64,
    len: u64,
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.pos += b.len() as u64;
        self.len = self.len.max(self.pos);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Sink {
    fn seek(&mut self, p: SeekFrom) -> std::io::Result<u64> {
        self.pos = match p {
            SeekFrom::Start(n) => n,
            SeekFrom::End(d) => (self.len as i64 + d) as u64,
            SeekFrom::Current(d) => (self.pos as i64 + d) as u64,
        };
        Ok(self.pos)
    }
}

/// Peak heap while building an etcd-shaped bucket of `n` revisions.
fn peak_for(n: u64) -> (usize, u64) {
    let base = NOW.load(Relaxed);
    PEAK.store(base, Relaxed);
    let mut b = Builder::new(Sink::default(), BuilderOptions::default()).unwrap();
    b.begin_bucket(b"key").unwrap();
    let value = vec![0x5au8; 400];
    for rev in 0..n {
        let mut k = [0u8; 17];
        k[..8].copy_from_slice(&rev.to_be_bytes());
        k[8] = b'_';
        b.put(&k, &value).unwrap();
    }
    b.end_bucket().unwrap();
    b.begin_bucket(b"meta").unwrap();
    b.put(b"consistent_index", &[0; 8]).unwrap();
    let (sink, s) = b.finish().unwrap();
    assert_eq!(sink.len, s.file_size);
    (PEAK.load(Relaxed) - base, s.file_size)
}

#[test]
fn builder_heap_does_not_grow_with_the_file() {
    let (small, small_file) = peak_for(20_000);
    let (big, big_file) = peak_for(400_000);
    assert!(big_file > 15 * small_file, "{small_file} vs {big_file}");
    eprintln!("peak heap: {small} bytes for a {small_file}-byte file, {big} bytes for a {big_file}-byte file");
    // Bounded by the output buffer (1 MiB) and a few nodes per level.
    assert!(big < 4 << 20, "peak heap {big} bytes");
    assert!(
        big <= small + (64 << 10),
        "heap grew with the file: {small} -> {big}"
    );
}
