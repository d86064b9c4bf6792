//! The sizing section of the HTML page: the sweep table, the fit, the capacity plan with its
//! Istio annotations, the `find_max_rps` walk, and their charts. Rows come from
//! `sizing_text`, so the page, the terminal and Markdown show the same figures.

use std::fmt::Write;

use super::escape;
use super::sections::figure;
use crate::charts;
use crate::model::RunResult;
use crate::sizing_text::{
    capacity_lines, find_max_line, fit_line, limit_lines, limit_rows, point_rows, walk_rows,
    LIMIT_HEAD, POINT_HEAD, WALK_HEAD,
};

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table>\n<thead><tr>");
    for (i, h) in head.iter().enumerate() {
        let class = if i > 0 { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let class = if i > 0 { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// `<section id="sizing">`, when the run has sizing figures.
pub(super) fn section(out: &mut String, r: &RunResult) {
    let Some(s) = &r.sizing else {
        return;
    };
    out.push_str("<section id=\"sizing\">\n<h2>Sizing</h2>\n");
    if !s.points.is_empty() {
        table(out, &POINT_HEAD, &point_rows(s));
        out.push_str("<ul>\n");
        for f in &s.fits {
            let _ = writeln!(out, "<li>{}</li>", escape(&fit_line(f)));
        }
        if let Some(m) = s.memory_max_mb {
            let _ = writeln!(out, "<li>Envoy memory: {m:.1} MB RSS at most</li>");
        }
        out.push_str("</ul>\n");
        figure(
            out,
            charts::sizing::cpu_fit(s),
            "Envoy's mean CPU over each step's steady state (first and last samples trimmed) against the rps achieved; the line is the stored least-squares fit.",
        );
        figure(
            out,
            charts::sizing::added_latency(s),
            "Each point's Envoy step minus its own baseline step, per percentile.",
        );
    }
    if !s.limits.is_empty() {
        out.push_str("<h3>Per CPU limit</h3>\n");
        table(out, &LIMIT_HEAD, &limit_rows(s));
        out.push_str("<ul>\n");
        for l in limit_lines(s) {
            let _ = writeln!(out, "<li>{}</li>", escape(&l));
        }
        out.push_str("</ul>\n");
        figure(
            out,
            charts::sizing::p99_by_limit(s),
            "Each point's p99 through Envoy, one line per CPU limit of its container: filled where the point met the SLO, hollow where it did not.",
        );
    }
    if let Some(c) = &s.capacity {
        let (lines, annotations) = capacity_lines(c);
        out.push_str("<h3>Capacity plan</h3>\n<ul>\n");
        for l in lines {
            let _ = writeln!(out, "<li>{}</li>", escape(&l));
        }
        out.push_str("</ul>\n");
        if !annotations.is_empty() {
            out.push_str("<pre>annotations:\n");
            for a in annotations {
                let _ = writeln!(out, "  {}", escape(&a));
            }
            out.push_str("</pre>\n");
        }
    }
    if let Some(f) = &s.find_max {
        let _ = writeln!(
            out,
            "<h3>Max sustainable rate</h3>\n<p>{}</p>",
            escape(&find_max_line(f))
        );
        table(out, &WALK_HEAD, &walk_rows(f));
        figure(
            out,
            charts::sizing::find_max(f),
            "Every rate the search tried, numbered in order: doubling until the SLO broke, then halving the gap.",
        );
    }
    for n in &s.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(n));
    }
    out.push_str("</section>\n");
}
