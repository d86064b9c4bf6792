//! Per-hop figures from the sidecars' own stats, a process's CPU and memory from `/proc`.
//!
//! Every figure covers the measured part of the Envoy step, the window the load
//! generator's own figures cover: the sidecars are snapshotted (counters and request-time
//! histograms) when it starts (before the step without a warmup, at the end of the warmup
//! otherwise) and when the step has ended, and an edge is the difference. So neither the
//! baseline step's calls, which cross the same sidecars, nor the warmup are in an edge's
//! counts or its percentiles (`hop_latency` computes those from the histograms' bins).
//! The graph's numbers are computed here; the reports only format them.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use gauntlet_reports::graph::GraphEdge;
use tokio::sync::oneshot;

use super::hop_latency::{parse_detailed, Bins, Histograms};
use crate::envoy::AdminClient;

/// Counters of one Envoy at one moment.
pub(super) type Counters = BTreeMap<String, u64>;

/// Zeroes Envoy's counters (admin `POST /reset_counters`), so that the counters a step
/// ends with are the step's own even when an earlier step went through this Envoy.
pub(super) async fn reset(admin: &AdminClient) -> anyhow::Result<()> {
    let admin = admin
        .clone()
        .with_timeout(std::time::Duration::from_secs(2));
    admin.post("/reset_counters").await?;
    Ok(())
}

/// One sidecar's counters and latency histograms at one moment.
#[derive(Debug, Clone, Default)]
pub(super) struct Snapshot {
    pub counters: Counters,
    pub histograms: Histograms,
}

/// Histograms whose names contain this: the listeners' request times.
const LATENCY_FILTER: &str = "downstream_rq_time";
/// Reads of the histograms, at most, while waiting for them to settle.
const HISTOGRAM_READS: usize = 6;
/// Pause between a read that starts a merge and the read that takes its result: Envoy's
/// merge is a message to each worker and back, a millisecond or so even on a busy machine.
const MERGE_WAIT: Duration = Duration::from_millis(50);

/// One sidecar's counters and its listeners' request-time histograms at `moment`.
///
/// Envoy's workers record into their own histograms, merged into the ones its admin API
/// shows when stats are flushed. The sidecars flush on each admin `/stats` read
/// (`stats_flush_on_admin`), but the merge ends after that read has answered, so a read
/// shows what the previous read merged:
/// - with no load running (before a step, after it), a first read starts a merge and the
///   histograms are then read until two reads agree (the merge before the last read had
///   nothing new: every sample recorded so far is in), at most [`HISTOGRAM_READS`] times,
///   and the counters after them;
/// - with the load running (the end of the warmup), the counters are read first, which
///   starts a merge at that moment, and the histograms once it is done, so both describe
///   the same moment to within a few requests' worth of time.
///
/// Envoy's admin API not answering gives an empty snapshot (the edges then show zeros and
/// no latency rather than failing a run that measured the rest).
pub(super) async fn snapshot(admin: &AdminClient, moment: Moment) -> Snapshot {
    let admin = admin.clone().with_timeout(Duration::from_secs(2));
    if moment == Moment::EndOfWarmup {
        let counters = admin.stats().await.unwrap_or_default();
        tokio::time::sleep(MERGE_WAIT).await;
        let histograms = read_histograms(&admin).await.unwrap_or_default();
        return Snapshot {
            counters,
            histograms,
        };
    }
    // What this read shows may predate the step's last requests: it only starts the merge.
    let mut histograms: Option<Histograms> = None;
    if read_histograms(&admin).await.is_some() {
        for _ in 0..HISTOGRAM_READS {
            tokio::time::sleep(MERGE_WAIT).await;
            let Some(now) = read_histograms(&admin).await else {
                break;
            };
            let settled = histograms.as_ref() == Some(&now);
            histograms = Some(now);
            if settled {
                break;
            }
        }
    }
    Snapshot {
        counters: admin.stats().await.unwrap_or_default(),
        histograms: histograms.unwrap_or_default(),
    }
}

/// The listeners' request-time histograms as Envoy last merged them; `None` when its admin
/// API does not answer.
async fn read_histograms(admin: &AdminClient) -> Option<Histograms> {
    let path = format!(
        "/stats?format=json&usedonly&type=Histograms&histogram_buckets=detailed&filter={LATENCY_FILTER}"
    );
    match admin.get(&path).await {
        Ok(text) => Some(parse_detailed(&text)),
        Err(e) => {
            // The hops then have no percentiles; say why (an Envoy too old for
            // `histogram_buckets=detailed` answers 400).
            tracing::warn!("reading Envoy's histograms for the hop percentiles: {e}");
            None
        }
    }
}

/// Snapshots of several sidecars at `moment`, taken side by side so that they describe
/// one moment.
pub(super) async fn snapshots<'a>(
    admins: impl IntoIterator<Item = (&'a String, &'a AdminClient)>,
    moment: Moment,
) -> BTreeMap<String, Snapshot> {
    let reads = admins
        .into_iter()
        .map(|(name, admin)| async move { (name.clone(), snapshot(admin, moment).await) });
    futures::future::join_all(reads).await.into_iter().collect()
}

