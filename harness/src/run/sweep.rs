//! Sizing runs: a `sweep:` (baseline and Envoy steps at each point) or a `find_max_rps:`
//! search, all in the one Envoy session `session.rs` built (same Envoy, mocks and xDS).
//!
//! Steps are named `baseline@2000rps` / `envoy@2000rps` (with `-c64`, `-b1KiB` when the
//! sweep varies connections or body size), so a single-point run keeps `baseline` and
//! `envoy`. Gates are judged per point (see [`gates`]).

use std::time::Duration;

use anyhow::anyhow;
use gauntlet_reports::sizing::{FindMax, FindMaxProbe, Sizing, SizingPoint};
use gauntlet_reports::{GateResult, RunResult, StepResult};

use super::find_max::{self, Search, Stop, Verdict};
use super::sizing::{self, PointLoad};
use super::step::{self, LoadOverride, StepCtx, StepSpec};
use crate::envoy::AdminClient;
use crate::gates::Gate;
use crate::scenario::{FindMaxSpec, Slo, Sweep};

/// What a sizing run needs from the session: the two step templates and Envoy's admin.
pub(super) struct SizingRun<'a> {
    /// The direct path, when the scenario measures a baseline.
    pub baseline: Option<StepSpec<'a>>,
    pub envoy: StepSpec<'a>,
    pub admin: &'a AdminClient,
}

/// Runs the scenario's sweep or search into `result`. The sizing figures are written even
/// when a step fails midway, over the points measured so far.
pub(super) async fn run(
    ctx: &StepCtx<'_>,
    s: SizingRun<'_>,
    result: &mut RunResult,
) -> anyhow::Result<()> {
    let spec = &ctx.scenario.sizing;
    let mut sizing = Sizing::default();
    let outcome = if let Some(sweep) = &spec.sweep {
        let outcome = run_sweep(ctx, &s, sweep, result, &mut sizing.points).await;
        judge_points(ctx, result, &mut sizing);
        outcome
    } else if let Some(fm) = &spec.find_max {
        run_find_max(ctx, &s, fm, result, &mut sizing).await
    } else {
        Err(anyhow!("`capacity` needs a `sweep`"))
    };
    finish(ctx, &mut sizing);
    result.sizing = Some(sizing);
    outcome
}

/// One point of a sweep: its load, its step names' suffix, and the CPU limit of Envoy's
/// container to set first (`sweep.cpus`).
fn points(ctx: &StepCtx<'_>, sweep: &Sweep) -> Vec<(PointLoad, String, Option<f64>)> {
    let load = &ctx.scenario.load;
    let conns = if sweep.connections.is_empty() {
        vec![load.connections]
    } else {
        sweep.connections.clone()
    };
    let bodies = if sweep.bodies.is_empty() {
        vec![load.request.body_bytes]
    } else {
        sweep.bodies.clone()
    };
    // Without `sweep.cpus` every point runs under `envoy.cpus` (if any).
    let fixed = ctx.scenario.envoy.image.as_ref().and_then(|i| i.cpus);
    let cpus: Vec<Option<f64>> = if sweep.cpus.is_empty() {
        vec![None]
    } else {
        sweep.cpus.iter().copied().map(Some).collect()
    };
    let mut out = Vec::new();
    for &cpu in &cpus {
        for &c in &conns {
            for &b in &bodies {
                for &rate in &sweep.rates {
                    let mut suffix = format!("@{}rps", rate_name(rate));
                    if !sweep.connections.is_empty() {
                        suffix.push_str(&format!("-c{c}"));
                    }
                    if !sweep.bodies.is_empty() {
                        suffix.push_str(&format!("-b{}", size_name(b)));
                    }
                    let mut group = format!("c{c} b{}", size_name(b));
                    if let Some(cpu) = cpu {
                        suffix.push_str(&format!("-cpu{cpu}"));
                        group.push_str(&format!(" cpu{cpu}"));
                    }
                    let p = PointLoad {
                        rate,
                        connections: c,
                        body_bytes: b,
                        group,
                        cpu_limit: cpu.or(fixed),
                    };
                    out.push((p, suffix, cpu));
                }
            }
        }
    }
    out
}

