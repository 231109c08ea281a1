//! Writing backups in one streaming pass.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

use super::{put_varint, Manifest, Record, FORMAT_VERSION, MAGIC, TRAILER_MAGIC};
use crate::error::{Error, Result};

/// Counts and hashes what passes through.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Bytes of records per zstd frame.
const FRAME: usize = 2 << 20;

/// Zstd level: the metadata is small protobuf and JSON that compresses
/// well at any level, and the export should take about as long as reading
/// the db.
const LEVEL: i32 = 1;

/// Zstd level for frames that do not compress (random bytes, already
/// compressed values): level 1 would spend its time for nothing.
const FAST_LEVEL: i32 = -5;

/// A worker's two compressors.
struct Zstd {
    normal: zstd::bulk::Compressor<'static>,
    fast: zstd::bulk::Compressor<'static>,
}

impl Zstd {
    fn new() -> Result<Zstd> {
        Ok(Zstd {
            normal: zstd::bulk::Compressor::new(LEVEL)?,
            fast: zstd::bulk::Compressor::new(FAST_LEVEL)?,
        })
    }

    /// One frame of `records`. A probe of its first 64 KiB at the normal
    /// level decides: if that does not shrink by a tenth, the frame is
    /// compressed at the fast level.
    fn frame(&mut self, records: &[u8]) -> Result<Vec<u8>> {
        let probe = records
            .get(..records.len().min(64 << 10))
            .unwrap_or_default();
        let shrinks =
            probe.len() < 4096 || self.normal.compress(probe)?.len() * 10 < probe.len() * 9;
        let c = if shrinks {
            &mut self.normal
        } else {
            &mut self.fast
        };
        Ok(c.compress(records)?)
    }
}

fn out_of_order(key: &[u8], prev: &[u8]) -> Error {
    Error::InvalidArgument(format!(
        "records out of key order: {:?} after {:?}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(prev)
    ))
}

/// Appends one record to `buf`.
fn encode_record(
    buf: &mut Vec<u8>,
    key: &[u8],
    value: &[u8],
    create: i64,
    modr: i64,
    version: i64,
) {
    put_varint(buf, key.len() as u64);
    buf.extend_from_slice(key);
    put_varint(buf, value.len() as u64);
    buf.extend_from_slice(value);
    put_varint(buf, create as u64);
    put_varint(buf, modr as u64);
    put_varint(buf, version as u64);
}

/// Encodes the live keys `kept` of `view` into `buf` (cleared first),
/// checking that they are in key order.
fn encode_frame(view: &etcd_store::LiveView<'_>, kept: &[usize], buf: &mut Vec<u8>) -> Result<()> {
    // Reading the ends of a value a few records ahead starts its cache
    // misses early, so they overlap with the work on this record.
    const AHEAD: usize = 16;
    buf.clear();
    let mut prev: Option<&[u8]> = None;
    for (n, &i) in kept.iter().enumerate() {
        if let Some(next) = kept.get(n + AHEAD).and_then(|&j| view.keys.get(j)) {
            std::hint::black_box((next.kv.value.first(), next.kv.value.last()));
        }
        let k = view
            .keys
            .get(i)
            .ok_or_else(|| Error::InvalidArgument(format!("no live key {i}")))?;
        let key = view.key(i);
        if let Some(p) = prev {
            if p >= key {
                return Err(out_of_order(key, p));
            }
        }
        prev = Some(key);
        encode_record(
            buf,
            key,
            k.kv.value,
            k.kv.create_revision,
            k.kv.mod_revision,
            k.kv.version,
        );
    }
    Ok(())
}

/// Writes a `.bsnap` stream: header and manifest first, records as they
/// come (in key order), trailer at [`finish`](Self::finish). Records are
/// cut into frames of about 2 MiB; [`write_view`](Self::write_view)
/// compresses them on worker threads, records written one at a time are
/// compressed on the caller's. Memory stays constant whatever the number
/// of records.
pub struct BackupWriter<W: Write> {
    out: Hashing<W>,
    zstd: Zstd,
    /// Frames written (a backup has at least one, empty if need be).
    frames: u64,
    header_len: u64,
    records: u64,
    expected: u64,
    last_key: Option<Vec<u8>>,
    buf: Vec<u8>,
    /// An error happened: what was written is incomplete, and every later
    /// call fails at once.
    failed: bool,
}

