//! Restoring a backup into a running etcd, through its v3 gRPC API (the
//! default: [`grpc::Grpc`], HTTP/2 with tonic, messages declared with
//! prost's derive, no protoc) or its JSON gateway ([`Gateway`]:
//! `/v3/kv/txn`, `/v3/kv/range`, `/v3/auth/authenticate`). etcd 3.4, 3.5
//! and 3.6 serve both on the client port.
//!
//! Keys go in batched transactions within etcd's limits (128 operations
//! and 1.5 MiB per request by default), several in flight, transient
//! failures are retried, and at the end every key is read back and
//! compared with the backup.

pub mod grpc;

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::backup::Record;
use crate::error::{Error, Result};

/// How to reach the etcd and how to write.
#[derive(Clone, Debug)]
pub struct OnlineOptions {
    /// Client URLs, tried in order (`http://host:2379`, `https://...`).
    pub endpoints: Vec<String>,
    /// User and password for etcd auth.
    pub user: Option<(String, String)>,
    /// PEM CA bundle to trust for https endpoints.
    pub cacert: Option<std::path::PathBuf>,
    /// PEM client certificate and key for TLS client auth.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Most operations per transaction (etcd's --max-txn-ops default: 128).
    pub max_ops: usize,
    /// Most bytes per request (etcd's --max-request-bytes default: 1.5 MiB).
    pub max_bytes: usize,
    /// Attempts per request on transient errors.
    pub retries: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Transactions (and read-back ranges) in flight at once.
    pub parallel: usize,
    /// The API to write through.
    pub transport: Transport,
}

/// Which of etcd's client APIs a restore uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The v3 gRPC API (HTTP/2, protobuf): measured 10 times faster than
    /// the gateway, which turns every JSON request into a gRPC call inside
    /// etcd.
    #[default]
    Grpc,
    /// The v3 JSON gateway (`/v3/...` over HTTP/1.1), for a proxy or
    /// port-forward that passes only HTTP/1.1.
    Gateway,
}

/// One key as the target holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kv {
    /// Key.
    pub key: Vec<u8>,
    /// Value.
    pub value: Vec<u8>,
    /// Lease id (0: none).
    pub lease: i64,
}

/// What a restore needs from a target etcd, whatever the transport.
pub trait Target: Sync {
    /// The endpoint in use.
    fn endpoint(&self) -> &str;
    /// Number of keys in [start, end).
    fn count(&self, start: &[u8], end: &[u8]) -> Result<u64>;
    /// Calls `f` on every key in [start, end), in key order, fetched in
    /// pages of `page` keys (memory bounded by a page).
    fn range_each(
        &self,
        start: &[u8],
        end: &[u8],
        page: usize,
        f: &mut dyn FnMut(Kv) -> Result<()>,
    ) -> Result<()>;
    /// One transaction of puts (all or nothing).
    fn put_all(&self, batch: Vec<Record>) -> Result<()>;
    /// The bytes one put adds to a request, for `max_bytes`.
    fn op_size(&self, r: &Record) -> usize;
}

/// Connects to the first endpoint of `opts` that answers, with the
/// transport `opts.transport` names.
pub fn connect(opts: &OnlineOptions) -> Result<Box<dyn Target>> {
    Ok(match opts.transport {
        Transport::Grpc => Box::new(grpc::Grpc::connect(opts)?),
        Transport::Gateway => Box::new(Gateway::connect(opts)?),
    })
}

impl Default for OnlineOptions {
    fn default() -> Self {
        OnlineOptions {
            endpoints: Vec::new(),
            user: None,
            cacert: None,
            client_cert: None,
            max_ops: 128,
            max_bytes: 1536 * 1024,
            retries: 10,
            timeout: Duration::from_secs(30),
            parallel: 8,
            transport: Transport::Grpc,
        }
    }
}

/// A connection to one etcd member's JSON gateway.
pub struct Gateway {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    retries: u32,
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| Error::InvalidArgument(format!("bad base64 from etcd ({e}): {s:?}")))
}

