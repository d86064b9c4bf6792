//! The sizing sections as text: the sweep table, the CPU fit, the capacity plan with its
//! Istio annotations and the `find_max_rps` walk, for the terminal and for Markdown. The
//! HTML page takes the same rows, so all three show the same figures the same way.

use std::fmt::Write;

use crate::model::RunResult;
use crate::sizing::{CapacityPlan, CpuFit, FindMax, LimitSummary, Sizing};

/// The sweep table's header.
pub(crate) const POINT_HEAD: [&str; 10] = [
    "step",
    "target rps",
    "achieved rps",
    "Envoy CPU",
    "vCPU/1000 rps",
    "RSS MB",
    "added p50 ms",
    "added p90 ms",
    "added p99 ms",
    "errors",
];

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

fn signed(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:+.3}"))
}

/// One row per sweep point, in [`POINT_HEAD`] order; client-bound points are marked.
pub(crate) fn point_rows(s: &Sizing) -> Vec<Vec<String>> {
    s.points
        .iter()
        .map(|p| {
            let a = p.added;
            vec![
                match (p.client_bound, p.in_fit || p.envoy_cpu.is_none()) {
                    (true, true) => format!("{} (client-bound)", p.step),
                    (true, false) => format!("{} (client-bound, not in fit)", p.step),
                    (false, false) => format!("{} (not in fit)", p.step),
                    (false, true) => p.step.clone(),
                },
                format!("{:.0}", p.target_rps),
                format!("{:.1}", p.achieved_rps),
                opt(p.envoy_cpu, 3),
                opt(p.cpu_per_krps, 3),
                opt(p.rss_max_mb, 1),
                signed(a.map(|a| a.p50_ms)),
                signed(a.map(|a| a.p90_ms)),
                signed(a.map(|a| a.p99_ms)),
                format!("{:.2}%", p.error_rate * 100.0),
            ]
        })
        .collect()
}

/// The fit in one sentence: `CPU = 0.012 + 0.352 vCPU per 1000 rps (± 0.010; R² 0.998 …)`.
pub(crate) fn fit_line(f: &CpuFit) -> String {
    let se = f
        .slope_stderr
        .map_or(String::new(), |se| format!(" ± {:.3}", se * 1000.0));
    format!(
        "{}: Envoy CPU = {:.3} cores + {:.3}{se} vCPU per 1000 rps (R² {:.3}, {} points, {:.0}–{:.0} rps)",
        f.group, f.intercept, f.vcpu_per_krps, f.r_squared, f.points, f.rps_min, f.rps_max
    )
}

/// The per-CPU-limit table's header.
pub(crate) const LIMIT_HEAD: [&str; 6] = [
    "CPU limit",
    "group",
    "max rps within SLO",
    "SLO broke at rps",
    "throttled from rps",
    "vCPU/1000 rps",
];

/// One row per CPU limit group, in [`LIMIT_HEAD`] order.
pub(crate) fn limit_rows(s: &Sizing) -> Vec<Vec<String>> {
    s.limits.iter().map(limit_row).collect()
}

fn limit_row(l: &LimitSummary) -> Vec<String> {
    let rate = |r: Option<f64>, none: &str| r.map_or(none.to_string(), |r| format!("{r:.0}"));
    vec![
        format!("{:.3} ({}m)", l.cpu_limit, (l.cpu_limit * 1000.0).round()),
        l.group.clone(),
        rate(l.max_rps_within_slo, "none"),
        rate(l.broke_at_rps, "-"),
        match (l.throttled_from_rps, l.throttle_measured) {
            (Some(r), _) => format!("{r:.0}"),
            (None, true) => "none".to_string(),
            (None, false) => "not measured".to_string(),
        },
        opt(l.vcpu_per_krps, 3),
    ]
}

/// The SLO's meaning, then why each group broke it where it did, one line each (too long
/// for a table cell).
pub(crate) fn limit_lines(s: &Sizing) -> Vec<String> {
    let mut lines: Vec<String> = s
        .slo
        .iter()
        .filter(|_| !s.limits.is_empty())
        .map(|slo| format!("a point meets the SLO when {slo}"))
        .collect();
    for l in &s.limits {
        if let Some(rate) = l.broke_at_rps {
            lines.push(format!(
                "{}: the SLO broke at {rate:.0} rps: {}",
                l.group, l.broke_because
            ));
        }
    }
    lines
}

/// The capacity plan in sentences, then the annotations as `name: "value"` lines.
pub(crate) fn capacity_lines(c: &CapacityPlan) -> (Vec<String>, Vec<String>) {
    let mut lines = vec![format!(
        "target {:.0} rps, CPU limit {:.3} cores per proxy, headroom {:.0}%",
        c.target_rps,
        c.cpu_limit,
        c.headroom * 100.0
    )];
    match (c.replicas, &c.reason) {
        (Some(n), _) => {
            lines.push(format!(
                "→ {n} replica(s) at up to {:.0} rps each (fit {})",
                c.rps_per_replica.unwrap_or_default(),
                c.group
            ));
            if let Some(req) = c.cpu_request {
                lines.push(format!(
                    "sidecar CPU: request {req:.3} cores, limit {:.3} cores",
                    c.cpu_limit
                ));
            }
            if let (Some(req), Some(lim)) = (c.memory_request_mib, c.memory_limit_mib) {
                lines.push(format!("sidecar memory: request {req} Mi, limit {lim} Mi"));
            }
        }
        (None, Some(why)) => lines.push(format!("no plan: {why}")),
        (None, None) => lines.push("no plan".to_string()),
    }
    match (c.suggested_cpu_limit, &c.cpu_limit_reason) {
        (Some(limit), Some(why)) => {
            lines.push(format!("suggested CPU limit {limit:.3} cores: {why}"))
        }
        (None, Some(why)) => lines.push(format!("no suggested CPU limit: {why}")),
        _ => {}
    }
    let annotations = c
        .annotations
        .iter()
        .map(|(k, v)| format!("{k}: \"{v}\""))
        .collect();
    (lines, annotations)
}

