//! The figures a compare judges, where each comes from in a run's result, and the verdict
//! rule. The rule is plain code over numbers, tested without I/O.

use std::io::Cursor;

use base64::Engine;
use gauntlet_reports::compare::{Better, Figure, FigureVerdict, Interval, Method};
use gauntlet_reports::{RunResult, StepResult};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use super::stats::{self, CiMethod, Shift};

/// What a relative change of a figure is taken against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The figure's own baseline median.
    Own,
    /// Another figure's baseline median: added latency is judged against the latency the
    /// client sees at the same percentile, since that is what a change in it costs.
    Of(&'static str),
    /// No relative change: the figure is judged in absolute terms (error rate, in points).
    Absolute,
}

/// One figure: its names, unit, direction, and how to read it from a run.
pub struct FigureDef {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub reference: Reference,
    /// The figure of a whole run.
    pub of_run: fn(&RunResult) -> Option<f64>,
    /// The figure per measured 1-second window of the Envoy step, where one exists.
    pub of_windows: Option<fn(&StepResult) -> Vec<f64>>,
}

/// The smallest error-rate change (absolute, 0.1 percentage points) that counts.
pub const ERROR_RATE_FLOOR: f64 = 0.001;

/// Every figure, in the order reports show them.
pub const FIGURES: &[FigureDef] = &[
    FigureDef {
        key: "throughput",
        label: "throughput",
        unit: "rps",
        better: Better::Higher,
        reference: Reference::Own,
        of_run: |r| envoy(r).map(|s| s.load.achieved_rps),
        of_windows: Some(|s| measured(s).map(|w| w.rps).collect()),
    },
    FigureDef {
        key: "latency.p50",
        label: "latency p50",
        unit: "ms",
        better: Better::Lower,
        reference: Reference::Own,
        of_run: |r| envoy(r).map(|s| s.load.latency.p50_ms),
        of_windows: Some(|s| window_quantiles(s, 50.0)),
    },
    FigureDef {
        key: "latency.p90",
        label: "latency p90",
        unit: "ms",
        better: Better::Lower,
        reference: Reference::Own,
        of_run: |r| envoy(r).map(|s| s.load.latency.p90_ms),
        of_windows: Some(|s| window_quantiles(s, 90.0)),
    },
    FigureDef {
        key: "latency.p99",
        label: "latency p99",
        unit: "ms",
        better: Better::Lower,
        reference: Reference::Own,
        of_run: |r| envoy(r).map(|s| s.load.latency.p99_ms),
        of_windows: Some(|s| window_quantiles(s, 99.0)),
    },
    FigureDef {
        key: "latency.p999",
        label: "latency p99.9",
        unit: "ms",
        better: Better::Lower,
        reference: Reference::Own,
        of_run: |r| envoy(r).map(|s| s.load.latency.p999_ms),
        of_windows: Some(|s| window_quantiles(s, 99.9)),
    },
    FigureDef {
        key: "added.p50",
        label: "added latency p50",
        unit: "ms",
        better: Better::Lower,
        reference: Reference::Of("latency.p50"),
        of_run: |r| r.added_latency.map(|a| a.p50_ms),
        of_windows: None,
    },
    FigureDef {
        key: "added.p90",
        label: "added latency p90",
        unit: "ms",
        better: Better::Lower,
        reference: Reference::Of("latency.p90"),
        of_run: |r| r.added_latency.map(|a| a.p90_ms),
        of_windows: None,
    },
    FigureDef {
        key: "added.p99",
        label: "added latency p99",
        unit: "ms",
        better: Better::Lower,
        reference: Reference::Of("latency.p99"),
        of_run: |r| r.added_latency.map(|a| a.p99_ms),
        of_windows: None,
    },
    FigureDef {
        key: "cpu_per_krps",
        label: "Envoy CPU per 1000 rps",
        unit: "cores",
        better: Better::Lower,
        reference: Reference::Own,
        of_run: |r| {
            envoy(r)?
                .resource_summary
                .as_ref()
                .map(|s| s.envoy_cpu_per_krps)
        },
        of_windows: None,
    },
    FigureDef {
        key: "rss",
        label: "Envoy max RSS",
        unit: "MB",
        better: Better::Lower,
        reference: Reference::Own,
        of_run: |r| {
            envoy(r)?
                .resource_summary
                .as_ref()
                .map(|s| s.envoy_rss_max_mb)
        },
        of_windows: None,
    },
    FigureDef {
        key: "error_rate",
        label: "error rate",
        unit: "ratio",
        better: Better::Lower,
        reference: Reference::Absolute,
        of_run: |r| envoy(r).map(|s| s.load.error_rate),
        of_windows: Some(|s| {
            measured(s)
                .map(|w| w.errors as f64 / (w.responses + w.failures).max(1) as f64)
                .collect()
        }),
    },
];

