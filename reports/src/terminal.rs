//! The terminal summary: a table a person reads in ten seconds.

use std::fmt::Write;

use crate::model::{LoadSummary, Percentiles, RunResult, RunStatus, StepResult};

/// Renders the end-of-run summary as plain text (no colours, so it reads the same in CI logs).
pub fn render(result: &RunResult) -> String {
    let mut out = String::new();
    header(&mut out, result);
    steps_table(&mut out, result);
    saturation_notes(&mut out, &result.steps);
    resources(&mut out, &result.steps);
    crate::graph_view::terminal(&mut out, result);
    crate::sizing_text::terminal(&mut out, result);
    xds_line(&mut out, result);
    events(&mut out, result);
    mocks(&mut out, result);
    gates(&mut out, result);
    out
}

/// Renders one step on its own (for `gauntlet load`): the table row and saturation notes.
pub fn render_step(step: &StepResult) -> String {
    let mut out = String::new();
    table_header(&mut out);
    step_row(&mut out, step);
    saturation_notes(&mut out, std::slice::from_ref(step));
    let l = &step.load;
    let _ = writeln!(
        out,
        "latency from actual send (uncorrected): p50 {:.3} ms, p99 {:.3} ms; client CPU {:.0}%",
        l.latency_uncorrected.p50_ms,
        l.latency_uncorrected.p99_ms,
        l.saturation.client_cpu * 100.0
    );
    out
}

fn header(out: &mut String, r: &RunResult) {
    let status = match r.status {
        RunStatus::Completed => "completed",
        RunStatus::Interrupted => "INTERRUPTED (partial results)",
        RunStatus::Failed => "FAILED (partial results)",
    };
    let secs = (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0;
    let _ = writeln!(
        out,
        "gauntlet · {} · {} · {status} in {secs:.1}s",
        r.name, r.phase
    );
    if let Some(e) = &r.envoy {
        let _ = writeln!(
            out,
            "envoy {} ({}, {}), concurrency {}",
            e.version, e.source, e.binary, e.concurrency
        );
    }
    if let Some(err) = &r.error {
        let _ = writeln!(out, "error: {err}");
    }
    let _ = writeln!(out);
}

fn steps_table(out: &mut String, r: &RunResult) {
    table_header(out);
    for s in &r.steps {
        step_row(out, s);
    }
    added_row(out, r);
    for s in r.steps.iter().filter(|s| !s.load.grpc_statuses.is_empty()) {
        let _ = writeln!(
            out,
            "grpc statuses ({}): {}",
            s.name,
            crate::markdown::codes(&s.load.grpc_statuses)
        );
    }
}

fn table_header(out: &mut String) {
    let _ = writeln!(
        out,
        "{:<10} {:>9} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "step",
        "rps",
        "requests",
        "2xx",
        "non-2xx",
        "failed",
        "errors",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms"
    );
}

fn added_row(out: &mut String, r: &RunResult) {
    if let Some(a) = &r.added_latency {
        let _ = writeln!(
            out,
            "{:<10} {:>9} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "added",
            "",
            "",
            "",
            "",
            "",
            "",
            signed(a.p50_ms),
            signed(a.p90_ms),
            signed(a.p99_ms),
            signed(a.p999_ms)
        );
    }
    let _ = writeln!(out);
}

fn step_row(out: &mut String, s: &StepResult) {
    let l: &LoadSummary = &s.load;
    let (ok, other, failed) = crate::markdown::status_classes(l);
    let p: &Percentiles = &l.latency;
    let _ = writeln!(
        out,
        "{:<10} {:>9.1} {:>8} {:>8} {:>7} {:>7} {:>7.2}% {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
        s.name,
        l.achieved_rps,
        l.requests,
        ok,
        other,
        failed,
        l.error_rate * 100.0,
        p.p50_ms,
        p.p90_ms,
        p.p99_ms,
        p.p999_ms,
        p.max_ms
    );
}

fn signed(ms: f64) -> String {
    format!("{ms:+.3}")
}

fn saturation_notes(out: &mut String, steps: &[StepResult]) {
    for s in steps {
        let sat = &s.load.saturation;
        if sat.client_bound {
            let why = sat
                .reason
                .as_deref()
                .unwrap_or("the load generator fell behind");
            let _ = writeln!(
                out,
                "warning: step `{}` is CLIENT-BOUND: {why}; its figures describe the client's limit",
                s.name
            );
        } else if sat.connections_busy > 0.01 {
            let _ = writeln!(
                out,
                "note: step `{}`: {:.1}% of sends waited for a busy connection (target slower than the schedule, or too few connections)",
                s.name,
                sat.connections_busy * 100.0
            );
        }
        if s.load.cut_short {
            let _ = writeln!(out, "note: step `{}` was cut short", s.name);
        }
    }
}

fn resources(out: &mut String, steps: &[StepResult]) {
    for s in steps {
        if let Some(r) = &s.resource_summary {
            let _ = writeln!(
                out,
                "resources ({}): Envoy {:.3} vCPU mean (max {:.3}), {:.3} vCPU per 1000 rps, RSS {:.1} MB max; Gauntlet {:.3} vCPU",
                s.name,
                r.envoy_cpu_mean,
                r.envoy_cpu_max,
                r.envoy_cpu_per_krps,
                r.envoy_rss_max_mb,
                r.gauntlet_cpu_mean
            );
        }
    }
}

fn xds_line(out: &mut String, r: &RunResult) {
    if r.xds.is_empty() {
        return;
    }
    let acked: Vec<f64> = r.xds.iter().filter_map(|p| p.ack_ms).collect();
    let nacked = r.xds.iter().filter(|p| p.error.is_some()).count();
    let max = acked.iter().cloned().fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "xDS: {} pushes, {} ACKed (slowest {max:.1} ms), {nacked} NACKed",
        r.xds.len(),
        acked.len()
    );
}

fn events(out: &mut String, r: &RunResult) {
    for e in &r.events {
        let ack = e
            .ack_ms
            .map(|a| format!(", ACK in {a:.1} ms"))
            .unwrap_or_default();
        let err = e
            .error
            .as_deref()
            .map(|m| format!(", error: {m}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "event {} @{:.2}s (planned {:.2}s, step {}): {}{ack}{err}",
            e.label, e.applied_s, e.at_s, e.step, e.action
        );
    }
}

fn gates(out: &mut String, r: &RunResult) {
    if r.gates.is_empty() {
        return;
    }
    let passed = r.gates.iter().filter(|g| g.passed).count();
    let _ = writeln!(out, "\ngates: {passed}/{} passed", r.gates.len());
    for g in &r.gates {
        let verdict = if g.passed { "pass" } else { "FAIL" };
        let _ = writeln!(out, "  {verdict}  {}  [{}]", g.detail, g.window);
    }
}

fn mocks(out: &mut String, r: &RunResult) {
    let Some(step) = r.steps.last() else { return };
    for (name, m) in &step.mocks {
        let statuses: Vec<String> = m
            .statuses
            .iter()
            .chain(&m.grpc_statuses)
            .map(|(c, n)| format!("{c}:{n}"))
            .collect();
        let _ = writeln!(
            out,
            "mock {name} ({} step): {} requests [{}], per endpoint {:?}",
            step.name,
            m.requests,
            statuses.join(" "),
            m.endpoints
        );
    }
}
