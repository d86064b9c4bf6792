//! A sweep under CPU limits (`sweep.cpus`, `envoy.cpus`): each point's SLO verdict, per limit
//! the highest rate that met the SLO and the rate where CFS throttling began, and the CPU
//! limit the capacity plan suggests. Pure functions over the result model, unit-tested in
//! `sizing_tests.rs` without I/O.

use gauntlet_reports::sizing::{CapacityPlan, LimitSummary, SizingPoint};
use gauntlet_reports::LoadSummary;

use crate::run::find_max::{judge, Verdict};
use crate::scenario::Slo;

/// The Istio annotation the suggested limit goes to.
const CPU_LIMIT_ANNOTATION: &str = "sidecar.istio.io/proxyCPULimit";

/// One point's verdict and, when it missed, why: every ceiling of `slo` on the Envoy step
/// and 90% of the target rate achieved (as `find_max_rps` judges a probe), and no gate in
/// `failed_gates` (the gates that failed at this point, when they are the SLO).
///
/// `None`: not judged. A point that missed only while the load generator itself was
/// saturated says nothing about Envoy's limit, so it neither extends nor breaks the limit's
/// streak ([`limits`]); counting it as a break would blame the CPU limit for the client.
pub fn point_verdict(
    slo: &Slo,
    failed_gates: &[String],
    target_rps: f64,
    load: &LoadSummary,
) -> (Option<bool>, String) {
    let mut why: Vec<String> = Vec::new();
    let mut client_bound = false;
    match judge(slo, target_rps, load) {
        Verdict::Pass => {}
        Verdict::Fail(w) => why.push(w),
        Verdict::ClientBound(w) => {
            client_bound = true;
            why.push(w);
        }
    }
    why.extend(failed_gates.iter().cloned());
    let why = why.join("; ");
    if why.is_empty() {
        (Some(true), why)
    } else if client_bound && failed_gates.is_empty() {
        (None, format!("not judged: {why}"))
    } else {
        (Some(false), why)
    }
}

/// One summary per group of points that carry a CPU limit, in the order the groups ran.
/// Reads the points' verdicts (`slo_met`), so they must be judged first.
pub fn limits(
    points: &[SizingPoint],
    fits: &[gauntlet_reports::sizing::CpuFit],
) -> Vec<LimitSummary> {
    let mut groups: Vec<(&str, f64)> = Vec::new();
    for p in points {
        if let Some(limit) = p.cpu_limit {
            if !groups.iter().any(|(g, _)| *g == p.group) {
                groups.push((&p.group, limit));
            }
        }
    }
    groups
        .into_iter()
        .map(|(group, cpu_limit)| {
            let mut ps: Vec<&SizingPoint> = points.iter().filter(|p| p.group == group).collect();
            ps.sort_by(|a, b| a.target_rps.total_cmp(&b.target_rps));
            let mut s = LimitSummary {
                cpu_limit,
                group: group.to_string(),
                points: ps.len(),
                throttled_from_rps: throttled_from(&ps),
                throttle_measured: ps.iter().all(|p| p.throttled_periods.is_some()),
                vcpu_per_krps: fits
                    .iter()
                    .find(|f| f.group == group)
                    .map(|f| f.vcpu_per_krps),
                ..LimitSummary::default()
            };
            // The streak from the lowest rate up: a rate that met the SLO above one that
            // broke it is noise, not capacity.
            // A point not judged (the client saturated, the step cut short) is passed
            // over: it proves no capacity, and it is no break either.
            for p in &ps {
                match p.slo_met {
                    Some(true) => s.max_rps_within_slo = Some(p.target_rps),
                    Some(false) => {
                        s.broke_at_rps = Some(p.target_rps);
                        s.broke_because = p.slo_reason.clone();
                        break;
                    }
                    None => {}
                }
            }
            s
        })
        .collect()
}

/// The lowest rate from which every point up (`points` sorted by rate) had throttled CFS
/// periods: a lone throttled period at a low rate (a stats flush landing on a tight quota)
/// followed by clean rates is not where throttling began.
fn throttled_from(points: &[&SizingPoint]) -> Option<f64> {
    points
        .iter()
        .rev()
        .take_while(|p| p.throttled_periods.is_some_and(|t| t > 0))
        .last()
        .map(|p| p.target_rps)
}

