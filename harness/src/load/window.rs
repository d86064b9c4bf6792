//! Window geometry: how the step's time is cut into one-second windows.
//!
//! Windows partition the warmup and the measured part separately, so the warmup boundary is
//! always a window boundary: warmup windows count back from the end of the warmup (the first
//! one may be shorter), measured windows count forward from it (the last one may be shorter).
//! A request belongs to the window holding its intended send time.

const SECOND: u64 = 1_000_000_000;

/// Window boundaries of one step; all times in nanoseconds from the step start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    warmup: u64,
    duration: u64,
}

impl Windows {
    pub fn new(warmup_ns: u64, duration_ns: u64) -> Self {
        Self {
            warmup: warmup_ns,
            duration: duration_ns,
        }
    }

    /// Windows in the warmup.
    pub fn warmup_count(&self) -> u32 {
        count(self.warmup)
    }

    /// Windows in the whole step.
    pub fn count(&self) -> u32 {
        self.warmup_count() + count(self.duration)
    }

    /// The window holding time `t`; times past the end belong to the last window.
    pub fn index_of(&self, t: u64) -> u32 {
        let nw = self.warmup_count();
        if t < self.warmup {
            // Window `k` from the end of the warmup holds (W - (k+1)s, W - ks].
            let back = (self.warmup - t).div_ceil(SECOND) - 1;
            nw - 1 - u32::try_from(back).unwrap_or(u32::MAX).min(nw - 1)
        } else {
            let forward = u32::try_from((t - self.warmup) / SECOND).unwrap_or(u32::MAX);
            nw.saturating_add(forward)
                .min(self.count().saturating_sub(1))
        }
    }

    /// Start and end of window `i`.
    pub fn bounds(&self, i: u32) -> (u64, u64) {
        let nw = self.warmup_count();
        if i < nw {
            let back = u64::from(nw - i);
            let start = self.warmup.saturating_sub(back * SECOND);
            (start, self.warmup - (back - 1) * SECOND)
        } else {
            let start = self.warmup + u64::from(i - nw) * SECOND;
            let end = (start + SECOND).min(self.warmup + self.duration);
            (start, end)
        }
    }

    /// Window `i` lies in the warmup.
    pub fn is_warmup(&self, i: u32) -> bool {
        i < self.warmup_count()
    }
}

fn count(ns: u64) -> u32 {
    u32::try_from(ns.div_ceil(SECOND)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn whole_seconds() {
        let w = Windows::new(2 * SECOND, 3 * SECOND);
        assert_eq!((w.warmup_count(), w.count()), (2, 5));
        let table = [
            (0, 0),
            (SECOND - 1, 0),
            (SECOND, 1),
            (2 * SECOND, 2),
            (5 * SECOND - 1, 4),
        ];
        for (t, i) in table {
            assert_eq!(w.index_of(t), i, "t = {t}");
        }
        assert_eq!(
            w.index_of(99 * SECOND),
            4,
            "past the end is the last window"
        );
        assert_eq!(w.bounds(0), (0, SECOND));
        assert_eq!(w.bounds(4), (4 * SECOND, 5 * SECOND));
        assert!(w.is_warmup(1) && !w.is_warmup(2));
    }

    #[test]
    fn fractional_warmup_and_duration() {
        // Warmup 1.5 s: windows [0, 0.5) [0.5, 1.5); measured 2.25 s: [1.5, 2.5) [2.5, 3.5) [3.5, 3.75).
        let w = Windows::new(1500 * MS, 2250 * MS);
        assert_eq!((w.warmup_count(), w.count()), (2, 5));
        let expect = [
            (0, 500 * MS),
            (500 * MS, 1500 * MS),
            (1500 * MS, 2500 * MS),
            (2500 * MS, 3500 * MS),
            (3500 * MS, 3750 * MS),
        ];
        for (i, b) in expect.iter().enumerate() {
            assert_eq!(w.bounds(i as u32), *b, "window {i}");
        }
        let table = [
            (0, 0),
            (499 * MS, 0),
            (500 * MS, 1),
            (1499 * MS, 1),
            (1500 * MS, 2),
            (3600 * MS, 4),
        ];
        for (t, i) in table {
            assert_eq!(w.index_of(t), i, "t = {t}");
        }
    }

    #[test]
    fn every_instant_falls_in_its_window() {
        let w = Windows::new(2300 * MS, 1700 * MS);
        for t in (0..4000 * MS).step_by(7 * MS as usize) {
            let i = w.index_of(t);
            let (s, e) = w.bounds(i);
            assert!(s <= t && t < e, "t {t} in window {i} = [{s}, {e})");
            assert_eq!(w.is_warmup(i), t < 2300 * MS);
        }
    }

    #[test]
    fn no_warmup() {
        let w = Windows::new(0, 1_500 * MS);
        assert_eq!((w.warmup_count(), w.count()), (0, 2));
        assert_eq!(w.index_of(0), 0);
        assert_eq!(w.bounds(1), (SECOND, 1_500 * MS));
    }
}
