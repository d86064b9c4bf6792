//! The interleaved runs of `gauntlet compare SCENARIO`: both sides resolved first, then
//! A B A B … through the ordinary `run::run`, each run in its own subdirectory of the compare
//! directory, so drift on the machine (other load, thermal state) falls on both sides alike.
//! Ctrl-C stops the current run gracefully and the compare is written from what completed.

use std::path::{Path, PathBuf};

use chrono::Utc;
use gauntlet_reports::compare::{CompareResult, CompareStatus};
use tokio_util::sync::CancellationToken;

use super::failon::FailOn;
use super::figures::Judgement;
use super::side::{ResolvedSide, SideSpec};
use super::{build, BuildSpec, RunEntry, SideRuns};
use crate::exit;
use crate::run::{self, RunDir, RunOptions, Verdict};
use crate::scenario::Scenario;

/// How a compare is asked to run.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    pub baseline: SideSpec,
    pub candidate: SideSpec,
    /// Runs per side.
    pub repeat: u32,
    pub checks: Vec<FailOn>,
    pub judgement: Judgement,
    /// Compare directory; default `runs/compare-<name>-<timestamp>/`.
    pub out: Option<PathBuf>,
    /// Progress lines (and bar) for each run.
    pub progress: bool,
}

/// A finished (or interrupted) compare, written to `dir`.
#[derive(Debug)]
pub struct CompareOutcome {
    pub result: CompareResult,
    pub dir: PathBuf,
    pub exit_code: u8,
}

/// Why a compare could not start or its result could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot prepare the {role} side ({label}): {source}")]
    Side {
        role: &'static str,
        label: String,
        source: crate::envoy::EnvoyError,
    },
    #[error(transparent)]
    Dir(#[from] run::RunDirError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CompareError {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> u8 {
        match self {
            CompareError::Side { .. } | CompareError::Write { .. } => exit::RUN_ERROR,
            CompareError::Dir(_) => exit::BAD_INPUT,
        }
    }
}

/// Resolves both sides, runs the scenario `2 × repeat` times interleaved, judges and writes.
pub async fn run(
    scenario: &Scenario,
    cfg: &CompareConfig,
    cancel: CancellationToken,
) -> Result<CompareOutcome, CompareError> {
    let started_at = Utc::now();
    let sides = [
        resolve("baseline", &cfg.baseline).await?,
        resolve("candidate", &cfg.candidate).await?,
    ];
    let dir = RunDir::create(
        cfg.out.as_deref(),
        &format!("compare-{}", scenario.name),
        started_at,
    )?;
    let mut collected = sides
        .iter()
        .zip(["baseline", "candidate"])
        .map(|(s, role)| SideRuns {
            role,
            label: s.label.clone(),
            runs: Vec::new(),
        })
        .collect::<Vec<_>>();
    let total = 2 * cfg.repeat;
    let mut failed = None;
    'repeats: for i in 1..=cfg.repeat {
        for (k, side) in sides.iter().enumerate() {
            if cancel.is_cancelled() {
                break 'repeats;
            }
            let role = collected[k].role;
            let name = format!("{role}-{i}");
            let n = 2 * (i - 1) + k as u32 + 1;
            eprintln!(
                "compare: run {n}/{total}: {role} ({}), repeat {i} of {}",
                side.describe(),
                cfg.repeat
            );
            let entry = one_run(scenario, cfg, side, dir.path(), &name, cancel.clone()).await;
            if let (Some(e), None) = (&entry.error, &failed) {
                failed = Some(format!("{name}: {e}"));
            }
            collected[k].runs.push(entry);
        }
    }
    let status = match (cancel.is_cancelled(), &failed) {
        (true, _) => CompareStatus::Interrupted,
        (false, Some(_)) => CompareStatus::Failed,
        (false, None) => CompareStatus::Completed,
    };
    let error = match status {
        CompareStatus::Interrupted => Some("interrupted by a signal".to_string()),
        _ => failed,
    };
    let spec = BuildSpec {
        name: scenario.name.clone(),
        started_at,
        status,
        error,
        judgement: cfg.judgement,
        checks: &cfg.checks,
    };
    let result = build(spec, &collected[0], &collected[1]);
    write(&result, dir.path())?;
    let exit_code = exit_code(&result);
    Ok(CompareOutcome {
        result,
        dir: dir.path().to_path_buf(),
        exit_code,
    })
}

async fn resolve(role: &'static str, spec: &SideSpec) -> Result<ResolvedSide, CompareError> {
    spec.resolve().await.map_err(|source| CompareError::Side {
        role,
        label: spec.label(),
        source,
    })
}

async fn one_run(
    scenario: &Scenario,
    cfg: &CompareConfig,
    side: &ResolvedSide,
    dir: &Path,
    name: &str,
    cancel: CancellationToken,
) -> RunEntry {
    let mut opts = RunOptions {
        out: Some(dir.join(name)),
        progress: cfg.progress,
        ..RunOptions::default()
    };
    side.apply(&mut opts);
    match run::run(scenario, &opts, cancel).await {
        Ok(outcome) => RunEntry {
            dir: name.to_string(),
            error: match outcome.verdict {
                Verdict::RunError => Some(
                    outcome
                        .result
                        .error
                        .clone()
                        .unwrap_or_else(|| "the run failed".into()),
                ),
                _ => None,
            },
            result: Some(outcome.result),
        },
        Err(e) => RunEntry {
            dir: name.to_string(),
            result: None,
            error: Some(format!("{e:#}")),
        },
    }
}

/// Writes `compare.json` and the reports people open beside it. Only `compare.json` must
/// succeed; `gauntlet report` can render the others again.
pub fn write(result: &CompareResult, dir: &Path) -> Result<(), CompareError> {
    use gauntlet_reports::Format;
    let path = dir.join("compare.json");
    gauntlet_reports::compare::write(result, &path).map_err(|source| CompareError::Write {
        path: path.clone(),
        source,
    })?;
    let mut formats = vec![
        (Format::Html, "compare.html"),
        (Format::Markdown, "compare.md"),
    ];
    if !result.checks.is_empty() {
        formats.push((Format::Junit, "junit.xml"));
    }
    for (format, name) in formats {
        if let Some(text) = gauntlet_reports::compare::render(format, result) {
            if let Err(e) = std::fs::write(dir.join(name), text) {
                tracing::warn!("cannot write {name}: {e}");
            }
        }
    }
    Ok(())
}

/// Interrupted → 130; a run failed → 3; a check failed → 1; else 0.
pub fn exit_code(result: &CompareResult) -> u8 {
    match result.status {
        CompareStatus::Interrupted => exit::INTERRUPTED,
        CompareStatus::Failed => exit::RUN_ERROR,
        CompareStatus::Completed if result.checks.iter().any(|c| !c.passed) => exit::GATES_FAILED,
        CompareStatus::Completed => exit::OK,
    }
}