/// The first key after every key starting with `prefix` (etcd's range_end).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut e = prefix.to_vec();
    while let Some(last) = e.pop() {
        if last < 0xff {
            e.push(last + 1);
            return e;
        }
    }
    vec![0]
}

fn tls_config(opts: &OnlineOptions) -> Result<Option<Arc<rustls::ClientConfig>>> {
    if opts.cacert.is_none() && opts.client_cert.is_none() {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &opts.cacert {
        let pem = std::fs::read(ca)
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", ca.display())))?;
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            let c = c.map_err(|e| Error::InvalidArgument(format!("{}: {e}", ca.display())))?;
            roots
                .add(c)
                .map_err(|e| Error::InvalidArgument(format!("{}: {e}", ca.display())))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidArgument(e.to_string()))?
        .with_root_certificates(roots);
    let cfg = match &opts.client_cert {
        Some((cert, key)) => {
            let cpem = std::fs::read(cert)
                .map_err(|e| Error::InvalidArgument(format!("{}: {e}", cert.display())))?;
            let kpem = std::fs::read(key)
                .map_err(|e| Error::InvalidArgument(format!("{}: {e}", key.display())))?;
            let chain: Vec<_> = rustls_pemfile::certs(&mut cpem.as_slice())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::InvalidArgument(format!("{}: {e}", cert.display())))?;
            let k = rustls_pemfile::private_key(&mut kpem.as_slice())
                .map_err(|e| Error::InvalidArgument(format!("{}: {e}", key.display())))?
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("{}: no private key", key.display()))
                })?;
            builder
                .with_client_auth_cert(chain, k)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(cfg)))
}

/// A gateway failure: transient ones are retried.
fn is_transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Transport(_) => true,
        ureq::Error::Status(code, _) => *code >= 500 && *code != 501,
    }
}

impl Gateway {
    /// Connects to the first endpoint that answers, authenticating if asked.
    pub fn connect(opts: &OnlineOptions) -> Result<Gateway> {
        if opts.endpoints.is_empty() {
            return Err(Error::InvalidArgument("no endpoint given".into()));
        }
        let mut b = ureq::AgentBuilder::new()
            .timeout(opts.timeout)
            .max_idle_connections_per_host(opts.parallel.clamp(1, 64));
        if let Some(cfg) = tls_config(opts)? {
            b = b.tls_config(cfg);
        }
        let agent = b.build();
        let mut errors = Vec::new();
        for ep in &opts.endpoints {
            let base = ep.trim_end_matches('/').to_string();
            let mut g = Gateway {
                agent: agent.clone(),
                base: base.clone(),
                token: None,
                retries: 1,
            };
            match g.post("/v3/maintenance/status", &json!({})) {
                Ok(_) => {}
                Err(Error::Unauthenticated(_)) if opts.user.is_some() => {}
                Err(e) => {
                    errors.push(format!("{base}: {e}"));
                    continue;
                }
            }
            g.retries = opts.retries.max(1);
            if let Some((user, pass)) = &opts.user {
                let r = g.post(
                    "/v3/auth/authenticate",
                    &json!({"name": user, "password": pass}),
                )?;
                let token = r.get("token").and_then(Value::as_str).ok_or_else(|| {
                    Error::Unauthenticated(format!(
                        "{base}: authentication as {user:?} returned no token"
                    ))
                })?;
                g.token = Some(token.to_string());
            }
            return Ok(g);
        }
        Err(Error::Unreachable(errors.join("; ")))
    }

