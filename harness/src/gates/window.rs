//! Which 1-second windows a gate reads, and Envoy stats over a span of time.

use gauntlet_reports::{EventRecord, StepResult, Window};

use super::suggest::closest;
use super::Scope;

/// Slack for comparing times, seconds.
const EPS: f64 = 1e-6;
/// How far a stats sample may sit inside a span and still stand for its boundary: Envoy's
/// stats are sampled about once a second.
const SAMPLE_SLACK_S: f64 = 0.5;

/// Last segments of Envoy stats that are gauges.
const GAUGE_NAMES: [&str; 7] = [
    "cx_active",
    "rq_active",
    "ejections_active",
    "memory_allocated",
    "memory_heap_size",
    "live",
    "concurrency",
];

/// Whether an Envoy stat is a gauge (momentary) rather than a counter (only grows). Envoy's
/// JSON does not say, so this goes by the name: see the module docs for the list.
pub fn is_gauge(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    name.ends_with("_active")
        || name.ends_with("_open")
        || last.starts_with("remaining_")
        || last.starts_with("membership_")
        || last == "connected_state"
        || GAUGE_NAMES.contains(&last)
}

/// The windows a gate reads and the time they cover.
#[derive(Debug)]
pub struct Span<'a> {
    pub windows: Vec<&'a Window>,
    /// Start of the first window, seconds from the step start.
    pub from_s: f64,
    /// End of the last window.
    pub to_s: f64,
    /// Total length of the windows, seconds.
    pub secs: f64,
}

/// Length of window `i`: from its responses and rate when it had any, else up to the next
/// window (the first and last windows of a step may be shorter than a second).
pub fn window_len(ws: &[Window], i: usize) -> f64 {
    let w = &ws[i];
    if w.rps > 0.0 && w.responses > 0 {
        return w.responses as f64 / w.rps;
    }
    match ws.get(i + 1) {
        Some(next) if next.t_s > w.t_s => next.t_s - w.t_s,
        _ => 1.0,
    }
}

/// The end of the step: the end of its last window, or warmup plus measured duration.
pub fn step_end(step: &StepResult) -> f64 {
    let ws = &step.load.windows;
    match ws.len() {
        0 => step.load.warmup_s + step.load.duration_s,
        n => ws[n - 1].t_s + window_len(ws, n - 1),
    }
}

/// The windows `scope` selects in `step`; `Err` says why there are none. `Scope::WholeStep`
/// selects the non-warmup windows.
pub fn select<'a>(
    scope: &Scope,
    step: &'a StepResult,
    events: &[EventRecord],
) -> Result<Span<'a>, String> {
    let ws = &step.load.windows;
    let pick = |keep: &dyn Fn(&Window) -> bool| -> Vec<usize> {
        (0..ws.len()).filter(|&i| keep(&ws[i])).collect()
    };
    let picked = match scope {
        Scope::WholeStep => pick(&|w| !w.warmup),
        Scope::During { from_s, to_s } => pick(&|w| w.t_s >= from_s - EPS && w.t_s < to_s - EPS),
        Scope::After { label, offset_s } => {
            let from = snap(ws, event(events, label, &step.name)?.applied_s + offset_s);
            pick(&|w| !w.warmup && w.t_s >= from - EPS)
        }
        Scope::Before { label } => {
            let to = snap(ws, event(events, label, &step.name)?.applied_s);
            pick(&|w| !w.warmup && w.t_s < to - EPS)
        }
    };
    let (Some(&first), Some(&last)) = (picked.first(), picked.last()) else {
        return Err(match (ws.first(), ws.last()) {
            (Some(a), Some(_)) => format!(
                "no 1-second window of the step falls in it (the step's windows cover {}..{})",
                secs(a.t_s),
                secs(step_end(step))
            ),
            _ => "the step has no 1-second windows".to_string(),
        });
    };
    Ok(Span {
        windows: picked.iter().map(|&i| &ws[i]).collect(),
        from_s: ws[first].t_s,
        to_s: ws[last].t_s + window_len(ws, last),
        secs: picked.iter().map(|&i| window_len(ws, i)).sum(),
    })
}

