//! Per-worker recording: each worker owns its histograms and counters (no lock, no shared
//! atomics per request) and hands finished windows to the aggregator about once a second.
//!
//! A window is finished when no connection of the worker can still record into it: every
//! connection publishes a *watermark*, the intended time of its oldest unfinished request
//! (or of its next one when idle), and a window closes once it ends before all watermarks.
//! That keeps windows exact (a request lands in the window of its intended time even when it
//! completes seconds later) at the cost of progress lagging behind a backlog.

use std::collections::VecDeque;

use hdrhistogram::Histogram;
use tokio::sync::mpsc::UnboundedSender;

use super::outcome::{latency_histogram, record_us, FailureKind, Failures, StatusCounts};
use super::window::Windows;

/// Status codes are three digits; anything else never gets past the parser.
const STATUS_SLOTS: usize = 1000;

/// What happened to one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Intended send time (open loop: the schedule; closed loop: `start`), ns.
    pub intended: u64,
    /// When the client began the request (before a reconnect, if one was needed), ns.
    pub start: u64,
    /// When the response was complete or the failure known, ns.
    pub end: u64,
    /// The status code, or why there is none.
    pub result: Result<u16, FailureKind>,
    /// The request was written (a connect failure is not).
    pub sent: bool,
    /// Open loop only: how the send related to the schedule.
    pub pacing: Option<Pacing>,
}

/// Open-loop facts about one send.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pacing {
    /// The intended time passed while the connection was still busy.
    pub busy: bool,
    /// Lateness the client caused itself: start minus the later of the intended time and the
    /// moment the connection became free, ns.
    pub own_late: u64,
}

/// A worker's share of one window, as sent to the aggregator.
#[derive(Debug)]
pub(crate) struct WindowPart {
    pub index: u32,
    pub sent: u64,
    pub responses: StatusCounts,
    pub failures: Failures,
    pub latency: Histogram<u64>,
}

/// A worker's totals for the measured part, sent once at the end.
#[derive(Debug)]
pub(crate) struct WorkerTotals {
    pub uncorrected: Histogram<u64>,
    pub lateness: Histogram<u64>,
    pub own_lateness: Histogram<u64>,
    /// Open loop: scheduled requests in the measured part (recorded or left unsent).
    pub scheduled: u64,
    /// Open loop: of those, due while their connection was busy.
    pub busy: u64,
    /// Open loop: due before the end but never sent.
    pub unsent: u64,
    /// Of `unsent`, those whose connection was idle, not busy, when the step ended.
    pub unsent_client: u64,
    /// This worker thread's CPU time / wall time.
    pub cpu: Option<f64>,
}

impl WorkerTotals {
    fn empty() -> Self {
        Self {
            uncorrected: latency_histogram(0),
            lateness: latency_histogram(0),
            own_lateness: latency_histogram(0),
            scheduled: 0,
            busy: 0,
            unsent: 0,
            unsent_client: 0,
            cpu: None,
        }
    }
}

/// Messages from a worker to the aggregator.
#[derive(Debug)]
pub(crate) enum WorkerMsg {
    Window(WindowPart),
    Done(Box<WorkerTotals>),
}

struct WindowAcc {
    sent: u64,
    status: Box<[u64; STATUS_SLOTS]>,
    failures: Failures,
    latency: Histogram<u64>,
}

/// A worker's recorder.
pub(crate) struct Recorder {
    windows: Windows,
    warmup_end: u64,
    /// Index of `open[0]`.
    first_open: u32,
    open: VecDeque<WindowAcc>,
    /// Largest latency seen, to size new window histograms so they rarely grow.
    hint_us: u64,
    totals: WorkerTotals,
    tx: UnboundedSender<WorkerMsg>,
}

impl Recorder {
    pub fn new(windows: Windows, warmup_ns: u64, tx: UnboundedSender<WorkerMsg>) -> Self {
        Self {
            windows,
            warmup_end: warmup_ns,
            first_open: 0,
            open: VecDeque::with_capacity(4),
            hint_us: 0,
            totals: WorkerTotals::empty(),
            tx,
        }
    }

    /// Records one request. No allocation unless it opens a new window (once a second).
    pub fn record(&mut self, s: &Sample) {
        let latency_us = s.end.saturating_sub(s.intended) / 1000;
        let w = self.window(self.windows.index_of(s.intended));
        w.sent += u64::from(s.sent);
        match s.result {
            Ok(code) => {
                w.status[usize::from(code) % STATUS_SLOTS] += 1;
                record_us(&mut w.latency, latency_us);
            }
            Err(kind) => w.failures.add(kind),
        }
        if s.intended < self.warmup_end {
            return;
        }
        let t = &mut self.totals;
        if s.result.is_ok() {
            record_us(&mut t.uncorrected, s.end.saturating_sub(s.start) / 1000);
        }
        if let Some(p) = s.pacing {
            t.scheduled += 1;
            t.busy += u64::from(p.busy);
            if s.sent {
                record_us(&mut t.lateness, s.start.saturating_sub(s.intended) / 1000);
                record_us(&mut t.own_lateness, p.own_late / 1000);
            }
        }
    }

    /// Open loop: requests due before the end that were never sent. Those due in the warmup
    /// are not counted, like every other warmup request.
    pub fn unsent(&mut self, measured: u64, connection_busy: bool) {
        let t = &mut self.totals;
        t.unsent += measured;
        t.scheduled += measured;
        if connection_busy {
            t.busy += measured;
        } else {
            t.unsent_client += measured;
        }
    }

    /// Start of the measured part, ns.
    pub fn warmup_end(&self) -> u64 {
        self.warmup_end
    }