    /// The endpoint in use.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// POSTs a JSON body, retrying transient failures with backoff.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let mut wait = Duration::from_millis(100);
        let mut last = String::new();
        for attempt in 0..self.retries.max(1) {
            if attempt > 0 {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            let mut req = self.agent.post(&url);
            if let Some(t) = &self.token {
                req = req.set("Authorization", t);
            }
            match req.send_json(body.clone()) {
                Ok(resp) => {
                    let mut raw = Vec::new();
                    let read = resp.into_reader().take(256 << 20).read_to_end(&mut raw);
                    // A complete JSON body is what counts (see the trailer note below).
                    return match serde_json::from_slice(&raw) {
                        Ok(v) => Ok(v),
                        Err(e) => match read {
                            Err(io) => Err(Error::Unreachable(format!(
                                "{url}: reading the reply: {io}"
                            ))),
                            Ok(_) => Err(Error::InvalidArgument(format!(
                                "{url}: bad JSON reply: {e}"
                            ))),
                        },
                    };
                }
                Err(e) => {
                    let transient = is_transient(&e);
                    let msg = match e {
                        ureq::Error::Status(code, r) => {
                            // etcd 3.4 ends error bodies with an HTTP trailer that
                            // the reader may reject: keep what was read before it.
                            let mut raw = Vec::new();
                            let _ = r.into_reader().take(1 << 20).read_to_end(&mut raw);
                            let text = String::from_utf8_lossy(&raw).into_owned();
                            let m = serde_json::from_str::<Value>(&text)
                                .ok()
                                .and_then(|v| {
                                    v.get("message")
                                        .or(v.get("error"))
                                        .and_then(Value::as_str)
                                        .map(str::to_string)
                                })
                                .unwrap_or(text);
                            if code == 401
                                || m.contains("authentication failed")
                                || m.contains("user name is empty")
                                || m.contains("invalid auth token")
                                || m.contains("permission denied")
                            {
                                return Err(Error::Unauthenticated(format!("{url}: {m}")));
                            }
                            if m.contains("too many requests")
                                || m.contains("leader changed")
                                || m.contains("timed out")
                            {
                                last = format!("{url}: {m}");
                                continue;
                            }
                            if !transient {
                                return Err(Error::Rejected(format!("{url}: HTTP {code}: {m}")));
                            }
                            format!("{url}: HTTP {code}: {m}")
                        }
                        ureq::Error::Transport(t) => format!("{url}: {t}"),
                    };
                    last = msg;
                    if !transient {
                        break;
                    }
                }
            }
        }
        Err(Error::Unreachable(last))
    }

    /// Number of keys in [start, end).
    pub fn count(&self, start: &[u8], end: &[u8]) -> Result<u64> {
        let r = self.post(
            "/v3/kv/range",
            &json!({"key": b64(start), "range_end": b64(end), "count_only": true}),
        )?;
        Ok(r.get("count")
            .and_then(|c| c.as_str().and_then(|s| s.parse().ok()).or(c.as_u64()))
            .unwrap_or(0))
    }

    /// All (key, value) in [start, end), fetched in pages.
    pub fn range_all(
        &self,
        start: &[u8],
        end: &[u8],
        page: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut from = start.to_vec();
        loop {
            let r = self.post(
                "/v3/kv/range",
                &json!({"key": b64(&from), "range_end": b64(end), "limit": page}),
            )?;
            let kvs = r
                .get("kvs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for kv in &kvs {
                let k = unb64(kv.get("key").and_then(Value::as_str).unwrap_or_default())?;
                let v = unb64(kv.get("value").and_then(Value::as_str).unwrap_or_default())?;
                out.push((k, v));
            }
            let more = r.get("more").and_then(Value::as_bool).unwrap_or(false);
            match out.last() {
                Some((k, _)) if more => {
                    from = k.clone();
                    from.push(0);
                }
                _ => return Ok(out),
            }
        }
    }

    /// One transaction of puts.
    pub fn put_records(&self, batch: &[&Record]) -> Result<()> {
        let ops: Vec<Value> = batch
            .iter()
            .map(|r| json!({"request_put": {"key": b64(&r.key), "value": b64(&r.value)}}))
            .collect();
        let r = self.post("/v3/kv/txn", &json!({"success": ops}))?;
        if r.get("succeeded").and_then(Value::as_bool) == Some(false) {
            return Err(Error::Rejected(format!(
                "{}: transaction not applied",
                self.base
            )));
        }
        Ok(())
    }
}

