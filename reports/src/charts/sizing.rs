//! Sizing charts: Envoy CPU against rps with the stored fit drawn as a line, added latency
//! per percentile against rps, and the `find_max_rps` walk. The fitted line is drawn from
//! the stored intercept and slope; nothing is fitted here.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{clean, headroom, svg_element, ChartError, EVENT, FONT, PALETTE, WIDTH};
use crate::sizing::{FindMax, Sizing};

const HEIGHT: u32 = 420;

/// What sets one sizing chart's frame apart from another's.
struct Axes<'a> {
    caption: &'a str,
    x: Range<f64>,
    y: Range<f64>,
    x_desc: &'a str,
    y_desc: &'a str,
}

/// The chart the series of a sizing chart are drawn on.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One sizing chart as an `<svg>` element: the frame every sizing chart has (caption, mesh,
/// axis names, a legend in the upper left), with `series` drawing what is on it.
fn draw(
    axes: Axes<'_>,
    series: impl FnOnce(&mut Chart<'_, '_>) -> Result<(), ChartError>,
) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(axes.caption, (FONT, 18))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(axes.x, axes.y)?;
        chart
            .configure_mesh()
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
            .label_style((FONT, 12))
            .draw()?;
        series(&mut chart)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 13))
            .draw()?;
        root.present()?;
    }
    Ok(svg_element(svg))
}

/// The groups of the sizing points, in order of first appearance.
fn groups(s: &Sizing) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for p in &s.points {
        if !out.contains(&p.group.as_str()) {
            out.push(&p.group);
        }
    }
    out
}

/// Envoy CPU (cores) at each point against its achieved rps, one colour per group, with the
/// fitted line over the measured range. `None` without CPU figures.
pub fn cpu_fit(s: &Sizing) -> Result<Option<String>, ChartError> {
    let pts: Vec<(f64, f64, &str, bool)> = s
        .points
        .iter()
        .filter_map(|p| {
            p.envoy_cpu
                .map(|c| (p.achieved_rps, c, p.group.as_str(), p.in_fit))
        })
        .collect();
    if pts.is_empty() {
        return Ok(None);
    }
    let x_max = headroom(pts.iter().map(|p| p.0).fold(0.0, f64::max));
    let fit_top = s
        .fits
        .iter()
        .map(|f| f.intercept + f.slope * x_max)
        .fold(0.0, f64::max);
    let y_max = headroom(pts.iter().map(|p| p.1).fold(fit_top, f64::max));
    let axes = Axes {
        caption: "Envoy CPU against rps, with the least-squares fit",
        x: 0.0..x_max,
        y: 0.0..y_max,
        x_desc: "achieved requests per second",
        y_desc: "Envoy CPU (cores)",
    };
    let svg = draw(axes, |chart| {
        for (i, g) in groups(s).into_iter().enumerate() {
            let color = PALETTE[(i + 1) % PALETTE.len()];
            let mine = |fitted: bool| -> Vec<(f64, f64)> {
                pts.iter()
                    .filter(|p| p.2 == g && p.3 == fitted)
                    .map(|p| (p.0, p.1))
                    .collect()
            };
            chart
                .draw_series(
                    mine(true)
                        .into_iter()
                        .map(|p| Circle::new(p, 5, color.filled())),
                )?
                .label(format!("{} measured", clean(g, 30)))
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
            let out = mine(false);
            if !out.is_empty() {
                chart
                    .draw_series(
                        out.into_iter()
                            .map(|p| Circle::new(p, 5, color.stroke_width(2))),
                    )?
                    .label("saturated, not in the fit")
                    .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.stroke_width(2)));
            }
            if let Some(f) = s.fits.iter().find(|f| f.group == g) {
                let line = [(0.0, f.intercept), (x_max, f.intercept + f.slope * x_max)];
                chart
                    .draw_series(LineSeries::new(line, color.stroke_width(2)))?
                    .label(format!(
                        "fit: {:.3} vCPU per 1000 rps, R² {:.3}",
                        f.vcpu_per_krps, f.r_squared
                    ))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
        }
        Ok(())
    })?;
    Ok(Some(svg))
}

