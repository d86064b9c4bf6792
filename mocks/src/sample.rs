//! Drawing a latency and a status for one request, from tables built once per behaviour.
//!
//! The tables are immutable and the random source is passed in, so a connection can sample
//! with its own `SmallRng` and no request ever touches a lock or a shared RNG.

use std::time::Duration;

use http::StatusCode;
use rand::Rng;

use crate::{Latency, MockError, StatusMix};

/// A [`Latency`] turned into what sampling needs: nanoseconds as numbers, percentiles as
/// quantiles with the implicit `(p0, 0)` point added.
#[derive(Debug, Clone)]
pub enum LatencySampler {
    /// Always zero: the server skips the timer entirely.
    Zero,
    /// Always this delay.
    Fixed(Duration),
    /// `min + uniform(0..=span)` nanoseconds.
    Uniform {
        /// Lower bound in nanoseconds.
        min_ns: u64,
        /// `max - min` in nanoseconds.
        span_ns: u64,
    },
    /// Piecewise-linear inverse CDF: `(quantile in 0..=1, nanoseconds)`, quantiles strictly
    /// increasing, starting at quantile 0.
    Percentiles(Box<[(f64, f64)]>),
}

impl LatencySampler {
    /// Builds the sampler after checking the distribution.
    pub fn new(latency: &Latency) -> Result<Self, MockError> {
        latency.validate()?;
        Ok(match latency {
            Latency::Zero => Self::Zero,
            Latency::Fixed(d) if d.is_zero() => Self::Zero,
            Latency::Fixed(d) => Self::Fixed(*d),
            Latency::Uniform { min, max } => {
                // Validation caps latency far below u64::MAX nanoseconds.
                let min_ns = nanos(*min);
                Self::Uniform {
                    min_ns,
                    span_ns: nanos(*max).saturating_sub(min_ns),
                }
            }
            Latency::Percentiles(points) => {
                let mut table = Vec::with_capacity(points.len() + 1);
                // The doc contract: the distribution starts at 0 delay at p0 unless the
                // caller pinned p0 itself.
                if points.first().is_some_and(|&(p, _)| p > 0.0) {
                    table.push((0.0, 0.0));
                }
                table.extend(points.iter().map(|&(p, d)| (p / 100.0, nanos(d) as f64)));
                Self::Percentiles(table.into_boxed_slice())
            }
        })
    }

    /// Draws one delay.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match self {
            Self::Zero => Duration::ZERO,
            Self::Fixed(d) => *d,
            Self::Uniform { min_ns, span_ns } => {
                Duration::from_nanos(min_ns + rng.random_range(0..=*span_ns))
            }
            Self::Percentiles(table) => Duration::from_nanos(inverse_cdf(table, rng.random())),
        }
    }

    /// True when every sample is zero, so the caller can skip the timer.
    pub fn is_zero(&self) -> bool {
        matches!(self, Self::Zero)
    }
}

