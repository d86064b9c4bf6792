//! The load plan (plain data from the orchestrator) and its validated, prepared form.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

/// What to send, where, how fast and for how long.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Connections are spread round-robin over these addresses.
    pub targets: Vec<SocketAddr>,
    /// HTTP/1.1, or HTTP/2 with prior knowledge (h2c).
    pub protocol: Protocol,
    /// Open loop at a rate, or closed loop at a concurrency.
    pub mode: Mode,
    /// Connections to open. Closed-loop HTTP/1.1 uses `concurrency` connections instead,
    /// and closed-loop HTTP/2 never opens more connections than `concurrency`.
    pub connections: u32,
    /// Measured time, after warmup.
    pub duration: Duration,
    /// Time before the measured part. A request whose *intended* send time falls in the
    /// warmup is excluded from the totals (it still shows in the warmup windows).
    pub warmup: Duration,
    /// The request every connection sends.
    pub request: RequestTemplate,
    /// Per-request timeout, from the moment the request is written; past it the request
    /// counts as a `timeout` failure and its connection is closed.
    pub timeout: Duration,
    /// OS threads, each running a current-thread tokio runtime; connections are split over
    /// them. Never more workers than connections are started.
    pub workers: usize,
    /// When the step starts (warmup included); `None` = a few milliseconds after `run` is
    /// called. A caller that runs things beside the load on the same clock (a timeline, a
    /// sampler) sets it, so offsets agree to the microsecond.
    pub start_at: Option<std::time::Instant>,
    /// Most streams in flight per HTTP/2 connection in the open loop (HTTP/2 and gRPC);
    /// `None` = [`MAX_STREAMS`](super::MAX_STREAMS).
    pub streams: Option<u32>,
    /// gRPC: sent as `grpc-timeout`, and the time after which the client itself gives up on
    /// a call and counts it `DEADLINE_EXCEEDED`.
    pub grpc_deadline: Option<Duration>,
}

/// The wire protocol of the load connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, one request in flight per connection.
    Http1,
    /// HTTP/2 with prior knowledge (h2c), several streams per connection.
    Http2,
    /// Unary gRPC over HTTP/2: `request.path` is the method (`/package.Service/Method`),
    /// `request.body` the encoded message, framed here once; the method is always POST.
    /// Each call's `grpc-status` is recorded as its status: codes 0..=16, which never
    /// collide with HTTP's three-digit statuses.
    Grpc,
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A fixed schedule at `rate` requests per second in total, whatever the responses do.
    Open {
        /// Requests per second over all connections.
        rate: f64,
    },
    /// `concurrency` requests in flight at all times; a new one starts when one ends.
    Closed {
        /// Requests in flight over all connections.
        concurrency: u32,
    },
}

/// The request every load connection sends.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// `Host` (HTTP/1.1) or `:authority` (HTTP/2); the first target's address when empty.
    pub authority: String,
    /// Extra headers. `content-length` and `transfer-encoding` are set from the body and
    /// rejected here; a `host` header replaces `authority`.
    pub headers: Vec<(String, String)>,
    /// Request body, sent with a `content-length`.
    pub body: Bytes,
}

/// Why a plan cannot run. A failed request is never an error: it is counted.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `targets` is empty.
    #[error("the load plan has no targets")]
    NoTargets,
    /// `connections` is zero.
    #[error("the load plan has zero connections")]
    ZeroConnections,
    /// `workers` is zero.
    #[error("the load plan has zero workers")]
    ZeroWorkers,
    /// The open-loop rate is not a positive finite number.
    #[error("the open-loop rate must be a positive number of requests per second, got {0}")]
    InvalidRate(f64),
    /// The closed-loop concurrency is zero.
    #[error("the closed-loop concurrency must be at least 1")]
    ZeroConcurrency,
    /// `duration` is zero.
    #[error("the measured duration must be longer than zero")]
    ZeroDuration,
    /// `timeout` is zero.
    #[error("the request timeout must be longer than zero")]
    ZeroTimeout,
    /// The request template cannot be sent as given.
    #[error("invalid request {what}: {reason}")]
    InvalidRequest {
        /// Which part of the template (method, path, header `x`, ...).
        what: String,
        /// What is wrong with it and how to fix it.
        reason: String,
    },
    /// A worker thread or its runtime could not start.
    #[error("cannot start a load worker: {0}")]
    Runtime(#[from] std::io::Error),
    /// A worker thread died (a bug); the partial figures are lost.
    #[error("a load worker failed: {0}")]
    WorkerFailed(String),
}

