//! The compare as a terminal table and as Markdown (a CI job summary). Both show the same
//! cells, built by the shared helpers here and in the HTML page.

use std::fmt::Write;

use super::{CompareResult, CompareStatus, Figure, Interval, SampleKind};

/// The column headers every table uses.
pub(super) const HEADERS: [&str; 7] = [
    "figure",
    "baseline",
    "candidate",
    "change (HL)",
    "interval",
    "method",
    "verdict",
];

/// A figure's cells, in [`HEADERS`] order, formatted the same in every renderer.
pub(super) fn cells(f: &Figure) -> [String; 7] {
    [
        format!("{} ({})", f.label, unit_name(&f.unit)),
        median(f.baseline_median, &f.unit, f.baseline.len()),
        median(f.candidate_median, &f.unit, f.candidate.len()),
        change(f),
        interval(f),
        f.method.words().to_string(),
        f.verdict.words().to_string(),
    ]
}

/// The compare in one sentence: what was compared and how.
pub(super) fn title(c: &CompareResult) -> String {
    format!(
        "{}: {} vs {}",
        c.name,
        side_name(&c.baseline),
        side_name(&c.candidate)
    )
}

/// How the samples were taken, in one sentence.
pub(super) fn sampling(c: &CompareResult) -> String {
    let (nb, nc) = (samples(c, true), samples(c, false));
    let what = match c.samples {
        SampleKind::Runs => {
            format!("{nb} baseline and {nc} candidate runs, interleaved; medians of the runs")
        }
        SampleKind::Windows => format!(
            "one run per side: {nb} and {nc} one-second windows of the Envoy step as samples \
             (within-run, autocorrelated: weaker evidence than repeated runs)"
        ),
    };
    format!(
        "{what}; change = Hodges–Lehmann estimate, {:.0}% interval; a change counts when its \
         interval excludes zero and it exceeds the minimum effect ({}).",
        c.confidence * 100.0,
        pct(c.min_effect, false)
    )
}

/// `completed`, or what went wrong.
pub(super) fn status(c: &CompareResult) -> Option<String> {
    let what = match c.status {
        CompareStatus::Completed => return None,
        CompareStatus::Interrupted => "interrupted: figures from the runs that completed",
        CompareStatus::Failed => "failed: figures from the runs that completed",
    };
    Some(match &c.error {
        Some(e) => format!("{what} ({e})"),
        None => what.to_string(),
    })
}

fn samples(c: &CompareResult, baseline: bool) -> usize {
    c.figures
        .first()
        .map(|f| {
            if baseline {
                f.baseline.len()
            } else {
                f.candidate.len()
            }
        })
        .unwrap_or(0)
}

fn side_name(s: &super::Side) -> String {
    match &s.envoy_version {
        Some(v) if !s.label.contains(v.as_str()) => format!("{} ({} = Envoy {v})", s.label, s.role),
        _ => format!("{} ({})", s.label, s.role),
    }
}

fn unit_name(unit: &str) -> &str {
    match unit {
        "ratio" => "%",
        u => u,
    }
}

/// A value in its unit's usual precision; ratios as percentages.
pub(super) fn value(v: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{v:.3}"),
        "rps" => format!("{v:.1}"),
        "cores" => format!("{v:.4}"),
        "MB" => format!("{v:.1}"),
        "ratio" => format!("{:.3}", v * 100.0),
        _ => format!("{v}"),
    }
}

fn signed(v: f64, unit: &str) -> String {
    let s = value(v, unit);
    if v >= 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

fn pct(v: f64, sign: bool) -> String {
    if sign {
        format!("{:+.1}%", v * 100.0)
    } else {
        format!("{:.1}%", v * 100.0)
    }
}

fn median(m: Option<f64>, unit: &str, n: usize) -> String {
    match m {
        Some(v) => value(v, unit),
        None if n == 0 => "no samples".to_string(),
        None => "n/a".to_string(),
    }
}

fn abs_unit(unit: &str) -> &str {
    match unit {
        "ratio" => " pp",
        "ms" => " ms",
        "rps" => " rps",
        "cores" => " cores",
        "MB" => " MB",
        _ => "",
    }
}

/// The change, relative when there is a reference, else in the figure's unit.
pub(super) fn change(f: &Figure) -> String {
    match (f.relative, f.change) {
        (Some(r), Some(c)) => format!(
            "{} ({}{})",
            pct(r, true),
            signed(c, &f.unit),
            abs_unit(&f.unit)
        ),
        (None, Some(c)) => format!("{}{}", signed(c, &f.unit), abs_unit(&f.unit)),
        _ => "n/a".to_string(),
    }
}

/// The interval of the change, relative when there is a reference.
pub(super) fn interval(f: &Figure) -> String {
    let conf = f
        .confidence
        .map(|c| format!(" @{:.0}%", c * 100.0))
        .unwrap_or_default();
    match (f.relative_ci, f.change_ci) {
        (Some(Interval { low, high }), _) => {
            format!("[{}, {}]{conf}", pct(low, true), pct(high, true))
        }
        (None, Some(Interval { low, high })) => format!(
            "[{}, {}]{}{conf}",
            signed(low, &f.unit),
            signed(high, &f.unit),
            abs_unit(&f.unit)
        ),
        _ => "none".to_string(),
    }
}

/// The compare as a plain-text table for a terminal.
pub fn terminal(c: &CompareResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Compare {}", title(c));
    if let Some(s) = status(c) {
        let _ = writeln!(out, "status: {s}");
    }
    let rows: Vec<[String; 7]> = c.figures.iter().map(cells).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if (1..=2).contains(&i) {
                let _ = write!(l, "{}{cell}  ", " ".repeat(pad));
            } else {
                let _ = write!(l, "{cell}{}  ", " ".repeat(pad));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&HEADERS.map(str::to_string)));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    let _ = writeln!(out, "{}", sampling(c));
    for n in &c.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if !c.checks.is_empty() {
        let _ = writeln!(out, "checks:");
        for k in &c.checks {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                if k.passed { "PASS" } else { "FAIL" },
                k.expr,
                k.detail
            );
        }
    }
    out
}

/// Escapes text for a Markdown table cell.
fn md(s: &str) -> String {
    crate::markdown::escape(s)
}

/// The compare as GitHub-flavoured Markdown.
pub fn markdown(c: &CompareResult) -> String {
    let mut out = String::new();
    let failed = c.checks.iter().filter(|k| !k.passed).count();
    let regressions = c
        .figures
        .iter()
        .filter(|f| f.verdict == super::FigureVerdict::Regression)
        .count();
    let _ = writeln!(out, "## Gauntlet compare: {}\n", md(&title(c)));
    let _ = writeln!(
        out,
        "**{} regression(s), {} of {} check(s) failed.**\n",
        regressions,
        failed,
        c.checks.len()
    );
    if let Some(s) = status(c) {
        let _ = writeln!(out, "> **{}**\n", md(&s));
    }
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|---|");
    for f in &c.figures {
        let cells = cells(f).map(|s| md(&s));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\n{}\n", md(&sampling(c)));
    for n in &c.notes {
        let _ = writeln!(out, "- {}", md(n));
    }
    if !c.checks.is_empty() {
        let _ = writeln!(out, "\n| check | result | detail |\n|---|---|---|");
        for k in &c.checks {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                k.expr.replace('`', "'").replace('|', "\\|"),
                if k.passed { "pass" } else { "**FAIL**" },
                md(&k.detail)
            );
        }
    }
    out
}