/// Interpolates the delay at quantile `u` (in `0..1`) from a table of `(quantile, nanos)`
/// starting at quantile 0; past the last point the last delay holds up to p100.
fn inverse_cdf(table: &[(f64, f64)], u: f64) -> u64 {
    // First point whose quantile is above u; the point before it is at or below u.
    let i = table.partition_point(|&(q, _)| q <= u);
    let value = match (i.checked_sub(1).and_then(|j| table.get(j)), table.get(i)) {
        (Some(&(q0, n0)), Some(&(q1, n1))) => n0 + (u - q0) / (q1 - q0) * (n1 - n0),
        (Some(&(_, n)), None) | (None, Some(&(_, n))) => n,
        (None, None) => 0.0,
    };
    // `as` saturates; values are bounded by validation anyway.
    value.round() as u64
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A [`StatusMix`] as cumulative weights, so a draw is one uniform number and a binary
/// search over a handful of entries.
#[derive(Debug, Clone)]
pub struct StatusTable {
    /// Cumulative weight up to and including each status, normalised so the last is 1.
    cumulative: Box<[f64]>,
    /// The statuses, in the order of `cumulative`.
    codes: Box<[StatusCode]>,
}

impl StatusTable {
    /// Builds the table after checking the mix.
    pub fn new(mix: &StatusMix) -> Result<Self, MockError> {
        mix.validate()?;
        let total: f64 = mix.0.iter().map(|&(_, w)| w).sum();
        if total <= 0.0 {
            return Err(MockError::InvalidBehavior(
                "status weights are all zero".into(),
            ));
        }
        let mut running = 0.0;
        let mut cumulative = Vec::with_capacity(mix.0.len());
        let mut codes = Vec::with_capacity(mix.0.len());
        for &(code, weight) in &mix.0 {
            running += weight / total;
            cumulative.push(running);
            codes.push(StatusCode::from_u16(code).map_err(|_| {
                MockError::InvalidBehavior(format!("status {code} is not a valid HTTP status"))
            })?);
        }
        // Rounding may leave the sum a hair below 1; the last entry must catch every draw.
        if let Some(last) = cumulative.last_mut() {
            *last = f64::INFINITY;
        }
        Ok(Self {
            cumulative: cumulative.into_boxed_slice(),
            codes: codes.into_boxed_slice(),
        })
    }

    /// Draws one status. A single-status mix does not touch the RNG.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> StatusCode {
        if let [only] = &*self.codes {
            return *only;
        }
        let u: f64 = rng.random();
        // Zero-weight entries share their predecessor's cumulative value, so `<=` skips them.
        let i = self.cumulative.partition_point(|&c| c <= u);
        self.codes
            .get(i)
            .or(self.codes.last())
            .copied()
            .unwrap_or(StatusCode::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(0x6a75_6e74_6c65)
    }

    /// Empirical quantile `q` of sorted samples.
    fn quantile(sorted: &[Duration], q: f64) -> Duration {
        let i = ((sorted.len() as f64 * q) as usize).min(sorted.len() - 1);
        sorted[i]
    }

    fn assert_close(actual: Duration, expected: Duration, rel: f64, what: &str) {
        let (a, e) = (actual.as_secs_f64(), expected.as_secs_f64());
        assert!(
            (a - e).abs() <= e * rel,
            "{what}: got {actual:?}, expected {expected:?} ± {}%",
            rel * 100.0
        );
    }

    #[test]
    fn percentiles_match_their_points() {
        let latency = Latency::Percentiles(vec![(50.0, ms(5)), (90.0, ms(10)), (99.0, ms(40))]);
        let sampler = LatencySampler::new(&latency).unwrap();
        let mut rng = rng();
        let mut samples: Vec<Duration> = (0..200_000).map(|_| sampler.sample(&mut rng)).collect();
        samples.sort();
        // The given points, points interpolated between them, and the hold after the last.
        let expected = [
            (0.25, ms(2) + Duration::from_micros(500)),
            (0.50, ms(5)),
            (0.70, Duration::from_micros(7500)),
            (0.90, ms(10)),
            (0.99, ms(40)),
        ];
        for (q, want) in expected {
            assert_close(
                quantile(&samples, q),
                want,
                0.03,
                &format!("p{}", q * 100.0),
            );
        }
        assert_eq!(
            quantile(&samples, 0.995),
            ms(40),
            "holds the last point to p100"
        );
        assert_eq!(*samples.last().unwrap(), ms(40));
        assert!(samples[0] < Duration::from_micros(50), "starts at 0 at p0");
    }

    #[test]
    fn percentiles_with_explicit_p0() {
        let latency = Latency::Percentiles(vec![(0.0, ms(10)), (100.0, ms(20))]);
        let sampler = LatencySampler::new(&latency).unwrap();
        let mut rng = rng();
        for _ in 0..10_000 {
            let d = sampler.sample(&mut rng);
            assert!((ms(10)..=ms(20)).contains(&d), "{d:?}");
        }
    }

    #[test]
    fn uniform_stays_in_bounds_and_covers_them() {
        let sampler = LatencySampler::new(&Latency::Uniform {
            min: ms(1),
            max: ms(5),
        })
        .unwrap();
        let mut rng = rng();
        let samples: Vec<Duration> = (0..100_000).map(|_| sampler.sample(&mut rng)).collect();
        assert!(samples.iter().all(|d| (ms(1)..=ms(5)).contains(d)));
        let lo = samples.iter().min().unwrap();
        let hi = samples.iter().max().unwrap();
        assert!(*lo < ms(1) + Duration::from_micros(10), "min {lo:?}");
        assert!(*hi > ms(5) - Duration::from_micros(10), "max {hi:?}");
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        assert_close(mean, ms(3), 0.01, "mean");
    }

    #[test]
    fn fixed_and_zero() {
        let mut rng = rng();
        let fixed = LatencySampler::new(&Latency::Fixed(ms(7))).unwrap();
        assert_eq!(fixed.sample(&mut rng), ms(7));
        assert!(LatencySampler::new(&Latency::Fixed(Duration::ZERO))
            .unwrap()
            .is_zero());
        assert!(LatencySampler::new(&Latency::Zero).unwrap().is_zero());
    }

    #[test]
    fn bad_latencies_are_refused() {
        let bad = [
            Latency::Uniform {
                min: ms(5),
                max: ms(1),
            },
            Latency::Percentiles(vec![]),
            Latency::Percentiles(vec![(99.0, ms(5)), (50.0, ms(6))]),
            Latency::Percentiles(vec![(50.0, ms(5)), (99.0, ms(1))]),
            Latency::Percentiles(vec![(101.0, ms(5))]),
            Latency::Percentiles(vec![(f64::NAN, ms(5))]),
            Latency::Fixed(Duration::from_secs(365 * 24 * 3600)),
        ];
        for latency in bad {
            assert!(LatencySampler::new(&latency).is_err(), "{latency:?}");
        }
    }

    /// Checks that `code` was drawn `p` of `n` times within 4.5 binomial standard deviations,
    /// a bound a correct sampler misses about once in 150,000 runs.
    fn assert_binomial(count: usize, n: usize, p: f64, code: u16) {
        let expected = n as f64 * p;
        let sigma = (n as f64 * p * (1.0 - p)).sqrt();
        let tolerance = 4.5 * sigma;
        assert!(
            (count as f64 - expected).abs() <= tolerance,
            "status {code}: {count} of {n}, expected {expected} ± {tolerance:.1}"
        );
    }

    #[test]
    fn status_proportions_follow_the_weights() {
        let mix = StatusMix(vec![(200, 0.7), (503, 0.25), (429, 0.05), (418, 0.0)]);
        let table = StatusTable::new(&mix).unwrap();
        let mut rng = rng();
        let n = 100_000;
        let mut counts = std::collections::BTreeMap::<u16, usize>::new();
        for _ in 0..n {
            *counts.entry(table.sample(&mut rng).as_u16()).or_default() += 1;
        }
        for &(code, p) in &mix.0 {
            assert_binomial(counts.get(&code).copied().unwrap_or(0), n, p, code);
        }
        assert!(!counts.contains_key(&418), "zero weight is never drawn");
    }

    #[test]
    fn single_status_is_constant() {
        let table = StatusTable::new(&StatusMix::always(503)).unwrap();
        let mut rng = rng();
        assert!((0..1000).all(|_| table.sample(&mut rng) == StatusCode::SERVICE_UNAVAILABLE));
    }

    #[test]
    fn bad_mixes_are_refused() {
        let bad = [
            StatusMix(vec![]),
            StatusMix(vec![(200, 0.5)]),
            StatusMix(vec![(200, 0.5), (200, 0.5)]),
            StatusMix(vec![(100, 1.0)]),
            StatusMix(vec![(600, 1.0)]),
            StatusMix(vec![(200, 1.5), (503, -0.5)]),
            StatusMix(vec![(200, f64::NAN)]),
        ];
        for mix in bad {
            assert!(StatusTable::new(&mix).is_err(), "{mix:?}");
        }
    }
}
