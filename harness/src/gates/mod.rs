//! CI gates: readable expressions over a run's result, each with a measured value and a
//! verdict.
//!
//! ```text
//! latency.p99 < 50ms
//! errors.rate < 1% during [20s, 40s]
//! status.503.rate <= 0.1% after shift-to-canary + 2s
//! grpc.unavailable.rate < 5%
//! envoy.cluster.backend.upstream_rq_retry > 0 before shift-to-canary
//! mocks.shadow.requests >= 99% of mocks.backend.requests
//! latency.p99 <= 120% of baseline.latency.p99
//! rps >= 950 step baseline
//! xds.ack_ms.max < 100ms
//! ```
//!
//! # Grammar
//!
//! ```text
//! gate      = metric op threshold [window] [step]      (window and step in either order)
//! op        = "<" | "<=" | ">" | ">=" | "==" | "!="
//! threshold = duration | percent | number | percent "of" metric
//! duration  = number unit        unit: us µs ms s m (compared in ms; `0` needs none)
//! percent   = number "%"         a ratio: 1% = 0.01
//! window    = "during" "[" duration "," duration "]"
//!           | "after" label [ "+" duration ]
//!           | "before" label
//! step      = "step" ("envoy" | "baseline")
//! ```
//!
//! The threshold must fit the metric's unit: durations for times (ms), percentages for
//! ratios, plain numbers for counts and rps (`500rps` is accepted). `P% of <metric>` compares
//! with a share of another metric in the same unit; that metric is measured over the same
//! window when it reads the same step, and over its whole step otherwise.
//!
//! # Metrics
//!
//! Per-step metrics read the `envoy` step unless the name starts with `baseline.` or the
//! gate ends with `step baseline`.
//!
//! | metric | unit | meaning |
//! |---|---|---|
//! | `latency.p50 p90 p99 p999 max mean min` | ms | from the intended send time (corrected) |
//! | `latency_uncorrected.<stat>` | ms | from the actual send time; whole step only |
//! | `added.p50 p90 p99 p999` | ms | envoy minus baseline (`RunResult.added_latency`); run-wide |
//! | `errors.rate`, `errors.count` | ratio, count | failures + 5xx, over requests that ended |
//! | `status.<code>.rate`, `status.5xx.count`, … | ratio, count | answers with that status (or class) |
//! | `grpc.<code>.rate`, `grpc.<code>.count` | ratio, count | gRPC calls that ended with that status; `<code>` by name in any case (`unavailable`, `deadline_exceeded` or `deadline-exceeded`) or number (`14`); a step of HTTP requests cannot be measured |
//! | `failures.rate`, `failures.<kind>.count`, … | ratio, count | kind: connect, reset, timeout, protocol, other (by kind: whole step only) |
//! | `requests`, `responses` | count | sent, answered |
//! | `rps` | rps | achieved responses per second |
//! | `envoy.<stat>` | count | an Envoy counter or gauge (see below) |
//! | `mocks.<upstream>.requests`, `mocks.<upstream>.status.<code>` | count | the mock's own counts; whole step only |
//! | `xds.ack_ms.<stat>`, `xds.pushes`, `xds.nacks` | ms, count | over every push of the run |
//!
//! # Windows
//!
//! Without a window a gate reads the step's totals (warmup excluded). With one it reads the
//! step's 1-second `windows`:
//! - `during [20s, 40s]`: windows whose start lies in [20 s, 40 s) from the step start,
//!   warmup windows included (the range names them explicitly);
//! - `after <label> [+ 2s]`: from the moment the timeline event was applied (plus the
//!   offset) to the end of the step; `before <label>`: from the end of the warmup to the
//!   event. The moment is rounded to the nearest window boundary, so a window counts on the
//!   side where most of it lies; warmup windows are left out.
//!
//! Latency percentiles over windows merge the windows' HdrHistograms; a window with
//! responses but no histogram makes the gate unmeasurable. Counts and rates add up the
//! windows' counters. `envoy.<stat>` over a window is, for a counter, its increase from the
//! `envoy_series` sample at or before the window's start to the sample at or after its end
//! (half a second of slack either way, and the end-of-step stats count as the last sample);
//! for a gauge, the largest sample inside the window. Envoy's JSON does not mark gauges, so a
//! stat is a gauge when its name ends in `_active`, `_open`, `cx_active`, `rq_active`,
//! `ejections_active`, `memory_allocated`, `memory_heap_size`, `live`, `concurrency`,
//! `connected_state`, `membership_*`, or its last segment starts with `remaining_`.
//!
//! A gate whose value cannot be measured (missing step, stat, event or histogram; an empty
//! window) fails, and its `detail` says why.

mod eval;
mod lex;
mod measure;
mod metric;
mod names;
mod parse;
mod suggest;
mod value;
mod window;

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod grpc_tests;
#[cfg(test)]
mod parse_tests;

use serde::Serialize;

pub use self::eval::evaluate;
pub use self::lex::Op;
pub use self::metric::{LatencyStat, Measure, Metric, MetricRef, StatusMatch, Step, Unit};
pub use self::window::is_gauge;

/// A parsed gate, e.g. `latency.p99 < 50ms during [20s, 40s]`. Serializes as `{"text": …}`:
/// the text is the gate, the rest is derived from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// The gate as written (trimmed), for messages and reports.
    pub text: String,
    /// What it measures.
    #[serde(skip)]
    pub metric: MetricRef,
    /// How the measured value is compared with the threshold.
    #[serde(skip)]
    pub op: Op,
    /// What it is compared with.
    #[serde(skip)]
    pub threshold: Threshold,
    /// Which part of the step it reads.
    #[serde(skip)]
    pub scope: Scope,
}

/// What a measured value is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    /// A value in the metric's unit (ms, ratio, count or rps).
    Value(f64),
    /// A share of another metric: `99% of mocks.backend.requests` is `fraction` 0.99.
    ShareOf { fraction: f64, of: MetricRef },
}

/// The part of a step a gate reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The step's totals, warmup excluded.
    WholeStep,
    /// `during [from, to]`: windows starting in `[from_s, to_s)`.
    During { from_s: f64, to_s: f64 },
    /// `after <label> [+ offset]`: from the event (plus the offset) to the end of the step.
    After { label: String, offset_s: f64 },
    /// `before <label>`: from the end of the warmup to the event.
    Before { label: String },
}

/// A gate that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GateSyntaxError {
    /// 1-based column (in characters) within the gate's text.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What would be right (a did-you-mean or an example); may be empty.
    pub hint: String,
}

/// A syntax error at `column` with no hint yet.
fn syntax_error(column: usize, message: &str) -> GateSyntaxError {
    GateSyntaxError {
        column,
        message: message.to_string(),
        hint: String::new(),
    }
}

impl GateSyntaxError {
    fn with_hint(mut self, hint: &str) -> Self {
        self.hint = hint.to_string();
        self
    }
}

/// Parses one gate expression (grammar in the module docs).
pub fn parse(text: &str) -> Result<Gate, GateSyntaxError> {
    parse::parse_gate(text)
}

impl Gate {
    /// Labels of the timeline events the gate's window refers to (for the scenario validator
    /// to check that they exist).
    pub fn event_refs(&self) -> Vec<&str> {
        match &self.scope {
            Scope::After { label, .. } | Scope::Before { label } => vec![label.as_str()],
            Scope::WholeStep | Scope::During { .. } => Vec::new(),
        }
    }
}