/// A validated plan with everything the hot path needs built once.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub targets: Vec<SocketAddr>,
    pub protocol: Protocol,
    pub mode: Mode,
    /// Effective connection count (see [`LoadPlan::connections`]).
    pub connections: u32,
    /// Effective worker count: never more than connections.
    pub workers: usize,
    pub warmup_ns: u64,
    pub duration_ns: u64,
    pub timeout: Duration,
    /// HEAD responses carry no body whatever their headers say.
    pub head_only: bool,
    /// The complete HTTP/1.1 request, head and body.
    pub http1_request: Bytes,
    pub h2: H2Request,
    /// Most streams in flight per connection in the open loop.
    pub streams: u32,
    /// gRPC: when the client gives up on a call (see [`LoadPlan::grpc_deadline`]).
    pub grpc_deadline: Option<Duration>,
}

/// The parts of the HTTP/2 request; hyper needs a fresh `Request` per stream.
#[derive(Debug, Clone)]
pub(crate) struct H2Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Prepared {
    /// The end of the schedule, in nanoseconds from the step start.
    pub fn end_ns(&self) -> u64 {
        self.warmup_ns.saturating_add(self.duration_ns)
    }

    /// Streams kept in flight by closed-loop HTTP/2 connection `index`.
    pub fn closed_streams(&self, index: u32) -> u32 {
        match self.mode {
            Mode::Closed { concurrency } => {
                let per = concurrency / self.connections;
                per + u32::from(index < concurrency % self.connections)
            }
            Mode::Open { .. } => 0,
        }
    }
}

/// Headers that HTTP/2 forbids (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "transfer-encoding",
];

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> LoadError {
    LoadError::InvalidRequest {
        what: what.into(),
        reason: reason.into(),
    }
}

/// Checks the plan and builds the request bytes once.
pub(crate) fn prepare(plan: LoadPlan) -> Result<Prepared, LoadError> {
    if plan.targets.is_empty() {
        return Err(LoadError::NoTargets);
    }
    if plan.connections == 0 {
        return Err(LoadError::ZeroConnections);
    }
    if plan.workers == 0 {
        return Err(LoadError::ZeroWorkers);
    }
    if plan.duration.is_zero() {
        return Err(LoadError::ZeroDuration);
    }
    if plan.timeout.is_zero() {
        return Err(LoadError::ZeroTimeout);
    }
    let connections = match (plan.mode, plan.protocol) {
        (Mode::Open { rate }, _) if !(rate.is_finite() && rate > 0.0) => {
            return Err(LoadError::InvalidRate(rate))
        }
        (Mode::Closed { concurrency: 0 }, _) => return Err(LoadError::ZeroConcurrency),
        (Mode::Open { .. }, _) => plan.connections,
        // One request in flight per HTTP/1.1 connection: the concurrency is the connections.
        (Mode::Closed { concurrency }, Protocol::Http1) => concurrency,
        (Mode::Closed { concurrency }, Protocol::Http2 | Protocol::Grpc) => {
            plan.connections.min(concurrency)
        }
    };
    if plan.streams == Some(0) {
        return Err(invalid("streams", "at least 1 stream per connection"));
    }
    let grpc = plan.protocol == Protocol::Grpc;
    if plan.grpc_deadline.is_some() && !grpc {
        return Err(invalid("grpc deadline", "only gRPC calls carry a deadline"));
    }
    let req = &plan.request;
    if grpc && req.method != "POST" {
        return Err(invalid("method", "a gRPC call is always a POST"));
    }
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|e| invalid("method", format!("`{}`: {e}", req.method)))?;
    let path = http::uri::PathAndQuery::from_str(&req.path)
        .map_err(|e| invalid("path", format!("`{}`: {e}", req.path)))?;
    if !req.path.starts_with('/') {
        return Err(invalid(
            "path",
            format!("`{}` must start with `/`", req.path),
        ));
    }
    let mut authority = if req.authority.is_empty() {
        plan.targets[0].to_string()
    } else {
        req.authority.clone()
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &req.headers {
        let what = || format!("header `{name}`");
        let n =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(what(), e.to_string()))?;
        let v = HeaderValue::from_str(value).map_err(|e| invalid(what(), e.to_string()))?;
        if n == http::header::CONTENT_LENGTH || n == http::header::TRANSFER_ENCODING {
            return Err(invalid(what(), "it is set from the body; remove it"));
        }
        if n == http::header::HOST {
            authority = value.clone();
            continue;
        }
        if plan.protocol != Protocol::Http1 && CONNECTION_SPECIFIC.contains(&n.as_str()) {
            return Err(invalid(
                what(),
                "HTTP/2 forbids connection-specific headers",
            ));
        }
        headers.append(n, v);
    }
    let uri = Uri::builder()
        .scheme("http")
        .authority(authority.as_str())
        .path_and_query(path)
        .build()
        .map_err(|e| invalid("authority", format!("`{authority}`: {e}")))?;
    let body = if grpc {
        super::grpc::add_headers(&mut headers, plan.grpc_deadline);
        gauntlet_mocks::grpc::frame(&req.body)
    } else {
        req.body.clone()
    };
    let http1_request = http1_bytes(&method, &req.path, &authority, &headers, &body);
    let workers = plan.workers.min(connections as usize);
    Ok(Prepared {
        targets: plan.targets,
        protocol: plan.protocol,
        mode: plan.mode,
        connections,
        workers,
        warmup_ns: duration_ns(plan.warmup),
        duration_ns: duration_ns(plan.duration),
        timeout: plan.timeout,
        head_only: method == Method::HEAD,
        http1_request,
        h2: H2Request {
            method,
            uri,
            headers,
            body,
        },
        streams: plan.streams.unwrap_or(super::MAX_STREAMS),
        grpc_deadline: plan.grpc_deadline,
    })
}

