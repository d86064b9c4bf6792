//! The result model: one serde struct tree, versioned, written as `result.json`.
//!
//! Everything a renderer shows is in here, already computed: renderers format, they never
//! compute statistics. Times are milliseconds as `f64` so the JSON reads without a decoder.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Schema identifier written into every `result.json`. Bump the suffix on any change that
/// removes or re-types a field; adding optional fields keeps it.
pub const SCHEMA: &str = "gauntlet.result/v1";

/// A whole run: one scenario, its steps and everything measured along the way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub schema: String,
    pub gauntlet_version: String,
    pub name: String,
    pub phase: String,
    pub status: RunStatus,
    /// What went wrong, when `status` is not `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub machine: Machine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy: Option<EnvoyInfo>,
    /// The resolved, validated scenario as the run saw it.
    pub scenario: serde_json::Value,
    pub steps: Vec<StepResult>,
    /// Latency Envoy adds: the `envoy` step minus the `baseline` step, per percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_latency: Option<AddedLatency>,
    /// Every timeline event, with the time it actually happened.
    #[serde(default)]
    pub events: Vec<EventRecord>,
    /// Every xDS push, with its ACK or NACK.
    #[serde(default)]
    pub xds: Vec<XdsPush>,
    /// Every gate of the scenario with its measured value and verdict.
    #[serde(default)]
    pub gates: Vec<GateResult>,
    /// Sweep points, CPU fits, capacity plan and `find_max_rps` walk, when the scenario
    /// asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizing: Option<crate::sizing::Sizing>,
    /// Single-service and integration phases: each hop's figures (ingress, service,
    /// egress; or the service graph's edges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<crate::graph::ServiceGraph>,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step ran to its end.
    Completed,
    /// Stopped by the user (SIGINT/SIGTERM); the figures are partial.
    Interrupted,
    /// Stopped by an error (Envoy crash, NACK, …); the figures are partial.
    Failed,
}

/// The machine the run was measured on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub cpus: usize,
    pub cpu_model: String,
}

/// Which Envoy ran, as Envoy itself reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EnvoyInfo {
    /// Semantic version from admin `/server_info`, e.g. `1.40.0`.
    pub version: String,
    /// Full build string from `/server_info`.
    pub build: String,
    pub binary: String,
    /// How the binary was found: explicit, env, path or managed; `container` for an image.
    pub source: String,
    pub concurrency: u32,
    /// The image and limits, when Envoy ran in a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerLimits>,
}

/// Envoy's container: its image and the limits it ran under (`None`: unlimited).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerLimits {
    pub image: String,
    /// CPU limit in cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<f64>,
}

/// One load step (`baseline`: client → mocks; `envoy`: client → Envoy → mocks).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepResult {
    pub name: String,
    /// Where the load went, e.g. `127.0.0.1:10000`.
    pub targets: Vec<String>,
    pub load: LoadSummary,
    /// Envoy's counters and gauges at the end of the step (admin `/stats`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub envoy_stats: BTreeMap<String, u64>,
    /// Each mock upstream's own counts for this step.
    #[serde(default)]
    pub mocks: BTreeMap<String, MockCounts>,
    /// Envoy's counters and gauges sampled about once a second during the step, for the
    /// stats that matter to the scenario (its clusters, its listener, server memory).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub envoy_series: Vec<StatSample>,
    /// CPU and memory of Envoy and of Gauntlet itself, sampled about once a second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceSample>,
    /// Envoy's and Gauntlet's resource use over the measured part of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_summary: Option<ResourceSummary>,
}

/// One sample of process resources (from `/proc`): CPU as cores used since the previous
/// sample (1.0 = one full core), memory as resident set size.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Offset from the step's start, seconds.
    pub t_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_cpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_rss_mb: Option<f64>,
    pub gauntlet_cpu: f64,
    pub gauntlet_rss_mb: f64,
    /// From Envoy's container cgroup (absent for a process): CFS periods in this interval
    /// and how many of them were throttled, and the time spent throttled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_periods: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_throttled_periods: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_throttled_ms: Option<f64>,
    /// Throttled periods over periods in this interval (0 when there were none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_throttled_share: Option<f64>,
    /// The container's memory: usage (page cache included), working set (usage less
    /// inactive file pages, what the OOM killer and Kubernetes look at), peak so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_memory_mb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_working_set_mb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_memory_peak_mb: Option<f64>,
}

/// Resource use over the measured part of a step (warmup excluded).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResourceSummary {
    /// Mean cores Envoy used (utime + stime over wall time).
    pub envoy_cpu_mean: f64,
    pub envoy_cpu_max: f64,
    /// Envoy's cores per 1000 achieved rps (mean CPU / achieved rps × 1000).
    pub envoy_cpu_per_krps: f64,
    pub envoy_rss_max_mb: f64,
    /// Cores the whole Gauntlet process used (load generator, mocks, xDS).
    pub gauntlet_cpu_mean: f64,
    /// Container only: the CPU limit, the share of CFS periods that were throttled, the
    /// throttled periods and time, and the largest working set and peak memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_cpu_limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_throttled_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_throttled_periods: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_throttled_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_working_set_max_mb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_memory_peak_mb: Option<f64>,
}

/// One sample of Envoy's stats during a step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatSample {
    /// Offset from the step's start, seconds.
    pub t_s: f64,
    pub stats: BTreeMap<String, u64>,
}

