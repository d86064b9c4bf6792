//! HdrHistogram interval logs (`.hlog`), the format of Java's `HistogramLogWriter`, read by
//! `HistogramLogProcessor`, HdrHistogram's plotters and `hdrhistogram`'s
//! `IntervalLogIterator`: one line per 1-second window with the window's histogram.
//!
//! The histograms are written exactly as the run stored them (`Window.histogram`: V2
//! deflate, base64, values in µs from each request's intended send time); nothing is decoded
//! or re-encoded. `Interval_Max` is the window's stored maximum in milliseconds, as Java
//! writes it with a max-value divisor of 1000 for µs data.
//!
//! Timestamps: the model records when the run started but not when each step did, so
//! `BaseTime` is the run's start and each interval's timestamp is its window's offset from
//! the start of its own step (the clock timeline events use). A log of several steps tags
//! each one's lines (`Tag=baseline,…`) except the main step's (`envoy`, else the last),
//! which stays untagged so tools that read untagged intervals by default show it.
//! Warmup windows are included; a comment says which they are.

use std::fmt::Write;

use crate::model::{RunResult, StepResult};

/// The legend line Java writes after the header.
pub const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Renders every step's windows as one interval log (the main step untagged, others tagged
/// with their step name).
pub fn render(result: &RunResult) -> String {
    let main = result
        .step("envoy")
        .or(result.steps.last())
        .map(|s| s.name.as_str());
    let steps: Vec<(&StepResult, Option<String>)> = result
        .steps
        .iter()
        .map(|s| {
            let tag = (Some(s.name.as_str()) != main).then(|| tag(&s.name));
            (s, tag)
        })
        .collect();
    log(result, &steps)
}

/// Renders one step's windows as an untagged interval log; `None` when there is no such step.
pub fn render_step(result: &RunResult, step: &str) -> Option<String> {
    let s = result.step(step)?;
    Some(log(result, &[(s, None)]))
}

fn log(result: &RunResult, steps: &[(&StepResult, Option<String>)]) -> String {
    let mut out = String::new();
    let start = result.started_at.timestamp_millis() as f64 / 1000.0;
    let _ = writeln!(
        out,
        "#Gauntlet {} run {}: latency from intended send time, histogram values in microseconds, Interval_Max in milliseconds",
        comment(&result.gauntlet_version),
        comment(&result.name)
    );
    let _ = writeln!(
        out,
        "#Timestamps are seconds from the start of each interval's own step"
    );
    out.push_str("#[Histogram log format version 1.3]\n");
    let _ = writeln!(
        out,
        "#[StartTime: {start:.3} (seconds since epoch), {}]",
        result.started_at.format("%a %b %d %H:%M:%S UTC %Y")
    );
    let _ = writeln!(out, "#[BaseTime: {start:.3} (seconds since epoch)]");
    out.push_str("#[MaxValueDivisor: 1000.000]\n");
    for (s, tag) in steps {
        let name = match tag {
            Some(t) => format!("Tag={t}"),
            None => "untagged".to_string(),
        };
        let _ = writeln!(
            out,
            "#step {} ({name}): {} windows, the first {} s warmup",
            comment(&s.name),
            s.load.windows.len(),
            crate::markdown::trim(s.load.warmup_s)
        );
    }
    out.push_str(LEGEND);
    out.push('\n');
    for (s, tag) in steps {
        let prefix = tag
            .as_ref()
            .map(|t| format!("Tag={t},"))
            .unwrap_or_default();
        for w in &s.load.windows {
            match &w.histogram {
                Some(h) => {
                    let _ = writeln!(out, "{prefix}{:.3},{:.3},{:.3},{h}", w.t_s, 1.0, w.max_ms);
                }
                None => {
                    let _ = writeln!(
                        out,
                        "#step {} window at {:.3} s has no stored histogram",
                        comment(&s.name),
                        w.t_s
                    );
                }
            }
        }
    }
    out
}

/// A step name as an interval-log tag, which may not hold `,`, spaces or line breaks.
fn tag(name: &str) -> String {
    let t: String = name
        .chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if t.is_empty() {
        "_".to_string()
    } else {
        t
    }
}

/// Text for a comment line: line breaks and other control characters become spaces.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
