//! The load generator: the measuring instrument.
//!
//! [`run`] takes a [`LoadPlan`] (plain data) and returns a [`LoadOutcome`] (plain data):
//! coordinated-omission-corrected and uncorrected latency, counts by status and failure kind,
//! one [`WindowReport`] per second (streamed live to an optional channel), and a verdict on
//! whether the client itself was the bottleneck.
//!
//! # Shape
//! - `plan`: validation; the HTTP/1.1 request bytes are built once here.
//! - `worker`: one OS thread per worker, each a current-thread runtime with its share of the
//!   connections, a precise timer (`timer`) and a housekeeping task (timeouts, window flush).
//! - `http1` (hand-written client) and `http2` (hyper): one task per connection, paced by
//!   `schedule` (open loop) or by completions (closed loop).
//! - `grpc`: unary gRPC on the HTTP/2 path: headers added once, `grpc-status` read from
//!   the trailers; a call's gRPC code (0..=16) is recorded as its status.
//! - `record`: per-worker histograms and counters; `aggregate`: merges windows and totals;
//!   `compact`: a finished window's latency as the result stores it (no live histogram kept);
//!   `saturation`: the client-bound verdict.
//!
//! # Measurement rules
//! - Open loop: every connection has a fixed schedule; a request's latency counts from its
//!   intended send time even when a busy connection or a slow client sent it late
//!   (`corrected`), and from the actual send time (`uncorrected`).
//! - A request belongs to the window of its intended send time; those intended during the
//!   warmup are excluded from the totals, so the measured windows add up to the totals.
//! - Failed requests are counted by kind, never returned as errors; latency histograms hold
//!   responses of any status.
//! - Open loop, HTTP/1.1: requests still queued behind a busy connection when the step ends
//!   are counted as `unsent`, not sent late.
//!
//! # Architecture invariants
//! - Load workers never lock and, on the HTTP/1.1 path, never allocate per request.
//! - Nothing here knows about Envoy or scenarios.

mod aggregate;
mod compact;
mod grpc;
mod http1;
mod http2;
mod outcome;
mod plan;
mod record;
mod saturation;
mod schedule;
mod timer;
mod window;
mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

pub use self::compact::{encode_histogram, WindowLatency};
pub use self::http2::MAX_STREAMS;
pub use self::outcome::{
    latency_histogram, FailureKind, Failures, LoadOutcome, Saturation, StatusCounts, WindowReport,
    HISTOGRAM_MAX_US, HISTOGRAM_SIGFIG,
};
pub use self::plan::{LoadError, LoadPlan, Mode, Protocol, RequestTemplate};
pub use self::saturation::{CPU_LIMIT, OWN_LATENESS_P99_LIMIT_US, SHORTFALL_LIMIT};

use self::aggregate::Aggregator;
use self::record::{WorkerMsg, WorkerTotals};
use self::timer::Clock;
use self::window::Windows;
use self::worker::{ConnSpec, Worker};

/// Time between `run` being called and the step start, for threads to start and connect.
const LEAD: Duration = Duration::from_millis(25);

