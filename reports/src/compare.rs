//! The compare result (`compare.json`, schema `gauntlet.compare/v1`): the same scenario on a
//! baseline and a candidate Envoy, figure by figure, with every statistic already computed
//! by the harness (medians, Hodges–Lehmann shift, its interval, the verdict, the `--fail-on`
//! checks). The renderers in the submodules only format it.

pub mod html;
pub mod junit;
pub mod text;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Machine;
use crate::Format;

/// Schema identifier written into every `compare.json`.
pub const COMPARE_SCHEMA: &str = "gauntlet.compare/v1";

/// A whole compare.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareResult {
    pub schema: String,
    pub gauntlet_version: String,
    /// The scenario's name.
    pub name: String,
    pub status: CompareStatus,
    /// What went wrong, when `status` is not `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub machine: Machine,
    /// Where the samples come from.
    pub samples: SampleKind,
    /// Requested confidence of the intervals, e.g. 0.95.
    pub confidence: f64,
    /// Smallest relative change called a regression or an improvement, e.g. 0.05.
    pub min_effect: f64,
    pub baseline: Side,
    pub candidate: Side,
    /// Sentences a reader must see beside the table (method caveats, excluded runs).
    #[serde(default)]
    pub notes: Vec<String>,
    pub figures: Vec<Figure>,
    /// The `--fail-on` checks, in the order given.
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// How a compare ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareStatus {
    Completed,
    /// Stopped by the user; the figures use the runs that completed.
    Interrupted,
    /// A run failed; the figures use the runs that completed.
    Failed,
}

/// What one sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    /// One sample per repeated run (independent runs, interleaved A B A B).
    Runs,
    /// One sample per 1-second window of a single run per side: autocorrelated, so the
    /// intervals are narrower than the truth.
    Windows,
}

/// One side of the compare.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Side {
    /// `baseline` or `candidate`.
    pub role: String,
    /// What the user asked for, e.g. `envoy 1.39.3`, `binary /usr/bin/envoy`, a run directory.
    pub label: String,
    /// The Envoy version the runs reported (admin `/server_info`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    pub runs: Vec<RunRef>,
}

/// One run of a side.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRef {
    /// The run directory, relative to the compare directory when inside it.
    pub dir: String,
    /// `completed`, `interrupted`, `failed` (only completed runs are samples).
    pub status: String,
    /// Why the run is not a sample, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
}

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// A figure's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureVerdict {
    NoSignificantChange,
    Regression,
    Improvement,
    /// Too few samples for an interval: no verdict.
    Inconclusive,
}

impl FigureVerdict {
    /// The verdict in words, as every renderer prints it.
    pub fn words(self) -> &'static str {
        match self {
            FigureVerdict::NoSignificantChange => "no significant change",
            FigureVerdict::Regression => "regression",
            FigureVerdict::Improvement => "improvement",
            FigureVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// How an interval was obtained (mirrors the harness's statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    MannWhitney,
    Bootstrap,
    None,
}

impl Method {
    /// Short name for tables.
    pub fn words(self) -> &'static str {
        match self {
            Method::MannWhitney => "Mann–Whitney",
            Method::Bootstrap => "bootstrap",
            Method::None => "none",
        }
    }
}

/// An interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// One figure, both sides, and the judgement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// The name `--fail-on` uses, e.g. `latency.p99`.
    pub key: String,
    /// For people, e.g. `latency p99 (through Envoy)`.
    pub label: String,
    /// `ms`, `rps`, `cores`, `MB` or `ratio`.
    pub unit: String,
    pub better: Better,
    /// The baseline's samples, in run order.
    pub baseline: Vec<f64>,
    pub candidate: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_median: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_median: Option<f64>,
    /// Hodges–Lehmann estimate of candidate − baseline, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_ci: Option<Interval>,
    /// The value relative changes are taken against (usually the baseline median).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<f64>,
    /// `change / reference`; absent when the reference is zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_ci: Option<Interval>,
    pub method: Method,
    /// The confidence the interval has (the Mann–Whitney cut is discrete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The smallest change, in `unit`, that counts as a regression or improvement.
    pub min_change: f64,
    pub verdict: FigureVerdict,
    /// Why, in one sentence.
    pub reason: String,
}

/// One `--fail-on` check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// The expression as written.
    pub expr: String,
    pub figure: String,
    pub passed: bool,
    /// One sentence a person reads in a CI log.
    pub detail: String,
}

impl CompareResult {
    /// The figure with this key.
    pub fn figure(&self, key: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.key == key)
    }
}

/// Renders the compare in `format`; `None` for formats that describe a single run only
/// (Fortio JSON, HdrHistogram logs).
pub fn render(format: Format, c: &CompareResult) -> Option<String> {
    Some(match format {
        Format::Terminal => text::terminal(c),
        Format::Markdown => text::markdown(c),
        Format::Json => serde_json::to_string_pretty(c).unwrap_or_default() + "\n",
        Format::Html => html::render(c),
        Format::Junit => junit::render(c),
        Format::Fortio | Format::Hlog => return None,
    })
}

/// Reads a `compare.json`, checking its schema.
pub fn read(path: &Path) -> Result<CompareResult, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let c: CompareResult = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a compare result: {e}", path.display()))?;
    if c.schema != COMPARE_SCHEMA {
        return Err(format!(
            "{} has schema `{}`, expected `{COMPARE_SCHEMA}`",
            path.display(),
            c.schema
        ));
    }
    Ok(c)
}

/// Writes `compare.json`.
pub fn write(c: &CompareResult, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(c).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}
