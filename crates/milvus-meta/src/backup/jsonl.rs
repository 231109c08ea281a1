//! The JSON-lines form of a backup: `{"manifest":{...}}` on the first line,
//! then one line per record in `etcdctl get -w json`'s kv shape (base64 key
//! and value, the value left out when empty), in key order.
//!
//! Written and read as a stream: memory does not grow with the number of
//! records. A jsonl file carries no checksum: reading it checks that every
//! line parses, that keys are strictly increasing, and that the record
//! count and the bytes of keys and values equal the manifest's; a changed
//! value that keeps the line valid JSON and base64 is not detected.

use std::io::{BufRead, Read, Write};

use base64::Engine;
use serde::Deserialize;

use super::{Manifest, Record, FORMAT_VERSION, MAX_FIELD};
use crate::error::{Error, Result};

/// The first bytes of every jsonl backup.
pub const JSONL_PREFIX: &[u8] = b"{\"manifest\":";

/// Lines longer than this are refused: a key and a value of
/// [`MAX_FIELD`] bytes each, in base64, fit.
const MAX_LINE: u64 = MAX_FIELD / 3 * 8 + (1 << 16);

fn damaged(what: impl Into<String>) -> Error {
    Error::Damaged(what.into())
}

fn line_json(manifest: &Manifest) -> Result<Vec<u8>> {
    let m = serde_json::json!({ "manifest": manifest });
    let mut v = serde_json::to_vec(&m).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    v.push(b'\n');
    Ok(v)
}

fn kv_line(kv: &etcd_store::KeyValueRef<'_>, line: &mut Vec<u8>) {
    line.clear();
    kv.write_etcdctl_json(true, line);
    line.push(b'\n');
}

/// Writes a jsonl backup of `records` (in key order).
pub fn write_jsonl<'r, W: Write>(
    mut out: W,
    manifest: &Manifest,
    records: impl IntoIterator<Item = &'r Record>,
) -> Result<W> {
    out.write_all(&line_json(manifest)?)?;
    let mut line = Vec::new();
    for r in records {
        let kv = etcd_store::KeyValueRef {
            key: &r.key,
            create_revision: r.create_revision,
            mod_revision: r.mod_revision,
            version: r.version,
            value: &r.value,
            lease: 0,
        };
        kv_line(&kv, &mut line);
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(out)
}

/// Writes a jsonl backup of the live keys of `view` whose indexes are
/// `kept` (in key order, as [`select`](crate::select::select) returns
/// them) straight from the view: nothing is copied but one line at a time.
/// `progress` is called with the number written now and then.
pub fn write_jsonl_view<W: Write>(
    mut out: W,
    manifest: &Manifest,
    view: &etcd_store::LiveView<'_>,
    kept: &[usize],
    progress: impl Fn(u64),
) -> Result<W> {
    out.write_all(&line_json(manifest)?)?;
    let mut line = Vec::with_capacity(4096);
    let mut n = 0u64;
    for k in kept.iter().filter_map(|&i| view.keys.get(i)) {
        let kv = etcd_store::KeyValueRef { lease: 0, ..k.kv };
        kv_line(&kv, &mut line);
        out.write_all(&line)?;
        n += 1;
        if n % 4096 == 0 {
            progress(n);
        }
    }
    progress(n);
    out.flush()?;
    Ok(out)
}

#[derive(Deserialize)]
struct ManifestLine {
    manifest: Manifest,
}

#[derive(Deserialize)]
struct KvLine {
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    create_revision: i64,
    #[serde(default)]
    mod_revision: i64,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    lease: i64,
}

/// Reads one line (up to [`MAX_LINE`] bytes) into `buf`, without its
/// newline; `Ok(false)` at the end of the input. A last line without its
/// newline is a cut-short file.
fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, lineno: u64) -> Result<bool> {
    buf.clear();
    let n = Read::take(&mut *r, MAX_LINE).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() != Some(&b'\n') {
        return Err(damaged(if n as u64 >= MAX_LINE {
            format!("line {lineno} is longer than {MAX_LINE} bytes")
        } else {
            format!("line {lineno} has no newline: the file is cut short")
        }));
    }
    buf.pop();
    Ok(true)
}

/// An open jsonl backup: its manifest, then its records.
pub struct JsonlReader<R: BufRead> {
    manifest: Manifest,
    inner: R,
}