/// A gate's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateResult {
    /// The gate as written in the scenario.
    pub gate: String,
    pub passed: bool,
    /// The measured value, in the gate's unit; `None` when it could not be measured (which
    /// fails the gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
    /// The threshold it was compared with, in the same unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Unit of `measured` and `threshold`: `ms`, `ratio`, `count`, `rps`.
    pub unit: String,
    /// The time window it was evaluated over, in words (`whole step`, `20s..40s`, …).
    pub window: String,
    /// One sentence a person reads in a CI log: what was measured against what.
    pub detail: String,
}

/// What the load generator measured in one step (warmup excluded, except in `windows`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadSummary {
    /// `open` or `closed`.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    pub connections: u32,
    pub protocol: String,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub requests: u64,
    pub responses: u64,
    /// Responses by status code (HTTP; empty for gRPC calls, see `grpc_statuses`).
    pub statuses: BTreeMap<String, u64>,
    /// gRPC calls by `grpc-status` name (`OK`, `UNAVAILABLE`, …); only for `grpc` load.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grpc_statuses: BTreeMap<String, u64>,
    /// Failed requests by kind: connect, reset, timeout, protocol, other.
    pub failures: BTreeMap<String, u64>,
    /// Share of requests that failed, got a 5xx, or (gRPC) ended with a status other
    /// than `OK`.
    pub error_rate: f64,
    pub achieved_rps: f64,
    /// From the intended send time (coordinated-omission corrected).
    pub latency: Percentiles,
    /// From the actual send time.
    pub latency_uncorrected: Percentiles,
    /// How late sends went out against their schedule (open loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lateness: Option<Percentiles>,
    pub saturation: Saturation,
    /// One window per second of the step, warmup included and flagged.
    pub windows: Vec<Window>,
    /// True when the step ended before its planned end.
    #[serde(default)]
    pub cut_short: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Whether the load generator itself was the bottleneck.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saturation {
    /// True when the figures describe the client's limits more than the target's.
    pub client_bound: bool,
    /// Why it was flagged, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Share of sends whose intended time came while the connection was still busy.
    pub connections_busy: f64,
    /// The generator's own CPU use per worker thread (0..1).
    pub client_cpu: f64,
}

/// One second of a step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    /// Offset of the window's start from the step's start, in seconds.
    pub t_s: f64,
    pub warmup: bool,
    pub requests: u64,
    pub responses: u64,
    /// Responses by HTTP status code; gRPC calls by `grpc-status` name (`OK`, …).
    pub statuses: BTreeMap<String, u64>,
    pub failures: u64,
    /// Failures, 5xx responses, and gRPC calls that did not end `OK`.
    pub errors: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The window's latency histogram (µs, from intended send time) as a base64 HdrHistogram
    /// V2 deflate blob, so windows can be merged for any time range (gates, `.hlog`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

/// A mock upstream's own counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MockCounts {
    pub requests: u64,
    pub statuses: BTreeMap<String, u64>,
    /// gRPC answers by `grpc-status` name; only for gRPC upstreams.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grpc_statuses: BTreeMap<String, u64>,
    /// Requests per endpoint, in endpoint order.
    pub endpoints: Vec<u64>,
    /// Requests the mock left unanswered on purpose (chaos `hang`).
    #[serde(default)]
    pub hung: u64,
    /// Connections the mock reset on purpose (chaos `reset`).
    #[serde(default)]
    pub reset: u64,
    /// Responses after which the mock closed the connection (chaos `close`).
    #[serde(default)]
    pub closed: u64,
}

/// Latency added by Envoy: through-Envoy minus direct, per percentile, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct AddedLatency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// A timeline event as it happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecord {
    pub label: String,
    /// What the event did, in words.
    pub action: String,
    /// Planned offset from the start of the step, seconds.
    pub at_s: f64,
    /// Actual offset at which it was applied, seconds.
    pub applied_s: f64,
    /// Step it happened in.
    pub step: String,
    /// For xDS pushes: time from push to ACK, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One xDS push and Envoy's answer to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct XdsPush {
    pub node: String,
    /// `cluster`, `endpoint`, `listener` or `route`.
    pub resource_type: String,
    pub version: String,
    pub nonce: String,
    pub resources: Vec<String>,
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nacked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_ms: Option<f64>,
    /// Envoy's `error_detail` message for a NACK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunResult {
    /// A run as it starts: `completed` until something says otherwise, on an unknown
    /// machine and scenario, with nothing measured yet (no steps, events, pushes, gates,
    /// sizing or hops).
    pub fn started(name: &str, phase: &str, started_at: DateTime<Utc>) -> Self {
        RunResult {
            schema: SCHEMA.to_string(),
            gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
            name: name.to_string(),
            phase: phase.to_string(),
            status: RunStatus::Completed,
            error: None,
            started_at,
            finished_at: started_at,
            machine: Machine::default(),
            envoy: None,
            scenario: serde_json::Value::Null,
            steps: Vec::new(),
            added_latency: None,
            events: Vec::new(),
            xds: Vec::new(),
            gates: Vec::new(),
            sizing: None,
            graph: None,
        }
    }

    /// The step with this name.
    pub fn step(&self, name: &str) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.name == name)
    }
}