/// Splits records into batches within the op and byte limits.
pub fn batches<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    max_ops: usize,
    max_bytes: usize,
) -> Vec<Vec<&'a Record>> {
    let mut out: Vec<Vec<&Record>> = Vec::new();
    let mut cur: Vec<&Record> = Vec::new();
    let mut bytes = 64;
    for r in records {
        // JSON size: base64 of key and value plus the op's wrapping.
        let size = (r.key.len() + r.value.len()) * 4 / 3 + 64;
        if !cur.is_empty() && (cur.len() >= max_ops.max(1) || bytes + size > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 64;
        }
        cur.push(r);
        bytes += size;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The key ranges a backup covers: its roots' prefixes, or (with no root)
/// its exact first and last keys (`sorted` in key order).
pub fn ranges(roots: &[String], sorted: &[&Record]) -> Vec<(Vec<u8>, Vec<u8>)> {
    if !roots.is_empty() {
        return roots
            .iter()
            .map(|r| {
                let p = format!("{r}/").into_bytes();
                let e = prefix_end(&p);
                (p, e)
            })
            .collect();
    }
    match (sorted.first(), sorted.last()) {
        (Some(a), Some(b)) => {
            let mut end = b.key.clone();
            end.push(0);
            vec![(a.key.clone(), end)]
        }
        _ => Vec::new(),
    }
}

/// What an online restore did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct OnlineReport {
    /// The endpoint written to.
    pub endpoint: String,
    /// Keys already in the target under the backup's roots (before writing).
    pub existing: u64,
    /// Keys already in the target with the backup's value and no lease,
    /// not written again (`--resume`).
    pub skipped: u64,
    /// Keys written.
    pub written: u64,
    /// Transactions sent.
    pub batches: u64,
    /// Transactions in flight at most.
    pub parallel: usize,
    /// The client API used.
    pub transport: Transport,
    /// Keys read back equal to the backup.
    pub verified: u64,
    /// Keys missing or different after the write (the first
    /// [`MAX_NAMED_MISMATCHES`], in key order).
    pub mismatched: Vec<String>,
    /// How many keys were missing or different after the write.
    pub mismatched_total: u64,
    /// Nothing was written (dry run).
    pub dry_run: bool,
}

/// How a restore treats what the target already holds.
#[derive(Clone, Copy, Debug, Default)]
pub struct RestoreMode {
    /// Write over whatever the target holds under the backup's roots.
    pub force: bool,
    /// Skip keys the target already holds with the backup's value (and no
    /// lease); refuse any other key under the roots (unless `force`).
    pub resume: bool,
    /// Connect and check, write nothing.
    pub dry_run: bool,
}

fn kv_field(kv: &Value, name: &str) -> Result<Vec<u8>> {
    unb64(kv.get(name).and_then(Value::as_str).unwrap_or_default())
}

fn kv_lease(kv: &Value) -> i64 {
    kv.get("lease")
        .and_then(|c| c.as_str().and_then(|s| s.parse().ok()).or(c.as_i64()))
        .unwrap_or(0)
}

impl Gateway {
    /// Calls `f` on every key-value object in [start, end), fetched in
    /// pages of `page` keys (constant memory).
    pub fn range_json(
        &self,
        start: &[u8],
        end: &[u8],
        page: usize,
        mut f: impl FnMut(&Value) -> Result<()>,
    ) -> Result<()> {
        let mut from = start.to_vec();
        loop {
            let r = self.post(
                "/v3/kv/range",
                &json!({"key": b64(&from), "range_end": b64(end), "limit": page}),
            )?;
            let kvs = r.get("kvs").and_then(Value::as_array);
            let mut last = None;
            for kv in kvs.into_iter().flatten() {
                f(kv)?;
                last = Some(kv);
            }
            let more = r.get("more").and_then(Value::as_bool).unwrap_or(false);
            match last {
                Some(kv) if more => {
                    let k = kv_field(kv, "key")?;
                    // etcd answers in key order; a page that does not move
                    // forward would loop for ever.
                    if k < from {
                        return Err(Error::Rejected(format!(
                            "{}: range reply out of key order",
                            self.base
                        )));
                    }
                    from = k;
                    from.push(0);
                }
                _ => return Ok(()),
            }
        }
    }
}

impl Target for Gateway {
    fn endpoint(&self) -> &str {
        &self.base
    }

    fn count(&self, start: &[u8], end: &[u8]) -> Result<u64> {
        Gateway::count(self, start, end)
    }