/// The event called `label` in step `step`.
fn event<'e>(
    events: &'e [EventRecord],
    label: &str,
    step: &str,
) -> Result<&'e EventRecord, String> {
    if let Some(e) = events.iter().find(|e| e.label == label && e.step == step) {
        return match &e.error {
            Some(error) => Err(format!("event `{label}` failed: {error}")),
            None => Ok(e),
        };
    }
    if let Some(e) = events.iter().find(|e| e.label == label) {
        return Err(format!(
            "event `{label}` happened in the {} step, not the {step} step",
            e.step
        ));
    }
    let labels: Vec<&str> = events.iter().map(|e| e.label.as_str()).collect();
    let mut why = format!("no timeline event `{label}` in this run");
    match closest(label, &labels) {
        Some(s) => why.push_str(&format!("; did you mean `{s}`?")),
        None if labels.is_empty() => why.push_str(" (it has none)"),
        None => why.push_str(&format!(" (events: {})", labels.join(", "))),
    }
    Err(why)
}

/// `t` moved to the nearest window boundary (a window start, or the end of the last one).
fn snap(ws: &[Window], t: f64) -> f64 {
    let mut bounds: Vec<f64> = ws.iter().map(|w| w.t_s).collect();
    if let Some(last) = ws.len().checked_sub(1) {
        bounds.push(ws[last].t_s + window_len(ws, last));
    }
    bounds
        .into_iter()
        .min_by(|a, b| (a - t).abs().total_cmp(&(b - t).abs()))
        .unwrap_or(t)
}

/// A counter's values at the start and the end of `span`.
pub fn counter_over(step: &StepResult, name: &str, span: &Span) -> Result<(u64, u64), String> {
    let samples = samples(step, name)?;
    let start = samples
        .iter()
        .rev()
        .find(|(t, _)| *t <= span.from_s + EPS)
        .or_else(|| {
            samples
                .first()
                .filter(|(t, _)| *t <= span.from_s + SAMPLE_SLACK_S)
        })
        .ok_or_else(|| format!("no sample of `{name}` at or before {}", secs(span.from_s)))?;
    let end = samples
        .iter()
        .find(|(t, _)| *t >= span.to_s - EPS)
        .or_else(|| {
            samples
                .last()
                .filter(|(t, _)| *t >= span.to_s - SAMPLE_SLACK_S)
        })
        .ok_or_else(|| format!("no sample of `{name}` at or after {}", secs(span.to_s)))?;
    if end.1 < start.1 {
        return Err(format!(
            "`{name}` went down from {} to {} (is it a gauge, or did Envoy restart?)",
            start.1, end.1
        ));
    }
    Ok((start.1, end.1))
}

/// A gauge's largest sample within `span`, and how many samples there were.
pub fn gauge_max(step: &StepResult, name: &str, span: &Span) -> Result<(u64, usize), String> {
    let samples = samples(step, name)?;
    let inside: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= span.from_s - EPS && *t <= span.to_s + EPS)
        .map(|(_, v)| *v)
        .collect();
    match inside.iter().max() {
        Some(&max) => Ok((max, inside.len())),
        None => Err(format!(
            "no sample of `{name}` between {} and {}",
            secs(span.from_s),
            secs(span.to_s)
        )),
    }
}

/// Every sample of one stat in time order: the step's series, then its end-of-step stats.
fn samples(step: &StepResult, name: &str) -> Result<Vec<(f64, u64)>, String> {
    let mut out: Vec<(f64, u64)> = step
        .envoy_series
        .iter()
        .filter_map(|s| s.stats.get(name).map(|v| (s.t_s, *v)))
        .collect();
    if out.is_empty() {
        return Err(if step.envoy_stats.contains_key(name) {
            format!("`{name}` was not sampled during the step (only its end value is known: gate it over the whole step)")
        } else {
            missing_stat(step, name)
        });
    }
    if let Some(v) = step.envoy_stats.get(name) {
        out.push((step_end(step).max(out[out.len() - 1].0), *v));
    }
    Ok(out)
}

/// Why a stat is not there, with the closest stat name that is.
pub fn missing_stat(step: &StepResult, name: &str) -> String {
    if step.envoy_stats.is_empty() && step.envoy_series.is_empty() {
        return format!("the {} step has no Envoy stats", step.name);
    }
    let names: Vec<&str> = step.envoy_stats.keys().map(String::as_str).collect();
    match closest(name, &names) {
        Some(s) => format!("Envoy has no stat `{name}`; did you mean `envoy.{s}`?"),
        None => format!("Envoy has no stat `{name}`"),
    }
}

/// Seconds as a gate writes them: `20s`, `1.5s`.
pub fn secs(s: f64) -> String {
    format!("{}s", super::eval::trim(s, 3))
}