/// When a snapshot of a step's hop figures is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moment {
    /// Before a step without warmup: nothing is in flight, and the step resets the mocks'
    /// own counts after it (so the window's start is zero for them).
    BeforeLoad,
    /// At the end of the step's warmup, with the load running.
    EndOfWarmup,
    /// Once the step has ended.
    AfterLoad,
}

/// Runs `step` and takes `mark` at the start of its measured part, so that every hop
/// figure covers what the load generator's figures cover. Without a warmup the mark is
/// taken before the step starts; with one, `warmup` after the step's origin, which the
/// timeline sends on `origin` when the step starts (one clock for the step). `None` when
/// the step ended before its measured part began.
pub(super) async fn measured<S, F, M>(
    step: S,
    origin: oneshot::Receiver<Instant>,
    warmup: Duration,
    mark: F,
) -> (S::Output, Option<M::Output>)
where
    S: Future,
    F: FnOnce(Moment) -> M,
    M: Future,
{
    if warmup.is_zero() {
        let m = mark(Moment::BeforeLoad).await;
        return (step.await, Some(m));
    }
    tokio::pin!(step);
    let start = async {
        match origin.await {
            Ok(o) => tokio::time::sleep_until((o + warmup).into()).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        out = &mut step => (out, None),
        () = start => {
            let (out, m) = tokio::join!(step, mark(Moment::EndOfWarmup));
            (out, Some(m))
        }
    }
}

/// The seconds a graph's rates are over: the load's measured part as the load generator
/// timed it, else (a step with no measured part) the wall time between the snapshots.
pub(super) fn window_seconds(load_duration_s: f64, wall: Duration) -> f64 {
    if load_duration_s > 0.0 {
        load_duration_s
    } else {
        wall.as_secs_f64()
    }
}

/// Where one hop's figures are in one Envoy's stats.
pub(super) struct HopStats<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub via: &'a str,
    /// The listener's HTTP stat prefix (`http.<prefix>.downstream_rq_*`).
    pub prefix: &'a str,
    /// The cluster the listener routes to (`cluster.<cluster>.upstream_rq_*`).
    pub cluster: &'a str,
}

/// The edge of one hop, from the snapshots at the start and the end of the measured part.
pub(super) fn edge(
    hop: &HopStats<'_>,
    before: &Snapshot,
    after: &Snapshot,
    seconds: f64,
    callee_counted: Option<u64>,
) -> GraphEdge {
    let delta = |name: String| {
        after
            .counters
            .get(&name)
            .copied()
            .unwrap_or(0)
            .saturating_sub(before.counters.get(&name).copied().unwrap_or(0))
    };
    let http = |s: &str| delta(format!("http.{}.{s}", hop.prefix));
    let cluster = |s: &str| delta(format!("cluster.{}.{s}", hop.cluster));
    let requests = http("downstream_rq_total");
    let caller_errors = http("downstream_rq_5xx");
    let latency_name = format!("http.{}.{LATENCY_FILTER}", hop.prefix);
    let window = after.histograms.get(&latency_name).map(|a| {
        let empty = Bins::default();
        a.since(before.histograms.get(&latency_name).unwrap_or(&empty))
    });
    let quantile = |q: f64| window.as_ref().and_then(|w| w.quantile(q));
    GraphEdge {
        from: hop.from.to_string(),
        to: hop.to.to_string(),
        via: hop.via.to_string(),
        requests,
        rps: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        caller_errors,
        error_rate: if requests > 0 {
            caller_errors as f64 / requests as f64
        } else {
            0.0
        },
        attempts: cluster("upstream_rq_total"),
        // A retried attempt's 5xx is counted under `retry.`, not in `upstream_rq_5xx`.
        attempt_errors: cluster("upstream_rq_5xx") + cluster("retry.upstream_rq_5xx"),
        retries: cluster("upstream_rq_retry"),
        timeouts: cluster("upstream_rq_timeout"),
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        latency_samples: window.as_ref().map(Bins::count),
        callee_counted,
    }
}

/// A process's CPU time, read at the start of a step and again at its end.
#[derive(Debug)]
pub(super) struct ProcClock {
    pid: u32,
    start: Option<(Instant, u64)>,
}

impl ProcClock {
    pub fn start(pid: u32) -> Self {
        Self {
            pid,
            start: cpu_ticks(pid).map(|t| (Instant::now(), t)),
        }
    }

    /// Mean CPU (cores) since `start`, and resident memory now (MiB).
    pub fn finish(&self) -> (Option<f64>, Option<f64>) {
        let ticks_per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        let cpu = match (self.start, cpu_ticks(self.pid)) {
            (Some((at, t0)), Some(t1)) if at.elapsed().as_secs_f64() > 0.0 => {
                Some(t1.saturating_sub(t0) as f64 / ticks_per_sec / at.elapsed().as_secs_f64())
            }
            _ => None,
        };
        (cpu, rss_mb(self.pid))
    }
}

