//! HTTP/2 load connections (prior knowledge, h2c) over hyper's `client::conn::http2`.
//!
//! Several streams share a connection. Open loop: each request is sent at its intended time
//! as a new stream without waiting for earlier ones, up to the plan's `streams`
//! ([`MAX_STREAMS`] by default) in flight; a request due while the connection is full waits
//! (and counts as busy). Closed loop: the connection keeps its share of the concurrency in
//! flight. Unary gRPC calls take the same path (`grpc` reads their status).
//!
//! Unlike the HTTP/1.1 path this one allocates per request: hyper builds a `Request`, its
//! stream state and a response future, and each stream is a task node in a
//! `FuturesUnordered` with its own tokio timeout. That is the price of a complete HTTP/2
//! stack; it is measured by the client's own-lateness and CPU figures like everything else.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::http1::Backoff;
use super::outcome::FailureKind;
use super::plan::{H2Request, Mode};
use super::record::{Pacing, Sample};
use super::schedule::Pacer;
use super::timer::Clock;
use super::worker::{ConnSpec, WorkerCtx};

/// Open loop: most streams in flight on one connection, unless the plan says otherwise.
pub const MAX_STREAMS: u32 = 100;

/// The least time a gRPC client waits past a call's deadline for the proxy's answer.
const DEADLINE_GRACE_MIN: Duration = Duration::from_millis(5);

type Sender = SendRequest<Full<Bytes>>;

async fn connect(target: SocketAddr, timeout: Duration) -> Result<Sender, FailureKind> {
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) | Err(_) => return Err(FailureKind::Connect),
    };
    let _ = tcp.set_nodelay(true);
    let handshake = Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(tcp));
    let (sender, conn) = handshake.await.map_err(|_| FailureKind::Connect)?;
    tokio::task::spawn_local(async move {
        if let Err(e) = conn.await {
            tracing::debug!("h2 load connection ended: {e}");
        }
    });
    Ok(sender)
}

fn request(r: &H2Request) -> http::Request<Full<Bytes>> {
    let mut req = http::Request::new(Full::new(r.body.clone()));
    *req.method_mut() = r.method.clone();
    *req.uri_mut() = r.uri.clone();
    *req.headers_mut() = r.headers.clone();
    req
}

pub(super) fn hyper_failure(e: &hyper::Error) -> FailureKind {
    if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        FailureKind::Protocol
    } else if e.is_user() {
        FailureKind::Other
    } else {
        // Closed, canceled, incomplete, RST_STREAM, GOAWAY: the stream did not finish.
        FailureKind::Reset
    }
}

/// How a stream ends: its timeout, and for gRPC how its status is read.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    timeout: Duration,
    /// gRPC: read `grpc-status`; with a deadline, give up at it as `DEADLINE_EXCEEDED`.
    grpc: Option<Option<Duration>>,
}

impl Exchange {
    fn of(plan: &super::plan::Prepared) -> Self {
        // The client waits a little past the deadline, so that when a proxy enforces the
        // deadline (Envoy answers `DEADLINE_EXCEEDED` itself) its answer is what is
        // counted; when nothing answers, the client's own give-up counts the same.
        let grace = |d: Duration| d + (d / 10).max(DEADLINE_GRACE_MIN);
        Self {
            timeout: plan.timeout,
            grpc: (plan.protocol == super::plan::Protocol::Grpc)
                .then_some(plan.grpc_deadline.map(grace)),
        }
    }
}

/// One stream: the response head and its whole body (drained, not kept), within `timeout`.
async fn stream(
    response: impl Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>>,
    clock: Clock,
    how: Exchange,
    seq: u64,
    mut sample: Sample,
) -> (u64, Sample) {
    let exchange = async {
        let resp = response.await.map_err(|e| hyper_failure(&e))?;
        if how.grpc.is_some() {
            return super::grpc::status(resp).await;
        }
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|e| hyper_failure(&e))?;
        }
        Ok(status)
    };
    // A gRPC client gives up at its deadline, and that is the call's status.
    let (limit, expired) = match how.grpc {
        Some(Some(deadline)) if deadline < how.timeout => (
            deadline,
            Ok(u16::from(gauntlet_mocks::grpc::DEADLINE_EXCEEDED)),
        ),
        _ => (how.timeout, Err(FailureKind::Timeout)),
    };
    sample.result = tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or(expired);
    sample.end = clock.now();
    (seq, sample)
}

/// Intended times of the streams in flight, oldest first, for the watermark.
struct InFlight {
    base: u64,
    slots: VecDeque<(u64, bool)>,
}

impl InFlight {
    fn push(&mut self, intended: u64) -> u64 {
        self.slots.push_back((intended, false));
        self.base + self.slots.len() as u64 - 1
    }

