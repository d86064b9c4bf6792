//! The orchestrator: one scenario, end to end. It owns the order of things (mocks, xDS,
//! Envoy, baseline, Envoy step, teardown) and the guarantee that a run directory, once made,
//! always gets a `result.json`, whatever happens in between.

pub mod adhoc;
mod config;
mod machine;
mod resources;
mod rundir;
mod sampler;
mod session;
mod step;
mod summary;
mod timeline;

use std::path::PathBuf;

use chrono::Utc;
use gauntlet_reports::{RunResult, RunStatus, SCHEMA};
use tokio_util::sync::CancellationToken;

pub use rundir::{sanitize, RunDir, RunDirError};

use crate::exit;
use crate::scenario::Scenario;

/// How `run` is asked to run, beyond the scenario itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run directory; default `runs/<name>-<timestamp>/`.
    pub out: Option<PathBuf>,
    /// An Envoy binary that overrides the scenario's choice.
    pub envoy_bin: Option<PathBuf>,
    /// Print a line per second while load runs.
    pub progress: bool,
    /// Also write the gates' JUnit XML here (it is always written into the run directory).
    pub junit: Option<PathBuf>,
}

/// How a run that produced a result ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The run completed and every gate held.
    Pass,
    /// The run completed and at least one gate failed.
    GatesFailed,
    Interrupted,
    RunError,
}

impl Verdict {
    /// The exit code this verdict maps to (README, "Exit codes").
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => exit::OK,
            Verdict::GatesFailed => exit::GATES_FAILED,
            Verdict::Interrupted => exit::INTERRUPTED,
            Verdict::RunError => exit::RUN_ERROR,
        }
    }
}

/// A run that got as far as having a run directory: its result is on disk.
#[derive(Debug)]
pub struct RunOutcome {
    pub result: RunResult,
    pub dir: PathBuf,
    pub verdict: Verdict,
}

/// A run that could not even start measuring, or whose result could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl RunError {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::RunDir(_) => exit::BAD_INPUT,
            RunError::Write { .. } => exit::RUN_ERROR,
        }
    }
}

/// Runs the scenario and writes its result. Returns `Err` only when no result could be
/// written at all; a run that failed midway is an `Ok` with a `Failed` or `Interrupted`
/// status and whatever was measured before.
pub async fn run(
    scenario: &Scenario,
    opts: &RunOptions,
    cancel: CancellationToken,
) -> Result<RunOutcome, RunError> {
    let started_at = Utc::now();
    let dir = RunDir::create(opts.out.as_deref(), &scenario.name, started_at)?;
    let mut result = RunResult {
        schema: SCHEMA.to_string(),
        gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
        name: scenario.name.clone(),
        phase: phase_name(scenario),
        status: RunStatus::Completed,
        error: None,
        started_at,
        finished_at: started_at,
        machine: machine::describe(),
        envoy: None,
        scenario: serde_json::to_value(scenario).unwrap_or_default(),
        steps: Vec::new(),
        added_latency: None,
        events: Vec::new(),
        xds: Vec::new(),
        gates: Vec::new(),
    };
    let outcome = session::drive(scenario, opts, &dir, &mut result, cancel.clone()).await;
    let verdict = match outcome {
        Ok(()) if !cancel.is_cancelled() => Verdict::Pass,
        Ok(()) => {
            result.status = RunStatus::Interrupted;
            result.error = Some("interrupted by a signal".to_string());
            Verdict::Interrupted
        }
        Err(e) if cancel.is_cancelled() => {
            result.status = RunStatus::Interrupted;
            result.error = Some(format!("interrupted by a signal ({e:#})"));
            Verdict::Interrupted
        }
        Err(e) => {
            result.status = RunStatus::Failed;
            result.error = Some(format!("{e:#}"));
            Verdict::RunError
        }
    };
    result.added_latency = summary::added_latency(&result.steps);
    result.finished_at = Utc::now();
    // Gates are judged on whatever was measured, so a failed run still says which held.
    result.gates = crate::gates::evaluate(&scenario.gates, &result);
    let verdict = match verdict {
        Verdict::Pass if result.gates.iter().any(|g| !g.passed) => Verdict::GatesFailed,
        v => v,
    };
    let path = dir.file("result.json");
    gauntlet_reports::json::write(&result, &path).map_err(|source| RunError::Write {
        path: path.clone(),
        source,
    })?;
    write_junit(&result, &dir, opts)?;
    write_reports(&result, &dir);
    Ok(RunOutcome {
        result,
        dir: dir.path().to_path_buf(),
        verdict,
    })
}

/// Writes `junit.xml` into the run directory when there are gates, and to `--junit` always.
fn write_junit(result: &RunResult, dir: &RunDir, opts: &RunOptions) -> Result<(), RunError> {
    let xml = gauntlet_reports::junit::render(result);
    let mut targets = Vec::new();
    if !result.gates.is_empty() {
        targets.push(dir.file("junit.xml"));
    }
    targets.extend(opts.junit.clone());
    for path in targets {
        std::fs::write(&path, &xml).map_err(|source| RunError::Write { path, source })?;
    }
    Ok(())
}

/// The reports people open (HTML with charts, Markdown for a CI job summary) beside the
/// result. A renderer failing to write is logged, not fatal: `result.json` is what counts,
/// and `gauntlet report` can render it again.
fn write_reports(result: &RunResult, dir: &RunDir) {
    use gauntlet_reports::Format;
    for format in [Format::Html, Format::Markdown] {
        let Some(name) = format.file_name() else {
            continue;
        };
        let text = gauntlet_reports::render(format, result);
        if let Err(e) = std::fs::write(dir.file(name), text) {
            tracing::warn!("cannot write {name}: {e}");
        }
    }
}

fn phase_name(s: &Scenario) -> String {
    serde_json::to_value(s.phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
