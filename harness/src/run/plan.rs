//! A file with several phases: each phase is an ordinary run (`run::run`) in its own
//! directory `<plan dir>/<NN>-<phase name>/`, in file order. A phase with hops gets the
//! latest earlier phase with hops put beside it in its own result (`graph.compared`), and
//! the plan's `plan.json` holds every later phase against every earlier one. A phase that
//! fails or is interrupted stops the plan: the phases after it are recorded as skipped.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use gauntlet_reports::plan::{
    PhaseVerdict, PlanComparison, PlanPhase, PlanResult, PLAN_FILE, PLAN_SCHEMA,
};
use tokio_util::sync::CancellationToken;

use super::compare_phases::{self, ComparedRun};
use super::{RunDir, RunError, RunOptions, RunOutcome, Verdict};
use crate::exit;
use crate::scenario::{Plan, Scenario};

/// A plan that got as far as having its directory: `plan.json` is on disk.
#[derive(Debug)]
pub struct PlanOutcome {
    pub plan: PlanResult,
    pub dir: PathBuf,
    /// The phases that ran, in order.
    pub phases: Vec<RunOutcome>,
}

impl PlanOutcome {
    /// The exit code of the worst verdict among the phases.
    pub fn exit_code(&self) -> u8 {
        match self.plan.verdict {
            PhaseVerdict::Skipped | PhaseVerdict::Pass => exit::OK,
            PhaseVerdict::GatesFailed => exit::GATES_FAILED,
            PhaseVerdict::RunError => exit::RUN_ERROR,
            PhaseVerdict::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// A phase with hops that ran, for the phases after it to be compared with.
struct Earlier {
    name: String,
    run: Arc<ComparedRun>,
}

/// Runs the plan's phases in order and writes `plan.json` (and its Markdown and HTML)
/// into the plan's directory. `opts.out` names that directory; `opts.junit` gets one test
/// suite per phase that ran.
pub async fn run_plan(
    plan: &Plan,
    opts: &RunOptions,
    cancel: CancellationToken,
) -> Result<PlanOutcome, RunError> {
    let started_at = Utc::now();
    if let Some(path) = &opts.junit {
        super::probe_writable(path).map_err(|source| RunError::JunitFile {
            path: path.clone(),
            source,
        })?;
    }
    let dir = RunDir::create(opts.out.as_deref(), &plan.name, started_at)?;
    let mut entries = Vec::new();
    let mut outcomes = Vec::new();
    let mut earlier: Vec<Earlier> = Vec::new();
    let mut stopped: Option<String> = None;
    for (i, scenario) in plan.phases.iter().enumerate() {
        let rel = format!("{:02}-{}", i + 1, super::sanitize(&scenario.name));
        let why_not = stopped.clone().or_else(|| {
            cancel
                .is_cancelled()
                .then(|| "interrupted by a signal".to_string())
        });
        if let Some(why) = why_not {
            entries.push(skipped(scenario, why));
            continue;
        }
        if opts.progress {
            eprintln!(
                "phase {} of {}: {} ({})",
                i + 1,
                plan.phases.len(),
                scenario.name,
                super::phase_name(scenario)
            );
        }
        let phase_opts = RunOptions {
            out: Some(dir.path().join(&rel)),
            junit: None,
            compare_with: earlier.last().map(|e| Arc::clone(&e.run)),
            ..opts.clone()
        };
        match super::run(scenario, &phase_opts, cancel.clone()).await {
            Ok(outcome) => {
                let entry = ran(scenario, &rel, &outcome);
                if matches!(
                    entry.verdict,
                    PhaseVerdict::RunError | PhaseVerdict::Interrupted
                ) {
                    stopped = Some(format!("phase `{}` did not complete", scenario.name));
                }
                if outcome.result.graph.is_some() {
                    earlier.push(Earlier {
                        name: scenario.name.clone(),
                        run: Arc::new(ComparedRun {
                            source: rel.clone(),
                            result: outcome.result.clone(),
                        }),
                    });
                }
                entries.push(entry);
                outcomes.push(outcome);
            }
            Err(e) => {
                stopped = Some(format!("phase `{}` did not run", scenario.name));
                entries.push(PlanPhase {
                    error: Some(format!("{e:#}")),
                    verdict: PhaseVerdict::RunError,
                    ..skipped(scenario, String::new())
                });
            }
        }
    }
    // A signal that lands between two phases leaves every phase that ran complete and the
    // rest skipped: the plan was still interrupted, and its exit code must say so.
    let verdict = match worst(&entries) {
        _ if cancel.is_cancelled() => PhaseVerdict::Interrupted,
        v => v,
    };
    let result = PlanResult {
        schema: PLAN_SCHEMA.to_string(),
        gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
        name: plan.name.clone(),
        started_at,
        finished_at: Utc::now(),
        verdict,
        phases: entries,
        comparisons: comparisons(&earlier),
    };
    write(&result, &dir, &outcomes, opts)?;
    Ok(PlanOutcome {
        plan: result,
        dir: dir.path().to_path_buf(),
        phases: outcomes,
    })
}

fn skipped(scenario: &Scenario, why: String) -> PlanPhase {
    PlanPhase {
        name: scenario.name.clone(),
        phase: super::phase_name(scenario),
        verdict: PhaseVerdict::Skipped,
        dir: None,
        gates_passed: 0,
        gates_failed: 0,
        hops: 0,
        error: (!why.is_empty()).then_some(why),
    }
}

fn ran(scenario: &Scenario, rel: &str, outcome: &RunOutcome) -> PlanPhase {
    let r = &outcome.result;
    let failed = r.gates.iter().filter(|g| !g.passed).count();
    PlanPhase {
        name: scenario.name.clone(),
        phase: r.phase.clone(),
        verdict: match outcome.verdict {
            Verdict::Pass => PhaseVerdict::Pass,
            Verdict::GatesFailed => PhaseVerdict::GatesFailed,
            Verdict::RunError => PhaseVerdict::RunError,
            Verdict::Interrupted => PhaseVerdict::Interrupted,
        },
        dir: Some(rel.to_string()),
        gates_passed: r.gates.len() - failed,
        gates_failed: failed,
        hops: r.graph.as_ref().map_or(0, |g| g.edges.len()),
        error: r.error.clone(),
    }
}

/// The worst verdict of the phases that ran (`Pass` when none did: nothing failed).
fn worst(phases: &[PlanPhase]) -> PhaseVerdict {
    phases
        .iter()
        .map(|p| p.verdict)
        .max()
        .filter(|v| *v != PhaseVerdict::Skipped)
        .unwrap_or(PhaseVerdict::Pass)
}

/// Every phase with hops against every earlier phase with hops, in run order.
fn comparisons(earlier: &[Earlier]) -> Vec<PlanComparison> {
    let mut out = Vec::new();
    for (j, later) in earlier.iter().enumerate() {
        let Some(graph) = &later.run.result.graph else {
            continue;
        };
        for before in &earlier[..j] {
            if let Some(hops) = compare_phases::compare(graph, &before.run) {
                out.push(PlanComparison {
                    phase: later.name.clone(),
                    against: before.name.clone(),
                    hops,
                });
            }
        }
    }
    out
}

/// `plan.json`, then its Markdown and HTML (logged when they cannot be written, like a
/// run's reports), then `--junit`.
fn write(
    plan: &PlanResult,
    dir: &RunDir,
    outcomes: &[RunOutcome],
    opts: &RunOptions,
) -> Result<(), RunError> {
    use gauntlet_reports::plan_view;
    let path = dir.file(PLAN_FILE);
    gauntlet_reports::plan::write(plan, &path)
        .map_err(|source| RunError::Write { path, source })?;
    for (name, text) in [
        ("plan.md", plan_view::markdown(plan)),
        ("plan.html", plan_view::html(plan)),
    ] {
        if let Err(e) = std::fs::write(dir.file(name), text) {
            tracing::warn!("cannot write {name}: {e}");
        }
    }
    if let Some(path) = &opts.junit {
        let results: Vec<_> = outcomes.iter().map(|o| o.result.clone()).collect();
        std::fs::write(path, plan_view::junit(plan, &results)).map_err(|source| {
            RunError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(verdict: PhaseVerdict) -> PlanPhase {
        PlanPhase {
            name: "p".into(),
            phase: "integration".into(),
            verdict,
            dir: None,
            gates_passed: 0,
            gates_failed: 0,
            hops: 0,
            error: None,
        }
    }

    #[test]
    fn the_plan_takes_the_worst_verdict_of_the_phases_that_ran() {
        use PhaseVerdict::*;
        assert_eq!(worst(&[phase(Pass), phase(GatesFailed)]), GatesFailed);
        assert_eq!(
            worst(&[phase(GatesFailed), phase(RunError), phase(Skipped)]),
            RunError
        );
        assert_eq!(worst(&[phase(Pass), phase(Skipped)]), Pass);
        assert_eq!(worst(&[phase(Interrupted), phase(Skipped)]), Interrupted);
    }
}
