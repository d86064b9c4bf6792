//! What a mock endpoint does with a request: plain data, validated by the scenario
//! layer before it gets here, and swappable while the endpoint runs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::grpc::GrpcStatusMix;
use crate::{Chaos, MockError};

/// How an endpoint answers. Every field is plain data so it can be logged, diffed and
/// written into `result.json` as is. `Behavior::default()` answers normally: at once, 200,
/// empty body, no chaos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Behavior {
    /// Time the endpoint waits before it answers.
    pub latency: Latency,
    /// Which status codes it answers with, and how often.
    pub statuses: StatusMix,
    /// Size of the response body in bytes.
    pub body_bytes: usize,
    /// Hangs, resets, closes and slow bodies; none by default. Left out of the JSON when
    /// off, so behaviours without chaos serialise as they always did.
    #[serde(default, skip_serializing_if = "Chaos::is_off")]
    pub chaos: Chaos,
    /// Answer as a unary gRPC method with statuses from this mix (see [`crate::grpc`]);
    /// `statuses` is then unused and `body_bytes` is the size of the message. `None` (the
    /// default, left out of the JSON) answers plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcStatusMix>,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            latency: Latency::Zero,
            statuses: StatusMix::always(200),
            body_bytes: 0,
            chaos: Chaos::default(),
            grpc: None,
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

// === impl validation ===

/// The largest body a mock serves. The body is held in memory once per behaviour, so this
/// only guards against a typo such as `1GB` for `1KB` eating the machine.
pub const MAX_BODY_BYTES: usize = 1 << 30;

/// The longest delay a mock waits. Longer than any run, so "hang" scenarios still fit, and
/// short enough that sampling arithmetic in nanoseconds cannot overflow.
pub const MAX_LATENCY: Duration = Duration::from_secs(24 * 3600);

/// How far the weights of a [`StatusMix`] may stray from 1 (rounding in `33.3%` specs).
const WEIGHT_SUM_TOLERANCE: f64 = 1e-6;

impl Behavior {
    /// Checks that this behaviour can be served: see [`Latency::validate`],
    /// [`StatusMix::validate`] and [`Chaos::validate`]; the body must be at most
    /// [`MAX_BODY_BYTES`].
    pub fn validate(&self) -> Result<(), MockError> {
        self.latency.validate()?;
        self.statuses.validate()?;
        self.chaos.validate()?;
        if let Some(grpc) = &self.grpc {
            grpc.validate()?;
        }
        if self.body_bytes > MAX_BODY_BYTES {
            return Err(invalid(format!(
                "body of {} bytes is larger than the limit of {MAX_BODY_BYTES}",
                self.body_bytes
            )));
        }
        Ok(())
    }
}

impl Latency {
    /// Checks the distribution: `min <= max` for `Uniform`; for `Percentiles` at least one
    /// point, percentiles in 0..=100 and strictly increasing, delays non-decreasing; no delay
    /// above [`MAX_LATENCY`].
    pub fn validate(&self) -> Result<(), MockError> {
        let check_max = |d: &Duration| {
            if *d > MAX_LATENCY {
                Err(invalid(format!(
                    "latency {d:?} is longer than the limit of {MAX_LATENCY:?}"
                )))
            } else {
                Ok(())
            }
        };
        match self {
            Latency::Zero => Ok(()),
            Latency::Fixed(d) => check_max(d),
            Latency::Uniform { min, max } => {
                check_max(max)?;
                if min > max {
                    return Err(invalid(format!(
                        "uniform latency has min {min:?} above max {max:?}"
                    )));
                }
                Ok(())
            }
            Latency::Percentiles(points) => {
                if points.is_empty() {
                    return Err(invalid(
                        "percentile latency needs at least one point".into(),
                    ));
                }
                let mut previous: Option<(f64, Duration)> = None;
                for &(p, d) in points {
                    check_max(&d)?;
                    if !p.is_finite() || !(0.0..=100.0).contains(&p) {
                        return Err(invalid(format!("percentile {p} is outside 0..=100")));
                    }
                    if let Some((prev_p, prev_d)) = previous {
                        if p <= prev_p {
                            return Err(invalid(format!(
                                "percentiles must increase, but p{p} follows p{prev_p}"
                            )));
                        }
                        if d < prev_d {
                            return Err(invalid(format!(
                                "latency must not decrease with the percentile, but \
                                 p{p}={d:?} is below p{prev_p}={prev_d:?}"
                            )));
                        }
                    }
                    previous = Some((p, d));
                }
                Ok(())
            }
        }
    }
}

impl StatusMix {
    /// Checks the mix: at least one status, each a final response code (200..=599) listed
    /// once, weights finite and non-negative, summing to 1.
    pub fn validate(&self) -> Result<(), MockError> {
        if self.0.is_empty() {
            return Err(invalid("status mix needs at least one status".into()));
        }
        let mut sum = 0.0;
        for (i, &(code, weight)) in self.0.iter().enumerate() {
            // 1xx are interim responses: HTTP cannot end an exchange with one.
            if !(200..=599).contains(&code) {
                return Err(invalid(format!("status {code} is not in 200..=599")));
            }
            if self.0[..i].iter().any(|&(c, _)| c == code) {
                return Err(invalid(format!("status {code} is listed twice")));
            }
            if !weight.is_finite() || weight < 0.0 {
                return Err(invalid(format!(
                    "status {code} has weight {weight}; weights are fractions in 0..=1"
                )));
            }
            sum += weight;
        }
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            return Err(invalid(format!(
                "status weights sum to {sum}, not 1 (100%)"
            )));
        }
        Ok(())
    }
}

fn invalid(message: String) -> MockError {
    MockError::InvalidBehavior(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_without_chaos_reads_and_writes_as_before() {
        let old = r#"{"latency":"zero","statuses":[[200,1.0]],"body_bytes":3}"#;
        let behavior: Behavior = serde_json::from_str(old).unwrap();
        assert!(behavior.chaos.is_off());
        assert_eq!(serde_json::to_string(&behavior).unwrap(), old);
        let chaotic = Behavior {
            chaos: Chaos {
                hang: 0.5,
                ..Chaos::default()
            },
            ..behavior
        };
        let json = serde_json::to_string(&chaotic).unwrap();
        assert!(json.contains(r#""chaos":{"hang":0.5"#), "{json}");
        assert_eq!(serde_json::from_str::<Behavior>(&json).unwrap(), chaotic);
    }

    #[test]
    fn chaos_is_validated_with_the_rest() {
        let bad = Behavior {
            chaos: Chaos {
                reset: 2.0,
                ..Chaos::default()
            },
            ..Behavior::default()
        };
        assert!(matches!(bad.validate(), Err(MockError::InvalidBehavior(_))));
    }
}
