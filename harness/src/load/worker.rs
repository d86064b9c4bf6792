//! A worker: one OS thread running a current-thread runtime with its share of the
//! connections, a precise timer, and a housekeeping task that fires request timeouts and
//! hands finished windows to the aggregator.
//!
//! Architecture invariant: workers never lock. Everything a connection touches per request
//! lives in this worker's `WorkerCtx` (`Cell`/`RefCell` in a single-threaded runtime); the
//! only cross-thread traffic is a channel message per window (about one a second) and one at
//! the end.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{JoinSet, LocalSet};
use tokio_util::sync::CancellationToken;

use super::plan::{Mode, Prepared, Protocol};
use super::record::{Recorder, Sample, WorkerMsg};
use super::saturation::thread_cpu_time;
use super::schedule::{Pacer, Schedule};
use super::timer::{Clock, HrTimer};
use super::window::Windows;
use super::{http1, http2};

/// How often windows are handed over.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One connection this worker drives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSpec {
    /// Position among this worker's connections (its timer and state slot).
    pub slot: usize,
    /// Position among all connections (its schedule's stagger).
    pub index: u32,
    pub target: SocketAddr,
}

/// Per-connection state the housekeeping task reads.
pub(crate) struct ConnState {
    /// Lower bound of the intended time of anything this connection will still record, ns.
    pub watermark: Cell<u64>,
    /// When the request in flight times out, ns; `u64::MAX` when none (HTTP/1.1 only).
    pub deadline: Cell<u64>,
    waker: RefCell<Option<Waker>>,
}

/// Everything the connections of one worker share.
pub(crate) struct WorkerCtx {
    pub plan: Arc<Prepared>,
    pub clock: Clock,
    pub timer: HrTimer,
    pub recorder: RefCell<Recorder>,
    pub conns: Vec<ConnState>,
}

impl WorkerCtx {
    /// Records one finished request.
    pub fn record(&self, sample: &Sample) {
        self.recorder.borrow_mut().record(sample);
    }

    /// The pacing of connection `spec`.
    pub fn pacer(&self, spec: &ConnSpec) -> Pacer {
        match self.plan.mode {
            Mode::Open { rate } => Pacer::Open(Schedule::new(
                rate,
                self.plan.connections,
                spec.index,
                self.plan.end_ns(),
            )),
            Mode::Closed { .. } => Pacer::Closed {
                end: self.plan.end_ns(),
            },
        }
    }

    /// Resolves when the deadline of connection `slot` has passed (checked by housekeeping
    /// every few milliseconds, so a timeout fires up to one tick late).
    pub fn timeout(&self, slot: usize) -> TimeoutFuture<'_> {
        TimeoutFuture { ctx: self, slot }
    }
}

/// See [`WorkerCtx::timeout`].
pub(crate) struct TimeoutFuture<'a> {
    ctx: &'a WorkerCtx,
    slot: usize,
}

impl Future for TimeoutFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let c = &self.ctx.conns[self.slot];
        if self.ctx.clock.now() >= c.deadline.get() {
            return Poll::Ready(());
        }
        let mut w = c.waker.borrow_mut();
        match w.as_ref() {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// A worker ready to start: its runtime is built by the caller so errors surface early.
pub(crate) struct Worker {
    pub id: usize,
    pub runtime: tokio::runtime::Runtime,
    pub plan: Arc<Prepared>,
    pub clock: Clock,
    pub conns: Vec<ConnSpec>,
    pub tx: UnboundedSender<WorkerMsg>,
    pub cancel: CancellationToken,
}

impl Worker {
    /// Starts the worker's thread. Its last act is a `WorkerMsg::Done`.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("gauntlet-load-{}", self.id))
            .spawn(move || {
                let local = LocalSet::new();
                let Worker {
                    runtime,
                    plan,
                    clock,
                    conns,
                    tx,
                    cancel,
                    ..
                } = self;
                local.block_on(&runtime, run(plan, clock, conns, tx, cancel));
            })
    }
}

async fn run(
    plan: Arc<Prepared>,
    clock: Clock,
    specs: Vec<ConnSpec>,
    tx: UnboundedSender<WorkerMsg>,
    cancel: CancellationToken,
) {
    let cpu_start = thread_cpu_time();
    let wall_start = Instant::now();
    let windows = Windows::new(plan.warmup_ns, plan.duration_ns);
    let ctx = Rc::new(WorkerCtx {
        clock,
        timer: HrTimer::new(clock, specs.len()),
        recorder: RefCell::new(Recorder::new(windows, plan.warmup_ns, tx)),
        conns: specs
            .iter()
            .map(|_| ConnState {
                watermark: Cell::new(0),
                deadline: Cell::new(u64::MAX),
                waker: RefCell::new(None),
            })
            .collect(),
        plan,
    });
    let driver = tokio::task::spawn_local({
        let ctx = ctx.clone();
        async move { ctx.timer.drive().await }
    });
    let housekeeping = tokio::task::spawn_local(housekeep(ctx.clone()));
    let mut connections = JoinSet::new();
    for spec in specs {
        let ctx = ctx.clone();
        match ctx.plan.protocol {
            Protocol::Http1 => connections.spawn_local(http1::connection(ctx, spec)),
            Protocol::Http2 | Protocol::Grpc => {
                connections.spawn_local(http2::connection(ctx, spec))
            }
        };
    }
    let cancelled = loop {
        tokio::select! {
            joined = connections.join_next() => match joined {
                None => break false,
                Some(Err(e)) if e.is_panic() => tracing::error!("load connection panicked: {e}"),
                Some(_) => {}
            },
            () = cancel.cancelled() => break true,
        }
    };
    // Dropping the tasks abandons requests in flight; they are neither counted nor late.
    connections.shutdown().await;
    driver.abort();
    housekeeping.abort();
    let _ = driver.await;
    let _ = housekeeping.await;
    let cpu = match (cpu_start, thread_cpu_time()) {
        (Some(a), Some(b)) => {
            let wall = wall_start.elapsed().as_secs_f64();
            (wall > 0.0).then(|| b.saturating_sub(a).as_secs_f64() / wall)
        }
        _ => None,
    };
    let stop = if cancelled { ctx.clock.now() } else { u64::MAX };
    ctx.recorder.borrow_mut().finish(stop, cpu);
}

/// Fires request timeouts every tick and hands over finished windows every 100 ms.
async fn housekeep(ctx: Rc<WorkerCtx>) {
    let tick = (ctx.plan.timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(10));
    let flush_every = (FLUSH_EVERY.as_nanos() / tick.as_nanos()).max(1);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u128 = 0;
    loop {
        interval.tick().await;
        let now = ctx.clock.now();
        for c in &ctx.conns {
            if now >= c.deadline.get() {
                if let Some(w) = c.waker.borrow_mut().take() {
                    w.wake();
                }
            }
        }
        ticks += 1;
        if ticks.is_multiple_of(flush_every) {
            let watermark = ctx
                .conns
                .iter()
                .map(|c| c.watermark.get())
                .min()
                .unwrap_or(u64::MAX);
            ctx.recorder.borrow_mut().flush_until(watermark.min(now));
        }
    }
}
