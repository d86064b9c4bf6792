//! The max-sustainable-rate search of `find_max_rps`, as plain code: [`Search`] says which
//! rate to try next from the verdicts so far, [`judge`] turns a probe's load summary into a
//! verdict. The runner (`run::sweep`) only measures; this is tested without I/O.
//!
//! The search doubles the rate from `start_rate` until the SLO breaks (or `max_rate`
//! passes), then bisects between the highest passing and the lowest failing rate until they
//! are within `precision` of each other. A probe that fails while the load generator was
//! saturated stops the search: the client's limit says nothing about Envoy's.

use gauntlet_reports::LoadSummary;

use crate::scenario::{FindMaxSpec, Slo};

/// A probe's outcome against the SLO.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    /// Envoy broke the SLO: why, in words.
    Fail(String),
    /// The SLO broke, but the load generator was the bottleneck: why, in words.
    ClientBound(String),
}

/// Why a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The passing and failing rates are within the precision.
    Converged,
    /// `max_rate` met the SLO.
    MaxRate,
    /// Even `start_rate` broke the SLO.
    BrokenAtStart,
    /// The load generator could not drive the rate.
    ClientBound,
    /// `max_steps` probes ran without converging.
    StepLimit,
}

impl Stop {
    /// The name stored in the result model.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Converged => "converged",
            Stop::MaxRate => "max_rate",
            Stop::BrokenAtStart => "slo_broken_at_start",
            Stop::ClientBound => "client_bound",
            Stop::StepLimit => "step_limit",
        }
    }
}

/// The search state: the highest rate that passed, the lowest that failed, what to try next.
#[derive(Debug, Clone)]
pub struct Search {
    max_rate: f64,
    precision: f64,
    max_steps: u32,
    steps: u32,
    pass: Option<f64>,
    fail: Option<f64>,
    next: Option<f64>,
    stop: Option<Stop>,
}

impl Search {
    pub fn new(spec: &FindMaxSpec) -> Self {
        Search {
            max_rate: spec.max_rate,
            precision: spec.precision,
            max_steps: spec.max_steps,
            steps: 0,
            pass: None,
            fail: None,
            next: Some(spec.start_rate),
            stop: None,
        }
    }

    /// The rate to probe next; `None` once the search has ended.
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// The highest rate that met the SLO so far.
    pub fn knee(&self) -> Option<f64> {
        self.pass
    }

    /// Why the search ended, once it has.
    pub fn stopped(&self) -> Option<Stop> {
        self.stop
    }

    /// Records the verdict for the rate `next_rate` returned and picks the next one.
    pub fn record(&mut self, rate: f64, verdict: &Verdict) {
        self.steps += 1;
        match verdict {
            Verdict::Pass => self.pass = Some(self.pass.map_or(rate, |p| p.max(rate))),
            Verdict::Fail(_) => self.fail = Some(self.fail.map_or(rate, |f| f.min(rate))),
            Verdict::ClientBound(_) => return self.end(Stop::ClientBound),
        }
        match (self.pass, self.fail) {
            (None, Some(_)) => self.end(Stop::BrokenAtStart),
            (Some(p), None) if p >= self.max_rate => self.end(Stop::MaxRate),
            (Some(p), Some(f)) if (f - p) / p <= self.precision => self.end(Stop::Converged),
            _ if self.steps >= self.max_steps => self.end(Stop::StepLimit),
            (Some(p), None) => self.next = Some((p * 2.0).min(self.max_rate)),
            (Some(p), Some(f)) => self.next = Some((p + f) / 2.0),
            (None, None) => unreachable!("a pass or a fail was just recorded"),
        }
    }

    fn end(&mut self, stop: Stop) {
        self.stop = Some(stop);
        self.next = None;
    }
}

/// Judges one probe: every SLO ceiling, and an achieved rate at least 90% of the target
/// (an open loop that cannot be driven is not a pass).
///
/// When the load generator reports itself saturated, a broken latency ceiling or a
/// shortfall is the client's doing (latency counts from the intended send time, so a late
/// client inflates it): the verdict is `ClientBound`. Broken errors are not: failed
/// requests and 5xx answers are what the target said, so they fail the probe either way.
pub fn judge(slo: &Slo, target_rps: f64, load: &LoadSummary) -> Verdict {
    let mut broken = Vec::new();
    let mut errors_broken = false;
    let p = &load.latency;
    let ceilings = [
        ("p50", slo.p50, p.p50_ms),
        ("p90", slo.p90, p.p90_ms),
        ("p99", slo.p99, p.p99_ms),
        ("p99.9", slo.p999, p.p999_ms),
    ];
    for (name, ceiling, measured) in ceilings {
        if let Some(c) = ceiling {
            let c_ms = c.as_secs_f64() * 1e3;
            if measured > c_ms || p.count == 0 {
                broken.push(format!("{name} {measured:.3} ms > {c_ms} ms"));
            }
        }
    }
    if let Some(max) = slo.errors {
        if load.error_rate > max {
            errors_broken = true;
            broken.push(format!(
                "errors {:.3}% > {}%",
                load.error_rate * 100.0,
                max * 100.0
            ));
        }
    }
    if load.achieved_rps < 0.9 * target_rps {
        broken.push(format!(
            "achieved {:.0} rps of {target_rps:.0}",
            load.achieved_rps
        ));
    }
    if broken.is_empty() {
        return Verdict::Pass;
    }
    let why = broken.join(", ");
    if load.saturation.client_bound && !errors_broken {
        let reason = load.saturation.reason.clone().unwrap_or_default();
        Verdict::ClientBound(format!("{why}; the load generator was saturated: {reason}"))
    } else {
        Verdict::Fail(why)
    }
}

/// The SLO in words, e.g. `p99 < 10 ms, errors < 0.1%`.
pub fn describe(slo: &Slo) -> String {
    let mut parts = Vec::new();
    for (name, d) in [
        ("p50", slo.p50),
        ("p90", slo.p90),
        ("p99", slo.p99),
        ("p99.9", slo.p999),
    ] {
        if let Some(d) = d {
            parts.push(format!("{name} < {} ms", d.as_secs_f64() * 1e3));
        }
    }
    if let Some(e) = slo.errors {
        parts.push(format!("errors < {}%", e * 100.0));
    }
    parts.join(", ")
}

#[cfg(test)]
#[path = "find_max_tests.rs"]
mod tests;
