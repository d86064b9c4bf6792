//! The hops section of every human format: a table of edges (terminal, Markdown, HTML) and
//! the service graph drawn as inline SVG (HTML). Everything shown is as stored in
//! [`ServiceGraph`]; nothing is computed here beyond layout.

use std::fmt::Write;

use crate::graph::{
    opt_ms, GraphEdge, GraphNode, HopPair, NodeContainer, PhaseComparison, ServiceGraph,
};
use crate::html::escape;
use crate::model::RunResult;

const HEAD: [&str; 13] = [
    "edge",
    "via",
    "requests",
    "rps",
    "errors",
    "error %",
    "attempts",
    "attempt 5xx",
    "retries",
    "timeouts",
    "p50 ms",
    "p99 ms",
    "callee counted",
];

fn cells(e: &GraphEdge) -> [String; 13] {
    [
        format!("{} → {}", e.from, e.to),
        e.via.clone(),
        e.requests.to_string(),
        format!("{:.1}", e.rps),
        e.caller_errors.to_string(),
        format!("{:.2}%", e.error_rate * 100.0),
        e.attempts.to_string(),
        e.attempt_errors.to_string(),
        e.retries.to_string(),
        e.timeouts.to_string(),
        opt_ms(e.p50_ms),
        opt_ms(e.p99_ms),
        e.callee_counted
            .map_or_else(|| "–".to_string(), |n| n.to_string()),
    ]
}

fn node_line(n: &GraphNode) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(c) = n.cpu_cores {
        parts.push(format!("{c:.3} cores"));
    }
    if let Some(m) = n.rss_mb {
        let what = match &n.container {
            Some(c) if c.cgroup => "working set",
            _ => "RSS",
        };
        parts.push(format!("{what} {m:.1} MiB"));
    }
    if let Some(c) = &n.container {
        parts.push(container_text(c));
    }
    (!parts.is_empty()).then(|| format!("{} ({}): {}", n.name, n.kind, parts.join(", ")))
}

/// `container gauntlet/envoy:1.40.0 (0.50 cores, 256 MiB), throttled 3/50 periods (12 ms)`.
fn container_text(c: &NodeContainer) -> String {
    let mut limits = Vec::new();
    if let Some(cpus) = c.cpus {
        limits.push(format!("{cpus:.2} cores"));
    }
    if let Some(m) = c.memory_mb {
        limits.push(format!("{m:.0} MiB"));
    }
    let mut text = format!("container {}", c.image);
    if !limits.is_empty() {
        let _ = write!(text, " ({})", limits.join(", "));
    }
    if let (Some(p), Some(t)) = (c.periods, c.throttled_periods) {
        let _ = write!(text, ", throttled {t}/{p} periods");
        if let Some(ms) = c.throttled_ms {
            let _ = write!(text, " ({ms:.0} ms)");
        }
    }
    text
}

const COMPARE_HEAD: [&str; 9] = [
    "hop",
    "p50 ms",
    "p99 ms",
    "error %",
    "other hop",
    "other p50",
    "other p99",
    "other error %",
    "Δ p99 ms",
];

fn compare_cells(p: &HopPair) -> [String; 9] {
    [
        format!("{} → {}", p.from, p.to),
        opt_ms(p.this.p50_ms),
        opt_ms(p.this.p99_ms),
        format!("{:.2}%", p.this.error_rate * 100.0),
        format!("{} → {}", p.other.from, p.to),
        opt_ms(p.other.p50_ms),
        opt_ms(p.other.p99_ms),
        format!("{:.2}%", p.other.error_rate * 100.0),
        p.p99_delta_ms
            .map_or_else(|| "–".to_string(), |d| format!("{d:+.2}")),
    ]
}

fn compare_title(c: &PhaseComparison) -> String {
    format!(
        "beside `{}` ({} phase, {}): this run's hops, then the stored run's hop into the same service",
        c.name, c.phase, c.source
    )
}

/// The phase comparison as text lines (terminal and Markdown share the rows).
fn compare_terminal(out: &mut String, c: &PhaseComparison) {
    let _ = writeln!(out, "\n{}:", compare_title(c));
    let _ = writeln!(out, "  {}", COMPARE_HEAD.join(" | "));
    for p in &c.hops {
        let _ = writeln!(out, "  {}", compare_cells(p).join(" | "));
    }
}

