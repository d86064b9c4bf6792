//! The sizing part of the result model: a rate sweep's points and fits, the capacity plan
//! derived from them, and the walk of a `find_max_rps` search.
//!
//! Everything here is computed by the harness (`run::sizing`, `run::find_max`); renderers
//! only format it.

use serde::{Deserialize, Serialize};

use crate::model::AddedLatency;

/// Sizing figures of a run with `sweep:` or `find_max_rps:`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sizing {
    /// One entry per sweep point, in the order they ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<SizingPoint>,
    /// Envoy CPU against achieved rps, one fit per group of points that differ only in rate
    /// (one fit when the sweep varies the rate alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fits: Vec<CpuFit>,
    /// Envoy's largest resident memory over every point, MB (the absolute figure a memory
    /// request is sized on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max_mb: Option<f64>,
    /// What a point must do to "meet the SLO" in `SizingPoint::slo_met` and `limits`, in
    /// words: `capacity.slo` (`p99 < 10 ms, errors < 0.1%`), else the scenario's gates, else
    /// only carrying the rate; each with "and ≥ 90% of the target rate achieved".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<String>,
    /// One entry per group of points under one CPU limit of Envoy's container (a sweep over
    /// `cpus`, or `envoy.cpus`): where the SLO broke and where throttling began.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitSummary>,
    /// The replicas and sidecar resources for the scenario's `capacity:` target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityPlan>,
    /// The max-sustainable-rate search and every rate it tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find_max: Option<FindMax>,
    /// What the reader should know about these figures (too few points, a poor fit, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One sweep point: its load, what Envoy used under it and the latency it added.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SizingPoint {
    /// The Envoy step of this point, e.g. `envoy@2000rps`.
    pub step: String,
    /// The baseline step of this point, when the scenario measures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_step: Option<String>,
    /// The fit group this point belongs to (connections and body size), e.g. `c16 b0`.
    pub group: String,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub connections: u32,
    pub body_bytes: u64,
    /// Envoy's mean CPU over the steady-state samples, cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_cpu: Option<f64>,
    /// How many CPU samples the mean is over (after trimming warmup, first and last).
    pub cpu_samples: usize,
    /// Envoy cores per 1000 achieved rps at this point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_per_krps: Option<f64>,
    /// Envoy's largest RSS during the step, MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_max_mb: Option<f64>,
    /// Envoy's `server.memory_allocated` at its largest, MB (admin stats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_max_mb: Option<f64>,
    /// Envoy's `server.memory_heap_size` at its largest, MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_max_mb: Option<f64>,
    /// Through Envoy minus this point's baseline, per percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<AddedLatency>,
    pub p99_ms: f64,
    pub error_rate: f64,
    /// The load generator was the bottleneck at this point: its figures describe the client.
    #[serde(default)]
    pub client_bound: bool,
    /// Whether the CPU fit uses this point: not when it achieved under 95% of its target
    /// (the target could not keep up, so CPU no longer follows the rate linearly).
    #[serde(default)]
    pub in_fit: bool,
    /// The CPU limit of Envoy's container at this point, cores; `None` for a process or a
    /// container without a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<f64>,
    /// CFS periods in which the container was throttled over the measured part of the step,
    /// and their share of all periods (container only, from its cgroup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_periods: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_ratio: Option<f64>,
    /// Whether the point met the SLO (see `Sizing::slo`); `None` when it was not judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_met: Option<bool>,
    /// Why it did not, in words (empty when it did).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub slo_reason: String,
}