    fn range_each(
        &self,
        start: &[u8],
        end: &[u8],
        page: usize,
        f: &mut dyn FnMut(Kv) -> Result<()>,
    ) -> Result<()> {
        self.range_json(start, end, page, |kv| {
            f(Kv {
                key: kv_field(kv, "key")?,
                value: kv_field(kv, "value")?,
                lease: kv_lease(kv),
            })
        })
    }

    fn put_all(&self, batch: Vec<Record>) -> Result<()> {
        let refs: Vec<&Record> = batch.iter().collect();
        self.put_records(&refs)
    }

    fn op_size(&self, r: &Record) -> usize {
        // base64 of key and value plus the op's JSON wrapping.
        (r.key.len() + r.value.len()) * 4 / 3 + 64
    }
}

/// Runs `work` on the items `produce` hands to its `send` callback, on up to
/// `parallel` threads, with at most `2 * parallel` items queued (so memory
/// stays bounded whatever the source's size). `send` returns false once
/// the producer should stop: `stop` is set or an item failed. Returns the
/// first error, the producer's included.
fn pipeline<T: Send>(
    parallel: usize,
    stop: &AtomicBool,
    produce: impl FnOnce(&mut dyn FnMut(T) -> bool) -> Result<()>,
    work: &(dyn Fn(T) -> Result<()> + Sync),
) -> Option<Error> {
    let parallel = parallel.clamp(1, 64);
    let failed = AtomicBool::new(false);
    let first: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        failed.store(true, Ordering::SeqCst);
        if let Ok(mut g) = first.lock() {
            g.get_or_insert(e);
        }
    };
    let halted = || stop.load(Ordering::SeqCst) || failed.load(Ordering::SeqCst);
    let (tx, rx) = std::sync::mpsc::sync_channel::<T>(parallel * 2);
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| loop {
                if halted() {
                    return;
                }
                let item = match rx.lock() {
                    Ok(r) => match r.recv() {
                        Ok(item) => item,
                        Err(_) => return,
                    },
                    Err(_) => return,
                };
                // Taken from the queue but not yet sent: nothing leaves
                // once a stop is asked for.
                if halted() {
                    return;
                }
                if let Err(e) = work(item) {
                    fail(e);
                    return;
                }
            });
        }
        let mut send = |mut item: T| -> bool {
            loop {
                if halted() {
                    return false;
                }
                match tx.try_send(item) {
                    Ok(()) => return true,
                    Err(std::sync::mpsc::TrySendError::Full(back)) => {
                        item = back;
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return false,
                }
            }
        };
        if let Err(e) = produce(&mut send) {
            fail(e);
        }
        drop(tx);
    });
    first.into_inner().ok().flatten()
}

/// A backup's records, opened afresh from the start each time it is
/// called: an online restore reads them up to four times (check, resume,
/// write, read back) and holds only a window of them at once.
pub type OpenRecords<'a> = dyn Fn() -> Result<Box<dyn Iterator<Item = Result<Record>> + 'a>> + 'a;

/// At most this many differing keys are named in a report (all are counted).
pub const MAX_NAMED_MISMATCHES: usize = 10_000;

/// Restores `records` (from a backup with `roots`) into the etcd at `opts`:
/// [`restore_stream`] over records held in memory, in any order (a key
/// that appears twice is refused).
pub fn restore(
    records: &[Record],
    roots: &[String],
    opts: &OnlineOptions,
    mode: RestoreMode,
    stop: &AtomicBool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<OnlineReport> {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let open = || -> Result<Box<dyn Iterator<Item = Result<Record>> + '_>> {
        Ok(Box::new(sorted.iter().map(|r| Ok((*r).clone()))))
    };
    restore_stream(&open, roots, opts, mode, stop, progress)
}

fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// Restores the records `open` yields (in strictly increasing key order,
/// as a backup holds them) from a backup with `roots` into the etcd at
/// `opts`, with up to `opts.parallel` transactions in flight and memory
/// bounded by that window (plus one bit per record for `--resume`).
///
/// The records are read once in full before anything is written, so a
/// backup that fails its checks writes nothing. Refuses a target holding
/// keys in the backup's ranges unless `mode.force`; with `mode.resume`,
/// keys already there with the backup's value and no lease are skipped and
/// any other key is refused. Once `stop` is set, no new transaction leaves
/// and [`Error::Interrupted`] says how far it got. Every key is read back
/// and compared before it returns.
pub fn restore_stream(
    open: &OpenRecords<'_>,
    roots: &[String],
    opts: &OnlineOptions,
    mode: RestoreMode,
    stop: &AtomicBool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<OnlineReport> {
    // Pass 1: the whole source, checked, counted, its first and last keys.
    let mut total = 0u64;
    let (mut first_key, mut last_key): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    for r in open()? {
        let r = r?;
        if let Some(prev) = &last_key {
            if r.key <= *prev {
                return Err(Error::InvalidArgument(format!(
                    "the backup holds key {:?} {}",
                    String::from_utf8_lossy(&r.key),
                    if r.key == *prev {
                        "twice"
                    } else {
                        "out of key order"
                    }
                )));
            }
        }
        first_key.get_or_insert_with(|| r.key.clone());
        last_key = Some(r.key);
        total += 1;
    }
    let g = connect(opts)?;
    let g: &dyn Target = g.as_ref();
    let rs: Vec<(Vec<u8>, Vec<u8>)> = if !roots.is_empty() {
        ranges(roots, &[])
    } else {
        match (first_key, last_key) {
            (Some(a), Some(mut b)) => {
                b.push(0);
                vec![(a, b)]
            }
            _ => Vec::new(),
        }
    };
    let mut existing = 0;
    for (s, e) in &rs {
        existing += g.count(s, e)?;
    }
    let parallel = opts.parallel.clamp(1, 64);
    let mut report = OnlineReport {
        endpoint: g.endpoint().to_string(),
        existing,
        dry_run: mode.dry_run,
        parallel,
        transport: opts.transport,
        ..Default::default()
    };
    if existing > 0 && !mode.force && !mode.resume {
        return Err(Error::TargetNotEmpty {
            endpoint: report.endpoint,
            keys: existing,
        });
    }
    // --resume: what is there already, key by key, merged with the source
    // (both in key order): one bit per record.
    let words = usize::try_from(total.div_ceil(64)).unwrap_or(usize::MAX);
    let mut done: Vec<u64> = Vec::new();
    if mode.resume && existing > 0 {
        done = vec![0; words];
        let mut foreign = 0u64;
        let mut example = None;
        for (s, e) in &rs {
            let mut src = open()?.enumerate().peekable();
            g.range_each(s, e, 1000, &mut |kv| {
                let k = kv.key;
                while src
                    .peek()
                    .is_some_and(|(_, r)| r.as_ref().is_ok_and(|r| r.key < k))
                {
                    src.next();
                }
                let hit = match src.peek() {
                    Some((_, Err(_))) => {
                        if let Some((_, Err(e))) = src.next() {
                            return Err(e);
                        }
                        None
                    }
                    Some((i, Ok(r))) if r.key == k => {
                        (r.value == kv.value && kv.lease == 0).then_some(*i)
                    }
                    _ => None,
                };
                match hit {
                    Some(i) => {
                        if let Some(w) = done.get_mut(i / 64) {
                            *w |= 1 << (i % 64);
                        }
                    }
                    None => {
                        foreign += 1;
                        example.get_or_insert_with(|| String::from_utf8_lossy(&k).into_owned());
                    }
                }
                Ok(())
            })?;
        }
        report.skipped = done.iter().map(|w| u64::from(w.count_ones())).sum();
        if foreign > 0 && !mode.force {
            return Err(Error::TargetForeign {
                endpoint: report.endpoint,
                keys: foreign,
                example: example.unwrap_or_default(),
            });
        }
    }
    let max_ops = opts.max_ops.max(1);
    // Batches of what is not there yet, within the op and byte limits.
    let batched = |send: &mut dyn FnMut(Vec<Record>) -> bool| -> Result<u64> {
        let (mut n, mut cur, mut bytes) = (0u64, Vec::new(), 64usize);
        for (i, r) in open()?.enumerate() {
            let r = r?;
            if bit(&done, i) {
                continue;
            }
            let size = g.op_size(&r);
            if !cur.is_empty() && (cur.len() >= max_ops || bytes + size > opts.max_bytes) {
                n += 1;
                if !send(std::mem::take(&mut cur)) {
                    return Ok(n);
                }
                bytes = 64;
            }
            cur.push(r);
            bytes += size;
        }
        if !cur.is_empty() {
            n += 1;
            send(cur);
        }
        Ok(n)
    };
    if mode.dry_run {
        report.batches = batched(&mut |_| true)?;
        return Ok(report);
    }
    let written = AtomicU64::new(0);
    let skipped = report.skipped;
    progress(skipped);
    let mut sent = 0;
    let failure = pipeline(
        parallel,
        stop,
        |send| {
            sent = batched(send)?;
            Ok(())
        },
        &|b: Vec<Record>| {
            let len = b.len() as u64;
            g.put_all(b)?;
            let n = written.fetch_add(len, Ordering::SeqCst) + len;
            progress(skipped + n);
            Ok(())
        },
    );
    report.batches = sent;
    report.written = written.load(Ordering::SeqCst);
    if let Some(e) = failure {
        return Err(Error::Partial {
            written: report.skipped + report.written,
            total,
            cause: e.to_string(),
        });
    }
    if stop.load(Ordering::SeqCst) && report.skipped + report.written < total {
        return Err(Error::Interrupted {
            written: report.skipped + report.written,
            total,
        });
    }
    // Read everything back and compare, in chunks of neighbouring keys.
    let verified = AtomicU64::new(0);
    let differ = AtomicU64::new(0);
    let mismatched: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let never = AtomicBool::new(false);
    let failure = pipeline(
        parallel,
        &never,
        |send| {
            let mut cur = Vec::with_capacity(1000);
            for r in open()? {
                cur.push(r?);
                if cur.len() == 1000 && !send(std::mem::replace(&mut cur, Vec::with_capacity(1000)))
                {
                    return Ok(());
                }
            }
            if !cur.is_empty() {
                send(cur);
            }
            Ok(())
        },
        &|chunk: Vec<Record>| {
            let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
                return Ok(());
            };
            let mut end = last.key.clone();
            end.push(0);
            let mut equal = vec![false; chunk.len()];
            let mut at = 0;
            g.range_each(&first.key, &end, 1000, &mut |kv| {
                while chunk.get(at).is_some_and(|r| r.key < kv.key) {
                    at += 1;
                }
                if let Some(r) = chunk.get(at).filter(|r| r.key == kv.key) {
                    if r.value == kv.value {
                        if let Some(e) = equal.get_mut(at) {
                            *e = true;
                        }
                    }
                }
                Ok(())
            })?;
            let ok = equal.iter().filter(|e| **e).count();
            verified.fetch_add(ok as u64, Ordering::SeqCst);
            if ok < chunk.len() {
                differ.fetch_add((chunk.len() - ok) as u64, Ordering::SeqCst);
                if let Ok(mut m) = mismatched.lock() {
                    for (r, _) in chunk.iter().zip(&equal).filter(|(_, e)| !**e) {
                        if m.len() < MAX_NAMED_MISMATCHES {
                            m.push(String::from_utf8_lossy(&r.key).into_owned());
                        }
                    }
                }
            }
            Ok(())
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    report.verified = verified.load(Ordering::SeqCst);
    report.mismatched_total = differ.load(Ordering::SeqCst);
    report.mismatched = mismatched.into_inner().unwrap_or_default();
    report.mismatched.sort();
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_both_ways() {
        for (raw, enc) in [
            (&b""[..], ""),
            (b"a", "YQ=="),
            (b"ab", "YWI="),
            (b"abc", "YWJj"),
            (b"11", "MTE="),
        ] {
            assert_eq!(super::b64(raw), enc);
            assert_eq!(super::unb64(enc).unwrap(), raw);
        }
        assert_eq!(super::prefix_end(b"a/"), b"a0");
        assert_eq!(super::prefix_end(b"a\xff"), b"b");
    }
}