    fn done(&mut self, seq: u64) {
        if let Some(s) = seq
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.slots.get_mut(i))
        {
            s.1 = true;
        }
        while self.slots.front().is_some_and(|s| s.1) {
            self.slots.pop_front();
            self.base += 1;
        }
    }

    fn oldest(&self) -> Option<u64> {
        self.slots.front().map(|s| s.0)
    }
}

/// Counts the open-loop backlog as unsent; `busy` says whether the connection was busy when
/// a request scheduled at the given time came due.
fn stop_schedule(ctx: &WorkerCtx, pacer: &Pacer, busy: impl Fn(u64) -> bool) {
    if let (Pacer::Open(s), Some(scheduled)) = (pacer, pacer.next(0)) {
        let mut rec = ctx.recorder.borrow_mut();
        let measured = s.remaining(rec.warmup_end());
        rec.unsent(measured, busy(scheduled));
    }
}

/// Drives one HTTP/2 connection for the whole step (see the module docs).
pub(crate) async fn connection(ctx: Rc<WorkerCtx>, spec: ConnSpec) {
    let plan = ctx.plan.clone();
    let clock = ctx.clock;
    let state = &ctx.conns[spec.slot];
    let how = Exchange::of(&plan);
    let cap = match plan.mode {
        Mode::Open { .. } => plan.streams,
        Mode::Closed { .. } => plan.closed_streams(spec.index),
    } as usize;
    let mut pacer = ctx.pacer(&spec);
    let open = pacer.is_open();
    let mut backoff = Backoff::default();
    let mut sender = connect(spec.target, plan.timeout).await.ok();
    let mut streams = FuturesUnordered::new();
    let mut in_flight = InFlight {
        base: 0,
        slots: VecDeque::with_capacity(cap),
    };
    let mut stopped = false;
    // When the connection last stopped being full: requests due before it waited on it.
    let mut free_at = 0u64;
    ctx.timer.sleep_until(spec.slot, 0).await;
    loop {
        // Open loop: once the step is over, whatever is still due is never sent.
        if open && !stopped && clock.now() >= plan.end_ns() {
            let full = streams.len() >= cap;
            stop_schedule(&ctx, &pacer, |scheduled| full || free_at > scheduled);
            stopped = true;
        }
        // Send everything that is due and fits.
        while !stopped && streams.len() < cap {
            let now = clock.now();
            let Some(scheduled) = pacer.next(now) else {
                break;
            };
            if open && now >= plan.end_ns() {
                stop_schedule(&ctx, &pacer, |scheduled| free_at > scheduled);
                stopped = true;
                break;
            }
            if scheduled > now {
                break;
            }
            pacer.advance();
            let intended = if open { scheduled } else { now };
            let mut sample = Sample {
                intended,
                start: now,
                end: now,
                result: Err(FailureKind::Connect),
                sent: false,
                pacing: open.then(|| Pacing {
                    busy: free_at > intended,
                    own_late: now.saturating_sub(intended.max(free_at)),
                }),
            };
            if sender.as_ref().is_some_and(|s| s.is_closed()) {
                sender = None;
            }
            let live = match sender.as_mut() {
                Some(s) => s,
                None if open && now < backoff.retry_at => {
                    ctx.record(&sample);
                    continue;
                }
                None => match connect(spec.target, plan.timeout).await {
                    Ok(s) => {
                        backoff.succeeded();
                        sender.insert(s)
                    }
                    Err(kind) => {
                        sample.end = clock.now();
                        sample.result = Err(kind);
                        ctx.record(&sample);
                        let delay = backoff.failed(sample.end);
                        if !open {
                            tokio::time::sleep(delay).await;
                        }
                        continue;
                    }
                },
            };
            sample.sent = true;
            let seq = in_flight.push(intended);
            let response = live.send_request(request(&plan.h2));
            streams.push(stream(response, clock, how, seq, sample));
        }
        let now = clock.now();
        let next = if stopped { None } else { pacer.next(now) };
        let oldest = in_flight.oldest().unwrap_or(u64::MAX);
        state.watermark.set(oldest.min(next.unwrap_or(u64::MAX)));
        if next.is_none() && streams.is_empty() {
            break;
        }
        let wake_at = next.filter(|_| streams.len() < cap);
        tokio::select! {
            biased;
            Some((seq, sample)) = streams.next(), if !streams.is_empty() => {
                if streams.len() + 1 == cap {
                    free_at = sample.end;
                }
                in_flight.done(seq);
                ctx.record(&sample);
            }
            () = ctx.timer.sleep_until(spec.slot, wake_at.unwrap_or(0)), if wake_at.is_some() => {}
        }
    }
    state.watermark.set(u64::MAX);
}
