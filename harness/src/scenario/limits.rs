//! Ceilings for absurd values: each one is a typo more often than an intent.

use std::time::Duration;

/// Upper bounds the validator enforces. Exceeding one is an error with a hint; a caller that
/// really means it (a CLI flag, say) passes raised limits to [`super::parse_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest scenario file read, in bytes.
    pub max_file_bytes: usize,
    /// Highest open-loop rate, requests per second.
    pub max_rate: f64,
    /// Most load connections.
    pub max_connections: u32,
    /// Most closed-loop requests in flight.
    pub max_concurrency: u32,
    /// Largest request or response body, in bytes.
    pub max_body_bytes: u64,
    /// Longest measured duration of a load step.
    pub max_duration: Duration,
    /// Most endpoints per upstream.
    pub max_endpoints: u32,
    /// Most upstreams.
    pub max_upstreams: usize,
    /// Most routes.
    pub max_routes: usize,
    /// Most timeline events.
    pub max_timeline_events: usize,
    /// Most load worker threads.
    pub max_workers: u32,
    /// Highest Envoy `--concurrency`.
    pub max_envoy_concurrency: u32,
    /// Most points of a `sweep:` (rates × connections × body sizes).
    pub max_sweep_points: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1 << 20,
            max_rate: 1_000_000.0,
            max_connections: 10_000,
            max_concurrency: 10_000,
            max_body_bytes: 64 << 20,
            max_duration: Duration::from_secs(24 * 3600),
            max_endpoints: 64,
            max_upstreams: 256,
            max_routes: 1_000,
            max_timeline_events: 10_000,
            max_workers: 64,
            max_envoy_concurrency: 64,
            max_sweep_points: 100,
        }
    }
}