/// utime + stime in clock ticks (fields 14 and 15 of `/proc/<pid>/stat`, counted after the
/// parenthesised command name, which may hold spaces).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// `VmRSS` in MiB.
fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::super::hop_latency::Bin;
    use super::*;

    #[test]
    fn an_edge_is_the_delta_between_the_snapshots() {
        let latency = "http.egress_inv.downstream_rq_time".to_string();
        let bin = |lower: f64, count: u64| Bin {
            lower,
            width: if lower < 10.0 { 0.1 } else { 1.0 },
            count,
        };
        let before = Snapshot {
            counters: Counters::from([
                ("http.egress_inv.downstream_rq_total".into(), 10),
                ("cluster.inv.upstream_rq_total".into(), 12),
            ]),
            // The baseline's 10 calls, slow.
            histograms: Histograms::from([(latency.clone(), Bins::new([bin(40.0, 10)]))]),
        };
        let after = Snapshot {
            counters: Counters::from([
                ("http.egress_inv.downstream_rq_total".into(), 110),
                ("http.egress_inv.downstream_rq_5xx".into(), 1),
                ("cluster.inv.upstream_rq_total".into(), 132),
                ("cluster.inv.upstream_rq_5xx".into(), 20),
                ("cluster.inv.upstream_rq_retry".into(), 19),
            ]),
            histograms: Histograms::from([(
                latency,
                Bins::new([bin(40.0, 10), bin(2.0, 98), bin(3.0, 2)]),
            )]),
        };
        let hop = HopStats {
            from: "svc",
            to: "inv",
            via: "egress",
            prefix: "egress_inv",
            cluster: "inv",
        };
        let e = edge(&hop, &before, &after, 2.0, Some(120));
        assert_eq!((e.requests, e.caller_errors, e.attempts), (100, 1, 120));
        assert_eq!((e.attempt_errors, e.retries), (20, 19));
        assert!((e.rps - 50.0).abs() < 1e-9 && (e.error_rate - 0.01).abs() < 1e-9);
        // The latency is the window's 100 samples, none of the 10 before it.
        assert_eq!(e.latency_samples, Some(100));
        let p99 = e.p99_ms.unwrap();
        assert!((3.0..3.1).contains(&p99), "{p99}");
        assert!((2.0..2.1).contains(&e.p50_ms.unwrap()));
    }

    #[test]
    fn an_edge_without_a_histogram_has_no_latency() {
        let hop = HopStats {
            from: "a",
            to: "b",
            via: "egress",
            prefix: "egress_b",
            cluster: "b",
        };
        let e = edge(&hop, &Snapshot::default(), &Snapshot::default(), 0.0, None);
        assert_eq!((e.p50_ms, e.p99_ms, e.latency_samples), (None, None, None));
        assert_eq!((e.requests, e.rps, e.error_rate), (0, 0.0, 0.0));
    }

    #[tokio::test]
    async fn without_warmup_the_mark_comes_before_the_step() {
        let log = std::sync::Mutex::new(Vec::new());
        let (_tx, origin) = oneshot::channel();
        let step = async { log.lock().unwrap().push("step") };
        let mark = |m: Moment| {
            log.lock().unwrap().push("mark");
            async move { m }
        };
        let ((), m) = measured(step, origin, Duration::ZERO, mark).await;
        assert_eq!(m, Some(Moment::BeforeLoad));
        assert_eq!(*log.lock().unwrap(), ["mark", "step"]);
    }

    #[tokio::test]
    async fn with_warmup_the_mark_is_taken_while_the_step_runs() {
        let (tx, origin) = oneshot::channel();
        // The warmup is long over: no waiting.
        tx.send(Instant::now() - Duration::from_secs(5)).unwrap();
        let marked = tokio::sync::Notify::new();
        // The step ends only once the mark is taken, as a step outlives its warmup.
        let step = async {
            marked.notified().await;
            "done"
        };
        let mark = |m: Moment| {
            let marked = &marked;
            async move {
                marked.notify_one();
                m
            }
        };
        let out = measured(step, origin, Duration::from_secs(1), mark).await;
        assert_eq!(out, ("done", Some(Moment::EndOfWarmup)));
    }

    #[tokio::test]
    async fn a_step_that_ends_before_its_warmup_has_no_mark() {
        // The timeline never reported the origin (its sender is gone).
        let (tx, origin) = oneshot::channel::<Instant>();
        drop(tx);
        let mark = |m: Moment| async move { m };
        let out = measured(async { 7 }, origin, Duration::from_secs(1), mark).await;
        assert_eq!(out, (7, None));
    }

    #[test]
    fn the_window_is_the_loads_measured_part_when_there_is_one() {
        assert_eq!(window_seconds(5.0, Duration::from_secs(7)), 5.0);
        assert_eq!(window_seconds(0.0, Duration::from_millis(1500)), 1.5);
    }
}
