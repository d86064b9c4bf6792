//! Resilience policies as plain data: validated by `scenario`, translated to Envoy protos by
//! `xds`, changed by the timeline. One definition serves all three, so a policy cannot mean
//! one thing in the scenario file and another on the wire.
//!
//! Field semantics follow Envoy's (the names in comments are Envoy's proto fields). Istio's
//! names map one to one; see the table in README.md ("Policies").

use std::time::Duration;

use serde::Serialize;

/// Per-route policies (Envoy `RouteAction` plus per-route filter config).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoutePolicy {
    /// `RouteAction.timeout`: the whole request, retries included. `None` = Envoy's 15 s.
    pub timeout: Option<Duration>,
    /// `RouteAction.idle_timeout`: a stream with no activity for this long is reset.
    pub idle_timeout: Option<Duration>,
    pub retries: Option<RetryPolicy>,
    /// `RouteAction.request_mirror_policies`.
    pub mirrors: Vec<Mirror>,
    /// HTTP fault filter, configured per route.
    pub fault: Option<FaultPolicy>,
    /// HTTP local rate limit filter, configured per route.
    pub rate_limit: Option<LocalRateLimit>,
}

/// When and how often Envoy retries (`RetryPolicy`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryPolicy {
    /// `retry_on`, e.g. `5xx`, `gateway-error`, `reset`, `connect-failure`,
    /// `retriable-status-codes`, and for gRPC `unavailable`, `cancelled`, … Envoy's own
    /// spelling, validated against the list Envoy documents.
    pub retry_on: Vec<String>,
    /// `num_retries`: retries after the first try (Istio's `attempts`), so 2 means up to 3 tries.
    pub num_retries: u32,
    /// `per_try_timeout`.
    pub per_try_timeout: Option<Duration>,
    /// `per_try_idle_timeout`.
    pub per_try_idle_timeout: Option<Duration>,
    /// `retry_back_off`: base and max interval (Envoy's defaults 25 ms / 250 ms when `None`).
    pub backoff: Option<Backoff>,
    /// `retriable_status_codes` (used with `retriable-status-codes`).
    pub retriable_status_codes: Vec<u16>,
    /// `retry_host_predicate: previous_hosts`: a retry avoids endpoints already tried.
    pub avoid_previous_hosts: bool,
    /// `host_selection_retry_max_attempts` (with `avoid_previous_hosts`).
    pub host_selection_attempts: u32,
}

/// `RetryPolicy.retry_back_off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

/// One request mirror (`RequestMirrorPolicy`): a shadow copy of each request, fire and forget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mirror {
    pub cluster: String,
    /// Share of requests mirrored, 0.0..=100.0 (`runtime_fraction`).
    pub percent: f64,
}

/// HTTP fault injection for one route (`envoy.extensions.filters.http.fault.v3.HTTPFault`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaultPolicy {
    pub delay: Option<FaultDelay>,
    pub abort: Option<FaultAbort>,
    /// Only requests matching every header are faulted (Istio's `match.headers`).
    pub headers: Vec<HeaderMatch>,
}

/// A fixed delay on a share of requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultDelay {
    pub fixed: Duration,
    /// 0.0..=100.0
    pub percent: f64,
}

/// A local answer instead of the upstream's, on a share of requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultAbort {
    pub kind: AbortKind,
    /// 0.0..=100.0
    pub percent: f64,
}

/// What an aborted request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortKind {
    /// An HTTP status, 200..=599.
    Http(u16),
    /// A gRPC status code, 0..=16.
    Grpc(u32),
}

/// A request header condition (`HeaderMatcher`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderMatch {
    /// Lower-case header name.
    pub name: String,
    pub value: HeaderValueMatch,
}

/// How a header's value must look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderValueMatch {
    Exact(String),
    Prefix(String),
    /// The header is present, whatever its value.
    Present,
    /// The header is absent.
    Absent,
}

/// A token bucket for one route, shared by all of Envoy's workers (HTTP `LocalRateLimit`
/// with `local_rate_limit_per_downstream_connection: false`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalRateLimit {
    /// Bucket size (`max_tokens`).
    pub max_tokens: u32,
    /// Tokens added each `fill_interval` (`tokens_per_fill`).
    pub tokens_per_fill: u32,
    pub fill_interval: Duration,
    /// Status answered when limited (Envoy's default 429).
    pub status: u16,
}

/// Per-cluster policies (Envoy `Cluster`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClusterPolicy {
    pub circuit_breakers: Option<CircuitBreakers>,
    pub outlier_detection: Option<OutlierDetection>,
    pub lb_policy: LbPolicy,
    pub health_check: Option<HealthCheck>,
    /// `max_requests_per_connection` (HTTP protocol options); `None` = unlimited.
    pub max_requests_per_connection: Option<u32>,
}

/// `circuit_breakers.thresholds` for the default priority. `None` keeps Envoy's default
/// (1024 for each; 3 for retries).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CircuitBreakers {
    pub max_connections: Option<u32>,
    pub max_pending_requests: Option<u32>,
    pub max_requests: Option<u32>,
    pub max_retries: Option<u32>,
    /// `track_remaining`: publish `remaining_*` gauges.
    pub track_remaining: bool,
    pub retry_budget: Option<RetryBudget>,
}

/// `thresholds.retry_budget`: retries limited to a share of active requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryBudget {
    /// 0.0..=100.0 (`budget_percent`, Envoy's default 20%).
    pub budget_percent: f64,
    /// `min_retry_concurrency` (Envoy's default 3).
    pub min_retry_concurrency: u32,
}

/// `outlier_detection`. `None` fields keep Envoy's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutlierDetection {
    /// `consecutive_5xx` (Istio `consecutive5xxErrors`).
    pub consecutive_5xx: Option<u32>,
    /// `consecutive_gateway_failure` (Istio `consecutiveGatewayErrors`).
    pub consecutive_gateway_failure: Option<u32>,
    /// `interval` (Envoy's default 10 s).
    pub interval: Option<Duration>,
    /// `base_ejection_time` (Envoy's default 30 s).
    pub base_ejection_time: Option<Duration>,
    /// `max_ejection_percent` (Envoy's default 10%).
    pub max_ejection_percent: Option<u32>,
}

/// `lb_policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    #[default]
    RoundRobin,
    LeastRequest,
    Random,
    RingHash,
}

/// An active HTTP health check (`health_checks[0].http_health_check`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub unhealthy_threshold: u32,
    pub healthy_threshold: u32,
}
