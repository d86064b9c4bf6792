//! The compare as one self-contained HTML page: the table, the checks, and a forest plot of
//! every figure's relative change with its interval (inline SVG drawn with plotters). No
//! scripts, fonts or network; XHTML-compatible like the run report.

use std::fmt::Write;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::text::{cells, sampling, status, title, HEADERS};
use super::{CompareResult, Figure, FigureVerdict};
use crate::charts::{clean, svg_element, ChartError, FONT, WIDTH};
use crate::html::{close_page, escape, open_page};

/// Rows of the figures table coloured by verdict, on top of the shared style sheet.
const EXTRA_STYLE: &str =
    ".regression td { background: #ffebe9; }\n.improvement td { background: #dafbe1; }\n";

/// Renders the compare as a complete HTML document.
pub fn render(c: &CompareResult) -> String {
    let regressions = c
        .figures
        .iter()
        .filter(|f| f.verdict == FigureVerdict::Regression)
        .count();
    let failed = c.checks.iter().filter(|k| !k.passed).count();
    let good = regressions == 0 && failed == 0 && status(c).is_none();
    let (class, badge) = if good {
        ("ok", "PASS")
    } else {
        ("bad", "FAIL")
    };
    let verdict = format!(
        "{regressions} regression(s); {failed} of {} check(s) failed",
        c.checks.len()
    );
    let mut out = String::with_capacity(64 * 1024);
    open_page(
        &mut out,
        &format!("Gauntlet compare · {}", c.name),
        EXTRA_STYLE,
    );
    let _ = writeln!(
        out,
        "<header class=\"{class}\">\n<h1><span class=\"badge {class}\">{badge}</span> \
         Compare {}</h1>\n<div class=\"verdict\">{}</div>\n</header>",
        escape(&title(c)),
        escape(&verdict)
    );
    if let Some(s) = status(c) {
        let _ = writeln!(out, "<div class=\"error\">{}</div>", escape(&s));
    }
    table(&mut out, c);
    let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&sampling(c)));
    for n in &c.notes {
        let _ = writeln!(out, "<p class=\"warning\">{}</p>", escape(n));
    }
    checks(&mut out, c);
    chart_section(&mut out, c);
    runs(&mut out, c);
    close_page(&mut out, &c.gauntlet_version, &c.schema, "compare.json");
    out
}

