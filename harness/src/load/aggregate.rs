//! The aggregator: merges the workers' window parts into whole windows (emitting each, in
//! order, as soon as every worker has handed in its part) and their totals into the outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::outcome::{latency_histogram, Failures, StatusCounts, WindowReport};
use super::record::{WindowPart, WorkerTotals};
use super::window::Windows;

/// Merged windows and totals of one run.
pub(crate) struct Aggregator {
    windows: Windows,
    workers: usize,
    /// Windows with parts from some workers: the merged window and how many parts it has.
    pending: BTreeMap<u32, (WindowReport, usize)>,
    next_emit: u32,
    done: Vec<WindowReport>,
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
            progress,
            totals: Vec::with_capacity(workers),
        }
    }

    /// Adds one worker's part of a window; emits the windows that are now complete.
    pub fn window(&mut self, part: WindowPart) {
        let windows = self.windows;
        let (w, parts) = self.pending.entry(part.index).or_insert_with(|| {
            let (start, end) = windows.bounds(part.index);
            let report = WindowReport {
                index: part.index,
                start: Duration::from_nanos(start),
                length: Duration::from_nanos(end - start),
                warmup: windows.is_warmup(part.index),
                sent: 0,
                responses: StatusCounts::default(),
                failures: Failures::default(),
                latency: latency_histogram(part.latency.max()),
            };
            (report, 0)
        });
        w.sent += part.sent;
        w.responses.merge(&part.responses);
        w.failures.merge(&part.failures);
        // Both histograms auto-resize, so adding cannot fail.
        let _ = w.latency.add(&part.latency);
        *parts += 1;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.next_emit || entry.get().1 < self.workers {
                break;
            }
            let (report, _) = entry.remove();
            self.emit(report);
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
    /// every window in order with the workers' totals.
    pub fn finish(mut self) -> (Vec<WindowReport>, Vec<WorkerTotals>) {
        for (_, (report, _)) in std::mem::take(&mut self.pending) {
            self.emit(report);
        }
        (self.done, self.totals)
    }

    fn emit(&mut self, report: WindowReport) {
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
        let (all, _) = a.finish();
        assert_eq!(all.iter().map(|w| w.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            rx.try_recv().unwrap().index,
            2,
            "finish emits what is pending"
        );
    }
}