async fn run_sweep(
    ctx: &StepCtx<'_>,
    s: &SizingRun<'_>,
    sweep: &Sweep,
    result: &mut RunResult,
    out: &mut Vec<SizingPoint>,
) -> anyhow::Result<()> {
    let all = points(ctx, sweep);
    let count = all.len();
    for (i, (p, suffix, cpu)) in all.into_iter().enumerate() {
        if let (Some(cpu), Some(envoy)) = (cpu, s.envoy.envoy_handle()) {
            envoy.set_cpus(cpu).await?;
        }
        let load = LoadOverride {
            rate: p.rate,
            connections: p.connections,
            body_bytes: p.body_bytes,
            duration: ctx.scenario.load.duration,
        };
        let mut base_index = None;
        if let Some(b) = &s.baseline {
            let spec = b.clone().at(format!("baseline{suffix}"), load.clone());
            let (step, err) = step::run(ctx, spec, None).await;
            result.steps.push(step);
            base_index = Some(result.steps.len() - 1);
            if let Some(e) = err {
                return Err(e);
            }
            if ctx.cancel.is_cancelled() {
                return Ok(());
            }
        }
        let spec = s.envoy.clone().at(format!("envoy{suffix}"), load);
        let (step, err) = envoy_step(ctx, s, spec).await;
        let base = base_index.map(|i| &result.steps[i]);
        out.push(sizing::point(&p, &step, base));
        result.steps.push(step);
        if let Some(e) = err {
            return Err(e);
        }
        if i + 1 < count && !cooldown(ctx, sweep.cooldown).await {
            return Ok(());
        }
    }
    Ok(())
}

/// An Envoy step, with Envoy's counters scraped at its end.
async fn envoy_step(
    ctx: &StepCtx<'_>,
    s: &SizingRun<'_>,
    spec: StepSpec<'_>,
) -> (StepResult, Option<anyhow::Error>) {
    let (mut step, err) = step::run(ctx, spec, None).await;
    let admin = s.admin.clone().with_timeout(Duration::from_secs(2));
    if let Ok(stats) = admin.stats().await {
        step.envoy_stats = stats;
    }
    (step, err)
}

/// Waits `d` between points; false when the run was interrupted meanwhile.
async fn cooldown(ctx: &StepCtx<'_>, d: Duration) -> bool {
    if ctx.cancel.is_cancelled() {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = ctx.cancel.cancelled() => false,
    }
}

async fn run_find_max(
    ctx: &StepCtx<'_>,
    s: &SizingRun<'_>,
    fm: &FindMaxSpec,
    result: &mut RunResult,
    sizing: &mut Sizing,
) -> anyhow::Result<()> {
    let mut search = Search::new(fm);
    let mut walk = Vec::new();
    let mut outcome = Ok(());
    let load = &ctx.scenario.load;
    while let Some(rate) = search.next_rate() {
        let mut name = format!("envoy@{}rps", rate_name(rate));
        if result.step(&name).is_some() {
            name = format!("{name}-{}", walk.len());
        }
        let over = LoadOverride {
            rate,
            connections: load.connections,
            body_bytes: load.request.body_bytes,
            duration: fm.step_duration,
        };
        let (step, err) = envoy_step(ctx, s, s.envoy.clone().at(name.clone(), over)).await;
        let verdict = find_max::judge(&fm.slo, rate, &step.load);
        if err.is_none() && !ctx.cancel.is_cancelled() {
            search.record(rate, &verdict);
        }
        walk.push(probe(&name, rate, &step, &verdict));
        result.steps.push(step);
        if let Some(e) = err {
            outcome = Err(e);
            break;
        }
        if search.next_rate().is_some() && !cooldown(ctx, fm.cooldown).await {
            break;
        }
    }
    let stopped = search.stopped();
    sizing.find_max = Some(FindMax {
        slo: find_max::describe(&fm.slo),
        slo_p99_ms: fm.slo.p99.map(|d| d.as_secs_f64() * 1e3),
        slo_error_rate: fm.slo.errors,
        knee_rps: search.knee(),
        stopped: stopped.map_or("interrupted", Stop::name).to_string(),
        detail: detail(stopped, search.knee(), fm, &walk),
        walk,
    });
    outcome
}

