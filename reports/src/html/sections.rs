//! The sections of the HTML page, in page order. Each appends to the page; each escapes
//! every string it did not write itself.

use std::fmt::Write;

use super::escape;
use crate::charts;
use crate::markdown::{
    failure_kinds, mock_codes, other_cell, slowest_ack, status_classes, step_warnings, target,
    value,
};
use crate::model::{EventRecord, RunResult};

/// A table cell: text (escaped here) and whether it holds a number (right-aligned).
struct Cell(String, bool);

fn text(s: impl Into<String>) -> Cell {
    Cell(s.into(), false)
}

fn num(s: impl Into<String>) -> Cell {
    Cell(s.into(), true)
}

/// Writes a table; `class` names a row class per row (empty for none).
fn table(out: &mut String, head: &[Cell], rows: &[(Vec<Cell>, &str)]) {
    out.push_str("<table>\n<thead><tr>");
    for Cell(h, n) in head {
        let class = if *n { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (cells, class) in rows {
        if class.is_empty() {
            out.push_str("<tr>");
        } else {
            let _ = write!(out, "<tr class=\"{class}\">");
        }
        for Cell(c, n) in cells {
            let class = if *n { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Name, verdict, Envoy, machine and time.
pub(super) fn header(out: &mut String, r: &RunResult, verdict: &str, good: bool) {
    let (class, badge) = if good {
        ("ok", "PASS")
    } else {
        ("bad", "FAIL")
    };
    let _ = write!(
        out,
        "<header class=\"{class}\">\n<h1><span class=\"badge {class}\">{badge}</span> {}</h1>\n<div class=\"verdict\">{}</div>\n<dl class=\"facts\">\n",
        escape(&r.name),
        escape(verdict)
    );
    let secs = (r.finished_at - r.started_at).num_milliseconds().max(0) as f64 / 1000.0;
    let mut facts = vec![
        ("phase", r.phase.clone()),
        (
            "when",
            format!(
                "{} → {} ({secs:.1} s)",
                r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                r.finished_at.format("%H:%M:%S")
            ),
        ),
    ];
    match &r.envoy {
        Some(e) => {
            facts.push((
                "Envoy",
                format!(
                    "{} · concurrency {} · {}",
                    e.version, e.concurrency, e.source
                ),
            ));
            facts.push(("build", e.build.clone()));
            facts.push(("binary", e.binary.clone()));
        }
        None => facts.push(("Envoy", "not started".to_string())),
    }
    let m = &r.machine;
    facts.push((
        "machine",
        format!(
            "{} · {} · kernel {} · {} CPUs · {}",
            m.hostname, m.os, m.kernel, m.cpus, m.cpu_model
        ),
    ));
    for (k, v) in facts {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{}</dd>", escape(&v));
    }
    out.push_str("</dl>\n");
    if let Some(err) = &r.error {
        let _ = writeln!(out, "<div class=\"error\">{}</div>", escape(err));
    }
    out.push_str("</header>\n");
}

/// The steps table with the added-latency row, then client-bound warnings.
pub(super) fn steps(out: &mut String, r: &RunResult) {
    if r.steps.is_empty() {
        return;
    }
    out.push_str("<section id=\"steps\">\n<h2>Steps</h2>\n");
    let head = [
        text("step"),
        text("target"),
        num("rps"),
        num("requests"),
        num("2xx"),
        num("non-2xx"),
        num("failures"),
        num("error rate"),
        num("p50 ms"),
        num("p90 ms"),
        num("p99 ms"),
        num("p99.9 ms"),
        num("max ms"),
    ];
    let mut rows: Vec<(Vec<Cell>, &str)> = Vec::new();
    for s in &r.steps {
        let l = &s.load;
        let (ok, other, failed) = status_classes(l);
        let kinds = failure_kinds(l);
        let p = &l.latency;
        rows.push((
            vec![
                text(s.name.clone()),
                text(target(l)),
                num(format!("{:.1}", l.achieved_rps)),
                num(l.requests.to_string()),
                num(ok.to_string()),
                num(other_cell(l, other)),
                num(if kinds.is_empty() {
                    failed.to_string()
                } else {
                    format!("{failed} ({kinds})")
                }),
                num(format!("{:.2}%", l.error_rate * 100.0)),
                num(format!("{:.3}", p.p50_ms)),
                num(format!("{:.3}", p.p90_ms)),
                num(format!("{:.3}", p.p99_ms)),
                num(format!("{:.3}", p.p999_ms)),
                num(format!("{:.3}", p.max_ms)),
            ],
            "",
        ));
    }
    if let Some(a) = &r.added_latency {
        let mut cells = vec![text("added by Envoy")];
        cells.extend((0..7).map(|_| text("")));
        cells.extend(
            [a.p50_ms, a.p90_ms, a.p99_ms, a.p999_ms]
                .iter()
                .map(|v| num(format!("{v:+.3}"))),
        );
        cells.push(text(""));
        rows.push((cells, "added"));
    }
    table(out, &head, &rows);
    out.push_str(
        "<p class=\"note\">Latency from each request's intended send time; warmup excluded.</p>\n",
    );
    for w in r.steps.iter().flat_map(step_warnings) {
        let _ = writeln!(out, "<div class=\"warning\">{}</div>", escape(&w));
    }
    out.push_str("</section>\n");
}

/// Every gate with its verdict, measured value, threshold and window.
pub(super) fn gates(out: &mut String, r: &RunResult) {
    if r.gates.is_empty() {
        return;
    }
    let passed = r.gates.iter().filter(|g| g.passed).count();
    let _ = writeln!(
        out,
        "<section id=\"gates\">\n<h2>Gates: {passed}/{} passed</h2>",
        r.gates.len()
    );
    out.push_str("<table>\n<thead><tr><th></th><th>gate</th><th class=\"num\">measured</th><th class=\"num\">threshold</th><th>window</th><th>detail</th></tr></thead>\n<tbody>\n");
    for g in &r.gates {
        let (class, mark) = if g.passed {
            ("ok", "pass")
        } else {
            ("bad", "FAIL")
        };
        let _ = writeln!(
            out,
            "<tr><td><span class=\"badge {class}\">{mark}</span></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&g.gate),
            escape(&value(g.measured, &g.unit)),
            escape(&value(g.threshold, &g.unit)),
            escape(&g.window),
            escape(&g.detail)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// Envoy's and Gauntlet's CPU and memory per step, as summarised by the run.
pub(super) fn resources(out: &mut String, r: &RunResult) {
    let rows: Vec<(Vec<Cell>, &str)> = r
        .steps
        .iter()
        .filter_map(|s| {
            let rs = s.resource_summary.as_ref()?;
            Some((
                vec![
                    text(s.name.clone()),
                    num(format!("{:.3}", rs.envoy_cpu_mean)),
                    num(format!("{:.3}", rs.envoy_cpu_max)),
                    num(format!("{:.3}", rs.envoy_cpu_per_krps)),
                    num(format!("{:.1}", rs.envoy_rss_max_mb)),
                    num(format!("{:.3}", rs.gauntlet_cpu_mean)),
                ],
                "",
            ))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str("<section id=\"resources\">\n<h2>Resources</h2>\n");
    let head = [
        text("step"),
        num("Envoy CPU mean (cores)"),
        num("Envoy CPU max"),
        num("Envoy CPU per 1000 rps"),
        num("Envoy RSS max (MB)"),
        num("Gauntlet CPU mean"),
    ];
    table(out, &head, &rows);
    out.push_str("<p class=\"note\">Measured part of each step (warmup excluded), from /proc.</p>\n</section>\n");
}

/// The latency spectrum, then per step its timeline and (when sampled) Envoy's counters.
pub(super) fn charts(out: &mut String, r: &RunResult) {
    if r.steps.is_empty() {
        return;
    }
    out.push_str("<section id=\"charts\">\n<h2>Latency spectrum</h2>\n");
    figure(
        out,
        charts::spectrum(&r.steps).map(Some),
        "Stored percentiles of each step; x is log-scaled by 1/(1−p). The last point of each line is the maximum.",
    );
    out.push_str("<h2>Over time</h2>\n");
    for s in &r.steps {
        let events: Vec<&EventRecord> = r.events.iter().filter(|e| e.step == s.name).collect();
        figure(
            out,
            charts::timeline(s, &events).map(Some),
            "One point per 1-second window; grey band: warmup; purple lines: timeline events as applied.",
        );
        figure(
            out,
            charts::resources(s, &events),
            "CPU in cores (1.0 = one full core) and resident memory, sampled about once a second.",
        );
        figure(
            out,
            charts::counters(s, &events),
            "Envoy's counters that moved during the step, as sampled from its admin /stats.",
        );
    }
    out.push_str("</section>\n");
}

/// A chart with its caption, nothing when there is nothing to draw, or the reason it could
/// not be drawn.
pub(super) fn figure(
    out: &mut String,
    svg: Result<Option<String>, charts::ChartError>,
    caption: &str,
) {
    match svg {
        Ok(None) => {}
        Ok(Some(svg)) => {
            let _ = write!(
                out,
                "<figure>\n{svg}<figcaption>{}</figcaption>\n</figure>\n",
                escape(caption)
            );
        }
        Err(e) => {
            let _ = writeln!(out, "<p class=\"warning\">{}</p>", escape(&e.to_string()));
        }
    }
}

/// Timeline events as they happened.
pub(super) fn events(out: &mut String, r: &RunResult) {
    if r.events.is_empty() {
        return;
    }
    out.push_str("<section id=\"events\">\n<h2>Timeline events</h2>\n");
    let head = [
        num("applied"),
        num("planned"),
        text("step"),
        text("event"),
        text("action"),
        num("push → ACK"),
        text("error"),
    ];
    let rows: Vec<(Vec<Cell>, &str)> = r
        .events
        .iter()
        .map(|e| {
            (
                vec![
                    num(format!("{:.2} s", e.applied_s)),
                    num(format!("{:.2} s", e.at_s)),
                    text(e.step.clone()),
                    text(e.label.clone()),
                    text(e.action.clone()),
                    num(e.ack_ms.map(|a| format!("{a:.1} ms")).unwrap_or_default()),
                    text(e.error.clone().unwrap_or_default()),
                ],
                if e.error.is_some() { "bad" } else { "" },
            )
        })
        .collect();
    table(out, &head, &rows);
    out.push_str("</section>\n");
}

/// xDS pushes: the summary line, NACKs with Envoy's message, every push in a fold.
pub(super) fn xds(out: &mut String, r: &RunResult) {
    if r.xds.is_empty() {
        return;
    }
    let acked = r.xds.iter().filter(|p| p.acked_at.is_some()).count();
    let nacked = r
        .xds
        .iter()
        .filter(|p| p.nacked_at.is_some() || p.error.is_some())
        .count();
    let slowest = slowest_ack(r)
        .map(|a| format!(", slowest ACK {a:.1} ms"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<section id=\"xds\">\n<h2>xDS</h2>\n<p>{} pushes, {acked} ACKed{slowest}, {nacked} NACKed.</p>",
        r.xds.len()
    );
    let head = [
        text("type"),
        text("version"),
        text("nonce"),
        text("node"),
        text("resources"),
        text("sent (UTC)"),
        num("push → ACK"),
        text("Envoy's NACK message"),
    ];
    let rows: Vec<(Vec<Cell>, &str)> = r
        .xds
        .iter()
        .map(|p| {
            let nack = p.nacked_at.is_some() || p.error.is_some();
            (
                vec![
                    text(p.resource_type.clone()),
                    text(p.version.clone()),
                    text(p.nonce.clone()),
                    text(p.node.clone()),
                    text(p.resources.join(", ")),
                    text(p.sent_at.format("%H:%M:%S%.3f").to_string()),
                    num(p.ack_ms.map(|a| format!("{a:.1} ms")).unwrap_or_default()),
                    text(p.error.clone().unwrap_or_default()),
                ],
                if nack { "bad" } else { "" },
            )
        })
        .collect();
    if nacked > 0 {
        let nacks: Vec<(Vec<Cell>, &str)> = rows.into_iter().filter(|r| r.1 == "bad").collect();
        table(out, &head, &nacks);
        let _ = writeln!(
            out,
            "<p class=\"note\">Only the NACKed pushes are listed; result.json holds all {}.</p>",
            r.xds.len()
        );
    } else {
        out.push_str("<details><summary>every push</summary>\n");
        table(out, &head, &rows);
        out.push_str("</details>\n");
    }
    out.push_str("</section>\n");
}

/// Each mock upstream's own counts, per step, per endpoint.
pub(super) fn upstreams(out: &mut String, r: &RunResult) {
    if r.steps.iter().all(|s| s.mocks.is_empty()) {
        return;
    }
    out.push_str("<section id=\"upstreams\">\n<h2>Upstreams</h2>\n<p class=\"note\">Counted by the mock servers themselves.</p>\n");
    let head = [
        text("step"),
        text("upstream"),
        num("requests"),
        text("statuses"),
        text("per endpoint"),
        num("hung"),
        num("reset"),
        num("closed"),
    ];
    let rows: Vec<(Vec<Cell>, &str)> = r
        .steps
        .iter()
        .flat_map(|s| {
            s.mocks.iter().map(move |(name, m)| {
                let endpoints: Vec<String> = m
                    .endpoints
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("#{i}: {n}"))
                    .collect();
                (
                    vec![
                        text(s.name.clone()),
                        text(name.clone()),
                        num(m.requests.to_string()),
                        text(mock_codes(m)),
                        text(endpoints.join(" · ")),
                        num(m.hung.to_string()),
                        num(m.reset.to_string()),
                        num(m.closed.to_string()),
                    ],
                    "",
                )
            })
        })
        .collect();
    table(out, &head, &rows);
    out.push_str("</section>\n");
}

/// The resolved scenario, folded, for the record.
pub(super) fn scenario(out: &mut String, r: &RunResult) {
    if r.scenario.is_null() {
        return;
    }
    let pretty = serde_json::to_string_pretty(&r.scenario).unwrap_or_default();
    let _ = write!(
        out,
        "<section id=\"scenario\">\n<h2>Scenario</h2>\n<details><summary>the resolved scenario, every default filled in</summary>\n<pre>{}</pre>\n</details>\n</section>\n",
        escape(&pretty)
    );
}