/// The find_max walk's header and rows.
pub(crate) const WALK_HEAD: [&str; 7] = [
    "step",
    "target rps",
    "achieved rps",
    "p99 ms",
    "errors",
    "SLO",
    "why",
];

pub(crate) fn walk_rows(f: &FindMax) -> Vec<Vec<String>> {
    f.walk
        .iter()
        .map(|p| {
            let verdict = match (p.passed, p.verdict.as_str()) {
                (true, _) => "met",
                (false, "client_bound") => "client-bound",
                (false, _) => "broken",
            };
            vec![
                p.step.clone(),
                format!("{:.0}", p.target_rps),
                format!("{:.1}", p.achieved_rps),
                format!("{:.3}", p.p99_ms),
                format!("{:.2}%", p.error_rate * 100.0),
                verdict.to_string(),
                p.reason.clone(),
            ]
        })
        .collect()
}

/// The search's outcome in one line.
pub(crate) fn find_max_line(f: &FindMax) -> String {
    let knee = f
        .knee_rps
        .map_or("none".to_string(), |k| format!("{k:.0} rps"));
    format!(
        "max sustainable rate ({}): {knee} — {} [{}]",
        f.slo, f.detail, f.stopped
    )
}

/// A plain-text table with columns padded to their widest cell.
fn text_table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(head.to_vec()));
    for r in rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
}

/// The sizing sections of the terminal summary.
pub fn terminal(out: &mut String, r: &RunResult) {
    let Some(s) = &r.sizing else {
        return;
    };
    if !s.points.is_empty() {
        let _ = writeln!(out, "\nsizing sweep:");
        text_table(out, &POINT_HEAD, &point_rows(s));
        for f in &s.fits {
            let _ = writeln!(out, "{}", fit_line(f));
        }
        if let Some(m) = s.memory_max_mb {
            let _ = writeln!(out, "Envoy memory: {m:.1} MB RSS at most");
        }
    }
    if !s.limits.is_empty() {
        let _ = writeln!(out, "\nper CPU limit:");
        text_table(out, &LIMIT_HEAD, &limit_rows(s));
        for l in limit_lines(s) {
            let _ = writeln!(out, "{l}");
        }
    }
    if let Some(c) = &s.capacity {
        let (lines, annotations) = capacity_lines(c);
        let _ = writeln!(out, "\ncapacity plan: {}", lines.join("\n  "));
        for a in annotations {
            let _ = writeln!(out, "  {a}");
        }
    }
    if let Some(f) = &s.find_max {
        let _ = writeln!(out, "\n{}", find_max_line(f));
        text_table(out, &WALK_HEAD, &walk_rows(f));
    }
    for n in &s.notes {
        let _ = writeln!(out, "note: {n}");
    }
}

/// The sizing sections of the Markdown summary.
pub fn markdown(out: &mut String, r: &RunResult) {
    use crate::markdown::escape;
    let Some(s) = &r.sizing else {
        return;
    };
    let table = |out: &mut String, head: &[&str], rows: &[Vec<String>]| {
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let align: Vec<&str> = (0..head.len())
            .map(|i| if i == 0 { "---" } else { "--:" })
            .collect();
        let _ = writeln!(out, "|{}|", align.join("|"));
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out.push('\n');
    };
    if !s.points.is_empty() {
        out.push_str("### Sizing\n\n");
        table(out, &POINT_HEAD, &point_rows(s));
        for f in &s.fits {
            let _ = writeln!(out, "- {}", escape(&fit_line(f)));
        }
        if let Some(m) = s.memory_max_mb {
            let _ = writeln!(out, "- Envoy memory: {m:.1} MB RSS at most");
        }
        out.push('\n');
    }
    if !s.limits.is_empty() {
        out.push_str("### Per CPU limit\n\n");
        table(out, &LIMIT_HEAD, &limit_rows(s));
        for l in limit_lines(s) {
            let _ = writeln!(out, "- {}", escape(&l));
        }
        out.push('\n');
    }
    if let Some(c) = &s.capacity {
        let (lines, annotations) = capacity_lines(c);
        out.push_str("### Capacity plan\n\n");
        for l in lines {
            let _ = writeln!(out, "- {}", escape(&l));
        }
        if !annotations.is_empty() {
            let _ = writeln!(out, "\n```yaml\nannotations:");
            for a in annotations {
                let _ = writeln!(out, "  {a}");
            }
            out.push_str("```\n");
        }
        out.push('\n');
    }
    if let Some(f) = &s.find_max {
        out.push_str("### Max sustainable rate\n\n");
        let _ = writeln!(out, "{}\n", escape(&find_max_line(f)));
        table(out, &WALK_HEAD, &walk_rows(f));
    }
    for n in &s.notes {
        let _ = writeln!(out, "> {}\n", escape(n));
    }
}