/// Sets the plan's suggested CPU limit: the smallest limit in `limits` whose every group
/// carries the plan's per-replica rate (`target_rps / replicas`), that is
/// - met the SLO at a swept rate at or above it (and at every rate below), and
/// - used at most `limit × (1 − headroom)` cores there, interpolated between the measured
///   points around it (or the point above it when none is below): measured, not
///   extrapolated from a fit that the limit's own throttling may have bent.
///
/// The suggestion replaces `sidecar.istio.io/proxyCPULimit` in the annotations; without one
/// the plan says why and keeps `capacity.cpu_limit`.
pub fn suggest_limit(plan: &mut CapacityPlan, limits: &[LimitSummary], points: &[SizingPoint]) {
    let mut swept: Vec<f64> = limits.iter().map(|l| l.cpu_limit).collect();
    if swept.is_empty() {
        return;
    }
    swept.sort_by(f64::total_cmp);
    swept.dedup();
    let Some(replicas) = plan.replicas.filter(|&n| n > 0) else {
        plan.cpu_limit_reason =
            Some("no plan, so no per-replica rate to choose a CPU limit for".to_string());
        return;
    };
    let rate = plan.target_rps / f64::from(replicas);
    let mut misses = Vec::new();
    for limit in swept {
        // Kubernetes refuses a container whose CPU request exceeds its limit.
        if let Some(request) = plan.cpu_request.filter(|&r| limit < r) {
            misses.push(format!(
                "{}: below the planned CPU request of {}",
                milli(limit),
                milli(request)
            ));
            continue;
        }
        let budget = limit * (1.0 - plan.headroom);
        let verdicts: Result<Vec<f64>, String> = limits
            .iter()
            .filter(|l| l.cpu_limit == limit)
            .map(|l| carries(l, rate, budget, points))
            .collect();
        match verdicts {
            Ok(cpus) => {
                let cpu = cpus.into_iter().fold(0.0, f64::max);
                plan.suggested_cpu_limit = Some(limit);
                plan.cpu_limit_reason = Some(format!(
                    "{} is the smallest swept CPU limit that carries {rate:.0} rps per replica (target / replicas) within the SLO, Envoy using about {cpu:.3} of its {budget:.3} usable cores ({:.0}% headroom)",
                    milli(limit),
                    plan.headroom * 100.0
                ));
                for (name, value) in &mut plan.annotations {
                    if name == CPU_LIMIT_ANNOTATION {
                        *value = milli(limit);
                    }
                }
                return;
            }
            Err(why) => misses.push(format!("{}: {why}", milli(limit))),
        }
    }
    plan.cpu_limit_reason = Some(format!(
        "no swept CPU limit carries {rate:.0} rps per replica within the SLO and the headroom ({}); the annotation keeps capacity.cpu_limit, so sweep larger limits or plan more replicas",
        misses.join("; ")
    ));
}

/// Envoy's CPU at `rate` under the group's limit when the group carries it, else why not.
fn carries(
    l: &LimitSummary,
    rate: f64,
    budget: f64,
    points: &[SizingPoint],
) -> Result<f64, String> {
    match l.max_rps_within_slo {
        Some(max) if max >= rate => {}
        Some(max) => return Err(format!("the SLO held only up to {max:.0} rps")),
        None => {
            return Err(format!(
                "the SLO broke already at {:.0} rps",
                l.broke_at_rps.unwrap_or(0.0)
            ))
        }
    }
    let cpu = cpu_at(&l.group, rate, points)
        .ok_or_else(|| format!("no Envoy CPU was measured at {rate:.0} rps or above"))?;
    if cpu > budget {
        return Err(format!(
            "Envoy would use {cpu:.3} cores at {rate:.0} rps, over the {budget:.3} usable"
        ));
    }
    Ok(cpu)
}

/// Envoy's steady CPU at `rate` in `group`, from the points that met the SLO: interpolated
/// between the nearest rates below and above, or the one above alone.
fn cpu_at(group: &str, rate: f64, points: &[SizingPoint]) -> Option<f64> {
    let met: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.group == group && p.slo_met == Some(true))
        .filter_map(|p| p.envoy_cpu.map(|c| (p.target_rps, c)))
        .collect();
    let above = met
        .iter()
        .filter(|(r, _)| *r >= rate)
        .min_by(|a, b| a.0.total_cmp(&b.0))?;
    let below = met
        .iter()
        .filter(|(r, _)| *r < rate)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Some(match below {
        Some(&(r0, c0)) if above.0 > r0 => c0 + (above.1 - c0) * (rate - r0) / (above.0 - r0),
        _ => above.1,
    })
}

/// Cores as Kubernetes millicores, rounded up: 0.25 → `250m`.
fn milli(cores: f64) -> String {
    format!("{}m", super::ceil(cores * 1000.0).max(1.0) as u64)
}
