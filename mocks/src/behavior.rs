//! What a mock endpoint does with a request: plain data, validated by the scenario
//! layer before it gets here, and swappable while the endpoint runs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How an endpoint answers. Every field is plain data so it can be logged, diffed and
/// written into `result.json` as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Behavior {
    /// Time the endpoint waits before it answers.
    pub latency: Latency,
    /// Which status codes it answers with, and how often.
    pub statuses: StatusMix,
    /// Size of the response body in bytes.
    pub body_bytes: usize,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            latency: Latency::Zero,
            statuses: StatusMix::always(200),
            body_bytes: 0,
        }
    }
}

/// A latency distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Latency {
    /// Answer at once.
    Zero,
    /// Always the same delay.
    Fixed(Duration),
    /// Uniformly distributed between `min` and `max` (inclusive).
    Uniform { min: Duration, max: Duration },
    /// A distribution given by percentile points, e.g. `[(50.0, 5ms), (99.0, 40ms)]`,
    /// sorted by percentile with non-decreasing delays. Sampling interpolates linearly in
    /// quantile space between the points, from 0 at p0, and holds the last delay up to p100.
    Percentiles(Vec<(f64, Duration)>),
}

/// A weighted choice of status codes. Weights are fractions that sum to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusMix(pub Vec<(u16, f64)>);

impl StatusMix {
    /// A mix that always answers `status`.
    pub fn always(status: u16) -> Self {
        Self(vec![(status, 1.0)])
    }
}
