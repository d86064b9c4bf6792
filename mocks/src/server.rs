//! Serving one endpoint: accept loop, HTTP/1.1 and h2c on one port, graceful shutdown.
//!
//! The hot path is `EndpointService::call` and `Respond`: per request it bumps the
//! counters, draws latency and status from a per-connection RNG, clones a `Bytes` body that is
//! shared (or static), and clones header values made once per connection. No lock, no
//! formatting, and no allocation of our own beyond a timer when there is a delay.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use arc_swap::cache::Cache;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tracing::{debug, warn};

use crate::control;
use crate::endpoint::{EndpointState, Prepared};
use crate::MockError;

/// The header naming the upstream that answered.
pub const UPSTREAM_HEADER: HeaderName = HeaderName::from_static("x-gauntlet-upstream");
/// The header naming the endpoint index that answered.
pub const ENDPOINT_HEADER: HeaderName = HeaderName::from_static("x-gauntlet-endpoint");
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain");

/// The body type of every response the mock sends.
pub type MockBody = Full<Bytes>;

/// How [`serve_with`] runs, beyond the listener and the behaviour.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Answer `/__gauntlet/…` control requests (stats, behaviour swap) on the same port,
    /// uncounted. Off for upstreams behind Envoy, where every path is traffic.
    pub control_api: bool,
    /// How long in-flight requests may take to finish after shutdown is signalled before
    /// their connections are dropped.
    pub grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            control_api: false,
            grace: Duration::from_secs(1),
        }
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish for up to one second and drops what is left.
///
/// The caller binds the listener (port 0 in tests) and owns the shutdown signal. Errors on
/// single connections are logged at debug level and never end the server.
pub async fn serve(
    listener: TcpListener,
    state: Arc<EndpointState>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MockError> {
    serve_with(listener, state, ServeOptions::default(), shutdown).await
}

/// [`serve`] with explicit [`ServeOptions`].
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<EndpointState>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MockError> {
    let local = listener.local_addr()?;
    // Prior-knowledge h2c and HTTP/1.1 are told apart by the connection preface. No timer is
    // configured, so hyper arms no per-request header timeout: loopback load needs none.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().pipeline_flush(true);
    let builder = Arc::new(builder);
    // Connections watch this to start their graceful shutdown; dropping the sender (when
    // this future is dropped) has the same effect.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::ZERO;
                    let task = connection(
                        stream,
                        peer,
                        Arc::clone(&builder),
                        Arc::clone(&state),
                        options.control_api,
                        stop_rx.clone(),
                    );
                    connections.spawn(task);
                }
                // A peer that gave up before we accepted is its own business.
                Err(error) if is_peer_error(&error) => {
                    debug!(%local, %error, "accept failed");
                }
                Err(error) => {
                    // Usually out of file descriptors: back off so the loop does not spin,
                    // and keep serving the connections already open.
                    backoff = (backoff * 2).clamp(Duration::from_millis(1), Duration::from_secs(1));
                    warn!(%local, %error, ?backoff, "accept failed");
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            },
            // Reap finished connections so the set does not grow with the run.
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = joined {
                    warn!(%local, %error, "connection task failed");
                }
            }
        }
    }

    // Refuse new connections at once, then ask the open ones to finish.
    drop(listener);
    stop_tx.send_replace(());
    let drained = tokio::time::timeout(options.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!(%local, open = connections.len(), "grace period over, dropping connections");
        connections.shutdown().await;
    }
    Ok(())
}

fn is_peer_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted
    )
}

/// Serves one accepted connection until it closes, or until shutdown and then gracefully.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    builder: Arc<auto::Builder<TokioExecutor>>,
    state: Arc<EndpointState>,
    control_api: bool,
    mut stop: watch::Receiver<()>,
) {
    let _open = state.counters.connection();
    // Small responses must leave at once rather than wait for Nagle's algorithm.
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let service = EndpointService::new(Arc::clone(&state), control_api);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        debug!(%peer, %error, "connection ended with an error");
    }
}

// === impl EndpointService ===

/// Per-connection data that response futures share; one `Arc` per connection keeps the
/// reference-count traffic of a request on that connection's cache line.
struct ConnShared {
    state: Arc<EndpointState>,
    upstream_header: HeaderValue,
    endpoint_header: HeaderValue,
}

/// Lets an [`arc_swap::cache::Cache`] watch the behaviour of an `Arc<EndpointState>`.
struct BehaviorOf(Arc<EndpointState>);

impl Deref for BehaviorOf {
    type Target = ArcSwap<Prepared>;

    fn deref(&self) -> &Self::Target {
        &self.0.behavior
    }
}

/// The mutable per-connection part: the RNG and the cached behaviour.
struct Local {
    rng: SmallRng,
    behavior: Cache<BehaviorOf, Arc<Prepared>>,
}

