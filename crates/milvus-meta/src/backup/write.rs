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

/// Bytes of records staged before they go to the compressor.
const STAGE: usize = 1 << 16;

/// Writes a `.bsnap` stream: header and manifest first, records as they
/// come (in key order), trailer at [`finish`](Self::finish). Memory stays
/// constant whatever the number of records.
pub struct BackupWriter<W: Write> {
    enc: zstd::Encoder<'static, Hashing<W>>,
    header_len: u64,
    records: u64,
    expected: u64,
    last_key: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl<W: Write> BackupWriter<W> {
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
        // Level 1 with a second worker thread: the metadata is small
        // protobuf and JSON that compresses well at any level, and the
        // export should take about as long as reading the db.
        let mut enc = zstd::Encoder::new(h, 1)?;
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4) as u32;
        if workers > 1 {
            let _ = enc.multithread(workers);
        }
        Ok(BackupWriter {
            enc,
            header_len,
            records: 0,
            expected: manifest.records,
            last_key: None,
            buf: Vec::with_capacity(STAGE + 4096),
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
        if let Some(prev) = &self.last_key {
            if prev.as_slice() >= key {
                return Err(Error::InvalidArgument(format!(
                    "records out of key order: {:?} after {:?}",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(prev)
                )));
            }
        }
        match &mut self.last_key {
            Some(prev) => {
                prev.clear();
                prev.extend_from_slice(key);
            }
            None => self.last_key = Some(key.to_vec()),
        }
        put_varint(&mut self.buf, key.len() as u64);
        self.buf.extend_from_slice(key);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(value);
        put_varint(&mut self.buf, create as u64);
        put_varint(&mut self.buf, modr as u64);
        put_varint(&mut self.buf, version as u64);
        // Records are small: handing them to the compressor in large blocks
        // saves a call and a copy per record.
        if self.buf.len() >= STAGE {
            self.enc.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.records += 1;
        Ok(())
    }

    /// Appends the live keys of `view` whose indexes are `kept` (in key
    /// order, as [`select`](crate::select::select) returns them), calling
    /// `progress` with the number written now and then.
    pub fn write_view(
        &mut self,
        view: &etcd_store::LiveView<'_>,
        kept: &[usize],
        mut progress: impl FnMut(u64),
    ) -> Result<()> {
        // Values lie anywhere in the mapped file. Reading the ends of the
        // value a few records ahead starts its cache misses early, so they
        // overlap with the work on this record instead of stalling it.
        const AHEAD: usize = 16;
        for (n, &i) in kept.iter().enumerate() {
            if let Some(next) = kept.get(n + AHEAD).and_then(|&j| view.keys.get(j)) {
                std::hint::black_box((next.kv.value.first(), next.kv.value.last()));
            }
            let k = view
                .keys
                .get(i)
                .ok_or_else(|| Error::InvalidArgument(format!("no live key {i}")))?;
            self.write_parts(
                view.key(i),
                k.kv.value,
                k.kv.create_revision,
                k.kv.mod_revision,
                k.kv.version,
            )?;
            if n % 4096 == 0 {
                progress(n as u64);
            }
        }
        Ok(())
    }

    /// Ends the record stream and writes the trailer.
    pub fn finish(mut self) -> Result<W> {
        if self.records != self.expected {
            return Err(Error::InvalidArgument(format!(
                "manifest announces {} records, {} were written",
                self.expected, self.records
            )));
        }
        self.enc.write_all(&self.buf)?;
        let mut h = self.enc.finish()?;
        let records_len = h.bytes - self.header_len;
        let digest = h.hash.clone().finalize();
        let mut t = Vec::with_capacity(super::TRAILER_LEN);
        t.extend_from_slice(TRAILER_MAGIC);
        t.extend_from_slice(&self.records.to_le_bytes());
        t.extend_from_slice(&records_len.to_le_bytes());
        t.extend_from_slice(&digest);
        h.inner.write_all(&t)?;
        h.inner.flush()?;
        Ok(h.inner)
    }
}

/// Writes the same content as JSON lines: `{"manifest":{...}}`, then one
/// line per record in `etcdctl get -w json`'s kv shape (base64 key and
/// value; value omitted when empty).
pub fn write_jsonl<'r, W: Write>(
    mut out: W,
    manifest: &Manifest,
    records: impl IntoIterator<Item = &'r Record>,
) -> Result<W> {
    let m = serde_json::json!({ "manifest": manifest });
    serde_json::to_writer(&mut out, &m).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    out.write_all(b"\n")?;
    let mut line = Vec::new();
    for r in records {
        line.clear();
        let kv = etcd_store::KeyValueRef {
            key: &r.key,
            create_revision: r.create_revision,
            mod_revision: r.mod_revision,
            version: r.version,
            value: &r.value,
            lease: 0,
        };
        kv.write_etcdctl_json(true, &mut line);
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(out)
}
