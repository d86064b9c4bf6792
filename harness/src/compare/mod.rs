//! `gauntlet compare`: the same scenario on two Envoys, run interleaved (A B A B …) or read
//! from stored runs, judged figure by figure with an interval and a minimum effect.
//!
//! - [`stats`]: medians, Hodges–Lehmann, Mann–Whitney and bootstrap intervals (plain code).
//! - [`figures`]: which figures, where they come from in a run, and the verdict rule.
//! - [`failon`]: the `--fail-on` language.
//! - [`side`]: what a side runs (a version or a binary), resolved before any run.
//! - [`runner`]: the interleaved runs into one compare directory.
//! - [`stored`]: `gauntlet compare RUN_A RUN_B` on directories already on disk.
//!
//! The result is `gauntlet_reports::compare::CompareResult`; rendering is the reports crate's.

pub mod cli;
pub mod failon;
pub mod figures;
pub mod runner;
pub mod side;
pub mod stats;
pub mod stored;

use chrono::{DateTime, Utc};
use gauntlet_reports::compare::{
    CompareResult, CompareStatus, Figure, Method, RunRef, SampleKind, Side, COMPARE_SCHEMA,
};
use gauntlet_reports::{RunResult, RunStatus};

use self::failon::FailOn;
use self::figures::{judge, Judgement, Reference, FIGURES};

/// One run of a side: where it is, and its result if it produced one.
#[derive(Debug)]
pub struct RunEntry {
    pub dir: String,
    pub result: Option<RunResult>,
    /// Why there is no result.
    pub error: Option<String>,
}

impl RunEntry {
    /// Whether the run is a sample: it completed and its Envoy step ran to its end.
    fn usable(&self) -> Result<&RunResult, String> {
        let r = self
            .result
            .as_ref()
            .ok_or_else(|| self.error.clone().unwrap_or_else(|| "no result".into()))?;
        if r.status != RunStatus::Completed {
            return Err(format!(
                "run {:?}: {}",
                r.status,
                r.error.as_deref().unwrap_or("no detail")
            )
            .to_lowercase());
        }
        match r.step("envoy") {
            Some(s) if !s.load.cut_short => Ok(r),
            Some(_) => Err("the envoy step was cut short".into()),
            None => Err("no envoy step".into()),
        }
    }
}

/// A side's runs as collected.
#[derive(Debug)]
pub struct SideRuns {
    pub role: &'static str,
    pub label: String,
    pub runs: Vec<RunEntry>,
}

/// Everything [`build`] needs beyond the runs.
pub struct BuildSpec<'a> {
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub status: CompareStatus,
    pub error: Option<String>,
    pub judgement: Judgement,
    pub checks: &'a [FailOn],
}