/// A duration in nanoseconds, saturating (584 years is enough).
pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn http1_bytes(
    method: &Method,
    path: &str,
    host: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Bytes {
    let mut out = Vec::with_capacity(128 + body.len());
    let mut line = |parts: &[&[u8]]| {
        for p in parts {
            out.extend_from_slice(p);
        }
        out.extend_from_slice(b"\r\n");
    };
    line(&[
        method.as_str().as_bytes(),
        b" ",
        path.as_bytes(),
        b" HTTP/1.1",
    ]);
    line(&[b"host: ", host.as_bytes()]);
    for (name, value) in headers {
        line(&[name.as_str().as_bytes(), b": ", value.as_bytes()]);
    }
    let needs_length =
        !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if needs_length {
        line(&[b"content-length: ", body.len().to_string().as_bytes()]);
    }
    line(&[]);
    out.extend_from_slice(body);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LoadPlan {
        LoadPlan {
            targets: vec!["127.0.0.1:8080".parse().unwrap()],
            protocol: Protocol::Http1,
            mode: Mode::Open { rate: 100.0 },
            connections: 4,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            request: RequestTemplate {
                method: "POST".into(),
                path: "/a?b=c".into(),
                authority: String::new(),
                headers: vec![("x-test".into(), "1".into())],
                body: Bytes::from_static(b"hello"),
            },
            timeout: Duration::from_secs(1),
            workers: 8,
            start_at: None,
            streams: None,
            grpc_deadline: None,
        }
    }

    #[test]
    fn builds_the_http1_request_once() {
        let p = prepare(plan()).unwrap();
        assert_eq!(
            &p.http1_request[..],
            b"POST /a?b=c HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-test: 1\r\ncontent-length: 5\r\n\r\nhello"
        );
        assert_eq!(p.workers, 4, "never more workers than connections");
        assert_eq!(p.h2.uri.to_string(), "http://127.0.0.1:8080/a?b=c");
    }

    #[test]
    fn closed_loop_sets_the_connections() {
        let mut pl = plan();
        pl.mode = Mode::Closed { concurrency: 10 };
        assert_eq!(prepare(pl.clone()).unwrap().connections, 10);
        pl.protocol = Protocol::Http2;
        let p = prepare(pl).unwrap();
        assert_eq!(p.connections, 4);
        let streams: Vec<u32> = (0..4).map(|i| p.closed_streams(i)).collect();
        assert_eq!(streams, [3, 3, 2, 2]);
    }

    #[test]
    fn rejects_bad_plans() {
        type Edit = Box<dyn Fn(&mut LoadPlan)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("no targets", Box::new(|p| p.targets.clear())),
            ("zero connections", Box::new(|p| p.connections = 0)),
            ("zero workers", Box::new(|p| p.workers = 0)),
            (
                "nan rate",
                Box::new(|p| p.mode = Mode::Open { rate: f64::NAN }),
            ),
            ("zero rate", Box::new(|p| p.mode = Mode::Open { rate: 0.0 })),
            (
                "zero concurrency",
                Box::new(|p| p.mode = Mode::Closed { concurrency: 0 }),
            ),
            ("zero duration", Box::new(|p| p.duration = Duration::ZERO)),
            ("zero timeout", Box::new(|p| p.timeout = Duration::ZERO)),
            ("bad method", Box::new(|p| p.request.method = "G T".into())),
            ("relative path", Box::new(|p| p.request.path = "a".into())),
            (
                "crlf in header",
                Box::new(|p| p.request.headers.push(("x".into(), "a\r\nb".into()))),
            ),
            (
                "content-length",
                Box::new(|p| {
                    p.request
                        .headers
                        .push(("Content-Length".into(), "1".into()))
                }),
            ),
        ];
        for (name, edit) in cases {
            let mut p = plan();
            edit(&mut p);
            assert!(prepare(p).is_err(), "{name} should be rejected");
        }
    }

    #[test]
    fn host_header_replaces_authority() {
        let mut pl = plan();
        pl.request
            .headers
            .push(("Host".into(), "example.com".into()));
        pl.request.method = "GET".into();
        pl.request.body = Bytes::new();
        let p = prepare(pl).unwrap();
        assert_eq!(
            &p.http1_request[..],
            b"GET /a?b=c HTTP/1.1\r\nhost: example.com\r\nx-test: 1\r\n\r\n"
        );
        assert_eq!(p.h2.uri.authority().unwrap().as_str(), "example.com");
    }
}