impl<W: Write> BackupWriter<W> {
    fn usable(&self) -> Result<()> {
        match self.failed {
            true => Err(Error::InvalidArgument(
                "the backup writer failed earlier; the backup is incomplete".into(),
            )),
            false => Ok(()),
        }
    }

    fn checked<T>(&mut self, r: Result<T>) -> Result<T> {
        self.failed |= r.is_err();
        r
    }

    /// Starts a backup; the manifest's `records` must be the number of
    /// records that will follow (checked at the end).
    pub fn new(out: W, manifest: &Manifest) -> Result<Self> {
        let json =
            serde_json::to_vec(manifest).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut h = Hashing {
            inner: out,
            hash: Sha256::new(),
            bytes: 0,
        };
        h.write_all(MAGIC)?;
        h.write_all(&FORMAT_VERSION.to_le_bytes())?;
        h.write_all(&(json.len() as u32).to_le_bytes())?;
        h.write_all(&json)?;
        let header_len = h.bytes;
        Ok(BackupWriter {
            out: h,
            zstd: Zstd::new()?,
            frames: 0,
            header_len,
            records: 0,
            expected: manifest.records,
            last_key: None,
            buf: Vec::with_capacity(FRAME + (64 << 10)),
            failed: false,
        })
    }

    /// Appends a record (keys strictly increasing).
    pub fn write(&mut self, r: &Record) -> Result<()> {
        self.write_parts(
            &r.key,
            &r.value,
            r.create_revision,
            r.mod_revision,
            r.version,
        )
    }

    /// Appends a record from its parts.
    pub fn write_parts(
        &mut self,
        key: &[u8],
        value: &[u8],
        create: i64,
        modr: i64,
        version: i64,
    ) -> Result<()> {
        self.usable()?;
        let r = self.write_parts_unchecked(key, value, create, modr, version);
        self.checked(r)
    }

    fn write_parts_unchecked(
        &mut self,
        key: &[u8],
        value: &[u8],
        create: i64,
        modr: i64,
        version: i64,
    ) -> Result<()> {
        if let Some(prev) = &self.last_key {
            if prev.as_slice() >= key {
                return Err(out_of_order(key, prev));
            }
        }
        match &mut self.last_key {
            Some(prev) => {
                prev.clear();
                prev.extend_from_slice(key);
            }
            None => self.last_key = Some(key.to_vec()),
        }
        encode_record(&mut self.buf, key, value, create, modr, version);
        if self.buf.len() >= FRAME {
            self.flush_frame()?;
        }
        self.records += 1;
        Ok(())
    }

    /// Appends the live keys of `view` whose indexes are `kept` (in key
    /// order, as [`select`](crate::select::select) returns them), calling
    /// `progress` with the number written now and then.
    ///
    /// Worker threads (one per core, up to 4) each encode and compress
    /// whole frames of records; this thread hashes and writes the frames
    /// in order. Copying the values is most of the encoding: they lie
    /// anywhere in the mapped file, so every one starts with cache and TLB
    /// misses, and several threads wait on them together.
    pub fn write_view(
        &mut self,
        view: &etcd_store::LiveView<'_>,
        kept: &[usize],
        progress: impl FnMut(u64),
    ) -> Result<()> {
        self.usable()?;
        let r = self.write_view_unchecked(view, kept, progress);
        self.checked(r)
    }

