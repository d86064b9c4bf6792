//! A mock *service*: a server that, for every request it gets, calls its dependencies first
//! (in parallel or one after the other) and answers by how they went. It stands in for the
//! service under test in the single-service and integration phases, so no outside program is
//! needed: `gauntlet-mock --call inventory=http://127.0.0.1:9001/items` runs one standalone,
//! [`serve_fanout`] runs one in-process.
//!
//! Calls go through one pooled hyper client per service, so connections to each dependency
//! (in Gauntlet, to the egress Envoy) are reused as a real service's would be. A request
//! succeeds when every call answered 2xx; otherwise the service answers `failure_status`
//! (502 by default). The health path answers 200 at once, uncounted.

mod call;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::sample::LatencySampler;
use crate::{Latency, MockError};
use call::parse_url;
pub use call::{parse_call, url_env_var, Call};

/// The header naming the service that answered.
pub const SERVICE_HEADER: &str = "x-gauntlet-service";

/// Whether the calls of one request run at the same time or one after the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMode {
    #[default]
    Parallel,
    /// In order; the first failure ends the request (later calls are not made).
    Sequential,
}

/// How a fan-out service behaves.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutConfig {
    /// Service name, sent back in `x-gauntlet-service`.
    pub name: String,
    pub calls: Vec<Call>,
    pub mode: CallMode,
    /// The service's own work, added after its calls.
    pub latency: Latency,
    /// Status answered when a call failed (non-2xx, refused, timed out).
    pub failure_status: u16,
    /// Timeout of each call; a call past it fails.
    pub call_timeout: Duration,
    /// Path answered 200 at once and not counted (`/healthz`).
    pub health_path: String,
}

impl FanoutConfig {
    /// A service named `name` making `calls` in parallel, with no latency of its own,
    /// answering 502 on failure, a 5 s call timeout and `/healthz`.
    pub fn new(name: impl Into<String>, calls: Vec<Call>) -> Self {
        Self {
            name: name.into(),
            calls,
            mode: CallMode::Parallel,
            latency: Latency::Zero,
            failure_status: 502,
            call_timeout: Duration::from_secs(5),
            health_path: "/healthz".to_string(),
        }
    }
}

/// What a fan-out service has counted: requests it answered, by outcome, and its calls to
/// each dependency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FanoutCounts {
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Per call name, in the config's order: `(name, made, failed)`.
    pub calls: Vec<(String, u64, u64)>,
}

/// The live counters of a fan-out service, shared with whoever started it.
#[derive(Debug)]
pub struct FanoutStats {
    requests: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    calls: Vec<(String, AtomicU64, AtomicU64)>,
}

impl FanoutStats {
    fn new(calls: &[Call]) -> Self {
        Self {
            requests: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            calls: calls
                .iter()
                .map(|c| (c.name.clone(), AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
        }
    }

    /// The counts as they stand.
    pub fn snapshot(&self) -> FanoutCounts {
        FanoutCounts {
            requests: self.requests.load(Ordering::Relaxed),
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            calls: self
                .calls
                .iter()
                .map(|(n, made, failed)| {
                    (
                        n.clone(),
                        made.load(Ordering::Relaxed),
                        failed.load(Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }

    /// Sets every counter back to zero (at the start of a step).
    pub fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.succeeded.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        for (_, made, failed) in &self.calls {
            made.store(0, Ordering::Relaxed);
            failed.store(0, Ordering::Relaxed);
        }
    }
}

/// Everything one request handler needs, shared by all connections.
struct Shared {
    config: FanoutConfig,
    uris: Vec<Uri>,
    latency: LatencySampler,
    client: Client<HttpConnector, Empty<Bytes>>,
    stats: Arc<FanoutStats>,
}

/// A validated fan-out service, ready to serve; its counters are readable before and while
/// it runs.
pub struct Fanout {
    shared: Arc<Shared>,
}

impl Fanout {
    /// Checks the config (URLs parse as `http://…`, latency is valid, the failure status is
    /// a status) and builds the pooled client.
    pub fn new(config: FanoutConfig) -> Result<Self, MockError> {
        let uris = config
            .calls
            .iter()
            .map(|c| parse_url(&c.url))
            .collect::<Result<Vec<_>, _>>()?;
        StatusCode::from_u16(config.failure_status).map_err(|_| {
            MockError::InvalidBehavior(format!(
                "failure status {} is not an HTTP status",
                config.failure_status
            ))
        })?;
        let latency = LatencySampler::new(&config.latency)?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let stats = Arc::new(FanoutStats::new(&config.calls));
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                uris,
                latency,
                client,
                stats,
            }),
        })
    }

    /// The service's counters.
    pub fn stats(&self) -> Arc<FanoutStats> {
        self.shared.stats.clone()
    }

    /// Serves on `listener` (HTTP/1.1 and h2c) until `shutdown` completes; open connections
    /// are then dropped.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), MockError> {
        let mut conns = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let shared = self.shared.clone();
            conns.spawn(async move {
                let service = service_fn(move |req| handle(shared.clone(), req));
                let builder = auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("connection ended: {e}");
                }
            });
            while conns.try_join_next().is_some() {}
        }
        conns.shutdown().await;
        Ok(())
    }
}

/// Starts `config` on `listener` in a task. Returns its counters and the task, which ends
/// when `shutdown` completes.
pub fn serve_fanout(
    listener: TcpListener,
    config: FanoutConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Arc<FanoutStats>, tokio::task::JoinHandle<()>), MockError> {
    let fanout = Fanout::new(config)?;
    let stats = fanout.stats();
    let task = tokio::spawn(async move {
        if let Err(e) = fanout.serve(listener, shutdown).await {
            tracing::error!("fan-out service stopped: {e}");
        }
    });
    Ok((stats, task))
}