/// The figure definition for a key (aliases `p99.9`, `memory` accepted).
pub fn find(key: &str) -> Option<&'static FigureDef> {
    let key = match key {
        "latency.p99.9" => "latency.p999",
        "memory" | "envoy_rss" => "rss",
        "cpu" => "cpu_per_krps",
        "rps" => "throughput",
        k => k,
    };
    FIGURES.iter().find(|f| f.key == key)
}

fn envoy(r: &RunResult) -> Option<&StepResult> {
    r.step("envoy").filter(|s| s.load.responses > 0)
}

fn measured(s: &StepResult) -> impl Iterator<Item = &gauntlet_reports::Window> {
    s.load
        .windows
        .iter()
        .filter(|w| !w.warmup && w.requests > 0)
}

/// A percentile of each measured window's own histogram; windows without one are skipped.
fn window_quantiles(s: &StepResult, q: f64) -> Vec<f64> {
    measured(s)
        .filter_map(|w| decode(w.histogram.as_deref()?))
        .filter(|h| !h.is_empty())
        .map(|h| h.value_at_quantile(q / 100.0) as f64 / 1000.0)
        .collect()
}

fn decode(blob: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    Deserializer::new()
        .deserialize(&mut Cursor::new(bytes))
        .ok()
}

/// How the judgement is made.
#[derive(Debug, Clone, Copy)]
pub struct Judgement {
    pub confidence: f64,
    pub min_effect: f64,
}

/// Judges one figure from both sides' samples. `reference` is the value relative changes
/// are taken against (`None` for absolute figures or an empty baseline).
pub fn judge(
    def: &FigureDef,
    baseline: Vec<f64>,
    candidate: Vec<f64>,
    reference: Option<f64>,
    j: Judgement,
) -> Figure {
    let shift = stats::shift(&baseline, &candidate, j.confidence);
    let reference = reference.filter(|r| r.abs() > f64::EPSILON);
    let min_change = match (def.reference, reference) {
        (Reference::Absolute, _) => ERROR_RATE_FLOOR,
        (_, Some(r)) => j.min_effect * r.abs(),
        (_, None) => 0.0,
    };
    let (verdict, reason) = verdict(&shift, def.better, min_change, def.unit);
    let relative = |v: f64| reference.map(|r| v / r.abs());
    Figure {
        key: def.key.to_string(),
        label: def.label.to_string(),
        unit: def.unit.to_string(),
        better: def.better,
        baseline_median: stats::median(&baseline),
        candidate_median: stats::median(&candidate),
        baseline,
        candidate,
        change: shift.estimate,
        change_ci: shift.ci.map(|(low, high)| Interval { low, high }),
        reference: reference.filter(|_| def.reference != Reference::Absolute),
        relative: shift
            .estimate
            .and_then(relative)
            .filter(|_| def.reference != Reference::Absolute),
        relative_ci: shift
            .ci
            .and_then(|(lo, hi)| {
                Some(Interval {
                    low: relative(lo)?,
                    high: relative(hi)?,
                })
            })
            .filter(|_| def.reference != Reference::Absolute),
        method: match shift.method {
            CiMethod::MannWhitney => Method::MannWhitney,
            CiMethod::Bootstrap => Method::Bootstrap,
            CiMethod::None => Method::None,
        },
        confidence: shift.confidence,
        min_change,
        verdict,
        reason,
    }
}