impl<R: BufRead> JsonlReader<R> {
    /// Reads and checks the manifest line. [`Error::NotABackup`] when the
    /// input does not start with `{"manifest":`.
    pub fn open(mut r: R) -> Result<Self> {
        let head = r.fill_buf()?;
        if !head.starts_with(JSONL_PREFIX) {
            return Err(Error::NotABackup);
        }
        let mut line = Vec::new();
        read_line(&mut r, &mut line, 1)?;
        let m: ManifestLine = serde_json::from_slice(&line)
            .map_err(|e| damaged(format!("line 1 (the manifest) is not valid: {e}")))?;
        if m.manifest.format_version > FORMAT_VERSION {
            return Err(Error::NewerFormat {
                found: m.manifest.format_version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(JsonlReader {
            manifest: m.manifest,
            inner: r,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The record count the manifest announces.
    pub fn record_count(&self) -> u64 {
        self.manifest.records
    }

    /// The records, in key order. The last item is an error if a line does
    /// not parse, keys are out of order, or the count or bytes differ from
    /// the manifest's.
    pub fn records(self) -> JsonlRecords<R> {
        JsonlRecords {
            expected: (self.manifest.records, self.manifest.bytes),
            inner: self.inner,
            line: Vec::new(),
            lineno: 1,
            seen: 0,
            bytes: 0,
            last: None,
            done: false,
        }
    }
}

/// Iterator over the records of a jsonl backup.
pub struct JsonlRecords<R: BufRead> {
    inner: R,
    line: Vec<u8>,
    lineno: u64,
    seen: u64,
    bytes: u64,
    expected: (u64, u64),
    last: Option<Vec<u8>>,
    done: bool,
}

impl<R: BufRead> JsonlRecords<R> {
    fn next_record(&mut self) -> Result<Option<Record>> {
        self.lineno += 1;
        let n = self.lineno;
        if !read_line(&mut self.inner, &mut self.line, n)? {
            return self.end().map(|_| None);
        }
        let kv: KvLine = serde_json::from_slice(&self.line)
            .map_err(|e| damaged(format!("line {n} is not a key-value record: {e}")))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b64
            .decode(kv.key.as_bytes())
            .map_err(|e| damaged(format!("line {n}: key is not base64: {e}")))?;
        let value = b64
            .decode(kv.value.as_bytes())
            .map_err(|e| damaged(format!("line {n}: value is not base64: {e}")))?;
        if key.is_empty() {
            return Err(damaged(format!("line {n}: empty key")));
        }
        if kv.lease != 0 {
            return Err(damaged(format!(
                "line {n}: a lease ({}) on a backed-up key; backups hold no leases",
                kv.lease
            )));
        }
        if self
            .last
            .as_ref()
            .is_some_and(|l| l.as_slice() >= key.as_slice())
        {
            return Err(damaged(format!(
                "line {n}: records out of key order (or a key twice)"
            )));
        }
        self.seen += 1;
        self.bytes += (key.len() + value.len()) as u64;
        match &mut self.last {
            Some(l) => {
                l.clear();
                l.extend_from_slice(&key);
            }
            None => self.last = Some(key.clone()),
        }
        Ok(Some(Record {
            key,
            value,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
        }))
    }

    fn end(&mut self) -> Result<()> {
        let (records, bytes) = self.expected;
        if self.seen != records {
            return Err(damaged(format!(
                "manifest announces {records} records, {} found: the file is cut short or was edited",
                self.seen
            )));
        }
        if self.bytes != bytes {
            return Err(damaged(format!(
                "manifest announces {bytes} bytes of keys and values, {} found",
                self.bytes
            )));
        }
        Ok(())
    }
}

impl<R: BufRead> Iterator for JsonlRecords<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                key: format!("by-dev/meta/k{i:05}").into_bytes(),
                value: if i % 3 == 0 {
                    Vec::new()
                } else {
                    vec![i as u8; i % 50]
                },
                create_revision: i as i64 + 1,
                mod_revision: i as i64 + 2,
                version: 1 + (i % 4) as i64,
            })
            .collect()
    }

    fn manifest_of(r: &[Record]) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            records: r.len() as u64,
            bytes: r.iter().map(|r| (r.key.len() + r.value.len()) as u64).sum(),
            roots: vec!["by-dev".into()],
            ..Default::default()
        }
    }

    fn read_all(b: &[u8]) -> Result<(Manifest, Vec<Record>)> {
        let r = JsonlReader::open(b)?;
        let m = r.manifest().clone();
        let v = r.records().collect::<Result<Vec<_>>>()?;
        Ok((m, v))
    }

    #[test]
    fn records_come_back_as_written() {
        let r = recs(1000);
        let m = manifest_of(&r);
        let file = write_jsonl(Vec::new(), &m, &r).unwrap();
        assert!(file.starts_with(JSONL_PREFIX));
        let (m2, back) = read_all(&file).unwrap();
        assert_eq!(m2, m);
        assert_eq!(back, r);
    }

    #[test]
    fn a_cut_edited_or_reordered_file_is_damaged() {
        let r = recs(50);
        let m = manifest_of(&r);
        let file = write_jsonl(Vec::new(), &m, &r).unwrap();
        let text = String::from_utf8(file.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Cut inside the last line, and cut at a line end (one record lost).
        for cut in [file.len() - 5, file.len() - lines[50].len() - 1] {
            let e = read_all(&file[..cut]).unwrap_err();
            assert!(matches!(e, Error::Damaged(_)), "{e}");
        }
        // Two lines swapped.
        let mut swapped = lines.clone();
        swapped.swap(3, 4);
        let e = read_all((swapped.join("\n") + "\n").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("out of key order"), "{e}");
        // A line that is not JSON, and a key that is not base64.
        for bad in ["nonsense", r#"{"key":"***","create_revision":1}"#] {
            let mut l = lines.clone();
            l[7] = bad;
            let e = read_all((l.join("\n") + "\n").as_bytes()).unwrap_err();
            assert!(e.to_string().contains("line 8"), "{e}");
        }
        // A value changed to another length: the byte count catches it.
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[2] = l[2].replace("\"value\":\"", "\"value\":\"AAAA");
        let e = read_all((l.join("\n") + "\n").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("bytes of keys and values"), "{e}");
    }

    #[test]
    fn other_files_are_not_backups() {
        for b in [&b""[..], b"BSNAP\0\r\n", b"{\"kvs\":[]}\n"] {
            assert!(matches!(JsonlReader::open(b), Err(Error::NotABackup)));
        }
    }
}