    /// Hands over every window that ends at or before `t`.
    pub fn flush_until(&mut self, t: u64) {
        while self.first_open < self.windows.count() && self.windows.bounds(self.first_open).1 <= t
        {
            self.flush_first();
        }
    }

    /// Hands over every window up to the one holding `stop` (all of them when the step ran to
    /// its end), then the totals. The aggregator gets nothing more from this worker.
    pub fn finish(&mut self, stop: u64, cpu: Option<f64>) {
        let last_open = (self.first_open + self.open.len() as u32).saturating_sub(1);
        let last = self.windows.index_of(stop).max(last_open);
        while self.first_open <= last && self.first_open < self.windows.count() {
            self.flush_first();
        }
        let mut totals = std::mem::replace(&mut self.totals, WorkerTotals::empty());
        totals.cpu = cpu;
        let _ = self.tx.send(WorkerMsg::Done(Box::new(totals)));
    }

    fn flush_first(&mut self) {
        let index = self.first_open;
        let acc = match self.open.pop_front() {
            Some(acc) => acc,
            None => self.new_window(),
        };
        self.first_open += 1;
        self.hint_us = self.hint_us.max(acc.latency.max());
        let mut responses = StatusCounts::default();
        for (code, &n) in acc.status.iter().enumerate() {
            // `code` < 1000 always fits.
            responses.add(u16::try_from(code).unwrap_or(u16::MAX), n);
        }
        let part = WindowPart {
            index,
            sent: acc.sent,
            responses,
            failures: acc.failures,
            latency: acc.latency,
        };
        // The aggregator only goes away when the run is being torn down.
        let _ = self.tx.send(WorkerMsg::Window(part));
    }

    fn new_window(&self) -> WindowAcc {
        WindowAcc {
            sent: 0,
            status: Box::new([0; STATUS_SLOTS]),
            failures: Failures::default(),
            latency: latency_histogram(self.hint_us),
        }
    }

    fn window(&mut self, index: u32) -> &mut WindowAcc {
        // The watermarks guarantee no request lands in a flushed window; should one ever do,
        // it is counted in the oldest open window rather than lost.
        debug_assert!(index >= self.first_open, "window {index} already flushed");
        let offset = index.saturating_sub(self.first_open) as usize;
        while self.open.len() <= offset {
            let w = self.new_window();
            self.open.push_back(w);
        }
        &mut self.open[offset]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn sample(intended_ms: u64, latency_ms: u64, result: Result<u16, FailureKind>) -> Sample {
        Sample {
            intended: intended_ms * MS,
            start: intended_ms * MS,
            end: (intended_ms + latency_ms) * MS,
            result,
            sent: result != Err(FailureKind::Connect),
            pacing: Some(Pacing::default()),
        }
    }

    fn drain(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<WorkerMsg>,
    ) -> (Vec<WindowPart>, Option<Box<WorkerTotals>>) {
        let mut windows = vec![];
        let mut totals = None;
        while let Ok(m) = rx.try_recv() {
            match m {
                WorkerMsg::Window(w) => windows.push(w),
                WorkerMsg::Done(t) => totals = Some(t),
            }
        }
        (windows, totals)
    }

    #[test]
    fn buckets_by_intended_time() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Warmup 1 s, measured 2 s: windows 0 (warmup), 1, 2.
        let mut r = Recorder::new(Windows::new(1000 * MS, 2000 * MS), 1000 * MS, tx);
        r.record(&sample(999, 5000, Ok(200))); // late response still lands in its window
        r.record(&sample(1000, 3, Ok(503)));
        r.record(&sample(1500, 3, Err(FailureKind::Timeout)));
        r.record(&sample(2999, 1, Err(FailureKind::Connect)));
        r.flush_until(1999 * MS);
        let (early, _) = drain(&mut rx);
        assert_eq!(early.len(), 1, "only window 0 has ended");
        r.finish(u64::MAX, Some(0.5));
        let (rest, totals) = drain(&mut rx);
        let w: Vec<_> = early.into_iter().chain(rest).collect();
        assert_eq!(w.iter().map(|w| w.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!((w[0].sent, w[0].responses.get(200)), (1, 1));
        assert!(
            w[0].latency.equivalent(w[0].latency.max(), 5_000_000),
            "latency from the intended time"
        );
        assert_eq!(
            (w[1].sent, w[1].responses.get(503), w[1].failures.timeout),
            (2, 1, 1)
        );
        assert_eq!((w[2].sent, w[2].failures.connect), (0, 1));
        let t = totals.unwrap();
        assert_eq!(
            t.uncorrected.len(),
            1,
            "warmup requests are not in the totals"
        );
        assert_eq!(t.scheduled, 3);
        assert_eq!(
            t.lateness.len(),
            2,
            "lateness only for requests that were sent"
        );
        assert_eq!(t.cpu, Some(0.5));
    }

    #[test]
    fn cancelled_runs_flush_up_to_the_stop() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut r = Recorder::new(Windows::new(0, 10_000 * MS), 0, tx);
        r.finish(2500 * MS, None);
        let (w, totals) = drain(&mut rx);
        assert_eq!(w.len(), 3, "windows 0, 1 and the partial window 2");
        assert!(totals.is_some());
    }

    #[test]
    fn unsent_requests_are_split_by_cause() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut r = Recorder::new(Windows::new(0, 1000 * MS), 0, tx);
        r.unsent(5, true);
        r.unsent(2, false);
        assert_eq!(
            (
                r.totals.unsent,
                r.totals.unsent_client,
                r.totals.busy,
                r.totals.scheduled
            ),
            (7, 2, 5, 7)
        );
    }
}
