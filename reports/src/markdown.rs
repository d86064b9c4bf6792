//! Markdown, sized for a CI job summary (GitHub `$GITHUB_STEP_SUMMARY`, GitLab): a title with
//! the verdict, then the same tables as the terminal summary, gates, timeline, xDS and mocks.
//!
//! Every string that comes from a scenario or from Envoy is escaped with [`escape`], so a
//! name holding `|`, `*` or `<script>` can neither break a table nor inject markup. The
//! small figure helpers here (`status_classes`, `value`) are shared with the HTML page so
//! both show the same numbers the same way.

use std::fmt::Write;

use crate::model::{GateResult, LoadSummary, RunResult, RunStatus, StepResult};

/// Renders the run as GitHub-flavoured Markdown.
pub fn render(result: &RunResult) -> String {
    let mut out = String::new();
    header(&mut out, result);
    steps(&mut out, result);
    gates(&mut out, &result.gates);
    crate::graph_view::markdown(&mut out, result);
    resources(&mut out, result);
    crate::sizing_text::markdown(&mut out, result);
    events(&mut out, result);
    xds(&mut out, result);
    mocks(&mut out, result);
    out
}

// === shared with the HTML page ===

/// A run's verdict in a few words, and whether it is good news.
pub(crate) fn verdict(r: &RunResult) -> (String, bool) {
    let failed = r.gates.iter().filter(|g| !g.passed).count();
    match r.status {
        RunStatus::Completed if failed == 0 => ("completed".to_string(), true),
        RunStatus::Completed => (
            format!("completed, {failed} of {} gates failed", r.gates.len()),
            false,
        ),
        RunStatus::Interrupted => ("interrupted (partial results)".to_string(), false),
        RunStatus::Failed => ("failed (partial results)".to_string(), false),
    }
}

/// Responses with a 2xx status, other responses, and failed requests, as counted by the load
/// generator (the sums of the model's per-code and per-kind counters).
pub(crate) fn status_classes(l: &LoadSummary) -> (u64, u64, u64) {
    // A gRPC call that ended `OK` counts with the 2xx answers.
    let ok: u64 = l
        .statuses
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .map(|(_, n)| n)
        .sum::<u64>()
        + l.grpc_statuses.get("OK").copied().unwrap_or(0);
    let failed: u64 = l.failures.values().sum();
    (ok, l.responses.saturating_sub(ok), failed)
}