impl Local {
    fn new(state: &Arc<EndpointState>) -> Self {
        Self {
            rng: SmallRng::from_rng(&mut rand::rng()),
            behavior: Cache::new(BehaviorOf(Arc::clone(state))),
        }
    }
}

/// The hyper service of one connection.
struct EndpointService {
    shared: Arc<ConnShared>,
    control_api: bool,
    // `Service::call` takes `&self`; a `Cell` holding the state between calls gives the
    // mutable access sampling needs without a lock (calls on one connection never overlap).
    local: Cell<Option<Local>>,
}

impl EndpointService {
    fn new(state: Arc<EndpointState>, control_api: bool) -> Self {
        // Copies, not clones, of the header values: a clone would share one reference count
        // between every connection of the endpoint.
        let copy = |v: &HeaderValue| HeaderValue::from_bytes(v.as_bytes()).unwrap_or(v.clone());
        let upstream_header = copy(state.upstream_header());
        let endpoint_header = copy(state.endpoint_header());
        let local = Local::new(&state);
        Self {
            shared: Arc::new(ConnShared {
                state,
                upstream_header,
                endpoint_header,
            }),
            control_api,
            local: Cell::new(Some(local)),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for EndpointService {
    type Response = Response<MockBody>;
    type Error = hyper::Error;
    type Future = ResponseFuture;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let state = &self.shared.state;
        if self.control_api && request.uri().path().starts_with(control::PREFIX) {
            return ResponseFuture::Control(Box::pin(control::handle(Arc::clone(state), request)));
        }
        state.counters.request();

        let mut local = self.local.take().unwrap_or_else(|| Local::new(state));
        let prepared = local.behavior.load();
        let delay = prepared.sample_latency(&mut local.rng);
        let status = prepared.sample_status(&mut local.rng);
        // 204 and 304 carry no body; HEAD gets the headers of the body but not its bytes.
        let body = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Bytes::new()
        } else {
            prepared.body().clone()
        };
        let sent_bytes = if request.method() == Method::HEAD {
            0
        } else {
            body.len() as u64
        };
        self.local.set(Some(local));

        let incoming = request.into_body();
        let stage = if !incoming.is_end_stream() {
            Stage::Drain
        } else if delay.is_zero() {
            Stage::Answer
        } else {
            Stage::Wait(Box::pin(tokio::time::sleep(delay)))
        };
        ResponseFuture::Mock(Respond {
            shared: Arc::clone(&self.shared),
            incoming,
            stage,
            delay,
            status,
            body,
            sent_bytes,
        })
    }
}

// === impl ResponseFuture ===

/// The future of one response: a mock answer, or a control API answer.
pub(crate) enum ResponseFuture {
    /// A request served by the behaviour.
    Mock(Respond),
    /// A `/__gauntlet/` request; rare, so boxing it costs nothing that matters.
    Control(Pin<Box<dyn Future<Output = Result<Response<MockBody>, hyper::Error>> + Send>>),
}

impl Future for ResponseFuture {
    type Output = Result<Response<MockBody>, hyper::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Mock(respond) => Pin::new(respond).poll(cx),
            Self::Control(future) => future.as_mut().poll(cx),
        }
    }
}

/// Reads the request body, waits the delay, then answers. A hand-written future rather than
/// an `async` block so that hyper can hold it without a per-request box.
pub(crate) struct Respond {
    shared: Arc<ConnShared>,
    incoming: Incoming,
    stage: Stage,
    delay: Duration,
    status: StatusCode,
    body: Bytes,
    sent_bytes: u64,
}

enum Stage {
    Drain,
    Wait(Pin<Box<Sleep>>),
    Answer,
}

impl Future for Respond {
    type Output = Result<Response<MockBody>, hyper::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.stage {
                Stage::Drain => match ready!(Pin::new(&mut this.incoming).poll_frame(cx)) {
                    // The content is of no interest; reading it is what a real upstream does.
                    Some(Ok(_frame)) => {}
                    Some(Err(error)) => return Poll::Ready(Err(error)),
                    None if this.delay.is_zero() => this.stage = Stage::Answer,
                    None => this.stage = Stage::Wait(Box::pin(tokio::time::sleep(this.delay))),
                },
                Stage::Wait(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.stage = Stage::Answer;
                }
                Stage::Answer => return Poll::Ready(Ok(this.answer())),
            }
        }
    }
}

impl Respond {
    fn answer(&mut self) -> Response<MockBody> {
        let shared = &self.shared;
        shared
            .state
            .counters
            .response(self.status.as_u16(), self.sent_bytes);
        let mut response = Response::new(Full::new(std::mem::take(&mut self.body)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, TEXT_PLAIN);
        headers.insert(UPSTREAM_HEADER, shared.upstream_header.clone());
        headers.insert(ENDPOINT_HEADER, shared.endpoint_header.clone());
        response
    }
}
