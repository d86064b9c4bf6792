//! Sizing statistics: the steady-state CPU of each sweep point, the least-squares fit of
//! Envoy CPU against rps, and the capacity plan derived from it. Pure functions over the
//! result model, so they are tested with injected samples and no I/O.

use gauntlet_reports::sizing::{CapacityPlan, CpuFit, SizingPoint};
use gauntlet_reports::{AddedLatency, ResourceSample, StepResult};

use crate::scenario::CapacitySpec;

#[path = "sizing_limits.rs"]
mod per_limit;
pub use per_limit::{limits, point_verdict, suggest_limit};

/// Envoy's admin gauges for memory, as the stat sampler records them (bytes).
const ALLOCATED: &str = "server.memory_allocated";
const HEAP: &str = "server.memory_heap_size";

/// Envoy's mean CPU over the steady part of a step, and how many samples it is over.
///
/// Steady state: samples after the warmup (plus half a second, as `resources::summarize`),
/// then the first and last of those dropped, and a tenth of them at each end when there are
/// many: the first sample still carries the ramp-up, the last the wind-down. A step too
/// short to trim (fewer than 3 samples) keeps what it has; the point's `cpu_samples` says so.
pub fn steady_cpu(samples: &[ResourceSample], warmup_s: f64) -> (Option<f64>, usize) {
    let cpu: Vec<f64> = samples
        .iter()
        .filter(|s| s.t_s > warmup_s + 0.5)
        .filter_map(|s| s.envoy_cpu)
        .collect();
    let kept: &[f64] = if cpu.len() >= 3 {
        let trim = (cpu.len() / 10).max(1);
        &cpu[trim..cpu.len() - trim]
    } else {
        &cpu
    };
    if kept.is_empty() {
        return (None, 0);
    }
    (
        Some(kept.iter().sum::<f64>() / kept.len() as f64),
        kept.len(),
    )
}

/// The largest value of an Envoy gauge over the step's stat samples, in MB.
fn gauge_max_mb(step: &StepResult, name: &str) -> Option<f64> {
    step.envoy_series
        .iter()
        .filter_map(|s| s.stats.get(name))
        .max()
        .map(|b| *b as f64 / (1024.0 * 1024.0))
}

/// How a point's load differs from the scenario's: its group label and figures.
#[derive(Debug, Clone)]
pub struct PointLoad {
    pub rate: f64,
    pub connections: u32,
    pub body_bytes: usize,
    /// `c16 b0`: the points of one group differ only in rate.
    pub group: String,
    /// The CPU limit of Envoy's container at this point (`sweep.cpus` or `envoy.cpus`).
    pub cpu_limit: Option<f64>,
}

/// One sweep point's figures from its Envoy step and (when measured) its baseline step.
pub fn point(p: &PointLoad, envoy: &StepResult, baseline: Option<&StepResult>) -> SizingPoint {
    let l = &envoy.load;
    let (cpu, cpu_samples) = steady_cpu(&envoy.resources, l.warmup_s);
    let rss = envoy
        .resources
        .iter()
        .filter_map(|s| s.envoy_rss_mb)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let added = baseline.and_then(|b| added(&b.load.latency, &l.latency));
    let summary = envoy.resource_summary.as_ref();
    SizingPoint {
        step: envoy.name.clone(),
        baseline_step: baseline.map(|b| b.name.clone()),
        group: p.group.clone(),
        target_rps: p.rate,
        achieved_rps: l.achieved_rps,
        connections: p.connections,
        body_bytes: p.body_bytes as u64,
        envoy_cpu: cpu,
        cpu_samples,
        cpu_per_krps: cpu
            .filter(|_| l.achieved_rps > 0.0)
            .map(|c| c / l.achieved_rps * 1000.0),
        rss_max_mb: rss,
        allocated_max_mb: gauge_max_mb(envoy, ALLOCATED),
        heap_max_mb: gauge_max_mb(envoy, HEAP),
        added,
        p99_ms: l.latency.p99_ms,
        error_rate: l.error_rate,
        client_bound: l.saturation.client_bound,
        in_fit: cpu.is_some() && l.achieved_rps >= FIT_MIN_ACHIEVED * p.rate,
        cpu_limit: p.cpu_limit.or(summary.and_then(|s| s.envoy_cpu_limit)),
        throttled_periods: summary.and_then(|s| s.envoy_throttled_periods),
        throttled_ratio: summary.and_then(|s| s.envoy_throttled_ratio),
        // Judged once every step is in (`sweep::judge_points`).
        slo_met: None,
        slo_reason: String::new(),
    }
}

/// Share of its target rate a point must achieve to be in the fit: below it the target
/// saturated, and its CPU says where the saturation is, not the cost per request.
pub const FIT_MIN_ACHIEVED: f64 = 0.95;

fn added(
    base: &gauntlet_reports::Percentiles,
    envoy: &gauntlet_reports::Percentiles,
) -> Option<AddedLatency> {
    (base.count > 0 && envoy.count > 0).then_some(AddedLatency {
        p50_ms: envoy.p50_ms - base.p50_ms,
        p90_ms: envoy.p90_ms - base.p90_ms,
        p99_ms: envoy.p99_ms - base.p99_ms,
        p999_ms: envoy.p999_ms - base.p999_ms,
    })
}