type Reply = Response<Full<Bytes>>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, hyper::Error> {
    let cfg = &shared.config;
    if req.uri().path() == cfg.health_path {
        return Ok(reply(cfg, StatusCode::OK, "ok\n".into()));
    }
    // The request body is not used; reading it keeps the connection reusable.
    let _ = req.into_body().collect().await;
    let stats = &shared.stats;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let failed = match cfg.mode {
        CallMode::Parallel => {
            let calls = (0..shared.uris.len()).map(|i| call(&shared, i));
            let results = futures_join_all(calls).await;
            results.into_iter().filter(|ok| !ok).count()
        }
        CallMode::Sequential => {
            let mut failed = 0;
            for i in 0..shared.uris.len() {
                if !call(&shared, i).await {
                    failed += 1;
                    break;
                }
            }
            failed
        }
    };
    let own = shared.latency.sample(&mut rand::rng());
    if !own.is_zero() {
        tokio::time::sleep(own).await;
    }
    if failed == 0 {
        stats.succeeded.fetch_add(1, Ordering::Relaxed);
        Ok(reply(cfg, StatusCode::OK, Bytes::new()))
    } else {
        stats.failed.fetch_add(1, Ordering::Relaxed);
        let status = StatusCode::from_u16(cfg.failure_status).unwrap_or(StatusCode::BAD_GATEWAY);
        let text = format!("{failed} of {} calls failed\n", shared.uris.len());
        Ok(reply(cfg, status, text.into()))
    }
}

/// Makes call `i`; true when it answered 2xx within the call timeout.
async fn call(shared: &Shared, i: usize) -> bool {
    let (_, made, failed) = &shared.stats.calls[i];
    made.fetch_add(1, Ordering::Relaxed);
    let request = Request::get(shared.uris[i].clone()).body(Empty::new());
    let ok = match request {
        Ok(request) => {
            let sent = async {
                let response = shared.client.request(request).await.ok()?;
                let status = response.status();
                // Drain the body so the connection goes back to the pool.
                response.into_body().collect().await.ok()?;
                Some(status.is_success())
            };
            tokio::time::timeout(shared.config.call_timeout, sent)
                .await
                .ok()
                .flatten()
                .unwrap_or(false)
        }
        Err(_) => false,
    };
    if !ok {
        failed.fetch_add(1, Ordering::Relaxed);
    }
    ok
}

/// Awaits every future, concurrently, in one task (no spawn per call).
async fn futures_join_all<F: Future<Output = bool>>(futures: impl Iterator<Item = F>) -> Vec<bool> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut done: Vec<Option<bool>> = vec![None; pinned.len()];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    done.into_iter().map(|d| d.unwrap_or(false)).collect()
}

fn reply(cfg: &FanoutConfig, status: StatusCode, body: Bytes) -> Reply {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(&cfg.name) {
        response.headers_mut().insert(SERVICE_HEADER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{start_upstream, Behavior, StatusMix, UpstreamConfig};

    async fn get(addr: std::net::SocketAddr, path: &str) -> u16 {
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let uri: Uri = format!("http://{addr}{path}").parse().unwrap();
        client.get(uri).await.unwrap().status().as_u16()
    }

    async fn start(config: FanoutConfig) -> (std::net::SocketAddr, Arc<FanoutStats>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stats, _task) = serve_fanout(listener, config, std::future::pending()).unwrap();
        (addr, stats)
    }

    #[tokio::test]
    async fn calls_every_dependency_and_fails_when_one_fails() {
        let ok = start_upstream(UpstreamConfig::new("ok", 1, Behavior::default()))
            .await
            .unwrap();
        let bad = Behavior {
            statuses: StatusMix::always(503),
            ..Behavior::default()
        };
        let bad = start_upstream(UpstreamConfig::new("bad", 1, bad))
            .await
            .unwrap();
        let url = |h: &crate::UpstreamHandle, p: &str| format!("http://{}{p}", h.addrs()[0]);
        let calls = vec![
            Call {
                name: "ok".into(),
                url: url(&ok, "/a"),
            },
            Call {
                name: "bad".into(),
                url: url(&bad, "/b"),
            },
        ];
        for mode in [CallMode::Parallel, CallMode::Sequential] {
            let mut config = FanoutConfig::new("svc", calls.clone());
            config.mode = mode;
            let (addr, stats) = start(config).await;
            assert_eq!(get(addr, "/x").await, 502);
            assert_eq!(get(addr, "/healthz").await, 200);
            let c = stats.snapshot();
            assert_eq!((c.requests, c.failed), (1, 1));
            assert_eq!(c.calls[0], ("ok".to_string(), 1, 0));
            assert_eq!(c.calls[1], ("bad".to_string(), 1, 1));
        }
        // Only the healthy dependency: every request succeeds, connections are reused.
        let (addr, stats) = start(FanoutConfig::new("svc", calls[..1].to_vec())).await;
        for _ in 0..5 {
            assert_eq!(get(addr, "/x").await, 200);
        }
        assert_eq!(stats.snapshot().succeeded, 5);
        assert_eq!(ok.counts().requests, 7);
    }

    #[test]
    fn rejects_urls_that_are_not_http() {
        let calls = vec![Call {
            name: "x".into(),
            url: "https://a:1/".into(),
        }];
        assert!(Fanout::new(FanoutConfig::new("s", calls)).is_err());
    }
}