    fn write_view_unchecked(
        &mut self,
        view: &etcd_store::LiveView<'_>,
        kept: &[usize],
        mut progress: impl FnMut(u64),
    ) -> Result<()> {
        // What the record-at-a-time path holds goes first, in order.
        if !self.buf.is_empty() {
            self.flush_frame()?;
        }
        // Frames: runs of `kept` of about FRAME bytes.
        let mut cuts = vec![0];
        let mut size = 0;
        for (n, &i) in kept.iter().enumerate() {
            let k = view
                .keys
                .get(i)
                .ok_or_else(|| Error::InvalidArgument(format!("no live key {i}")))?;
            size += k.kv.key.len() + k.kv.value.len() + 16;
            if size >= FRAME {
                cuts.push(n + 1);
                size = 0;
            }
        }
        if cuts.last() != Some(&kept.len()) {
            cuts.push(kept.len());
        }
        let ranges: Vec<std::ops::Range<usize>> = cuts
            .windows(2)
            .filter_map(|w| Some(*w.first()?..*w.get(1)?))
            .collect();
        // Key order across the frames (within one, the worker checks).
        let mut prev: Option<&[u8]> = self.last_key.as_deref();
        for r in &ranges {
            let first = kept.get(r.start).map(|&i| view.key(i));
            if let (Some(p), Some(f)) = (prev, first) {
                if p >= f {
                    return Err(out_of_order(f, p));
                }
            }
            prev = kept.get(r.end.saturating_sub(1)).map(|&i| view.key(i));
        }
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let out = &mut self.out;
        let (job_tx, job_rx) = std::sync::mpsc::channel::<(usize, std::ops::Range<usize>)>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, Result<Vec<u8>>)>();
        let job_rx = std::sync::Mutex::new(job_rx);
        let written = std::thread::scope(|s| -> Result<u64> {
            // Owned here: leaving this closure, on an error too, closes the
            // queue, which ends the workers, which ends the scope.
            let job_tx = job_tx;
            let mut started = 0;
            for _ in 0..workers {
                let (job_rx, done_tx) = (&job_rx, done_tx.clone());
                let spawned = std::thread::Builder::new()
                    .name("bsnap-frames".into())
                    .spawn_scoped(s, move || {
                        let mut c = Zstd::new().ok();
                        let mut buf = Vec::with_capacity(FRAME + (64 << 10));
                        loop {
                            let job = match job_rx.lock() {
                                Ok(r) => r.recv(),
                                Err(_) => return,
                            };
                            let Ok((seq, range)) = job else { return };
                            // A panic becomes this frame's error: the writer waits for it.
                            let frame =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    encode_frame(
                                        view,
                                        kept.get(range).unwrap_or_default(),
                                        &mut buf,
                                    )
                                    .and_then(|()| {
                                        match c.as_mut() {
                                            Some(c) => c.frame(&buf),
                                            None => Err(Error::InvalidArgument(
                                                "cannot start zstd".into(),
                                            )),
                                        }
                                    })
                                }))
                                .unwrap_or_else(|_| {
                                    Err(Error::InvalidArgument("a frame worker panicked".into()))
                                });
                            if done_tx.send((seq, frame)).is_err() {
                                return;
                            }
                        }
                    });
                started += usize::from(spawned.is_ok());
            }
            drop(done_tx);
            if started == 0 {
                return Err(Error::InvalidArgument(
                    "cannot start a compression thread".into(),
                ));
            }
            // Frames in flight at most: enough to keep the workers busy.
            let window = 2 * started;
            let mut sent = 0;
            let mut next = 0;
            let mut early: std::collections::BTreeMap<usize, Vec<u8>> =
                std::collections::BTreeMap::new();
            let mut records = 0u64;
            while next < ranges.len() {
                while sent < ranges.len() && sent < next + window {
                    let r = ranges.get(sent).cloned().unwrap_or_default();
                    job_tx
                        .send((sent, r))
                        .map_err(|_| Error::InvalidArgument("zstd workers stopped".into()))?;
                    sent += 1;
                }
                while let Some(frame) = early.remove(&next) {
                    out.write_all(&frame)?;
                    records += ranges.get(next).map_or(0, |r| r.len() as u64);
                    progress(records);
                    next += 1;
                }
                if next < sent {
                    let (seq, frame) = done_rx
                        .recv()
                        .map_err(|_| Error::InvalidArgument("zstd workers stopped".into()))?;
                    early.insert(seq, frame?);
                }
            }
            Ok(records)
        })?;
        self.records += written;
        self.frames += ranges.len() as u64;
        if let Some(&i) = kept.last() {
            self.last_key = Some(view.key(i).to_vec());
        }
        Ok(())
    }

    /// Compresses the staged records into a frame and writes it.
    fn flush_frame(&mut self) -> Result<()> {
        let frame = self.zstd.frame(&self.buf)?;
        self.out.write_all(&frame)?;
        self.buf.clear();
        self.frames += 1;
        Ok(())
    }

    /// Ends the record stream and writes the trailer.
    pub fn finish(mut self) -> Result<W> {
        self.usable()?;
        if self.records != self.expected {
            return Err(Error::InvalidArgument(format!(
                "manifest announces {} records, {} were written",
                self.expected, self.records
            )));
        }
        if !self.buf.is_empty() || self.frames == 0 {
            self.flush_frame()?;
        }
        let BackupWriter {
            out: mut h,
            header_len,
            records,
            ..
        } = self;
        let records_len = h.bytes - header_len;
        let digest = h.hash.clone().finalize();
        let mut t = Vec::with_capacity(super::TRAILER_LEN);
        t.extend_from_slice(TRAILER_MAGIC);
        t.extend_from_slice(&records.to_le_bytes());
        t.extend_from_slice(&records_len.to_le_bytes());
        t.extend_from_slice(&digest);
        h.inner.write_all(&t)?;
        h.inner.flush()?;
        Ok(h.inner)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::backup::BackupReader;

    fn record(i: usize) -> Record {
        // Half the values compress, half are pseudo-random bytes.
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let value = (0..300)
            .map(|j| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 2 == 0 {
                    (j % 7) as u8
                } else {
                    x as u8
                }
            })
            .collect();
        Record {
            key: format!("k/{i:08}").into_bytes(),
            value,
            create_revision: 1,
            mod_revision: i as i64 + 1,
            version: 1,
        }
    }

    /// A live view holding `records` as they are.
    fn view_of(records: &[Record]) -> etcd_store::LiveView<'_> {
        let keys = records
            .iter()
            .map(|r| etcd_store::LiveKey {
                revision: etcd_store::Revision {
                    main: r.mod_revision,
                    sub: 0,
                },
                kv: etcd_store::KeyValueRef {
                    key: &r.key,
                    create_revision: r.create_revision,
                    mod_revision: r.mod_revision,
                    version: r.version,
                    value: &r.value,
                    lease: 0,
                },
            })
            .collect();
        etcd_store::LiveView::new(1, 0, keys, records.len() as u64, 0)
    }

    /// Records one at a time, then a live view, then records again: many
    /// frames from both paths, read back in order.
    #[test]
    fn both_write_paths_interleave_into_one_ordered_stream() {
        let n = 30_000;
        let all: Vec<Record> = (0..n).map(record).collect();
        let (a, rest) = all.split_at(10_000);
        let (b, c) = rest.split_at(10_000);
        let view = view_of(b);
        let kept: Vec<usize> = (0..b.len()).collect();
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            records: n as u64,
            ..Default::default()
        };
        let mut w = BackupWriter::new(Vec::new(), &manifest).unwrap();
        for r in a {
            w.write(r).unwrap();
        }
        let mut seen = 0;
        w.write_view(&view, &kept, |k| seen = k).unwrap();
        assert_eq!(seen, b.len() as u64, "progress reaches the end");
        for r in c {
            w.write(r).unwrap();
        }
        let file = w.finish().unwrap();
        let reader = BackupReader::open(Cursor::new(file)).unwrap();
        let back: Vec<Record> = reader.records().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(back.len(), all.len());
        assert!(back == all, "records differ after the round trip");
    }

    #[test]
    fn out_of_order_records_are_refused_on_both_paths() {
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            records: 2,
            ..Default::default()
        };
        let mut w = BackupWriter::new(Vec::new(), &manifest).unwrap();
        w.write(&record(5)).unwrap();
        assert!(w.write(&record(4)).is_err());
        let r = [record(3)];
        let view = view_of(&r);
        assert!(
            w.write_view(&view, &[0], |_| {}).is_err(),
            "a view key below the last record"
        );
    }

    /// After an error every call fails at once: none waits for frames that
    /// will not come, and no incomplete backup is finished.
    #[test]
    fn a_failed_writer_refuses_everything_after() {
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            records: 3,
            ..Default::default()
        };
        let mut w = BackupWriter::new(Vec::new(), &manifest).unwrap();
        w.write(&record(5)).unwrap();
        assert!(w.write(&record(4)).is_err());
        assert!(
            w.write(&record(6)).is_err(),
            "in order, but after a failure"
        );
        assert!(w.finish().is_err());

        /// A sink that fails after a few bytes (a full disk).
        struct Full(usize);
        impl Write for Full {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 < buf.len() {
                    return Err(io::Error::other("disk full"));
                }
                self.0 -= buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let all: Vec<Record> = (0..20_000).map(record).collect();
        let view = view_of(&all);
        let kept: Vec<usize> = (0..all.len()).collect();
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            records: all.len() as u64,
            ..Default::default()
        };
        let mut w = BackupWriter::new(Full(1 << 20), &manifest).unwrap();
        assert!(
            w.write_view(&view, &kept, |_| {}).is_err(),
            "the sink fails after 1 MiB"
        );
        assert!(w.finish().is_err());
    }
}