/// The verdict rule: a change counts only when its interval excludes zero AND the estimate
/// is at least `min_change` (in the figure's unit); no interval means no verdict.
pub fn verdict(
    shift: &Shift,
    better: Better,
    min_change: f64,
    unit: &str,
) -> (FigureVerdict, String) {
    let (Some(est), Some((lo, hi))) = (shift.estimate, shift.ci) else {
        let why = match shift.estimate {
            None => "no samples on one side".to_string(),
            Some(_) => format!(
                "too few samples for an interval (at least {} per side are needed)",
                stats::MIN_BOOTSTRAP
            ),
        };
        return (FigureVerdict::Inconclusive, why);
    };
    if lo <= 0.0 && hi >= 0.0 {
        return (
            FigureVerdict::NoSignificantChange,
            format!("the interval [{lo:.4}, {hi:.4}] {unit} includes zero"),
        );
    }
    if est.abs() < min_change {
        return (
            FigureVerdict::NoSignificantChange,
            format!(
                "the change {est:+.4} {unit} is real but below the minimum effect of {min_change:.4} {unit}"
            ),
        );
    }
    let worse = match better {
        Better::Lower => est > 0.0,
        Better::Higher => est < 0.0,
    };
    let verdict = if worse {
        FigureVerdict::Regression
    } else {
        FigureVerdict::Improvement
    };
    (
        verdict,
        format!(
            "the interval [{lo:.4}, {hi:.4}] {unit} excludes zero and the change {est:+.4} {unit} exceeds the minimum effect of {min_change:.4} {unit}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(est: f64, lo: f64, hi: f64) -> Shift {
        Shift {
            estimate: Some(est),
            ci: Some((lo, hi)),
            method: CiMethod::Bootstrap,
            confidence: Some(0.95),
        }
    }

    #[test]
    fn verdict_needs_both_an_interval_clear_of_zero_and_a_big_enough_change() {
        let v = |s, b| verdict(&s, b, 0.5, "ms").0;
        assert_eq!(
            v(shift(1.0, 0.6, 1.4), Better::Lower),
            FigureVerdict::Regression
        );
        assert_eq!(
            v(shift(1.0, 0.6, 1.4), Better::Higher),
            FigureVerdict::Improvement
        );
        assert_eq!(
            v(shift(-1.0, -1.4, -0.6), Better::Lower),
            FigureVerdict::Improvement
        );
        assert_eq!(
            v(shift(-1.0, -1.4, -0.6), Better::Higher),
            FigureVerdict::Regression
        );
        // Interval includes zero: no verdict however large the estimate.
        assert_eq!(
            v(shift(1.0, -0.1, 2.0), Better::Lower),
            FigureVerdict::NoSignificantChange
        );
        // Clear of zero but smaller than the minimum effect.
        assert_eq!(
            v(shift(0.3, 0.1, 0.4), Better::Lower),
            FigureVerdict::NoSignificantChange
        );
        let none = Shift {
            estimate: Some(1.0),
            ci: None,
            method: CiMethod::None,
            confidence: None,
        };
        assert_eq!(v(none, Better::Lower), FigureVerdict::Inconclusive);
    }

    #[test]
    fn judge_takes_relative_changes_against_the_reference() {
        let def = find("latency.p50").unwrap();
        let j = Judgement {
            confidence: 0.95,
            min_effect: 0.05,
        };
        let f = judge(
            def,
            vec![1.0, 1.01, 0.99, 1.0],
            vec![1.2, 1.21, 1.19, 1.2],
            Some(1.0),
            j,
        );
        assert_eq!(f.method, Method::MannWhitney);
        assert_eq!(f.verdict, FigureVerdict::Regression);
        assert!((f.relative.unwrap() - 0.2).abs() < 1e-9);
        assert!((f.min_change - 0.05).abs() < 1e-12);
        // The same samples 2 % apart: real, but under the 5 % minimum effect.
        let f = judge(
            def,
            vec![1.0, 1.0, 1.0, 1.0],
            vec![1.02, 1.02, 1.02, 1.02],
            Some(1.0),
            j,
        );
        assert_eq!(f.verdict, FigureVerdict::NoSignificantChange);
        // Throughput is better higher.
        let f = judge(
            find("rps").unwrap(),
            vec![100.0; 4],
            vec![80.0; 4],
            Some(100.0),
            j,
        );
        assert_eq!(f.verdict, FigureVerdict::Regression);
    }

    #[test]
    fn error_rate_is_judged_in_points() {
        let def = find("error_rate").unwrap();
        let j = Judgement {
            confidence: 0.95,
            min_effect: 0.05,
        };
        let f = judge(def, vec![0.0; 4], vec![0.0; 4], Some(0.0), j);
        assert_eq!(f.verdict, FigureVerdict::NoSignificantChange);
        assert_eq!((f.relative, f.reference), (None, None));
        let f = judge(def, vec![0.0; 4], vec![0.02; 4], Some(0.0), j);
        assert_eq!(f.verdict, FigureVerdict::Regression);
        let f = judge(def, vec![0.0; 4], vec![0.0005; 4], Some(0.0), j);
        assert_eq!(
            f.verdict,
            FigureVerdict::NoSignificantChange,
            "below 0.1 points"
        );
    }
}