/// Ordinary least squares of `y = intercept + slope × x`; `None` with fewer than 2 points
/// or when every x is the same. The slope's standard error needs 3 points or more.
pub fn fit(group: &str, xy: &[(f64, f64)]) -> Option<CpuFit> {
    let n = xy.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let mx = xy.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = xy.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = xy.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    // Relative to the x scale, so rates in the thousands are not called degenerate.
    if sxx <= f64::EPSILON * mx.abs().max(1.0).powi(2) * nf {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_res: f64 = xy
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let ss_tot: f64 = xy.iter().map(|p| (p.1 - my).powi(2)).sum();
    let r_squared = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        1.0
    };
    let slope_stderr = (n >= 3).then(|| (ss_res / (nf - 2.0) / sxx).sqrt());
    let xs = xy.iter().map(|p| p.0);
    Some(CpuFit {
        group: group.to_string(),
        points: n,
        intercept,
        slope,
        slope_stderr,
        r_squared,
        vcpu_per_krps: slope * 1000.0,
        rps_min: xs.clone().fold(f64::INFINITY, f64::min),
        rps_max: xs.fold(f64::NEG_INFINITY, f64::max),
    })
}

/// One fit per group, over the points in the fit (`in_fit`), x = achieved rps.
pub fn fits(points: &[SizingPoint]) -> Vec<CpuFit> {
    let mut groups: Vec<&str> = Vec::new();
    for p in points {
        if !groups.contains(&p.group.as_str()) {
            groups.push(&p.group);
        }
    }
    groups
        .into_iter()
        .filter_map(|g| {
            let xy: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.group == g && p.in_fit)
                .filter_map(|p| p.envoy_cpu.map(|c| (p.achieved_rps, c)))
                .collect();
            fit(g, &xy)
        })
        .collect()
}

/// Replicas and sidecar resources for `spec`, from the most expensive fit (highest
/// slope) and the largest memory seen.
///
/// Each proxy may use `cpu_limit × (1 − headroom)` cores; at `r` rps it uses
/// `max(intercept, 0) + slope × r` (a negative intercept is noise and would flatter the
/// plan). So one proxy takes `(budget − idle) / slope` rps, and the target needs
/// `ceil(target / that)` replicas. The CPU request is the predicted use of one replica at
/// its share of the target; the CPU limit is the scenario's. Memory: the request is the
/// largest RSS measured, the limit that over `1 − headroom`; both rounded up to MiB.
pub fn capacity(spec: &CapacitySpec, fits: &[CpuFit], memory_max_mb: Option<f64>) -> CapacityPlan {
    let mut plan = CapacityPlan {
        target_rps: spec.target_rps,
        cpu_limit: spec.cpu_limit,
        headroom: spec.headroom,
        ..CapacityPlan::default()
    };
    let Some(fit) = fits.iter().max_by(|a, b| a.slope.total_cmp(&b.slope)) else {
        plan.reason = Some("no CPU fit: the sweep measured no Envoy CPU".into());
        return plan;
    };
    plan.group = fit.group.clone();
    if fit.slope <= 0.0 {
        plan.reason = Some(format!(
            "the fitted CPU slope is not positive ({:.4} vCPU per 1000 rps): the sweep's rates are too low or too close to measure Envoy's cost",
            fit.vcpu_per_krps
        ));
        return plan;
    }
    let budget = spec.cpu_limit * (1.0 - spec.headroom);
    let idle = fit.intercept.max(0.0);
    if budget <= idle {
        plan.reason = Some(format!(
            "Envoy's idle CPU ({idle:.3} cores) already exceeds the usable budget of {budget:.3} cores"
        ));
        return plan;
    }
    let per_replica = (budget - idle) / fit.slope;
    let replicas = (spec.target_rps / per_replica).ceil().max(1.0);
    let cpu_request = idle + fit.slope * spec.target_rps / replicas;
    plan.rps_per_replica = Some(per_replica);
    plan.replicas = Some(replicas as u32);
    plan.cpu_request = Some(cpu_request);
    let memory = memory_max_mb.map(|m| {
        let request = ceil(m).max(1.0) as u64;
        let limit = ceil(m / (1.0 - spec.headroom)).max(request as f64) as u64;
        (request, limit)
    });
    plan.memory_request_mib = memory.map(|m| m.0);
    plan.memory_limit_mib = memory.map(|m| m.1);
    plan.annotations = annotations(cpu_request, spec.cpu_limit, memory);
    plan
}

/// The plan as Istio sidecar annotations; CPU in millicores rounded up.
fn annotations(request: f64, limit: f64, memory: Option<(u64, u64)>) -> Vec<(String, String)> {
    let milli = |cores: f64| format!("{}m", ceil(cores * 1000.0).max(1.0) as u64);
    let mut out = vec![
        ("sidecar.istio.io/proxyCPU".to_string(), milli(request)),
        ("sidecar.istio.io/proxyCPULimit".to_string(), milli(limit)),
    ];
    if let Some((req, lim)) = memory {
        out.push(("sidecar.istio.io/proxyMemory".into(), format!("{req}Mi")));
        out.push((
            "sidecar.istio.io/proxyMemoryLimit".into(),
            format!("{lim}Mi"),
        ));
    }
    out
}

/// Rounds up, ignoring float noise (41.3 / 0.7 is 59.000000000000007, not 60).
fn ceil(x: f64) -> f64 {
    (x - 1e-9).ceil()
}

#[cfg(test)]
#[path = "sizing_tests.rs"]
mod tests;
