//! The hops of a single-service or integration run: who called whom through which proxy,
//! with each proxy's own figures and the callee's own count beside them.
//!
//! An edge is one caller → callee hop through one Envoy listener. `requests` and
//! `caller_errors` are what the caller saw (the listener's downstream counters, after
//! retries); `attempts` and `attempt_errors` are what went over the wire to the callee (the
//! cluster's upstream counters, retries included), which is what a mock counts itself. All
//! figures are deltas over the measured part of the step (warmup excluded, as in the load's
//! figures), the callees' own counts and the percentiles included.

use serde::{Deserialize, Serialize};

/// The hops of one phase of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceGraph {
    /// `single-service` or `integration`.
    pub phase: String,
    /// The step the figures were taken over (`envoy`).
    pub step: String,
    /// Seconds the rates are over: the load's measured part.
    pub seconds: f64,
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
    /// The sidecar Envoys that carried the edges (`ingress`, `egress`, `sidecar:<service>`,
    /// as the edges' `via` names them), kind `sidecar`, with their CPU and memory over the
    /// window and, in a container, its image, limits and throttling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<GraphNode>,
    /// Another phase's hops side by side with these (`compare_with:` in the scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared: Option<PhaseComparison>,
}

/// This run's hops beside a stored run's, matched by callee (and by caller where both
/// have it): a hop to `inventory` in the single-service phase against the hops to
/// `inventory` in the integration phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseComparison {
    /// The stored result compared against.
    pub source: String,
    /// Its phase and name.
    pub phase: String,
    pub name: String,
    pub hops: Vec<HopPair>,
}

/// One hop in both runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HopPair {
    pub from: String,
    pub to: String,
    /// This run's figures.
    pub this: HopFigures,
    /// The stored run's figures for the hop into the same callee.
    pub other: HopFigures,
    /// `this.p99_ms - other.p99_ms`, when both are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_delta_ms: Option<f64>,
    /// `this.error_rate - other.error_rate`.
    pub error_rate_delta: f64,
}

/// The figures compared for one hop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HopFigures {
    pub from: String,
    pub rps: f64,
    pub error_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
}

/// One box of the graph: the load generator, a service, or a mock dependency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    pub name: String,
    /// `load`, `service` (a process or container Gauntlet started), `mock-service` (built
    /// in), `mock`, or `sidecar` (in [`ServiceGraph::proxies`]).
    pub kind: String,
    /// Requests the node counted itself, when it counts (mocks do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<u64>,
    /// Mean CPU over the step, in cores: of the process, or of the container's cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores: Option<f64>,
    /// Memory at the end of the step, in MiB: a process's resident memory, or a container's
    /// working set (cgroup usage less inactive file pages) when `container.cgroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_mb: Option<f64>,
    /// The container it ran in, when it ran in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<NodeContainer>,
}

/// A node's container: its image, its limits (`None`: unlimited) and, when its cgroup could
/// be read, the CPU throttling over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeContainer {
    pub image: String,
    /// CPU limit in cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<f64>,
    /// Whether the node's CPU and memory figures are the container's cgroup's (every process
    /// in it); otherwise they are `/proc` of its main process.
    pub cgroup: bool,
    /// CFS periods over the window, and how many of them were throttled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_periods: Option<u64>,
    /// Time the container was held back by its CPU limit over the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_ms: Option<f64>,
}

/// One caller → callee hop through one Envoy listener.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    /// Which proxy carried it: `ingress`, `egress`, or `sidecar:<service>`.
    pub via: String,
    /// Requests the caller sent (listener `downstream_rq_total`).
    pub requests: u64,
    /// `requests` per second over the step.
    pub rps: f64,
    /// Requests the caller got a 5xx for, after retries (listener `downstream_rq_5xx`).
    pub caller_errors: u64,
    /// `caller_errors / requests` (0 when there were none).
    pub error_rate: f64,
    /// Requests sent to the callee, retries included (cluster `upstream_rq_total`).
    pub attempts: u64,
    /// Attempts answered 5xx (cluster `upstream_rq_5xx`).
    pub attempt_errors: u64,
    /// Retries Envoy made (cluster `upstream_rq_retry`).
    pub retries: u64,
    /// Requests Envoy timed out (cluster `upstream_rq_timeout`).
    pub timeouts: u64,
    /// Latency the caller saw at the proxy (listener `downstream_rq_time`), from the bins
    /// of Envoy's histogram recorded during the window (snapshots at its start and end), so
    /// within one of Envoy's bins (two significant digits of whole milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Requests the percentiles are taken over: the histogram's samples in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_samples: Option<u64>,
    /// Requests the callee counted itself (a mock's own counter), to check `attempts` by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_counted: Option<u64>,
}

impl ServiceGraph {
    /// The edge from `from` to `to`, if any.
    pub fn edge(&self, from: &str, to: &str) -> Option<&GraphEdge> {
        self.edges.iter().find(|e| e.from == from && e.to == to)
    }
}

/// `1.234` as `1.23`, or `–` when absent: for the renderers' tables.
pub fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"))
}