/// The points of one group (same connections and body size) under one CPU limit, read
/// along the rates: the highest rate that met the SLO and where throttling began.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LimitSummary {
    /// Cores.
    pub cpu_limit: f64,
    /// The points' group, e.g. `c16 b0 cpu0.5`.
    pub group: String,
    /// Points in the group.
    pub points: usize,
    /// The highest target rate that met the SLO with every lower rate of the group meeting
    /// it too; `None` when the lowest rate already broke it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rps_within_slo: Option<f64>,
    /// The lowest rate that broke the SLO, and why; `None` when every rate met it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broke_at_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub broke_because: String,
    /// Where throttling began: the lowest rate from which every higher rate's Envoy step had
    /// throttled CFS periods (> 0), so a stray throttled period at a low rate followed by
    /// clean ones does not count; `None` when the highest rate was not throttled (or the
    /// cgroup figures are missing, see `throttle_measured`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_from_rps: Option<f64>,
    /// Whether every point has the cgroup's throttling figures.
    #[serde(default)]
    pub throttle_measured: bool,
    /// Envoy's cost under this limit, from the group's CPU fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu_per_krps: Option<f64>,
}

/// Least-squares fit of Envoy CPU (cores) = intercept + slope × rps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuFit {
    /// The points' group, e.g. `c16 b0`.
    pub group: String,
    pub points: usize,
    /// Cores at zero load.
    pub intercept: f64,
    /// Cores per request per second.
    pub slope: f64,
    /// Standard error of the slope, cores per rps (`None` with fewer than 3 points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slope_stderr: Option<f64>,
    /// Coefficient of determination (1 = every point on the line).
    pub r_squared: f64,
    /// The slope as vCPU per 1000 rps (slope × 1000).
    pub vcpu_per_krps: f64,
    /// The rps range the fit covers.
    pub rps_min: f64,
    pub rps_max: f64,
}

/// Replicas and sidecar resources for a target rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CapacityPlan {
    pub target_rps: f64,
    /// CPU limit per proxy, cores.
    pub cpu_limit: f64,
    /// Share of the CPU limit kept free (0.3 = 30%).
    pub headroom: f64,
    /// The fit group the plan is based on (the most expensive one).
    pub group: String,
    /// Most rps one proxy handles within `cpu_limit × (1 − headroom)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps_per_replica: Option<f64>,
    /// Replicas needed; `None` when the fit cannot support the target (see `reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Predicted CPU per replica at the target, cores (the suggested request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_request: Option<f64>,
    /// Suggested memory request and limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_mib: Option<u64>,
    /// The smallest swept CPU limit that carries `target_rps / replicas` per proxy within
    /// the SLO (measured: met at that rate or above, and at every rate below) and within
    /// `limit × (1 − headroom)` of CPU; it replaces `cpu_limit` in the annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_cpu_limit: Option<f64>,
    /// Why that limit, or why none of the swept limits qualifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit_reason: Option<String>,
    /// The same as Istio pod annotations, name → value, e.g.
    /// `sidecar.istio.io/proxyCPU: 350m`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<(String, String)>,
    /// Why no plan could be made, when `replicas` is `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A `find_max_rps` search.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FindMax {
    /// The SLO in words, e.g. `p99 < 10 ms, errors < 0.1%`.
    pub slo: String,
    /// The SLO's p99 ceiling, ms, and error ceiling, as a share (for the chart's lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_error_rate: Option<f64>,
    /// The highest rate that met the SLO; `None` when even the start rate broke it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knee_rps: Option<f64>,
    /// Why the search ended: `converged`, `max_rate`, `slo_broken_at_start`,
    /// `client_bound`, `step_limit` or `interrupted`.
    pub stopped: String,
    /// The same in a sentence a person reads.
    pub detail: String,
    /// Every rate tried, in order.
    pub walk: Vec<FindMaxProbe>,
}

/// One rate a `find_max_rps` search tried.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FindMaxProbe {
    pub step: String,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub p99_ms: f64,
    pub error_rate: f64,
    pub passed: bool,
    /// `met`, `broken` (Envoy missed the SLO) or `client_bound` (the SLO was missed while
    /// the load generator was saturated: the probe says nothing of Envoy).
    #[serde(default)]
    pub verdict: String,
    /// The load generator reported itself saturated during the probe.
    #[serde(default)]
    pub client_bound: bool,
    /// Why it failed, in words (empty when it passed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}
