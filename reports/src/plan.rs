//! The result of a file with several phases (`plan.json`, schema `gauntlet.plan/v1`): each
//! phase's outcome and run directory, and the hops of every later phase side by side with
//! each earlier phase's. Each phase's own `result.json` is in its directory; this file only
//! points at them and holds the comparisons. `plan_view` renders it.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::graph::PhaseComparison;

/// The `schema` of a `plan.json`.
pub const PLAN_SCHEMA: &str = "gauntlet.plan/v1";

/// The file a plan's result is written to, in the plan's directory.
pub const PLAN_FILE: &str = "plan.json";

/// Every phase of one multi-phase run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanResult {
    pub schema: String,
    pub gauntlet_version: String,
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The worst of the phases' verdicts (a skipped phase counts as nothing).
    pub verdict: PhaseVerdict,
    /// In file order, which is the order they ran in.
    pub phases: Vec<PlanPhase>,
    /// Each later phase with hops against each earlier phase with hops, in run order.
    pub comparisons: Vec<PlanComparison>,
}

/// One phase of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanPhase {
    pub name: String,
    /// `benchmark`, `single-service` or `integration`.
    pub phase: String,
    pub verdict: PhaseVerdict,
    /// The run directory, relative to the plan's; absent when the phase did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    pub gates_passed: usize,
    pub gates_failed: usize,
    /// Hops in the phase's service graph (0 for a benchmark).
    pub hops: usize,
    /// Why the phase failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseVerdict {
    /// Not run: an earlier phase failed or the run was interrupted.
    Skipped,
    /// Completed, every gate held.
    Pass,
    /// Completed, a gate failed.
    GatesFailed,
    /// The phase failed midway (its directory has what was measured).
    RunError,
    /// Stopped by a signal.
    Interrupted,
}

impl PhaseVerdict {
    /// The words shown in reports.
    pub fn label(self) -> &'static str {
        match self {
            PhaseVerdict::Skipped => "skipped",
            PhaseVerdict::Pass => "pass",
            PhaseVerdict::GatesFailed => "gates failed",
            PhaseVerdict::RunError => "run error",
            PhaseVerdict::Interrupted => "interrupted",
        }
    }
}

/// A later phase's hops (`this` in each pair) beside an earlier phase's (`other`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanComparison {
    /// The later phase's name.
    pub phase: String,
    /// The earlier phase's name.
    pub against: String,
    pub hops: PhaseComparison,
}

/// A `plan.json` that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a Gauntlet plan result: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
}

/// Writes the plan as pretty JSON.
pub fn write(plan: &PlanResult, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(plan).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

/// Reads a `plan.json`.
pub fn read(path: &Path) -> Result<PlanResult, PlanReadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| PlanReadError::Io {
        path: shown.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| PlanReadError::Json {
        path: shown,
        source,
    })
}
