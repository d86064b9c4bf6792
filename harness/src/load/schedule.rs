//! The open-loop schedule of one connection.
//!
//! Each connection sends at `rate / connections` with intended times
//! `offset + k · interval`; the offsets stagger the connections evenly across one interval,
//! so together they send every `1 / rate` seconds instead of in bursts. Times are computed
//! from `k` each time (never accumulated), so rounding cannot drift.

/// Intended send times of one connection, in nanoseconds from the step start.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    offset: f64,
    interval: f64,
    end: u64,
    next: u64,
}

impl Schedule {
    /// Connection `index` of `connections`, sharing `rate` requests per second in total,
    /// sending while intended times are before `end_ns`.
    pub fn new(rate: f64, connections: u32, index: u32, end_ns: u64) -> Self {
        let interval = 1e9 * f64::from(connections) / rate;
        Self {
            offset: interval * f64::from(index) / f64::from(connections),
            interval,
            end: end_ns,
            next: 0,
        }
    }

    /// Intended time of request `k`.
    pub fn intended(&self, k: u64) -> u64 {
        // f64 to u64 saturates; schedules are far shorter than 2^53 ns anyway.
        (self.offset + k as f64 * self.interval).round() as u64
    }

    /// The next request's intended time, or `None` when the schedule is over.
    pub fn peek(&self) -> Option<u64> {
        let t = self.intended(self.next);
        (t < self.end).then_some(t)
    }

    /// Moves to the next request.
    pub fn advance(&mut self) {
        self.next += 1;
    }

    /// Requests still due at or after `since` and before the end (the backlog when the
    /// step stops).
    pub fn remaining(&self, since: u64) -> u64 {
        let mut n = 0;
        let mut k = self.next;
        // Usually a handful; counted exactly rather than by a division that might round.
        while self.intended(k) < self.end {
            n += u64::from(self.intended(k) >= since);
            k += 1;
        }
        n
    }
}

/// When a connection sends its next request.
#[derive(Debug, Clone)]
pub(crate) enum Pacer {
    /// At the schedule's intended times.
    Open(Schedule),
    /// As soon as possible, until `end`.
    Closed { end: u64 },
}

impl Pacer {
    /// Intended time of the next request given the time `now`, or `None` when done.
    pub fn next(&self, now: u64) -> Option<u64> {
        match self {
            Pacer::Open(s) => s.peek(),
            Pacer::Closed { end } => (now < *end).then_some(now),
        }
    }

    /// The request returned by `next` has been taken.
    pub fn advance(&mut self) {
        if let Pacer::Open(s) = self {
            s.advance();
        }
    }

    /// Open loop.
    pub fn is_open(&self) -> bool {
        matches!(self, Pacer::Open(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn all(mut s: Schedule) -> Vec<u64> {
        let mut out = vec![];
        while let Some(t) = s.peek() {
            out.push(t);
            s.advance();
        }
        out
    }

    #[test]
    fn intended_times_are_evenly_spaced() {
        // 100 rps over 1 connection: every 10 ms for 100 ms.
        let times = all(Schedule::new(100.0, 1, 0, 100 * MS));
        assert_eq!(times, (0..10).map(|k| k * 10 * MS).collect::<Vec<_>>());
    }

    #[test]
    fn connections_are_staggered_across_one_interval() {
        // 400 rps over 4 connections: each every 10 ms, offsets 0, 2.5, 5, 7.5 ms.
        let firsts: Vec<u64> = (0..4)
            .map(|i| Schedule::new(400.0, 4, i, 10 * MS).intended(0))
            .collect();
        assert_eq!(firsts, [0, 2_500_000, 5 * MS, 7_500_000]);
        // Together they send exactly every 2.5 ms.
        let mut merged: Vec<u64> = (0..4)
            .flat_map(|i| all(Schedule::new(400.0, 4, i, 1000 * MS)))
            .collect();
        merged.sort_unstable();
        assert_eq!(merged.len(), 400);
        assert!(merged.windows(2).all(|w| w[1] - w[0] == 2_500_000));
    }

    #[test]
    fn no_drift_with_awkward_rates() {
        // 3 rps: 333,333,333.3 ns intervals; the 3000th request lands at 1000 s, not earlier.
        let s = Schedule::new(3.0, 1, 0, u64::MAX);
        assert_eq!(s.intended(3000), 1_000_000_000_000);
        assert_eq!(all(Schedule::new(3.0, 1, 0, 2_000 * MS)).len(), 6);
    }

    #[test]
    fn remaining_counts_the_backlog() {
        let mut s = Schedule::new(100.0, 1, 0, 100 * MS);
        assert_eq!(s.remaining(0), 10);
        assert_eq!(s.remaining(50 * MS), 5, "only those due after the warmup");
        for _ in 0..7 {
            s.advance();
        }
        assert_eq!(s.remaining(0), 3);
        for _ in 0..5 {
            s.advance();
        }
        assert_eq!(s.remaining(0), 0);
        assert_eq!(s.peek(), None);
    }
}
