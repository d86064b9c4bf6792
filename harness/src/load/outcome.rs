//! What a load run measured: plain data for the result model and the renderers.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms track, in microseconds (one hour); larger values are
/// clamped to it.
pub const HISTOGRAM_MAX_US: u64 = 3_600_000_000;

/// Significant figures of every latency histogram.
pub const HISTOGRAM_SIGFIG: u8 = 3;

/// An empty auto-resizing latency histogram in microseconds (3 significant figures),
/// pre-sized for values up to `hint_us` so that recording rarely allocates.
pub fn latency_histogram(hint_us: u64) -> Histogram<u64> {
    // `Sum` of nothing is the crate's infallible constructor (auto-resizing, 3 figures).
    let mut h: Histogram<u64> = std::iter::empty().sum();
    let _ = h.record(hint_us.clamp(2_000, HISTOGRAM_MAX_US));
    h.reset();
    h
}

/// Records `value_us` (clamped to [`HISTOGRAM_MAX_US`]) into `h`.
pub(crate) fn record_us(h: &mut Histogram<u64>, value_us: u64) {
    let _ = h.record(value_us.min(HISTOGRAM_MAX_US));
}

/// The result of one load step.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// Wall-clock time of the step start (the beginning of the warmup).
    pub started_at: SystemTime,
    /// Length of the measured part (shorter than the plan's duration when cancelled).
    pub elapsed: Duration,
    /// The run was cancelled before its schedule ended.
    pub cancelled: bool,
    /// Connections actually opened (see [`super::LoadPlan::connections`]).
    pub connections: u32,
    /// Worker threads actually started.
    pub workers: usize,
    /// Latency from the intended send time, µs (coordinated-omission corrected); equal to
    /// `uncorrected` in closed loop. Responses of any status; failures are not in it.
    pub corrected: Histogram<u64>,
    /// Latency from the actual send time (including a reconnect when one was needed), µs.
    pub uncorrected: Histogram<u64>,
    /// Actual send time minus intended send time, µs (open loop; empty in closed loop).
    pub lateness: Histogram<u64>,
    /// Requests written to a connection in the measured part.
    pub requests_sent: u64,
    /// Responses by status code, measured part.
    pub responses: StatusCounts,
    /// Failed requests by kind, measured part.
    pub failures: Failures,
    /// Open loop: requests due before the end that were never sent because the schedule had
    /// fallen behind (connections busy, or the client slow) when the step ended.
    pub unsent: u64,
    /// Completed responses per second of the measured part.
    pub achieved_rps: f64,
    /// One window per second of the whole step, warmup included, in order. Requests are
    /// bucketed by intended send time, so the measured windows add up to the totals.
    pub windows: Vec<WindowReport>,
    /// The generator itself limited the load: its figures describe the client, not the target.
    pub client_bound: bool,
    /// The evidence behind `client_bound`.
    pub saturation: Saturation,
}

/// One second of the step (the first and last windows may be shorter).
#[derive(Debug, Clone)]
pub struct WindowReport {
    /// Position from the step start, from 0.
    pub index: u32,
    /// Offset of the window start from the step start.
    pub start: Duration,
    /// Window length: one second, or less at the edges of warmup and measured time.
    pub length: Duration,
    /// The window lies in the warmup.
    pub warmup: bool,
    /// Requests written whose intended send time falls in the window.
    pub sent: u64,
    /// Their responses by status code.
    pub responses: StatusCounts,
    /// Their failures by kind.
    pub failures: Failures,
    /// Their corrected latency, µs, compact: the live histogram is reduced as soon as the
    /// window is complete (see [`super::WindowLatency`]).
    pub latency: super::WindowLatency,
}

/// Response counts by status code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts(pub BTreeMap<u16, u64>);

impl StatusCounts {
    /// Responses with this status code.
    pub fn get(&self, code: u16) -> u64 {
        self.0.get(&code).copied().unwrap_or(0)
    }

    /// Responses of a class: `class(5)` counts 500..=599.
    pub fn class(&self, class: u16) -> u64 {
        self.0
            .range(class * 100..(class + 1) * 100)
            .map(|(_, n)| n)
            .sum()
    }

    /// All responses.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Adds `n` responses with `code`.
    pub fn add(&mut self, code: u16, n: u64) {
        if n > 0 {
            *self.0.entry(code).or_insert(0) += n;
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &StatusCounts) {
        for (&code, &n) in &other.0 {
            self.add(code, n);
        }
    }
}

/// How a request failed without a usable response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection could not be established (refused, unreachable, connect timeout).
    Connect,
    /// The connection was closed or reset before the response was complete.
    Reset,
    /// No complete response within the plan's timeout.
    Timeout,
    /// The response was malformed (bad head, bad framing, trailing bytes).
    Protocol,
    /// Anything else (an unexpected I/O error).
    Other,
}

/// Failure counts by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    /// See [`FailureKind::Connect`].
    pub connect: u64,
    /// See [`FailureKind::Reset`].
    pub reset: u64,
    /// See [`FailureKind::Timeout`].
    pub timeout: u64,
    /// See [`FailureKind::Protocol`].
    pub protocol: u64,
    /// See [`FailureKind::Other`].
    pub other: u64,
}

impl Failures {
    /// All failures.
    pub fn total(&self) -> u64 {
        self.connect + self.reset + self.timeout + self.protocol + self.other
    }

    /// Counts one failure.
    pub fn add(&mut self, kind: FailureKind) {
        *self.slot(kind) += 1;
    }

    /// Failures of one kind.
    pub fn get(&self, kind: FailureKind) -> u64 {
        match kind {
            FailureKind::Connect => self.connect,
            FailureKind::Reset => self.reset,
            FailureKind::Timeout => self.timeout,
            FailureKind::Protocol => self.protocol,
            FailureKind::Other => self.other,
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Failures) {
        self.connect += other.connect;
        self.reset += other.reset;
        self.timeout += other.timeout;
        self.protocol += other.protocol;
        self.other += other.other;
    }

    fn slot(&mut self, kind: FailureKind) -> &mut u64 {
        match kind {
            FailureKind::Connect => &mut self.connect,
            FailureKind::Reset => &mut self.reset,
            FailureKind::Timeout => &mut self.timeout,
            FailureKind::Protocol => &mut self.protocol,
            FailureKind::Other => &mut self.other,
        }
    }
}

/// Whether the generator kept up with its own schedule, and the figures that say so.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Saturation {
    /// Why the run is client-bound, in words; `None` when it is not.
    pub reason: Option<String>,
    /// p99 of the lateness the client caused itself, µs: how late a request was sent after
    /// both its intended time and its connection being free (timer slop, a busy worker).
    pub own_lateness_p99_us: u64,
    /// Maximum of that lateness, µs.
    pub own_lateness_max_us: u64,
    /// Open loop: requests the schedule asked for in the measured part.
    pub scheduled: u64,
    /// Open loop: requests sent / scheduled.
    pub send_ratio: Option<f64>,
    /// Open loop: fraction of scheduled requests whose intended time passed while their
    /// connection was still busy with earlier requests (a slow target or too few
    /// connections, not the client).
    pub connections_busy: f64,
    /// Open loop: requests left unsent at the end while their connection was idle (the client
    /// fell behind) rather than busy.
    pub unsent_client: u64,
    /// CPU time / wall time of each worker thread over the run (1.0 = a full core).
    pub cpu_per_worker: Vec<f64>,
}

impl Saturation {
    /// The busiest worker's CPU fraction, when it could be read.
    pub fn cpu_max(&self) -> Option<f64> {
        self.cpu_per_worker.iter().copied().reduce(f64::max)
    }
}