/// Failures by kind in words, e.g. `timeout 3, reset 1`; empty when there were none.
pub(crate) fn failure_kinds(l: &LoadSummary) -> String {
    l.failures
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The non-2xx count, with the gRPC statuses other than `OK` when there are any, e.g.
/// `60 (UNAVAILABLE: 60)`.
pub(crate) fn other_cell(l: &LoadSummary, other: u64) -> String {
    let not_ok: std::collections::BTreeMap<String, u64> = l
        .grpc_statuses
        .iter()
        .filter(|(name, _)| *name != "OK")
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    if not_ok.is_empty() {
        other.to_string()
    } else {
        format!("{other} ({})", codes(&not_ok))
    }
}

/// A mock's answers: HTTP statuses, then gRPC statuses when it speaks gRPC, e.g.
/// `200: 100; gRPC OK: 70, UNAVAILABLE: 30`.
pub(crate) fn mock_codes(m: &crate::MockCounts) -> String {
    if m.grpc_statuses.is_empty() {
        codes(&m.statuses)
    } else {
        format!("{}; gRPC {}", codes(&m.statuses), codes(&m.grpc_statuses))
    }
}

/// Responses by status code, e.g. `200: 97, 503: 3`.
pub(crate) fn codes(statuses: &std::collections::BTreeMap<String, u64>) -> String {
    statuses
        .iter()
        .map(|(c, n)| format!("{c}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The target of a step in words: `400 rps` (open loop) or `16 in flight` (closed loop).
pub(crate) fn target(l: &LoadSummary) -> String {
    match (l.target_rps, l.concurrency) {
        (Some(rps), _) => format!("{} rps", trim(rps)),
        (None, Some(c)) => format!("{c} in flight"),
        (None, None) => l.mode.clone(),
    }
}

/// A gate's value in its unit (`ratio` as a percentage); `—` when there is none.
pub(crate) fn value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "—".to_string(),
        Some(v) => match unit {
            "ratio" => format!("{}%", trim(v * 100.0)),
            "count" => trim(v),
            other => format!("{} {other}", trim(v)),
        },
    }
}

/// A number with up to four decimals and no trailing zeros.
pub(crate) fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// The slowest ACK of the run's xDS pushes, in milliseconds (a pick, not a statistic).
pub(crate) fn slowest_ack(r: &RunResult) -> Option<f64> {
    r.xds.iter().filter_map(|p| p.ack_ms).reduce(f64::max)
}

/// A one-line warning for a client-bound or cut-short step, if any.
pub(crate) fn step_warnings(s: &StepResult) -> Vec<String> {
    let mut out = Vec::new();
    let sat = &s.load.saturation;
    if sat.client_bound {
        let why = sat
            .reason
            .as_deref()
            .unwrap_or("the load generator fell behind");
        out.push(format!(
            "step {} is client-bound: {why}; its figures describe the client's limit",
            s.name
        ));
    }
    if s.load.cut_short {
        out.push(format!("step {} was cut short", s.name));
    }
    out
}

// === markdown ===

/// Escapes a user string for Markdown text and table cells: the characters GFM gives a
/// meaning inline are backslash-escaped, `&` cannot start an entity, and line breaks become
/// spaces so a table row stays one line.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '$' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, r: &RunResult) {
    let (verdict, good) = verdict(r);
    let mark = if good { "✅" } else { "❌" };
    let _ = writeln!(
        out,
        "## {mark} Gauntlet · {} · {verdict}\n",
        escape(&r.name)
    );
    let secs = (r.finished_at - r.started_at).num_milliseconds().max(0) as f64 / 1000.0;
    let mut facts = vec![format!(
        "**phase** {} · **started** {} · **took** {secs:.1} s",
        escape(&r.phase),
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    )];
    match &r.envoy {
        Some(e) => facts.push(format!(
            "**Envoy** {} (build {}, concurrency {}, {})",
            escape(&e.version),
            escape(&e.build),
            e.concurrency,
            escape(&e.source)
        )),
        None => facts.push("**Envoy** not started".to_string()),
    }
    let m = &r.machine;
    facts.push(format!(
        "**machine** {} · {} · kernel {} · {} CPUs ({})",
        escape(&m.hostname),
        escape(&m.os),
        escape(&m.kernel),
        m.cpus,
        escape(&m.cpu_model)
    ));
    let _ = writeln!(out, "{}\n", facts.join("  \n"));
    if let Some(err) = &r.error {
        let _ = writeln!(out, "> **Error:** {}\n", escape(err));
    }
}

fn steps(out: &mut String, r: &RunResult) {
    if r.steps.is_empty() {
        return;
    }
    out.push_str("### Steps\n\n");
    out.push_str("| step | target | rps | requests | 2xx | non-2xx | failures | error rate | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n");
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for s in &r.steps {
        let l = &s.load;
        let (ok, other, failed) = status_classes(l);
        let other = escape(&other_cell(l, other));
        let kinds = failure_kinds(l);
        let failures = if kinds.is_empty() {
            failed.to_string()
        } else {
            format!("{failed} ({})", escape(&kinds))
        };
        let p = &l.latency;
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {} | {ok} | {other} | {failures} | {:.2}% | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            escape(&s.name),
            escape(&target(l)),
            l.achieved_rps,
            l.requests,
            l.error_rate * 100.0,
            p.p50_ms,
            p.p90_ms,
            p.p99_ms,
            p.p999_ms,
            p.max_ms
        );
    }
    if let Some(a) = &r.added_latency {
        let _ = writeln!(
            out,
            "| **added by Envoy** | | | | | | | | {:+.3} | {:+.3} | {:+.3} | {:+.3} | |",
            a.p50_ms, a.p90_ms, a.p99_ms, a.p999_ms
        );
    }
    out.push_str("\nLatency from each request's intended send time; warmup excluded.\n\n");
    let warnings: Vec<String> = r.steps.iter().flat_map(step_warnings).collect();
    for w in &warnings {
        let _ = writeln!(out, "> ⚠️ {}  ", escape(w));
    }
    if !warnings.is_empty() {
        out.push('\n');
    }
}

