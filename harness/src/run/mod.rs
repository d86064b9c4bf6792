//! The orchestrator: one scenario, end to end. It owns the order of things (mocks, xDS,
//! Envoy, baseline, Envoy step, teardown) and the guarantee that a run directory, once made,
//! always gets a `result.json`, whatever happens in between.

pub mod adhoc;
mod cgroup;
mod compare_phases;
mod config;
mod egress;
mod find_max;
mod hop_latency;
mod hops;
mod integration;
mod machine;
mod mock_containers;
mod mock_control;
mod mock_endpoint;
mod mock_fleet;
mod node_usage;
mod plan;
mod ports;
mod progress;
mod resources;
mod rundir;
mod sampler;
mod session;
mod single_hops;
mod single_service;
mod sizing;
mod step;
mod summary;
mod sweep;
mod timeline;
mod watch;
mod world;

use std::path::PathBuf;

use chrono::Utc;
use gauntlet_reports::{RunResult, RunStatus};
use tokio_util::sync::CancellationToken;

pub use compare_phases::ComparedRun;
pub use plan::{run_plan, PlanOutcome};
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
    /// An image that overrides the scenario's `envoy.image` (its limits are kept); Envoy
    /// then runs in a container (`gauntlet compare --baseline-image`).
    pub envoy_image: Option<String>,
    /// Print a line per second while load runs.
    pub progress: bool,
    /// Also write the gates' JUnit XML here (it is always written into the run directory).
    pub junit: Option<PathBuf>,
    /// A run whose hops this run's are put beside in the result (an earlier phase of a
    /// multi-phase file); a scenario's own `compare_with:` is read by the phase itself.
    pub compare_with: Option<std::sync::Arc<ComparedRun>>,
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
    /// `--junit` names a file that cannot be written (checked before anything runs).
    #[error("cannot write --junit {path}: {source}\n  hint: pass a writable file with --junit")]
    JunitFile {
        path: PathBuf,
        source: std::io::Error,
    },
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
            RunError::RunDir(_) | RunError::JunitFile { .. } => exit::BAD_INPUT,
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
    if let Some(path) = &opts.junit {
        probe_writable(path).map_err(|source| RunError::JunitFile {
            path: path.clone(),
            source,
        })?;
    }
    let dir = RunDir::create(opts.out.as_deref(), &scenario.name, started_at)?;
    // The record keeps the scenario with secret headers and environment values redacted; the
    // run itself uses `scenario`, real values and all.
    let mut scenario_record = serde_json::to_value(scenario).unwrap_or_default();
    let secrets = crate::redact::redact_scenario(&mut scenario_record);
    let mut result = RunResult {
        machine: machine::describe(),
        scenario: scenario_record,
        ..RunResult::started(&scenario.name, &phase_name(scenario), started_at)
    };
    let outcome = session::drive(scenario, opts, &dir, &mut result, cancel.clone()).await;
    if let Some(other) = &opts.compare_with {
        compare_phases::attach_to(&mut result, Some(other));
    }
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
    // A sizing run judges gates per point (`sweep::gates`); others as `gates::evaluate`.
    result.gates = sweep::gates(&scenario.gates, &result);
    let verdict = match verdict {
        Verdict::Pass if result.gates.iter().any(|g| !g.passed) => Verdict::GatesFailed,
        v => v,
    };
    scrub_secrets(&secrets, &mut result, &dir);
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

/// Proves now, not after a long run, that `path` takes a write: a missing directory, a
/// read-only file or a full device (`/dev/full`) fails here. A regular file is left empty;
/// the JUnit XML replaces it at the end.
fn probe_writable(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.write_all(b"<!-- gauntlet: run in progress -->\n")?;
    file.flush()?;
    if file.metadata()?.is_file() {
        file.set_len(0)?;
    }
    Ok(())
}

/// Removes secret values from free text in the result (an error or a NACK that quotes a
/// header) and from the logs in the run directory (Envoy prints request headers at debug
/// level). Costs nothing when the scenario has no secrets.
fn scrub_secrets(secrets: &crate::redact::Secrets, result: &mut RunResult, dir: &RunDir) {
    if secrets.is_empty() {
        return;
    }
    let scrubbed = serde_json::to_value(&*result).ok().and_then(|mut value| {
        secrets.scrub_json(&mut value);
        serde_json::from_value(value).ok()
    });
    match scrubbed {
        Some(r) => *result = r,
        None => tracing::warn!("could not scrub secrets from the result's messages"),
    }
    for log in log_files(dir.path(), 3) {
        if let Err(e) = secrets.scrub_file(&log) {
            tracing::warn!("cannot scrub secrets from {}: {e}", log.display());
        }
    }
}

/// `*.log` files under `dir`, down to `depth` levels of subdirectories (an Envoy per role
/// writes its own, e.g. `egress/envoy.log`).
fn log_files(dir: &std::path::Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth > 0 {
            found.extend(log_files(&path, depth - 1));
        } else if kind.is_file() && path.extension().is_some_and(|x| x == "log") {
            found.push(path);
        }
    }
    found
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