fn table(out: &mut String, c: &CompareResult) {
    out.push_str("<section id=\"figures\">\n<h2>Figures</h2>\n<table>\n<tr>");
    for (i, h) in HEADERS.iter().enumerate() {
        let class = if (1..=4).contains(&i) {
            " class=\"num\""
        } else {
            ""
        };
        let _ = write!(out, "<th{class}>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for f in &c.figures {
        let row_class = match f.verdict {
            FigureVerdict::Regression => " class=\"regression\"",
            FigureVerdict::Improvement => " class=\"improvement\"",
            _ => "",
        };
        let _ = write!(out, "<tr{row_class} title=\"{}\">", escape(&f.reason));
        for (i, cell) in cells(f).iter().enumerate() {
            let class = if (1..=4).contains(&i) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n</section>\n");
}

fn checks(out: &mut String, c: &CompareResult) {
    if c.checks.is_empty() {
        return;
    }
    out.push_str("<section id=\"checks\">\n<h2>Checks (--fail-on)</h2>\n<table>\n<tr><th>check</th><th>result</th><th>detail</th></tr>\n");
    for k in &c.checks {
        let (class, word) = if k.passed {
            ("", "pass")
        } else {
            (" class=\"bad\"", "FAIL")
        };
        let _ = writeln!(
            out,
            "<tr{class}><td><code>{}</code></td><td>{word}</td><td>{}</td></tr>",
            escape(&k.expr),
            escape(&k.detail)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn runs(out: &mut String, c: &CompareResult) {
    out.push_str("<section id=\"runs\">\n<h2>Runs</h2>\n<table>\n<tr><th>side</th><th>run</th><th>status</th><th>note</th></tr>\n");
    for side in [&c.baseline, &c.candidate] {
        for r in &side.runs {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&side.role),
                escape(&r.dir),
                escape(&r.status),
                escape(r.excluded.as_deref().unwrap_or(""))
            );
        }
    }
    out.push_str("</table>\n</section>\n");
}

fn chart_section(out: &mut String, c: &CompareResult) {
    let plotted: Vec<&Figure> = c.figures.iter().filter(|f| f.relative.is_some()).collect();
    if plotted.is_empty() {
        return;
    }
    out.push_str("<section id=\"chart\">\n<h2>Relative change, candidate against baseline</h2>\n");
    match forest(&plotted, c.min_effect) {
        Ok(svg) => {
            let _ = writeln!(
                out,
                "<figure>{svg}<figcaption>Dot: Hodges–Lehmann estimate of the change; bar: its \
                 interval (an arrow: it runs past ±100%); dashed lines: ± the minimum effect. Red is a regression, green an \
                 improvement, grey no significant change or inconclusive.</figcaption></figure>"
            );
        }
        Err(e) => {
            let _ = writeln!(out, "<p class=\"warning\">{}</p>", escape(&e.to_string()));
        }
    }
    let skipped: Vec<&str> = c
        .figures
        .iter()
        .filter(|f| f.relative.is_none())
        .map(|f| f.label.as_str())
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">Not plotted (no relative change: the baseline is zero): {}.</p>",
            escape(&skipped.join(", "))
        );
    }
    out.push_str("</section>\n");
}

/// Widest change the plot shows, in percent: tail intervals from a few runs can span
/// hundreds of percent and would squash every other row; longer bars are cut at the edge
/// and end in an arrow.
const CLIP_PCT: f64 = 100.0;

/// A forest plot: one row per figure, x the relative change in percent.
fn forest(figures: &[&Figure], min_effect: f64) -> Result<String, ChartError> {
    let pct = |v: f64| v * 100.0;
    let mut lo = -pct(min_effect);
    let mut hi = pct(min_effect);
    for f in figures {
        let points = [
            f.relative,
            f.relative_ci.map(|i| i.low),
            f.relative_ci.map(|i| i.high),
        ];
        for v in points.into_iter().flatten().filter(|v| v.is_finite()) {
            lo = lo.min(pct(v));
            hi = hi.max(pct(v));
        }
    }
    let (lo, hi) = (lo.max(-CLIP_PCT), hi.min(CLIP_PCT));
    let pad = (hi - lo) * 0.08;
    let (x0, x1) = (lo - pad, hi + pad);
    let clip = |v: f64| pct(v).clamp(lo, hi);
    let n = figures.len();
    let height = 70 + 34 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(30)
            .x_label_area_size(36)
            .y_label_area_size(260)
            .build_cartesian_2d(x0..x1, -0.6..(n as f64 - 0.4))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("change (%)")
            .x_label_formatter(&|x| format!("{x:+.0}%"))
            .label_style((FONT, 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let dashed = BLACK.mix(0.35);
        for x in [-pct(min_effect), pct(min_effect)] {
            chart.draw_series(DashedLineSeries::new(
                vec![(x, -0.6), (x, n as f64 - 0.4)],
                4,
                4,
                dashed.stroke_width(1),
            ))?;
        }
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -0.6), (0.0, n as f64 - 0.4)],
            BLACK.stroke_width(1),
        )))?;
        let label_font = (FONT, 13)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, f) in figures.iter().enumerate() {
            // The first figure on top.
            let y = (n - 1 - i) as f64;
            let color = match f.verdict {
                FigureVerdict::Regression => RGBColor(207, 34, 46),
                FigureVerdict::Improvement => RGBColor(26, 127, 55),
                _ => RGBColor(110, 110, 110),
            };
            if let Some(ci) = f.relative_ci {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(clip(ci.low), y), (clip(ci.high), y)],
                    color.stroke_width(4),
                )))?;
                for (end, cut) in [(lo, pct(ci.low) < lo), (hi, pct(ci.high) > hi)] {
                    if cut {
                        let (px, py) = chart.backend_coord(&(end, y));
                        let dir = if end < 0.0 { -1 } else { 1 };
                        root.draw(&Polygon::new(
                            vec![(px + 9 * dir, py), (px, py - 6), (px, py + 6)],
                            color.filled(),
                        ))?;
                    }
                }
            }
            if let Some(r) = f.relative {
                chart.draw_series(std::iter::once(Circle::new((pct(r), y), 6, color.filled())))?;
            }
            let (px, py) = chart.backend_coord(&(x0, y));
            root.draw(&Text::new(
                clean(&f.label, 40),
                (px - 8, py),
                label_font.clone(),
            ))?;
        }
        root.present()?;
    }
    Ok(svg_element(svg))
}