/// Judges two sides' runs into a compare result. Uses one sample per usable run, or, when
/// each side has exactly one, the Envoy step's 1-second windows (said so in the notes).
pub fn build(spec: BuildSpec<'_>, baseline: &SideRuns, candidate: &SideRuns) -> CompareResult {
    let (usable_b, usable_c) = (usable(baseline), usable(candidate));
    let kind = if usable_b.len() == 1 && usable_c.len() == 1 {
        SampleKind::Windows
    } else {
        SampleKind::Runs
    };
    let mut notes = Vec::new();
    let mut figures: Vec<Figure> = Vec::new();
    for def in FIGURES {
        let b = samples(def, &usable_b, kind);
        let c = samples(def, &usable_c, kind);
        let reference = match def.reference {
            Reference::Own => stats::median(&b),
            Reference::Of(key) => {
                figures::find(key).and_then(|d| stats::median(&samples(d, &usable_b, kind)))
            }
            Reference::Absolute => None,
        };
        figures.push(judge(def, b, c, reference, spec.judgement));
    }
    notes.push(
        "Relative changes of added latency are taken against the baseline's latency at the \
         same percentile (what the change costs a client), not against the added latency itself."
            .to_string(),
    );
    if kind == SampleKind::Windows {
        notes.push(
            "Single run per side: latency, throughput and error rate use the Envoy step's \
             one-second windows as samples. They are autocorrelated (a slow spell spans \
             several windows), so the intervals are narrower than the truth: use --repeat for \
             evidence. Added latency, CPU and memory have one value per side: plain \
             differences, no verdict."
                .to_string(),
        );
    }
    if figures.iter().any(|f| f.method == Method::Bootstrap) {
        notes.push(format!(
            "Too few samples per side for a distribution-free {:.0}% interval (4 per side are \
             needed): expanded bootstrap intervals with a fixed seed are used. With 3 per side, \
             for identical Envoys about 1 figure in 10 still excludes zero by chance (when \
             the samples do not overlap), so the minimum effect is what keeps noise from \
             being called a change; repeat more for firmer answers.",
            spec.judgement.confidence * 100.0
        ));
    }
    let bound = usable_b
        .iter()
        .chain(&usable_c)
        .filter(|r| {
            r.step("envoy")
                .is_some_and(|s| s.load.saturation.client_bound)
        })
        .count();
    if bound > 0 {
        notes.push(format!(
            "{bound} of {} runs were client-bound (the load generator fell behind its schedule): \
             their latency describes this machine's load as much as Envoy. Compare on a quieter \
             machine, or at a lower rate, before trusting latency differences.",
            usable_b.len() + usable_c.len()
        ));
    }
    for side in [baseline, candidate] {
        let excluded = side.runs.iter().filter(|r| r.usable().is_err()).count();
        if excluded > 0 {
            notes.push(format!(
                "{excluded} {} run(s) did not complete and are not samples.",
                side.role
            ));
        }
    }
    let checks = spec
        .checks
        .iter()
        .map(|c| failon::evaluate(c, &figures))
        .collect();
    let machine = [baseline, candidate]
        .iter()
        .flat_map(|s| s.runs.iter())
        .find_map(|r| r.result.as_ref().map(|r| r.machine.clone()))
        .unwrap_or_default();
    CompareResult {
        schema: COMPARE_SCHEMA.to_string(),
        gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
        name: spec.name,
        status: spec.status,
        error: spec.error,
        started_at: spec.started_at,
        finished_at: Utc::now(),
        machine,
        samples: kind,
        confidence: spec.judgement.confidence,
        min_effect: spec.judgement.min_effect,
        baseline: side(baseline),
        candidate: side(candidate),
        notes,
        figures,
        checks,
    }
}

fn usable(side: &SideRuns) -> Vec<&RunResult> {
    side.runs.iter().filter_map(|r| r.usable().ok()).collect()
}

fn samples(def: &figures::FigureDef, runs: &[&RunResult], kind: SampleKind) -> Vec<f64> {
    let per_window = match (kind, def.of_windows, runs) {
        (SampleKind::Windows, Some(f), [r]) => r.step("envoy").map(f),
        _ => None,
    };
    per_window.unwrap_or_else(|| {
        runs.iter()
            .filter_map(|r| (def.of_run)(r))
            .filter(|v| v.is_finite())
            .collect()
    })
}

fn side(s: &SideRuns) -> Side {
    let envoy = s
        .runs
        .iter()
        .find_map(|r| r.result.as_ref().and_then(|r| r.envoy.clone()));
    Side {
        role: s.role.to_string(),
        label: s.label.clone(),
        envoy_version: envoy.as_ref().map(|e| e.version.clone()),
        binary: envoy.map(|e| e.binary),
        runs: s
            .runs
            .iter()
            .map(|r| RunRef {
                dir: r.dir.clone(),
                status: r
                    .result
                    .as_ref()
                    .map(|x| {
                        serde_json::to_value(x.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    })
                    .unwrap_or_else(|| "failed".to_string()),
                excluded: r.usable().err(),
            })
            .collect(),
    }
}
