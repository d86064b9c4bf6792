//! The hyper service of one connection: the per-request hot path.
//!
//! Per request, `EndpointService::call` and `Respond` bump the counters, draw latency and
//! status from a per-connection RNG, clone a `Bytes` body that is shared (or static), and
//! clone header values made once per connection. No lock, no formatting, and no allocation
//! of our own beyond a timer when there is a delay. Chaos is behind one flag
//! ([`Prepared::chaos_enabled`]), so without it none of its draws run.

use std::cell::Cell;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use arc_swap::cache::Cache;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};
use hyper::body::{Body, Incoming};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::body::MockBody;
use crate::chaos::Fate;
use crate::control;
use crate::endpoint::{EndpointState, Prepared};
use crate::server::{ENDPOINT_HEADER, UPSTREAM_HEADER};
use crate::SlowBody;

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain");
const CLOSE: HeaderValue = HeaderValue::from_static("close");
const APPLICATION_GRPC: HeaderValue = HeaderValue::from_static("application/grpc");
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

// === impl ConnShared ===

/// What a request asks of its connection's task, which alone owns the hyper connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Drop the connection at once, its socket with `SO_LINGER` 0: the peer gets an RST.
    Reset,
    /// Finish the streams in flight and close (HTTP/2 GOAWAY).
    GoAway,
}

/// Per-connection data that response futures share; one `Arc` per connection keeps the
/// reference-count traffic of a request on that connection's cache line.
pub(crate) struct ConnShared {
    pub(crate) state: Arc<EndpointState>,
    upstream_header: HeaderValue,
    endpoint_header: HeaderValue,
    /// Set before an [`Order::Reset`] is sent, for the socket to read when it is dropped.
    reset: AtomicBool,
    /// Orders to the connection task. A channel rather than a `Notify`: waiting on it takes
    /// no lock, and the connection task polls it on every wake-up.
    orders: mpsc::UnboundedSender<Order>,
}

impl ConnShared {
    /// The shared part of a new connection, and the receiving end of its orders.
    pub(crate) fn new(state: Arc<EndpointState>) -> (Arc<Self>, mpsc::UnboundedReceiver<Order>) {
        // Copies, not clones, of the header values: a clone would share one reference count
        // between every connection of the endpoint.
        let copy = |v: &HeaderValue| HeaderValue::from_bytes(v.as_bytes()).unwrap_or(v.clone());
        let upstream_header = copy(state.upstream_header());
        let endpoint_header = copy(state.endpoint_header());
        let (orders, received) = mpsc::unbounded_channel();
        let shared = Self {
            state,
            upstream_header,
            endpoint_header,
            reset: AtomicBool::new(false),
            orders,
        };
        (Arc::new(shared), received)
    }

    /// True once a request asked for the connection to be reset.
    pub(crate) fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }

    fn order(&self, order: Order) {
        if order == Order::Reset {
            self.reset.store(true, Ordering::Release);
        }
        // An error means the connection task is gone, and with it the connection.
        let _ = self.orders.send(order);
    }
}

// === impl EndpointService ===

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
pub(crate) struct EndpointService {
    shared: Arc<ConnShared>,
    control_api: bool,
    // `Service::call` takes `&self`; a `Cell` holding the state between calls gives the
    // mutable access sampling needs without a lock (calls on one connection never overlap).
    local: Cell<Option<Local>>,
}

