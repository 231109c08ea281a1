//! etcd's v3 gRPC API (`etcdserverpb.KV`, `Auth`, `Maintenance`) over
//! HTTP/2 with tonic, the messages declared here with prost's derive (no
//! protoc): only the fields a restore sends or reads.
//!
//! Field numbers are those of etcd's `rpc.proto` and `kv.proto` (the same
//! in 3.4, 3.5 and 3.6). Unknown fields in replies are skipped by prost.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;

use super::{Kv, OnlineOptions, Target};
use crate::backup::Record;
use crate::error::{Error, Result};

#[derive(Clone, PartialEq, prost::Message)]
struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    range_end: Vec<u8>,
    #[prost(int64, tag = "3")]
    limit: i64,
    #[prost(bool, tag = "9")]
    count_only: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RequestOp {
    #[prost(message, optional, tag = "2")]
    request_put: Option<PutRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TxnRequest {
    #[prost(message, repeated, tag = "2")]
    success: Vec<RequestOp>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TxnResponse {
    #[prost(bool, tag = "2")]
    succeeded: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    value: Vec<u8>,
    #[prost(int64, tag = "6")]
    lease: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RangeResponse {
    #[prost(message, repeated, tag = "2")]
    kvs: Vec<KeyValue>,
    #[prost(bool, tag = "3")]
    more: bool,
    #[prost(int64, tag = "4")]
    count: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AuthenticateRequest {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    password: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AuthenticateResponse {
    #[prost(string, tag = "2")]
    token: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

/// Largest reply accepted (a page of big Milvus values stays far below).
const MAX_REPLY: usize = 256 << 20;

/// A connection to one etcd member's gRPC API.
pub struct Grpc {
    rt: Arc<tokio::runtime::Runtime>,
    channel: tonic::transport::Channel,
    base: String,
    user: Option<(String, String)>,
    token: Mutex<Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>>,
    retries: u32,
}

fn tls(opts: &OnlineOptions, host: &str) -> Result<tonic::transport::ClientTlsConfig> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| Error::InvalidArgument(format!("{}: {e}", p.display())))
    };
    let mut cfg = tonic::transport::ClientTlsConfig::new().domain_name(host);
    match &opts.cacert {
        Some(ca) => cfg = cfg.ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?)),
        None => cfg = cfg.with_webpki_roots(),
    }
    if let Some((cert, key)) = &opts.client_cert {
        cfg = cfg.identity(tonic::transport::Identity::from_pem(
            read(cert)?,
            read(key)?,
        ));
    }
    Ok(cfg)
}

/// What a failed call means: retry it, or stop with this error.
enum Failure {
    Retry(String),
    Fatal(Error),
    Reauth(String),
}

fn classify(url: &str, s: &tonic::Status) -> Failure {
    use tonic::Code;
    let m = s.message();
    let text = format!("{url}: {m}");
    match s.code() {
        Code::Unauthenticated if m.contains("invalid auth token") => Failure::Reauth(text),
        Code::Unauthenticated | Code::PermissionDenied => {
            Failure::Fatal(Error::Unauthenticated(text))
        }
        // etcd's leader changes, timeouts and restarts; a dropped
        // connection is reported by tonic as unavailable too, a request
        // past its timeout as cancelled. Every call a restore makes is a
        // read or a transaction of puts of known values: safe to repeat.
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Aborted
        | Code::Unknown => Failure::Retry(text),
        Code::ResourceExhausted if m.contains("too many requests") => Failure::Retry(text),
        _ => Failure::Fatal(Error::Rejected(format!("{url}: {:?}: {m}", s.code()))),
    }
}

impl Grpc {
    /// Connects to the first endpoint that answers, authenticating if asked.
    pub fn connect(opts: &OnlineOptions) -> Result<Grpc> {
        if opts.endpoints.is_empty() {
            return Err(Error::InvalidArgument("no endpoint given".into()));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Error::Io)?;
        let rt = Arc::new(rt);
        let mut errors = Vec::new();
        for ep in &opts.endpoints {
            let base = ep.trim_end_matches('/').to_string();
            let mut e = match tonic::transport::Endpoint::from_shared(base.clone()) {
                Ok(e) => e
                    .timeout(opts.timeout)
                    .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
                    .tcp_nodelay(true),
                Err(err) => {
                    return Err(Error::InvalidArgument(format!("{base}: {err}")));
                }
            };
            if base.to_ascii_lowercase().starts_with("https://") {
                let host = e.uri().host().unwrap_or_default().to_string();
                e = e
                    .tls_config(tls(opts, &host)?)
                    .map_err(|err| Error::InvalidArgument(format!("{base}: {err}")))?;
            }
            let channel = match rt.block_on(e.connect()) {
                Ok(c) => c,
                Err(err) => {
                    errors.push(format!("{base}: {}", chain(&err)));
                    continue;
                }
            };
            let mut g = Grpc {
                rt: rt.clone(),
                channel,
                base: base.clone(),
                user: opts.user.clone(),
                token: Mutex::new(None),
                retries: 1,
            };
            match g.call::<_, Empty>("/etcdserverpb.Maintenance/Status", Empty {}) {
                Ok(_) => {}
                Err(Error::Unauthenticated(_)) if opts.user.is_some() => {}
                Err(err) => {
                    errors.push(err.to_string());
                    continue;
                }
            }
            g.retries = opts.retries.max(1);
            if opts.user.is_some() {
                g.authenticate()?;
            }
            return Ok(g);
        }
        Err(Error::Unreachable(errors.join("; ")))
    }

    fn authenticate(&self) -> Result<()> {
        let Some((name, password)) = self.user.clone() else {
            return Ok(());
        };
        let r: AuthenticateResponse = self
            .call_once(
                "/etcdserverpb.Auth/Authenticate",
                AuthenticateRequest {
                    name: name.clone(),
                    password,
                },
                false,
            )
            .map_err(|f| match f {
                Failure::Fatal(e) => e,
                Failure::Retry(m) | Failure::Reauth(m) => Error::Unauthenticated(m),
            })?;
        let token = r.token.parse().map_err(|_| {
            Error::Unauthenticated(format!(
                "{}: authentication as {name:?} returned no usable token",
                self.base
            ))
        })?;
        if let Ok(mut t) = self.token.lock() {
            *t = Some(token);
        }
        Ok(())
    }

    fn call_once<Q, A>(
        &self,
        path: &'static str,
        req: Q,
        with_token: bool,
    ) -> std::result::Result<A, Failure>
    where
        Q: prost::Message + Send + Sync + 'static,
        A: prost::Message + Default + Send + Sync + 'static,
    {
        let mut request = tonic::Request::new(req);
        if with_token {
            if let Some(t) = self.token.lock().ok().and_then(|t| t.clone()) {
                request.metadata_mut().insert("token", t);
            }
        }
        let url = format!("{}{path}", self.base);
        let mut client =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_REPLY);
        self.rt.block_on(async {
            client
                .ready()
                .await
                .map_err(|e| Failure::Retry(format!("{url}: {}", chain(&e))))?;
            client
                .unary(
                    request,
                    PathAndQuery::from_static(path),
                    tonic::codec::ProstCodec::default(),
                )
                .await
                .map(tonic::Response::into_inner)
                .map_err(|s| classify(&url, &s))
        })
    }

    /// One call, retried with backoff where that is safe (every call a
    /// restore makes is a read or a transaction of puts of known values).
    fn call<Q, A>(&self, path: &'static str, req: Q) -> Result<A>
    where
        Q: prost::Message + Clone + Send + Sync + 'static,
        A: prost::Message + Default + Send + Sync + 'static,
    {
        let mut wait = Duration::from_millis(100);
        let mut last = String::new();
        let mut reauthed = false;
        for attempt in 0..self.retries.max(1) {
            if attempt > 0 {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            match self.call_once(path, req.clone(), true) {
                Ok(a) => return Ok(a),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(m)) => last = m,
                // A restarted etcd forgets its simple tokens: log in again,
                // once per call.
                Err(Failure::Reauth(m)) if self.user.is_some() && !reauthed => {
                    reauthed = true;
                    last = m;
                    if let Err(e) = self.authenticate() {
                        last = e.to_string();
                    }
                }
                Err(Failure::Reauth(m)) => return Err(Error::Unauthenticated(m)),
            }
        }
        Err(Error::Unreachable(last))
    }
}

/// An error with its causes, as tonic nests them.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Target for Grpc {
    fn endpoint(&self) -> &str {
        &self.base
    }

    fn count(&self, start: &[u8], end: &[u8]) -> Result<u64> {
        let r: RangeResponse = self.call(
            "/etcdserverpb.KV/Range",
            RangeRequest {
                key: start.to_vec(),
                range_end: end.to_vec(),
                count_only: true,
                ..Default::default()
            },
        )?;
        Ok(u64::try_from(r.count).unwrap_or(0))
    }

    fn range_each(
        &self,
        start: &[u8],
        end: &[u8],
        page: usize,
        f: &mut dyn FnMut(Kv) -> Result<()>,
    ) -> Result<()> {
        let mut from = start.to_vec();
        loop {
            let r: RangeResponse = self.call(
                "/etcdserverpb.KV/Range",
                RangeRequest {
                    key: from.clone(),
                    range_end: end.to_vec(),
                    limit: i64::try_from(page).unwrap_or(i64::MAX),
                    ..Default::default()
                },
            )?;
            let more = r.more;
            let mut last: Option<Vec<u8>> = None;
            for kv in r.kvs {
                last = Some(kv.key.clone());
                f(Kv {
                    key: kv.key,
                    value: kv.value,
                    lease: kv.lease,
                })?;
            }
            match last {
                Some(k) if more => {
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

    fn put_all(&self, batch: Vec<Record>) -> Result<()> {
        let req = TxnRequest {
            success: batch
                .into_iter()
                .map(|r| RequestOp {
                    request_put: Some(PutRequest {
                        key: r.key,
                        value: r.value,
                    }),
                })
                .collect(),
        };
        let r: TxnResponse = self.call("/etcdserverpb.KV/Txn", req)?;
        if !r.succeeded {
            return Err(Error::Rejected(format!(
                "{}: transaction not applied",
                self.base
            )));
        }
        Ok(())
    }

    fn op_size(&self, r: &Record) -> usize {
        r.key.len() + r.value.len() + 16
    }
}
