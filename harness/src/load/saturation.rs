//! Is the client the bottleneck? Three signals, each enough on its own:
//!
//! 1. **Own lateness** (open loop): per request, how late it left after both its intended
//!    time and its connection being free. A healthy worker sends within ~50 µs; a p99 above
//!    [`OWN_LATENESS_P99_LIMIT_US`] means the worker could not keep its schedule.
//! 2. **Client shortfall** (open loop): requests left unsent at the end while their
//!    connection was idle, over [`SHORTFALL_LIMIT`] of the schedule. Requests that waited on a
//!    busy connection are the target's doing (or too few connections) and are reported as
//!    `connections_busy` instead.
//! 3. **CPU**: a worker thread using [`CPU_LIMIT`] of a core or more over the run. Measured per
//!    thread (not per process) so that mocks or the orchestrator in the same process do not
//!    count against the generator.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::outcome::Saturation;

/// Own-lateness p99 beyond which the run is client-bound, µs.
pub const OWN_LATENESS_P99_LIMIT_US: u64 = 1_000;
/// Fraction of the schedule left unsent by an idle client beyond which the run is client-bound.
pub const SHORTFALL_LIMIT: f64 = 0.05;
/// CPU fraction of one core per worker at which the run is client-bound.
pub const CPU_LIMIT: f64 = 0.9;

/// The figures `assess` judges.
#[derive(Debug)]
pub(crate) struct Evidence<'a> {
    pub open_loop: bool,
    pub own_lateness: &'a Histogram<u64>,
    pub scheduled: u64,
    pub sent: u64,
    pub busy: u64,
    pub unsent_client: u64,
    pub cpu_per_worker: Vec<f64>,
}

/// Judges whether the client limited the run; returns `(client_bound, saturation)`.
pub(crate) fn assess(e: Evidence<'_>) -> (bool, Saturation) {
    let mut reasons = vec![];
    let own_p99 = e.own_lateness.value_at_quantile(0.99);
    if e.open_loop && !e.own_lateness.is_empty() && own_p99 > OWN_LATENESS_P99_LIMIT_US {
        reasons.push(format!(
            "the generator sent requests late on its own (p99 {:.2} ms after the connection was free)",
            own_p99 as f64 / 1000.0
        ));
    }
    let ratio = |n: u64| {
        if e.scheduled == 0 {
            0.0
        } else {
            n as f64 / e.scheduled as f64
        }
    };
    if e.open_loop && ratio(e.unsent_client) > SHORTFALL_LIMIT {
        reasons.push(format!(
            "the generator left {:.1}% of the schedule unsent while connections were idle",
            100.0 * ratio(e.unsent_client)
        ));
    }
    for (i, cpu) in e.cpu_per_worker.iter().enumerate() {
        if *cpu >= CPU_LIMIT {
            reasons.push(format!(
                "load worker {i} used {:.0}% of a core",
                100.0 * cpu
            ));
        }
    }
    let saturation = Saturation {
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        own_lateness_p99_us: if e.own_lateness.is_empty() {
            0
        } else {
            own_p99
        },
        own_lateness_max_us: e.own_lateness.max(),
        scheduled: e.scheduled,
        send_ratio: (e.open_loop && e.scheduled > 0).then(|| ratio(e.sent)),
        connections_busy: ratio(e.busy),
        unsent_client: e.unsent_client,
        cpu_per_worker: e.cpu_per_worker,
    };
    (saturation.reason.is_some(), saturation)
}

/// CPU time of the calling thread so far: `/proc/thread-self/schedstat` (nanoseconds), or
/// utime + stime from `/proc/thread-self/stat` (clock ticks, USER_HZ = 100 on Linux).
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat") {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return Some(Duration::from_nanos(ns));
        }
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    ticks_from_stat(&stat).map(|t| Duration::from_millis(t * 10))
}

/// utime + stime (fields 14 and 15) of a `stat` line; the command name may hold spaces.
fn ticks_from_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::outcome::latency_histogram;

    fn lateness(values_us: &[u64]) -> Histogram<u64> {
        let mut h = latency_histogram(0);
        for v in values_us {
            h.record(*v).unwrap();
        }
        h
    }

    fn evidence(own: &Histogram<u64>) -> Evidence<'_> {
        Evidence {
            open_loop: true,
            own_lateness: own,
            scheduled: 1000,
            sent: 1000,
            busy: 0,
            unsent_client: 0,
            cpu_per_worker: vec![0.3, 0.4],
        }
    }

    #[test]
    fn a_punctual_client_is_not_bound() {
        let own = lateness(&[20; 1000]);
        let (bound, s) = assess(evidence(&own));
        assert!(!bound, "{s:?}");
        assert_eq!(s.reason, None);
        assert_eq!(s.send_ratio, Some(1.0));
        assert_eq!(s.own_lateness_p99_us, 20);
    }

    #[test]
    fn own_lateness_makes_it_bound() {
        let mut values = vec![20; 980];
        values.extend([5_000; 20]);
        let own = lateness(&values);
        let (bound, s) = assess(evidence(&own));
        assert!(bound);
        assert!(s.reason.unwrap().contains("late on its own"));
    }

    #[test]
    fn a_busy_target_is_not_the_client() {
        // Half the requests waited on busy connections and 300 never went out, all while the
        // connections were busy: the target is slow, the client is fine.
        let own = lateness(&[20; 700]);
        let mut e = evidence(&own);
        e.busy = 500;
        e.sent = 700;
        let (bound, s) = assess(e);
        assert!(!bound, "{s:?}");
        assert_eq!(s.connections_busy, 0.5);
        assert_eq!(s.send_ratio, Some(0.7));
    }

    #[test]
    fn an_idle_shortfall_makes_it_bound() {
        let own = lateness(&[20; 900]);
        let mut e = evidence(&own);
        e.sent = 900;
        e.unsent_client = 100;
        let (bound, s) = assess(e);
        assert!(bound);
        assert!(s.reason.unwrap().contains("10.0% of the schedule"));
    }

    #[test]
    fn a_hot_worker_makes_it_bound() {
        let own = lateness(&[20; 1000]);
        let mut e = evidence(&own);
        e.cpu_per_worker = vec![0.2, 0.95];
        let (bound, s) = assess(e);
        assert!(bound);
        assert!(s.reason.as_deref().unwrap().contains("worker 1 used 95%"));
        assert_eq!(s.cpu_max(), Some(0.95));
    }

    #[test]
    fn closed_loop_ignores_pacing() {
        let own = latency_histogram(0);
        let mut e = evidence(&own);
        e.open_loop = false;
        e.scheduled = 0;
        let (bound, s) = assess(e);
        assert!(!bound);
        assert_eq!(s.send_ratio, None);
    }

    #[test]
    fn reads_the_stat_line() {
        let line = "1234 (tokio (worker) 1) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(ticks_from_stat(line), Some(300));
        assert!(
            thread_cpu_time().is_some(),
            "Linux exposes /proc/thread-self"
        );
    }
}