fn probe(name: &str, rate: f64, step: &StepResult, verdict: &Verdict) -> FindMaxProbe {
    let l = &step.load;
    let (passed, outcome, reason) = match verdict {
        Verdict::Pass => (true, "met", String::new()),
        Verdict::Fail(why) => (false, "broken", why.clone()),
        Verdict::ClientBound(why) => (false, "client_bound", why.clone()),
    };
    FindMaxProbe {
        step: name.to_string(),
        target_rps: rate,
        achieved_rps: l.achieved_rps,
        p99_ms: l.latency.p99_ms,
        error_rate: l.error_rate,
        passed,
        verdict: outcome.to_string(),
        client_bound: l.saturation.client_bound,
        reason,
    }
}

/// The end of the search in a sentence.
fn detail(
    stop: Option<Stop>,
    knee: Option<f64>,
    fm: &FindMaxSpec,
    walk: &[FindMaxProbe],
) -> String {
    let knee = knee.map_or("none".to_string(), |k| format!("{k:.0} rps"));
    let last = walk.last().map(|p| p.reason.clone()).unwrap_or_default();
    match stop {
        Some(Stop::Converged) => format!(
            "max sustainable rate {knee}: the next rate up broke the SLO, within {}%",
            fm.precision * 100.0
        ),
        Some(Stop::MaxRate) => format!(
            "max_rate {:.0} rps met the SLO: the limit is above it",
            fm.max_rate
        ),
        Some(Stop::BrokenAtStart) => format!(
            "start_rate {:.0} rps already broke the SLO ({last}): lower start_rate",
            fm.start_rate
        ),
        Some(Stop::ClientBound) => format!(
            "the load generator saturated, not Envoy ({last}); at least {knee} is sustainable: more load workers or a bigger machine would find the limit"
        ),
        Some(Stop::StepLimit) => format!(
            "max_steps reached before converging; best so far {knee}"
        ),
        None => format!("interrupted; best so far {knee}"),
    }
}

/// Fits, memory, capacity and notes over the points measured.
fn finish(ctx: &StepCtx<'_>, sizing: &mut Sizing) {
    let points = &sizing.points;
    if points.is_empty() {
        return;
    }
    sizing.fits = sizing::fits(points);
    sizing.memory_max_mb = points
        .iter()
        .filter_map(|p| p.rss_max_mb)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    sizing.limits = sizing::limits(points, &sizing.fits);
    if let Some(spec) = &ctx.scenario.sizing.capacity {
        let mut plan = sizing::capacity(spec, &sizing.fits, sizing.memory_max_mb);
        sizing::suggest_limit(&mut plan, &sizing.limits, points);
        sizing.capacity = Some(plan);
    }
    let mut notes = Vec::new();
    let short = points.iter().filter(|p| p.cpu_samples < 3).count();
    if short > 0 {
        notes.push(format!(
            "{short} point(s) had fewer than 3 steady CPU samples: a longer load.duration trims ramp-up and wind-down"
        ));
    }
    for p in points.iter().filter(|p| p.envoy_cpu.is_some() && !p.in_fit) {
        notes.push(format!(
            "{}: left out of the fit: it achieved {:.0} of {:.0} rps, so Envoy (or the upstream) saturated there",
            p.step, p.achieved_rps, p.target_rps
        ));
    }
    for p in points.iter().filter(|p| p.client_bound) {
        notes.push(format!(
            "{}: the load generator was saturated; its figures describe the client",
            p.step
        ));
    }
    for f in &sizing.fits {
        if f.r_squared < 0.9 {
            notes.push(format!(
                "fit {}: R² {:.2} is poor; CPU does not follow rps linearly over these rates (noise, or a saturated point)",
                f.group, f.r_squared
            ));
        }
    }
    sizing.notes = notes;
}