/// Runs the plan to its end or until `cancel`, sending each finished window to `progress`.
///
/// Returns the outcome measured so far when cancelled (`cancelled: true`); `Err` only when the
/// plan is invalid or a worker cannot start. Every request is bounded by the plan's timeout,
/// so the run ends at most one timeout after its schedule.
pub async fn run(
    plan: LoadPlan,
    cancel: CancellationToken,
    progress: Option<UnboundedSender<WindowReport>>,
) -> Result<LoadOutcome, LoadError> {
    let start = plan.start_at;
    let plan = Arc::new(plan::prepare(plan)?);
    let windows = Windows::new(plan.warmup_ns, plan.duration_ns);
    let runtimes = (0..plan.workers)
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let now = Instant::now();
    let start = start.filter(|s| *s >= now).unwrap_or(now + LEAD);
    let clock = Clock::new(start);
    let started_at = SystemTime::now() + (start - now);
    let stop = cancel.child_token();
    // Workers stop with the run, also when the caller drops this future.
    let _stop_on_drop = stop.clone().drop_guard();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut specs: Vec<Vec<ConnSpec>> = vec![Vec::new(); plan.workers];
    for index in 0..plan.connections {
        let conns = &mut specs[index as usize % plan.workers];
        conns.push(ConnSpec {
            slot: conns.len(),
            index,
            target: plan.targets[index as usize % plan.targets.len()],
        });
    }
    let mut threads = Vec::with_capacity(plan.workers);
    for (id, (runtime, conns)) in runtimes.into_iter().zip(specs).enumerate() {
        let worker = Worker {
            id,
            runtime,
            plan: plan.clone(),
            clock,
            conns,
            tx: tx.clone(),
            cancel: stop.clone(),
        };
        match worker.spawn() {
            Ok(t) => threads.push(t),
            Err(e) => {
                stop.cancel();
                return Err(e.into());
            }
        }
    }
    drop(tx);

    let mut agg = Aggregator::new(windows, plan.workers, progress);
    let mut cancelled_at = None;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(WorkerMsg::Window(part)) => agg.window(part),
                Some(WorkerMsg::Done(totals)) => agg.worker_done(*totals),
                None => break,
            },
            () = cancel.cancelled(), if cancelled_at.is_none() => {
                cancelled_at = Some(clock.now());
            }
        }
    }
    let panicked = tokio::task::spawn_blocking(move || {
        threads.into_iter().filter_map(|t| t.join().err()).count()
    })
    .await
    .unwrap_or(0);
    if agg.finished_workers() < plan.workers {
        return Err(LoadError::WorkerFailed(format!(
            "{} of {} workers ended without reporting ({panicked} panicked)",
            plan.workers - agg.finished_workers(),
            plan.workers
        )));
    }
    let stopped_early = cancelled_at.filter(|&t| t < plan.end_ns());
    let measured_ns = match stopped_early {
        Some(t) => t.saturating_sub(plan.warmup_ns).min(plan.duration_ns),
        None => plan.duration_ns,
    };
    let (windows, corrected, totals) = agg.finish();
    Ok(outcome(
        &plan,
        started_at,
        Duration::from_nanos(measured_ns),
        stopped_early.is_some(),
        Measured { windows, corrected },
        totals,
    ))
}

/// The aggregator's windows (compact) and the merged corrected latency of the measured ones.
struct Measured {
    windows: Vec<WindowReport>,
    corrected: hdrhistogram::Histogram<u64>,
}

/// Adds up the measured windows and the workers' totals.
fn outcome(
    plan: &plan::Prepared,
    started_at: SystemTime,
    elapsed: Duration,
    cancelled: bool,
    measured: Measured,
    totals: Vec<WorkerTotals>,
) -> LoadOutcome {
    let Measured { windows, corrected } = measured;
    let mut responses = StatusCounts::default();
    let mut failures = Failures::default();
    let mut requests_sent = 0;
    for w in windows.iter().filter(|w| !w.warmup) {
        responses.merge(&w.responses);
        failures.merge(&w.failures);
        requests_sent += w.sent;
    }
    let mut uncorrected = latency_histogram(0);
    let mut lateness = latency_histogram(0);
    let mut own_lateness = latency_histogram(0);
    let (mut scheduled, mut busy, mut unsent, mut unsent_client) = (0, 0, 0, 0);
    let mut cpu_per_worker = vec![];
    for t in &totals {
        let _ = uncorrected.add(&t.uncorrected);
        let _ = lateness.add(&t.lateness);
        let _ = own_lateness.add(&t.own_lateness);
        scheduled += t.scheduled;
        busy += t.busy;
        unsent += t.unsent;
        unsent_client += t.unsent_client;
        cpu_per_worker.extend(t.cpu);
    }
    let (client_bound, saturation) = saturation::assess(saturation::Evidence {
        open_loop: matches!(plan.mode, Mode::Open { .. }),
        own_lateness: &own_lateness,
        scheduled,
        sent: requests_sent,
        busy,
        unsent_client,
        cpu_per_worker,
    });
    let seconds = elapsed.as_secs_f64();
    LoadOutcome {
        started_at,
        elapsed,
        cancelled,
        connections: plan.connections,
        workers: plan.workers,
        achieved_rps: if seconds > 0.0 {
            responses.total() as f64 / seconds
        } else {
            0.0
        },
        corrected,
        uncorrected,
        lateness,
        requests_sent,
        responses,
        failures,
        unsent,
        windows,
        client_bound,
        saturation,
    }
}
