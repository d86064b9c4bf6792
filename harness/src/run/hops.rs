//! Per-hop figures from the sidecars' own stats: counter deltas over the measured step, the
//! latency quantiles from Envoy's histograms, and a process's CPU and memory from `/proc`.
//! The graph's numbers are computed here; the reports only format them.

use std::collections::BTreeMap;
use std::time::Instant;

use gauntlet_reports::graph::GraphEdge;
use serde_json::Value;

use crate::envoy::AdminClient;

/// Counters of one Envoy at one moment.
pub(super) type Counters = BTreeMap<String, u64>;

/// Envoy's counters, or none when its admin API does not answer (the caller then reports
/// zeros rather than failing a run that measured everything else).
pub(super) async fn counters(admin: &AdminClient) -> Counters {
    let admin = admin
        .clone()
        .with_timeout(std::time::Duration::from_secs(2));
    admin.stats().await.unwrap_or_default()
}

/// Zeroes Envoy's counters (admin `POST /reset_counters`), so that the counters a step
/// ends with are the step's own even when an earlier step went through this Envoy.
pub(super) async fn reset(admin: &AdminClient) -> anyhow::Result<()> {
    let admin = admin
        .clone()
        .with_timeout(std::time::Duration::from_secs(2));
    admin.post("/reset_counters").await?;
    Ok(())
}

/// p50 and p99 (ms) per histogram name; `None` before Envoy's first stats flush.
pub(super) type Quantiles = BTreeMap<String, (Option<f64>, Option<f64>)>;

/// p50 and p99 (ms) of every histogram whose name contains `filter`, from
/// `/stats?format=json`: Envoy's cumulative quantiles, `None` before its first stats flush.
pub(super) async fn quantiles(admin: &AdminClient, filter: &str) -> Quantiles {
    let admin = admin
        .clone()
        .with_timeout(std::time::Duration::from_secs(2));
    let path = format!("/stats?format=json&usedonly&filter={filter}");
    match admin.get(&path).await {
        Ok(text) => parse_quantiles(&text),
        Err(e) => {
            tracing::debug!("reading Envoy's histograms: {e}");
            BTreeMap::new()
        }
    }
}

/// Parses the histogram part of Envoy's JSON stats.
fn parse_quantiles(text: &str) -> Quantiles {
    let mut out = BTreeMap::new();
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        return out;
    };
    let stats = json["stats"].as_array().cloned().unwrap_or_default();
    for h in stats.iter().filter_map(|s| s.get("histograms")) {
        let supported: Vec<f64> = h["supported_quantiles"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let at = |q: f64| supported.iter().position(|s| (s - q).abs() < 1e-9);
        let (Some(p50), Some(p99)) = (at(50.0), at(99.0)) else {
            continue;
        };
        for c in h["computed_quantiles"].as_array().into_iter().flatten() {
            let Some(name) = c["name"].as_str() else {
                continue;
            };
            let value = |i: usize| c["values"][i]["cumulative"].as_f64();
            out.insert(name.to_string(), (value(p50), value(p99)));
        }
    }
    out
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

/// The edge of one hop, from the counters before and after the step.
pub(super) fn edge(
    hop: &HopStats<'_>,
    before: &Counters,
    after: &Counters,
    latency: &Quantiles,
    seconds: f64,
    callee_counted: Option<u64>,
) -> GraphEdge {
    let delta = |name: String| {
        after
            .get(&name)
            .copied()
            .unwrap_or(0)
            .saturating_sub(before.get(&name).copied().unwrap_or(0))
    };
    let http = |s: &str| delta(format!("http.{}.{s}", hop.prefix));
    let cluster = |s: &str| delta(format!("cluster.{}.{s}", hop.cluster));
    let requests = http("downstream_rq_total");
    let caller_errors = http("downstream_rq_5xx");
    let (p50_ms, p99_ms) = latency
        .get(&format!("http.{}.downstream_rq_time", hop.prefix))
        .copied()
        .unwrap_or((None, None));
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
        p50_ms,
        p99_ms,
        callee_counted,
    }
}

/// A process's CPU time, read at the start of a step and again at its end.
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
    use super::*;

    #[test]
    fn reads_envoy_json_histograms() {
        let text = r#"{"stats":[{"name":"a","value":1},{"histograms":{
            "supported_quantiles":[0,25,50,75,90,95,99,99.5,99.9,100],
            "computed_quantiles":[{"name":"http.ingress.downstream_rq_time","values":[
              {"interval":null,"cumulative":0},{"interval":null,"cumulative":1},
              {"interval":null,"cumulative":2.05},{"interval":null,"cumulative":3},
              {"interval":null,"cumulative":4},{"interval":null,"cumulative":5},
              {"interval":null,"cumulative":9.5},{"interval":null,"cumulative":10},
              {"interval":null,"cumulative":11},{"interval":null,"cumulative":12}]}]}}]}"#;
        let q = parse_quantiles(text);
        assert_eq!(
            q["http.ingress.downstream_rq_time"],
            (Some(2.05), Some(9.5))
        );
        assert!(parse_quantiles("not json").is_empty());
    }

    #[test]
    fn an_edge_is_the_counter_delta() {
        let before = Counters::from([
            ("http.egress_inv.downstream_rq_total".into(), 10),
            ("cluster.inv.upstream_rq_total".into(), 12),
        ]);
        let after = Counters::from([
            ("http.egress_inv.downstream_rq_total".into(), 110),
            ("http.egress_inv.downstream_rq_5xx".into(), 1),
            ("cluster.inv.upstream_rq_total".into(), 132),
            ("cluster.inv.upstream_rq_5xx".into(), 20),
            ("cluster.inv.upstream_rq_retry".into(), 19),
        ]);
        let hop = HopStats {
            from: "svc",
            to: "inv",
            via: "egress",
            prefix: "egress_inv",
            cluster: "inv",
        };
        let e = edge(&hop, &before, &after, &BTreeMap::new(), 2.0, Some(120));
        assert_eq!((e.requests, e.caller_errors, e.attempts), (100, 1, 120));
        assert_eq!((e.attempt_errors, e.retries), (20, 19));
        assert!((e.rps - 50.0).abs() < 1e-9 && (e.error_rate - 0.01).abs() < 1e-9);
    }
}
