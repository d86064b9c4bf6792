//! Misbehaviour on top of a [`Behavior`](crate::Behavior): requests that hang, connections
//! reset or closed after a response, bodies trickled out. Plain data like the rest of the
//! behaviour, validated here and turned into a small table the hot path draws from.
//!
//! An endpoint that refuses connections altogether is not chaos of a request but of the
//! endpoint: see [`UpstreamHandle::set_up`](crate::UpstreamHandle::set_up).

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::behavior::MAX_LATENCY;
use crate::MockError;

/// How far `reset + hang` may exceed 1 (rounding in `33.3%` style specs).
const SHARE_SUM_TOLERANCE: f64 = 1e-6;

/// Chaos an endpoint adds to its answers. The default is no chaos: every request is
/// answered normally.
///
/// Per request, in this order:
/// 1. *refuse*: a down endpoint accepts no connection at all (not a field; see
///    [`UpstreamHandle::set_up`](crate::UpstreamHandle::set_up));
/// 2. *reset*: with probability `reset` the request is read, then the TCP connection is
///    reset (RST) before any byte of its response;
/// 3. *hang*: with probability `hang` the request is read and never answered; it waits
///    until the client gives up or the server shuts down;
/// 4. *latency*: the delay of the behaviour;
/// 5. *status, close, slow body*: the status from the mix, then with probability `close`
///    the response ends its connection (`connection: close` on HTTP/1.1, GOAWAY on HTTP/2),
///    and the body is sent as [`slow_body`](Chaos::slow_body) says.
///
/// One draw decides between reset, hang and answer, so `reset` and `hang` are shares of all
/// requests and sum to at most 1; `close` is a share of the answered requests. Every draw is
/// independent of the others and of the status mix, and comes from the connection's own RNG
/// like the status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Chaos {
    /// Share of requests never answered, as a fraction in `0..=1`.
    pub hang: f64,
    /// Share of requests whose connection is reset, as a fraction in `0..=1`. On HTTP/2 the
    /// reset takes every other stream of the connection with it, as a real RST would.
    pub reset: f64,
    /// Share of answered requests whose response closes the connection, in `0..=1`.
    pub close: f64,
    /// Send response bodies in chunks with a pause before each; `None` sends them at once.
    pub slow_body: Option<SlowBody>,
}

/// A body trickled out: the headers go at once, then `chunk_bytes` of body after each
/// `interval`, so a body of `n` bytes takes `ceil(n / chunk_bytes) × interval`. Bodies of
/// HEAD requests and empty bodies are not delayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowBody {
    /// Bytes per chunk, at least 1.
    pub chunk_bytes: usize,
    /// Pause before each chunk.
    pub interval: Duration,
}

impl Chaos {
    /// True when this adds nothing, so the server can skip every chaos draw.
    pub fn is_off(&self) -> bool {
        self.hang == 0.0 && self.reset == 0.0 && self.close == 0.0 && self.slow_body.is_none()
    }

    /// Checks that every share is a fraction in `0..=1`, that `reset + hang` is at most 1,
    /// and that a slow body has chunks of at least one byte and an interval of at most
    /// [`MAX_LATENCY`].
    pub fn validate(&self) -> Result<(), MockError> {
        for (name, share) in [
            ("hang", self.hang),
            ("reset", self.reset),
            ("close", self.close),
        ] {
            if !share.is_finite() || !(0.0..=1.0).contains(&share) {
                return Err(invalid(format!(
                    "{name} share {share} is not a fraction in 0..=1"
                )));
            }
        }
        if self.reset + self.hang > 1.0 + SHARE_SUM_TOLERANCE {
            return Err(invalid(format!(
                "reset ({}) and hang ({}) shares add up to more than 1 (100%)",
                self.reset, self.hang
            )));
        }
        if let Some(slow) = &self.slow_body {
            if slow.chunk_bytes == 0 {
                return Err(invalid("slow body chunks must be at least 1 byte".into()));
            }
            if slow.interval > MAX_LATENCY {
                return Err(invalid(format!(
                    "slow body interval {:?} is longer than the limit of {MAX_LATENCY:?}",
                    slow.interval
                )));
            }
        }
        Ok(())
    }
}

fn invalid(message: String) -> MockError {
    MockError::InvalidBehavior(message)
}

// === impl ChaosTable ===

/// What the server does with a request before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Answer it.
    Answer,
    /// Read it and never answer.
    Hang,
    /// Read it and reset the connection.
    Reset,
}

/// A validated [`Chaos`] as thresholds for one uniform draw each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChaosTable {
    /// A fate draw below this resets.
    reset_below: f64,
    /// A fate draw below this (and not below `reset_below`) hangs.
    hang_below: f64,
    close: f64,
    slow_body: Option<SlowBody>,
}

impl ChaosTable {
    /// Builds the table after checking `chaos`.
    pub(crate) fn new(chaos: &Chaos) -> Result<Self, MockError> {
        chaos.validate()?;
        Ok(Self {
            reset_below: chaos.reset,
            hang_below: chaos.reset + chaos.hang,
            close: chaos.close,
            slow_body: chaos.slow_body,
        })
    }