impl EndpointService {
    pub(crate) fn new(shared: Arc<ConnShared>, control_api: bool) -> Self {
        let local = Local::new(&shared.state);
        Self {
            shared,
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
        // The documented order: reset and hang, then latency, then status, close, slow body.
        let chaos = prepared.chaos_enabled().then(|| *prepared.chaos());
        let fate = match &chaos {
            None => Fate::Answer,
            Some(chaos) => chaos.draw_fate(&mut local.rng),
        };
        let delay = prepared.sample_latency(&mut local.rng);
        // A gRPC answer is HTTP 200 whatever its `grpc-status`.
        let grpc = prepared.grpc().map(|table| {
            let code = table.sample(&mut local.rng);
            (code, table.status_value(code))
        });
        let status = match grpc {
            Some(_) => StatusCode::OK,
            None => prepared.sample_status(&mut local.rng),
        };
        let (close, slow) = match &chaos {
            None => (Close::Keep, None),
            Some(chaos) => {
                let close = match chaos.draw_close(&mut local.rng) {
                    false => Close::Keep,
                    // Connection headers are not allowed in HTTP/2; GOAWAY is its way.
                    true if request.version() == Version::HTTP_2 => Close::GoAway,
                    true => Close::Header,
                };
                (close, chaos.slow_body())
            }
        };
        // 204 and 304 carry no body; HEAD gets the headers of the body but not its bytes.
        let body = if let Some((code, _)) = &grpc {
            match (*code == crate::grpc::OK, prepared.grpc()) {
                (true, Some(table)) => table.message().clone(),
                _ => Bytes::new(),
            }
        } else if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
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
        let drained = incoming.is_end_stream();
        let mut respond = Respond {
            shared: Arc::clone(&self.shared),
            incoming,
            stage: Stage::Drain,
            fate,
            delay,
            status,
            body,
            sent_bytes,
            close,
            slow,
            grpc,
        };
        if drained {
            respond.stage = respond.after_drain();
        }
        ResponseFuture::Mock(respond)
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

/// Whether an answer ends its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Keep,
    /// HTTP/1: `connection: close`, which hyper honours by closing after the response.
    Header,
    /// HTTP/2: ask the connection task for a GOAWAY.
    GoAway,
}

/// Reads the request body, waits the delay, then answers (or, by chaos, never does). A
/// hand-written future rather than an `async` block so that hyper can hold it without a
/// per-request box.
pub(crate) struct Respond {
    shared: Arc<ConnShared>,
    incoming: Incoming,
    stage: Stage,
    fate: Fate,
    delay: Duration,
    status: StatusCode,
    body: Bytes,
    sent_bytes: u64,
    close: Close,
    slow: Option<SlowBody>,
    /// A gRPC answer's code and its `grpc-status` value.
    grpc: Option<(u8, HeaderValue)>,
}

enum Stage {
    Drain,
    Wait(Pin<Box<Sleep>>),
    Answer,
    /// Hung or reset: never ready. No waker is kept; the connection's end drops the future.
    Stuck,
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
                    None => this.stage = this.after_drain(),
                },
                Stage::Wait(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.stage = Stage::Answer;
                }
                Stage::Answer => return Poll::Ready(Ok(this.answer())),
                Stage::Stuck => return Poll::Pending,
            }
        }
    }
}

impl Respond {
    /// The stage after the request is read: carry out a hang or reset, or go on to answer.
    fn after_drain(&self) -> Stage {
        let counters = &self.shared.state.counters;
        match self.fate {
            Fate::Answer if self.delay.is_zero() => Stage::Answer,
            Fate::Answer => Stage::Wait(Box::pin(tokio::time::sleep(self.delay))),
            Fate::Hang => {
                counters.request_hung();
                Stage::Stuck
            }
            Fate::Reset => {
                counters.connection_reset();
                self.shared.order(Order::Reset);
                Stage::Stuck
            }
        }
    }

    fn answer(&mut self) -> Response<MockBody> {
        let shared = &self.shared;
        let counters = &shared.state.counters;
        counters.response(self.status.as_u16(), self.sent_bytes);
        let bytes = std::mem::take(&mut self.body);
        let grpc = self.grpc.take();
        let body = match (&grpc, self.slow) {
            // `OK`: the message, then the status in the trailers (one small map per answer,
            // which hyper's trailer API takes by value). Other codes are trailers-only.
            (Some((code, value)), _) => {
                counters.grpc_status(*code);
                if *code == crate::grpc::OK {
                    let mut trailers = http::HeaderMap::with_capacity(1);
                    trailers.insert(GRPC_STATUS, value.clone());
                    MockBody::grpc(bytes, trailers)
                } else {
                    MockBody::full(bytes)
                }
            }
            // `sent_bytes` is 0 for HEAD and for empty bodies: nothing to trickle.
            (None, Some(slow)) if self.sent_bytes > 0 => MockBody::slow(bytes, slow),
            (None, _) => MockBody::full(bytes),
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        match grpc {
            Some((code, value)) => {
                headers.insert(CONTENT_TYPE, APPLICATION_GRPC);
                if code != crate::grpc::OK {
                    headers.insert(GRPC_STATUS, value);
                }
            }
            None => {
                headers.insert(CONTENT_TYPE, TEXT_PLAIN);
            }
        }
        headers.insert(UPSTREAM_HEADER, shared.upstream_header.clone());
        headers.insert(ENDPOINT_HEADER, shared.endpoint_header.clone());
        match self.close {
            Close::Keep => {}
            Close::Header => {
                counters.response_closed();
                headers.insert(CONNECTION, CLOSE);
            }
            Close::GoAway => {
                counters.response_closed();
                shared.order(Order::GoAway);
            }
        }
        response
    }
}