fn resources(out: &mut String, r: &RunResult) {
    let rows: Vec<_> = r
        .steps
        .iter()
        .filter_map(|s| s.resource_summary.as_ref().map(|rs| (s, rs)))
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str("### Resources\n\n| step | Envoy CPU mean | Envoy CPU max | Envoy CPU per 1000 rps | Envoy RSS max | Gauntlet CPU mean |\n|---|--:|--:|--:|--:|--:|\n");
    for (s, rs) in rows {
        let _ = writeln!(
            out,
            "| {} | {:.3} cores | {:.3} cores | {:.3} cores | {:.1} MB | {:.3} cores |",
            escape(&s.name),
            rs.envoy_cpu_mean,
            rs.envoy_cpu_max,
            rs.envoy_cpu_per_krps,
            rs.envoy_rss_max_mb,
            rs.gauntlet_cpu_mean
        );
    }
    out.push('\n');
}

fn gates(out: &mut String, gates: &[GateResult]) {
    if gates.is_empty() {
        return;
    }
    let passed = gates.iter().filter(|g| g.passed).count();
    let _ = writeln!(out, "### Gates: {passed}/{} passed\n", gates.len());
    out.push_str("| | gate | measured | threshold | window |\n|---|---|--:|--:|---|\n");
    for g in gates {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            if g.passed { "✅" } else { "❌" },
            escape(&g.gate),
            escape(&value(g.measured, &g.unit)),
            escape(&value(g.threshold, &g.unit)),
            escape(&g.window)
        );
    }
    out.push('\n');
}

fn events(out: &mut String, r: &RunResult) {
    if r.events.is_empty() {
        return;
    }
    out.push_str("### Timeline\n\n| at | planned | step | event | action | ACK |\n|--:|--:|---|---|---|--:|\n");
    for e in &r.events {
        let ack = e.ack_ms.map(|a| format!("{a:.1} ms")).unwrap_or_default();
        let action = match &e.error {
            Some(err) => format!("{} — **error:** {}", escape(&e.action), escape(err)),
            None => escape(&e.action),
        };
        let _ = writeln!(
            out,
            "| {:.2} s | {:.2} s | {} | {} | {action} | {ack} |",
            e.applied_s,
            e.at_s,
            escape(&e.step),
            escape(&e.label)
        );
    }
    out.push('\n');
}

fn xds(out: &mut String, r: &RunResult) {
    if r.xds.is_empty() {
        return;
    }
    let acked = r.xds.iter().filter(|p| p.acked_at.is_some()).count();
    let nacks: Vec<_> = r
        .xds
        .iter()
        .filter(|p| p.nacked_at.is_some() || p.error.is_some())
        .collect();
    let slowest = slowest_ack(r)
        .map(|a| format!(", slowest ACK {a:.1} ms"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "### xDS\n\n{} pushes, {acked} ACKed{slowest}, {} NACKed.\n",
        r.xds.len(),
        nacks.len()
    );
    if nacks.is_empty() {
        return;
    }
    out.push_str("| NACKed | version | resources | Envoy's message |\n|---|---|---|---|\n");
    for p in nacks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            escape(&p.resource_type),
            escape(&p.version),
            escape(&p.resources.join(", ")),
            escape(p.error.as_deref().unwrap_or("(no message)"))
        );
    }
    out.push('\n');
}

fn mocks(out: &mut String, r: &RunResult) {
    if r.steps.iter().all(|s| s.mocks.is_empty()) {
        return;
    }
    out.push_str("### Upstreams (the mocks' own counts)\n\n| step | upstream | requests | statuses | per endpoint | hung | reset | closed |\n|---|---|--:|---|---|--:|--:|--:|\n");
    for s in &r.steps {
        for (name, m) in &s.mocks {
            let endpoints: Vec<String> = m.endpoints.iter().map(u64::to_string).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                escape(&s.name),
                escape(name),
                m.requests,
                escape(&mock_codes(m)),
                endpoints.join(" / "),
                m.hung,
                m.reset,
                m.closed
            );
        }
    }
    out.push('\n');
}