/// The hops as an aligned text table.
pub fn terminal(out: &mut String, r: &RunResult) {
    let Some(g) = &r.graph else {
        return;
    };
    let _ = writeln!(
        out,
        "\nhops ({} phase, `{}` step, {:.1} s; errors are what the caller saw after retries):",
        g.phase, g.step, g.seconds
    );
    let rows: Vec<[String; 13]> = g.edges.iter().map(cells).collect();
    let widths: Vec<usize> = (0..HEAD.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([HEAD[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut String, row: &[String]| {
        let mut text = String::from(" ");
        for (i, c) in row.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            if i < 2 {
                let _ = write!(text, " {c}{}", " ".repeat(pad));
            } else {
                let _ = write!(text, " {}{c}", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    let head: Vec<String> = HEAD.iter().map(|h| h.to_string()).collect();
    line(out, &head);
    for row in &rows {
        line(out, row);
    }
    for n in g.nodes.iter().chain(&g.proxies).filter_map(node_line) {
        let _ = writeln!(out, "  {n}");
    }
    if let Some(c) = &g.compared {
        compare_terminal(out, c);
    }
}

/// The hops as a Markdown table.
pub fn markdown(out: &mut String, r: &RunResult) {
    let Some(g) = &r.graph else {
        return;
    };
    let _ = writeln!(
        out,
        "\n## Hops\n\n{} phase, `{}` step, {:.1} s. Errors are what the caller saw after \
         retries; attempts are what reached the callee.\n",
        g.phase, g.step, g.seconds
    );
    let _ = writeln!(out, "| {} |", HEAD.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEAD.len()));
    for e in &g.edges {
        let row: Vec<String> = cells(e)
            .iter()
            .map(|c| crate::markdown::escape(c))
            .collect();
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    for n in g.nodes.iter().chain(&g.proxies).filter_map(node_line) {
        let _ = writeln!(out, "\n- {}", crate::markdown::escape(&n));
    }
    if let Some(c) = &g.compared {
        let _ = writeln!(
            out,
            "\n### Compared\n\n{}\n",
            crate::markdown::escape(&compare_title(c))
        );
        let _ = writeln!(out, "| {} |", COMPARE_HEAD.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(COMPARE_HEAD.len()));
        for p in &c.hops {
            let row: Vec<String> = compare_cells(p)
                .iter()
                .map(|c| crate::markdown::escape(c))
                .collect();
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
    }
}

/// The hops as an HTML section: the graph drawn, then the table.
pub fn html(out: &mut String, r: &RunResult) {
    let Some(g) = &r.graph else {
        return;
    };
    let _ = writeln!(
        out,
        "<section id=\"hops\">\n<h2>Hops</h2>\n<p>{} phase, <code>{}</code> step, {:.1} s. \
         Errors are what the caller saw after retries; attempts are what reached the callee.</p>",
        escape(&g.phase),
        escape(&g.step),
        g.seconds
    );
    out.push_str(&svg(g));
    out.push_str("<table>\n<thead><tr>");
    for (i, h) in HEAD.iter().enumerate() {
        let class = if i >= 2 { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for e in &g.edges {
        let class = if e.caller_errors > 0 {
            " class=\"bad\""
        } else {
            ""
        };
        let _ = write!(out, "<tr{class}>");
        for (i, c) in cells(e).iter().enumerate() {
            let class = if i >= 2 { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    for n in g.nodes.iter().chain(&g.proxies).filter_map(node_line) {
        let _ = writeln!(out, "<p>{}</p>", escape(&n));
    }
    if let Some(c) = &g.compared {
        let _ = writeln!(
            out,
            "<h3>Compared</h3>\n<p>{}</p>\n<table>\n<thead><tr>",
            escape(&compare_title(c))
        );
        for h in COMPARE_HEAD {
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for p in &c.hops {
            out.push_str("<tr>");
            for cell in compare_cells(p) {
                let _ = write!(out, "<td>{}</td>", escape(&cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
}

const BOX_W: f64 = 150.0;
const BOX_H: f64 = 44.0;
const COL_GAP: f64 = 230.0;
const ROW_GAP: f64 = 70.0;

/// Each node's column: its distance from `load` along the edges (callers left of callees).
fn columns(g: &ServiceGraph) -> Vec<usize> {
    let index = |name: &str| g.nodes.iter().position(|n| n.name == name);
    let mut col = vec![0usize; g.nodes.len()];
    // Longest-path layering; the graph is small and a cycle is cut by the pass limit.
    for _ in 0..g.nodes.len() {
        for e in &g.edges {
            if let (Some(a), Some(b)) = (index(&e.from), index(&e.to)) {
                if col[b] < col[a] + 1 && col[a] < g.nodes.len() {
                    col[b] = col[a] + 1;
                }
            }
        }
    }
    col
}

/// The graph as inline SVG: boxes by column, an arrow per edge labelled rps, error % and p99.
pub fn svg(g: &ServiceGraph) -> String {
    let col = columns(g);
    let mut row_in_col = vec![0usize; g.nodes.len()];
    let mut next = std::collections::BTreeMap::<usize, usize>::new();
    for (i, c) in col.iter().enumerate() {
        let n = next.entry(*c).or_insert(0);
        row_in_col[i] = *n;
        *n += 1;
    }
    let rows = next.values().copied().max().unwrap_or(1) as f64;
    let cols = next.keys().copied().max().unwrap_or(0) as f64 + 1.0;
    let width = 20.0 + cols * BOX_W + (cols - 1.0) * (COL_GAP - BOX_W) + 20.0;
    let height = 20.0 + rows * ROW_GAP + 10.0;
    let pos = |i: usize| {
        (
            20.0 + col[i] as f64 * COL_GAP,
            20.0 + row_in_col[i] as f64 * ROW_GAP,
        )
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" width=\"{width:.0}\" \
         height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" \
         aria-label=\"service graph\">\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" \
         refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n"
    );
    let index = |name: &str| g.nodes.iter().position(|n| n.name == name);
    for e in &g.edges {
        let (Some(a), Some(b)) = (index(&e.from), index(&e.to)) else {
            continue;
        };
        let ((ax, ay), (bx, by)) = (pos(a), pos(b));
        let (x1, y1, x2, y2) = (ax + BOX_W, ay + BOX_H / 2.0, bx, by + BOX_H / 2.0);
        let colour = if e.caller_errors > 0 {
            "#c0392b"
        } else {
            "#555"
        };
        let _ = writeln!(
            s,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{colour}\" \
             stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>"
        );
        let label = format!(
            "{:.0} rps · {:.2}% err · p99 {}",
            e.rps,
            e.error_rate * 100.0,
            opt_ms(e.p99_ms)
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{colour}\">{}</text>",
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0 - 4.0,
            escape(&label)
        );
    }
    for (i, n) in g.nodes.iter().enumerate() {
        let (x, y) = pos(i);
        let fill = match n.kind.as_str() {
            "load" => "#eef",
            "mock" => "#f4f4f4",
            _ => "#efe",
        };
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" \
             fill=\"{fill}\" stroke=\"#333\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" \
             text-anchor=\"middle\">{}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" \
             text-anchor=\"middle\" fill=\"#666\">{}</text>",
            x + BOX_W / 2.0,
            y + 19.0,
            escape(&n.name),
            x + BOX_W / 2.0,
            y + 35.0,
            escape(&n.kind)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> ServiceGraph {
        let node = |n: &str, k: &str| GraphNode {
            name: n.into(),
            kind: k.into(),
            ..GraphNode::default()
        };
        let edge = |a: &str, b: &str, errors: u64| GraphEdge {
            from: a.into(),
            to: b.into(),
            via: "egress".into(),
            requests: 100,
            caller_errors: errors,
            error_rate: errors as f64 / 100.0,
            p99_ms: Some(3.5),
            ..GraphEdge::default()
        };
        ServiceGraph {
            phase: "single-service".into(),
            step: "envoy".into(),
            seconds: 2.0,
            nodes: vec![
                node("load", "load"),
                node("bff<&>", "service"),
                node("db", "mock"),
            ],
            edges: vec![edge("load", "bff<&>", 0), edge("bff<&>", "db", 3)],
            proxies: vec![],
            compared: None,
        }
    }

    #[test]
    fn columns_follow_the_calls() {
        assert_eq!(columns(&graph()), vec![0, 1, 2]);
    }

    #[test]
    fn a_container_node_shows_its_limits_and_throttling() {
        let sidecar = GraphNode {
            name: "egress".into(),
            kind: "sidecar".into(),
            cpu_cores: Some(0.25),
            rss_mb: Some(40.0),
            container: Some(NodeContainer {
                image: "gauntlet/envoy:1.40.0".into(),
                cpus: Some(0.5),
                memory_mb: Some(256.0),
                cgroup: true,
                periods: Some(50),
                throttled_periods: Some(3),
                throttled_ms: Some(12.4),
            }),
            ..GraphNode::default()
        };
        assert_eq!(
            node_line(&sidecar).unwrap(),
            "egress (sidecar): 0.250 cores, working set 40.0 MiB, container \
             gauntlet/envoy:1.40.0 (0.50 cores, 256 MiB), throttled 3/50 periods (12 ms)"
        );
        // A sidecar shows in the node lines but not as a box of the graph.
        let mut g = graph();
        g.proxies.push(sidecar);
        assert_eq!(columns(&g).len(), 3);
        assert!(!svg(&g).contains(">egress<"));
    }

    #[test]
    fn the_svg_is_escaped_and_marks_the_failing_edge() {
        let svg = svg(&graph());
        assert!(svg.contains("bff&lt;&amp;&gt;") && !svg.contains("bff<&>"));
        assert!(svg.contains("3.00% err · p99 3.50"));
        assert_eq!(svg.matches("#c0392b").count(), 2);
    }
}