/// Latency Envoy added at p50, p90, p99 and p99.9 against the target rate. `None` when no
/// point has a baseline.
pub fn added_latency(s: &Sizing) -> Result<Option<String>, ChartError> {
    type Pick = fn(&crate::model::AddedLatency) -> f64;
    let stats: [(&str, Pick); 4] = [
        ("p50", |a| a.p50_ms),
        ("p90", |a| a.p90_ms),
        ("p99", |a| a.p99_ms),
        ("p99.9", |a| a.p999_ms),
    ];
    let with: Vec<(f64, crate::model::AddedLatency)> = s
        .points
        .iter()
        .filter_map(|p| p.added.map(|a| (p.target_rps, a)))
        .collect();
    if with.is_empty() {
        return Ok(None);
    }
    let all = with
        .iter()
        .flat_map(|(_, a)| stats.iter().map(move |(_, f)| f(a)));
    let (lo, hi) = all.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let y_lo = if lo < 0.0 { lo * 1.1 } else { 0.0 };
    let x_max = headroom(with.iter().map(|p| p.0).fold(0.0, f64::max));
    let axes = Axes {
        caption: "Latency added by Envoy (through Envoy minus direct)",
        x: 0.0..x_max,
        y: y_lo..headroom(hi),
        x_desc: "target requests per second",
        y_desc: "added latency (ms)",
    };
    let svg = draw(axes, |chart| {
        for (i, (name, f)) in stats.iter().enumerate() {
            let color = PALETTE[(i + 3) % PALETTE.len()];
            let line: Vec<(f64, f64)> = with.iter().map(|(x, a)| (*x, f(a))).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(format!("added {name}"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(line.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
        }
        Ok(())
    })?;
    Ok(Some(svg))
}

/// The rates a `find_max_rps` search tried: p99 against target rps, green where the SLO held,
/// red where it broke, grey where the client saturated, each numbered in walk order, with
/// the SLO's p99 ceiling and the knee marked.
pub fn find_max(f: &FindMax) -> Result<Option<String>, ChartError> {
    if f.walk.is_empty() {
        return Ok(None);
    }
    let x_max = headroom(f.walk.iter().map(|p| p.target_rps).fold(0.0, f64::max));
    let y_top = f
        .walk
        .iter()
        .map(|p| p.p99_ms)
        .fold(f.slo_p99_ms.unwrap_or(0.0), f64::max);
    let y_max = headroom(y_top);
    let (good, bad, client) = (
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(127, 127, 127),
    );
    let axes = Axes {
        caption: &format!("Max sustainable rate search ({})", clean(&f.slo, 60)),
        x: 0.0..x_max,
        y: 0.0..y_max,
        x_desc: "target requests per second",
        y_desc: "p99 through Envoy (ms)",
    };
    let svg = draw(axes, |chart| {
        if let Some(c) = f.slo_p99_ms {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, c), (x_max, c)],
                    bad.mix(0.6).stroke_width(1),
                ))?
                .label(format!("SLO p99 {c} ms"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], bad.mix(0.6)));
        }
        if let Some(k) = f.knee_rps {
            chart
                .draw_series(LineSeries::new(
                    [(k, 0.0), (k, y_max)],
                    EVENT.stroke_width(2),
                ))?
                .label(format!("knee {k:.0} rps"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], EVENT.stroke_width(2))
                });
        }
        for (label, color, keep) in [
            ("SLO met", good, 0u8),
            ("SLO broken", bad, 1),
            ("client-bound", client, 2),
        ] {
            let pts: Vec<(usize, f64, f64)> = f
                .walk
                .iter()
                .enumerate()
                .filter(|(_, p)| match keep {
                    0 => p.passed,
                    1 => !p.passed && p.verdict != "client_bound",
                    _ => !p.passed && p.verdict == "client_bound",
                })
                .map(|(i, p)| (i + 1, p.target_rps, p.p99_ms))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let font = (FONT, 12).into_font().color(&BLACK);
            chart
                .draw_series(pts.iter().map(|(i, x, y)| {
                    EmptyElement::at((*x, *y))
                        + Circle::new((0, 0), 6, color.filled())
                        + Text::new(format!("#{i}"), (6, -16), font.clone())
                }))?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 6, color.filled()));
        }
        Ok(())
    })?;
    Ok(Some(svg))
}

/// p99 through Envoy against the target rate, one line per CPU limit group: filled where the
/// point met the SLO, hollow where it did not, so the rate where each limit breaks shows.
/// `None` without per-limit figures.
pub fn p99_by_limit(s: &Sizing) -> Result<Option<String>, ChartError> {
    if s.limits.is_empty() {
        return Ok(None);
    }
    let pts: Vec<(f64, f64, &str, bool)> = s
        .points
        .iter()
        .filter(|p| s.limits.iter().any(|l| l.group == p.group))
        .map(|p| {
            (
                p.target_rps,
                p.p99_ms,
                p.group.as_str(),
                p.slo_met == Some(true),
            )
        })
        .collect();
    let x_max = headroom(pts.iter().map(|p| p.0).fold(0.0, f64::max));
    let y_max = headroom(pts.iter().map(|p| p.1).fold(0.0, f64::max));
    let axes = Axes {
        caption: "p99 against rate under each CPU limit",
        x: 0.0..x_max,
        y: 0.0..y_max,
        x_desc: "target requests per second",
        y_desc: "p99 through Envoy (ms)",
    };
    let svg = draw(axes, |chart| {
        for (i, l) in s.limits.iter().enumerate() {
            let color = PALETTE[(i + 1) % PALETTE.len()];
            let mut line: Vec<(f64, f64, bool)> = pts
                .iter()
                .filter(|p| p.2 == l.group)
                .map(|p| (p.0, p.1, p.3))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(
                    line.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))?
                .label(format!(
                    "{} ({}m)",
                    clean(&l.group, 30),
                    (l.cpu_limit * 1000.0).round()
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(line.iter().map(|&(x, y, met)| {
                let style = if met {
                    color.filled()
                } else {
                    color.stroke_width(2)
                };
                Circle::new((x, y), 5, style)
            }))?;
        }
        Ok(())
    })?;
    Ok(Some(svg))
}
