//! The aggregator: merges the workers' window parts into whole windows (emitting each, in
//! order, as soon as every worker has handed in its part) and their totals into the outcome.
//!
//! Only windows still waiting for a worker's part hold a live histogram. An emitted window
//! is reduced to its compact form at once (figures plus the serialized histogram) after its
//! latency is merged into the one running histogram of the measured part, so memory does not
//! grow by a live histogram per second of a long step.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::mpsc::UnboundedSender;

use super::compact::WindowLatency;
use super::outcome::{latency_histogram, Failures, StatusCounts, WindowReport};
use super::record::{WindowPart, WorkerTotals};
use super::window::Windows;

/// A window still receiving parts: its live merged histogram and how many parts it has.
struct Pending {
    report: WindowReport,
    latency: Histogram<u64>,
    parts: usize,
}

/// Merged windows and totals of one run.
pub(crate) struct Aggregator {
    windows: Windows,
    workers: usize,
    /// Windows with parts from some workers, by index.
    pending: BTreeMap<u32, Pending>,
    next_emit: u32,
    done: Vec<WindowReport>,
    /// Corrected latency of every emitted measured window, merged in emit order.
    measured: Histogram<u64>,
    progress: Option<UnboundedSender<WindowReport>>,
    totals: Vec<WorkerTotals>,
}

impl Aggregator {
    pub fn new(
        windows: Windows,
        workers: usize,
        progress: Option<UnboundedSender<WindowReport>>,
    ) -> Self {
        Self {
            windows,
            workers,
            pending: BTreeMap::new(),
            next_emit: 0,
            done: Vec::with_capacity(windows.count() as usize),
            measured: latency_histogram(0),
            progress,
            totals: Vec::with_capacity(workers),
        }
    }

    /// Adds one worker's part of a window; emits the windows that are now complete.
    pub fn window(&mut self, part: WindowPart) {
        let windows = self.windows;
        let p = self.pending.entry(part.index).or_insert_with(|| {
            let (start, end) = windows.bounds(part.index);
            let report = WindowReport {
                index: part.index,
                start: Duration::from_nanos(start),
                length: Duration::from_nanos(end - start),
                warmup: windows.is_warmup(part.index),
                sent: 0,
                responses: StatusCounts::default(),
                failures: Failures::default(),
                latency: WindowLatency::default(),
            };
            Pending {
                report,
                latency: latency_histogram(part.latency.max()),
                parts: 0,
            }
        });
        p.report.sent += part.sent;
        p.report.responses.merge(&part.responses);
        p.report.failures.merge(&part.failures);
        // Both histograms auto-resize, so adding cannot fail.
        let _ = p.latency.add(&part.latency);
        p.parts += 1;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.next_emit || entry.get().parts < self.workers {
                break;
            }
            let p = entry.remove();
            self.emit(p);
        }
    }

    /// A worker has finished.
    pub fn worker_done(&mut self, totals: WorkerTotals) {
        self.totals.push(totals);
    }

    /// Workers that have finished.
    pub fn finished_workers(&self) -> usize {
        self.totals.len()
    }

    /// Emits whatever is still pending (a worker died, or the run was cancelled) and returns
    /// every window in order, the merged corrected latency of the measured windows, and the
    /// workers' totals.
    pub fn finish(mut self) -> (Vec<WindowReport>, Histogram<u64>, Vec<WorkerTotals>) {
        for (_, p) in std::mem::take(&mut self.pending) {
            self.emit(p);
        }
        (self.done, self.measured, self.totals)
    }

    /// Heap bytes the emitted windows keep (their compact latency), for the memory bound.
    #[cfg(test)]
    fn retained_window_bytes(&self) -> usize {
        self.done.iter().map(|w| w.latency.retained_bytes()).sum()
    }

    /// Merges a complete window into the step's latency, reduces it, and drops its live
    /// histogram.
    fn emit(&mut self, p: Pending) {
        let Pending {
            mut report,
            latency,
            ..
        } = p;
        if !report.warmup {
            let _ = self.measured.add(&latency);
        }
        report.latency = WindowLatency::of(&latency);
        drop(latency);
        self.next_emit = report.index + 1;
        if let Some(p) = &self.progress {
            // The orchestrator may stop listening; the windows are in the outcome anyway.
            let _ = p.send(report.clone());
        }
        self.done.push(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(index: u32, sent: u64, latency_us: u64) -> WindowPart {
        let mut latency = latency_histogram(0);
        latency.record(latency_us).unwrap();
        let mut responses = StatusCounts::default();
        responses.add(200, sent);
        WindowPart {
            index,
            sent,
            responses,
            failures: Failures::default(),
            latency,
        }
    }

    #[test]
    fn emits_each_window_once_all_workers_report_in_order() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut a = Aggregator::new(Windows::new(1_000_000_000, 2_000_000_000), 2, Some(tx));
        a.window(part(1, 3, 100));
        a.window(part(0, 1, 100));
        assert!(
            rx.try_recv().is_err(),
            "window 0 waits for the second worker"
        );
        a.window(part(0, 2, 300));
        let w0 = rx.try_recv().unwrap();
        assert_eq!(
            (w0.index, w0.sent, w0.warmup, w0.latency.len()),
            (0, 3, true, 2)
        );
        assert!(rx.try_recv().is_err(), "window 1 still waits");
        a.window(part(1, 4, 100));
        let w1 = rx.try_recv().unwrap();
        assert_eq!(
            (w1.index, w1.sent, w1.responses.get(200), w1.warmup),
            (1, 7, 7, false)
        );
        assert_eq!(w1.start, Duration::from_secs(1));
        a.window(part(2, 1, 100));
        let (all, _, _) = a.finish();
        assert_eq!(all.iter().map(|w| w.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            rx.try_recv().unwrap().index,
            2,
            "finish emits what is pending"
        );
    }

    /// Ten minutes of windows with latencies up to 2 s: a live histogram of that range is
    /// tens of kilobytes, the compact window well under one.
    #[test]
    fn emitted_windows_keep_no_live_histogram() {
        let n = 600u32;
        let mut a = Aggregator::new(Windows::new(0, u64::from(n) * 1_000_000_000), 1, None);
        let mut live = 0;
        let mut expect = latency_histogram(0);
        for i in 0..n {
            let mut p = part(i, 1000, 100);
            for k in 0..1000u64 {
                // A spread of latencies from 100 µs to 2 s, different in every window.
                p.latency
                    .record(100 + (k * 2_003 + u64::from(i) * 7) % 2_000_000)
                    .unwrap();
            }
            live = live.max(p.latency.distinct_values() * std::mem::size_of::<u64>());
            expect.add(&p.latency).unwrap();
            a.window(p);
        }
        assert!(a.pending.is_empty(), "every window was emitted");
        let per_window = a.retained_window_bytes() / n as usize;
        assert!(live > 20_000, "a live window histogram spans {live} bytes");
        assert!(
            per_window < 4_000,
            "an emitted window keeps {per_window} bytes (a live one {live})"
        );
        let (windows, measured, _) = a.finish();
        assert_eq!(windows.len(), n as usize);
        assert_eq!(
            measured, expect,
            "the running total holds every measured window"
        );
        assert_eq!(windows[3].latency.len(), 1001);
        assert!(windows[3].latency.max_us >= 1_990_000);
    }
}