    /// Decides between reset, hang and answer. Touches the RNG only when one of the first
    /// two can happen.
    #[inline]
    pub(crate) fn draw_fate<R: Rng + ?Sized>(&self, rng: &mut R) -> Fate {
        if self.hang_below <= 0.0 {
            return Fate::Answer;
        }
        // `random` is in 0..1, so a share of 1 always hits and a share of 0 never does.
        let u: f64 = rng.random();
        if u < self.reset_below {
            Fate::Reset
        } else if u < self.hang_below {
            Fate::Hang
        } else {
            Fate::Answer
        }
    }

    /// Decides whether an answer closes its connection.
    #[inline]
    pub(crate) fn draw_close<R: Rng + ?Sized>(&self, rng: &mut R) -> bool {
        self.close > 0.0 && rng.random::<f64>() < self.close
    }

    /// How to trickle bodies, if at all.
    #[inline]
    pub(crate) fn slow_body(&self) -> Option<SlowBody> {
        self.slow_body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn chaos(reset: f64, hang: f64, close: f64) -> Chaos {
        Chaos {
            hang,
            reset,
            close,
            slow_body: None,
        }
    }

    #[test]
    fn default_is_off_and_valid() {
        assert!(Chaos::default().is_off());
        assert!(Chaos::default().validate().is_ok());
        let slow = Chaos {
            slow_body: Some(SlowBody {
                chunk_bytes: 1,
                interval: Duration::ZERO,
            }),
            ..Chaos::default()
        };
        assert!(!slow.is_off());
        assert!(slow.validate().is_ok());
    }

    #[test]
    fn bad_chaos_is_refused() {
        let slow = |chunk_bytes, interval| Chaos {
            slow_body: Some(SlowBody {
                chunk_bytes,
                interval,
            }),
            ..Chaos::default()
        };
        let cases = [
            (chaos(-0.1, 0.0, 0.0), "reset share"),
            (chaos(0.0, 1.5, 0.0), "hang share"),
            (chaos(0.0, 0.0, f64::NAN), "close share"),
            (chaos(0.6, 0.5, 0.0), "add up to more than 1"),
            (slow(0, Duration::from_millis(1)), "at least 1 byte"),
            (slow(1, MAX_LATENCY * 2), "longer than the limit"),
        ];
        for (bad, message) in cases {
            let error = bad.validate().expect_err(message).to_string();
            assert!(error.contains(message), "{bad:?}: {error}");
        }
        assert!(
            chaos(0.5, 0.5, 1.0).validate().is_ok(),
            "exactly 100% is fine"
        );
    }

    #[test]
    fn fates_follow_the_shares() {
        let table = ChaosTable::new(&chaos(0.1, 0.25, 0.0)).unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 100_000;
        let (mut reset, mut hang) = (0u64, 0u64);
        for _ in 0..n {
            match table.draw_fate(&mut rng) {
                Fate::Reset => reset += 1,
                Fate::Hang => hang += 1,
                Fate::Answer => {}
            }
        }
        // 4.5 binomial standard deviations.
        let within = |count: u64, p: f64| {
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            (count as f64 - n as f64 * p).abs() <= 4.5 * sd
        };
        assert!(within(reset, 0.1), "reset {reset}");
        assert!(within(hang, 0.25), "hang {hang}");
    }

    #[test]
    fn extremes_are_exact() {
        let mut rng = SmallRng::seed_from_u64(1);
        let all_reset = ChaosTable::new(&chaos(1.0, 0.0, 1.0)).unwrap();
        let all_hang = ChaosTable::new(&chaos(0.0, 1.0, 0.0)).unwrap();
        let none = ChaosTable::new(&chaos(0.0, 0.0, 0.0)).unwrap();
        for _ in 0..10_000 {
            assert_eq!(all_reset.draw_fate(&mut rng), Fate::Reset);
            assert!(all_reset.draw_close(&mut rng));
            assert_eq!(all_hang.draw_fate(&mut rng), Fate::Hang);
            assert_eq!(none.draw_fate(&mut rng), Fate::Answer);
            assert!(!none.draw_close(&mut rng));
        }
    }

    #[test]
    fn json_shape() {
        let c = Chaos {
            hang: 0.05,
            reset: 0.01,
            close: 0.1,
            slow_body: Some(SlowBody {
                chunk_bytes: 100,
                interval: Duration::from_millis(50),
            }),
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "hang": 0.05, "reset": 0.01, "close": 0.1,
                "slow_body": {"chunk_bytes": 100, "interval": {"secs": 0, "nanos": 50_000_000}}
            })
        );
        let partial: Chaos = serde_json::from_str(r#"{"hang": 0.5}"#).unwrap();
        assert_eq!(partial, chaos(0.0, 0.5, 0.0));
        assert!(serde_json::from_str::<Chaos>(r#"{"hnag": 0.5}"#).is_err());
    }
}
