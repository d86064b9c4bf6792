//! The policy sections as serde reads them: route policies (fields of [`super::raw::RawRoute`])
//! and cluster policies (`clusters.<upstream>`), each with its Istio spellings beside the
//! native ones (the validator refuses both spellings of one field at once).
//!
//! Fields that a timeline event may remove are [`Patch`]es; the others are `Option`s, where
//! `null` is the same as leaving the field out.

use serde::Deserialize;
use serde_yaml::Value;

use super::patch::{OneOrMany, Patch};
use super::raw::{OrderedMap, Scalar};

/// `retries:` of a route.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawRetries {
    /// A list, or a comma-separated string.
    pub on: Patch<OneOrMany<Scalar>>,
    /// Istio: a comma-separated string; HTTP status codes in it are retriable codes.
    #[serde(rename = "retryOn")]
    pub retry_on: Patch<OneOrMany<Scalar>>,
    pub attempts: Patch<i64>,
    pub per_try_timeout: Patch<Scalar>,
    #[serde(rename = "perTryTimeout")]
    pub per_try_timeout_istio: Patch<Scalar>,
    pub per_try_idle_timeout: Patch<Scalar>,
    pub backoff: Patch<RawBackoff>,
    pub retriable_status_codes: Patch<Vec<i64>>,
    pub avoid_previous_hosts: Patch<bool>,
    pub host_selection_attempts: Patch<i64>,
}

/// `retries.backoff:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawBackoff {
    pub base: Option<Scalar>,
    pub max: Option<Scalar>,
}

/// One entry of `mirror:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawMirror {
    pub cluster: Option<Scalar>,
    /// Istio's spelling of `cluster`.
    pub host: Option<Scalar>,
    pub percent: Option<Scalar>,
}

/// Istio's `percentage: { value: 12.5 }` (a percentage without `%`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawPercentage {
    pub value: Option<Scalar>,
}

/// `fault:` of a route.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawFault {
    pub delay: Patch<RawDelay>,
    pub abort: Patch<RawAbort>,
    pub headers: Patch<OrderedMap<Scalar, Value>>,
}

/// `fault.delay:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawDelay {
    pub fixed: Option<Scalar>,
    #[serde(rename = "fixedDelay")]
    pub fixed_delay: Option<Scalar>,
    pub percent: Option<Scalar>,
    pub percentage: Option<RawPercentage>,
}

/// `fault.abort:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawAbort {
    pub status: Option<i64>,
    #[serde(rename = "httpStatus")]
    pub http_status: Option<i64>,
    pub grpc_status: Option<i64>,
    /// Istio: a code name such as `UNAVAILABLE`, or a number.
    #[serde(rename = "grpcStatus")]
    pub grpc_status_istio: Option<Scalar>,
    pub percent: Option<Scalar>,
    pub percentage: Option<RawPercentage>,
}

/// `rate_limit:` of a route.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub requests_per_second: Option<i64>,
    pub max_tokens: Option<i64>,
    pub tokens_per_fill: Option<i64>,
    pub fill_interval: Option<Scalar>,
    pub status: Option<i64>,
}

/// One entry of `clusters:`, and the `set:` of a cluster event.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawCluster {
    pub circuit_breakers: Patch<RawCircuitBreakers>,
    pub outlier_detection: Patch<RawOutlier>,
    #[serde(rename = "outlierDetection")]
    pub outlier_detection_istio: Patch<RawOutlier>,
    pub lb_policy: Patch<Scalar>,
    #[serde(rename = "loadBalancer")]
    pub load_balancer: Patch<RawLoadBalancer>,
    pub health_check: Patch<RawHealthCheck>,
    pub max_requests_per_connection: Patch<i64>,
    #[serde(rename = "connectionPool")]
    pub connection_pool: Option<RawConnectionPool>,
}

/// `circuit_breakers:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawCircuitBreakers {
    pub max_connections: Patch<i64>,
    pub max_pending_requests: Patch<i64>,
    pub max_requests: Patch<i64>,
    pub max_retries: Patch<i64>,
    pub track_remaining: Option<bool>,
    pub retry_budget: Patch<RawRetryBudget>,
}

/// `circuit_breakers.retry_budget:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawRetryBudget {
    pub percent: Option<Scalar>,
    pub min_retry_concurrency: Option<i64>,
}

/// `outlier_detection:` (or Istio's `outlierDetection:`), with either spelling of each field.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawOutlier {
    pub consecutive_5xx: Patch<i64>,
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_istio: Patch<i64>,
    pub consecutive_gateway_failure: Patch<i64>,
    #[serde(rename = "consecutiveGatewayErrors")]
    pub consecutive_gateway_istio: Patch<i64>,
    pub interval: Patch<Scalar>,
    pub base_ejection_time: Patch<Scalar>,
    #[serde(rename = "baseEjectionTime")]
    pub base_ejection_time_istio: Patch<Scalar>,
    pub max_ejection_percent: Patch<Scalar>,
    #[serde(rename = "maxEjectionPercent")]
    pub max_ejection_percent_istio: Patch<Scalar>,
}

/// Istio's `loadBalancer:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawLoadBalancer {
    pub simple: Option<Scalar>,
    #[serde(rename = "consistentHash")]
    pub consistent_hash: Patch<Value>,
}

/// `health_check:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawHealthCheck {
    pub path: Option<Scalar>,
    pub interval: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub unhealthy_threshold: Option<i64>,
    pub healthy_threshold: Option<i64>,
}

/// Istio's `connectionPool:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawConnectionPool {
    pub tcp: Option<RawTcpPool>,
    pub http: Option<RawHttpPool>,
}

/// Istio's `connectionPool.tcp:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawTcpPool {
    #[serde(rename = "maxConnections")]
    pub max_connections: Patch<i64>,
}

/// Istio's `connectionPool.http:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawHttpPool {
    #[serde(rename = "http1MaxPendingRequests")]
    pub http1_max_pending_requests: Patch<i64>,
    #[serde(rename = "http2MaxRequests")]
    pub http2_max_requests: Patch<i64>,
    #[serde(rename = "maxRetries")]
    pub max_retries: Patch<i64>,
    #[serde(rename = "maxRequestsPerConnection")]
    pub max_requests_per_connection: Patch<i64>,
}