/// Sets each sweep point's SLO verdict and says in `sizing.slo` what it means:
/// `capacity.slo` when set, else every gate holding at the point, else only carrying the
/// rate (see `scenario::sizing`).
fn judge_points(ctx: &StepCtx<'_>, result: &RunResult, sizing: &mut Sizing) {
    let slo = ctx
        .scenario
        .sizing
        .capacity
        .as_ref()
        .and_then(|c| c.slo.as_ref());
    let gates = &ctx.scenario.gates;
    let what = match slo {
        Some(slo) => format!("capacity.slo ({})", find_max::describe(slo)),
        None if !gates.is_empty() => "every gate holds at the point".to_string(),
        None => "no capacity.slo and no gates: only carrying the rate".to_string(),
    };
    sizing.slo = Some(format!("{what}, and at least 90% of the rate achieved"));
    let rate_only = Slo::default();
    for p in &mut sizing.points {
        let Some(step) = result.step(&p.step) else {
            continue;
        };
        let failed: Vec<String> = match slo {
            Some(_) => Vec::new(),
            None => {
                let view = point_view(result, p.baseline_step.as_deref(), &p.step, p.added);
                crate::gates::evaluate(gates, &view)
                    .into_iter()
                    .filter(|g| !g.passed)
                    .map(|g| format!("gate `{}`: {}", g.gate, g.detail))
                    .collect()
            }
        };
        let (met, why) =
            sizing::point_verdict(slo.unwrap_or(&rate_only), &failed, p.target_rps, &step.load);
        p.slo_met = met;
        p.slo_reason = why;
    }
}

/// One point's steps as a run of their own, named `baseline` and `envoy`, for the gates.
fn point_view(
    result: &RunResult,
    base: Option<&str>,
    envoy: &str,
    added: Option<gauntlet_reports::AddedLatency>,
) -> RunResult {
    let mut view = RunResult {
        steps: Vec::new(),
        sizing: None,
        added_latency: added,
        ..result.clone()
    };
    for (name, as_name) in [(base, "baseline"), (Some(envoy), "envoy")] {
        if let Some(step) = name.and_then(|n| result.step(n)) {
            view.steps.push(StepResult {
                name: as_name.to_string(),
                ..step.clone()
            });
        }
    }
    view
}

/// Gates on a sizing run. A sweep: each gate must hold at every point, judged on that
/// point's `baseline` and `envoy` steps (and its added latency); the worst point is reported.
/// A `find_max_rps` search: judged on the probe at the knee (rates above it break the SLO on
/// purpose). Other runs: as `gates::evaluate`.
pub fn gates(gates: &[Gate], result: &RunResult) -> Vec<GateResult> {
    let Some(sizing) = &result.sizing else {
        return crate::gates::evaluate(gates, result);
    };
    if let Some(fm) = &sizing.find_max {
        let knee = fm
            .walk
            .iter()
            .filter(|p| p.passed)
            .max_by(|a, b| a.target_rps.total_cmp(&b.target_rps));
        let steps = knee.map(|k| (None, k.step.as_str()));
        return per_point(gates, result, steps.into_iter().collect(), |_| None);
    }
    let steps = sizing
        .points
        .iter()
        .map(|p| (p.baseline_step.as_deref(), p.step.as_str()))
        .collect();
    per_point(gates, result, steps, |envoy| {
        sizing
            .points
            .iter()
            .find(|p| p.step == envoy)
            .and_then(|p| p.added)
    })
}

/// Evaluates `gates` once per `(baseline, envoy)` step pair, each as a run of its own, and
/// keeps for each gate the first failing point (or the last point when all pass).
fn per_point<'a>(
    gates: &[Gate],
    result: &'a RunResult,
    points: Vec<(Option<&'a str>, &'a str)>,
    added: impl Fn(&str) -> Option<gauntlet_reports::AddedLatency>,
) -> Vec<GateResult> {
    if points.is_empty() {
        let empty = RunResult {
            steps: Vec::new(),
            ..result.clone()
        };
        return crate::gates::evaluate(gates, &empty);
    }
    let mut out: Vec<Option<GateResult>> = vec![None; gates.len()];
    for (base, envoy) in points {
        let view = point_view(result, base, envoy, added(envoy));
        for (slot, mut g) in out.iter_mut().zip(crate::gates::evaluate(gates, &view)) {
            if slot.as_ref().is_some_and(|s| !s.passed) {
                continue;
            }
            g.detail = format!("at {envoy}: {}", g.detail);
            *slot = Some(g);
        }
    }
    out.into_iter().flatten().collect()
}

/// `2000`, `1500.5`: whole rates without decimals.
fn rate_name(rate: f64) -> String {
    if (rate - rate.round()).abs() < 0.05 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

/// `0`, `512`, `1KiB`, `4MiB`.
fn size_name(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => b.to_string(),
    }
}
