//! Evaluating gates: measure, compare, and say in one sentence what was compared with what.

use gauntlet_reports::{GateResult, RunResult};

use super::measure::measure;
use super::metric::{Metric, Step, Unit};
use super::window::secs;
use super::{Gate, Scope, Threshold};

/// Evaluates every gate over `result`, in order. A gate whose value (or threshold) cannot be
/// measured fails, and its `detail` says why.
pub fn evaluate(gates: &[Gate], result: &RunResult) -> Vec<GateResult> {
    gates.iter().map(|g| evaluate_one(g, result)).collect()
}

fn evaluate_one(gate: &Gate, result: &RunResult) -> GateResult {
    let unit = gate.metric.metric.unit();
    let window = window_words(gate);
    let name = &gate.metric.name;
    let op = gate.op.as_str();
    let threshold = match &gate.threshold {
        Threshold::Value(v) => Ok((*v, String::new())),
        Threshold::ShareOf { fraction, of } => {
            // The reference reads the same window when it reads the same step; a window of
            // one step means nothing in another, so there it reads the whole step.
            let (scope, over) = if of.step == gate.metric.step {
                (&gate.scope, String::new())
            } else {
                let w = match of.step {
                    Some(s) => format!("whole {} step", s.name()),
                    None => run_words(&of.metric),
                };
                (&Scope::WholeStep, format!(" over {w}"))
            };
            let share = format!("{} of {}", percent(*fraction), of.name);
            match measure(of, scope, result) {
                Ok(m) => Ok((
                    fraction * m.value,
                    format!(" ({share} = {}{}{over})", show(m.value, unit), m.note),
                )),
                Err(why) => Err(format!(
                    "the threshold ({share}) cannot be measured{over}: {why}"
                )),
            }
        }
    };
    let (passed, measured, threshold, detail) =
        match (measure(&gate.metric, &gate.scope, result), threshold) {
            (Ok(m), Ok((t, why))) => {
                let passed = gate.op.holds(m.value, t);
                let detail = format!(
                    "{name} = {}{}, threshold {op} {}{why}: {}",
                    show(m.value, unit),
                    m.note,
                    show(t, unit),
                    if passed { "pass" } else { "FAIL" }
                );
                (passed, Some(m.value), Some(t), detail)
            }
            (Err(why), t) => {
                let detail = format!("{name} cannot be measured {}: {why}: FAIL", over(&window));
                (false, None, t.ok().map(|(t, _)| t), detail)
            }
            (Ok(m), Err(why)) => {
                let detail = format!(
                    "{name} = {}{}, but {why}: FAIL",
                    show(m.value, unit),
                    m.note
                );
                (false, Some(m.value), None, detail)
            }
        };
    GateResult {
        gate: gate.text.clone(),
        passed,
        measured,
        threshold,
        unit: unit.as_str().to_string(),
        window,
        detail,
    }
}

/// The gate's window in words: `whole envoy step`, `envoy 20s..40s`, `after shift +2s`.
fn window_words(gate: &Gate) -> String {
    let step = gate.metric.step.unwrap_or(Step::Envoy).name();
    match &gate.scope {
        Scope::WholeStep if gate.metric.step.is_none() => run_words(&gate.metric.metric),
        Scope::WholeStep => format!("whole {step} step"),
        Scope::During { from_s, to_s } => format!("{step} {}..{}", secs(*from_s), secs(*to_s)),
        Scope::After { label, offset_s } if *offset_s > 0.0 => {
            format!("after {label} +{}", secs(*offset_s))
        }
        Scope::After { label, .. } => format!("after {label}"),
        Scope::Before { label } => format!("before {label}"),
    }
}

/// `over whole envoy step`, `after shift`: the window as the end of a sentence.
fn over(window: &str) -> String {
    if window.starts_with("after ") || window.starts_with("before ") {
        window.to_string()
    } else {
        format!("over {window}")
    }
}

/// What a run-wide metric covers.
fn run_words(m: &Metric) -> String {
    match m {
        Metric::Added(_) => "envoy minus baseline".into(),
        _ => "whole run".into(),
    }
}

/// A value in its unit, for people: `12.3 ms`, `2.91%`, `1042`, `998.5 rps`.
pub fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms => format!("{} ms", trim(v, 3)),
        Unit::Ratio => percent(v),
        Unit::Count => trim(v, 3),
        Unit::Rps => format!("{} rps", trim(v, 1)),
    }
}

/// A ratio as a percentage: 0.0291 → `2.91%`.
pub fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    let decimals = if p != 0.0 && p.abs() < 0.01 { 4 } else { 3 };
    format!("{}%", trim(p, decimals))
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
pub fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}
