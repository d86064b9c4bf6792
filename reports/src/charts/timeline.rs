//! A step over time: achieved rps, p50/p99 latency and errors per 1-second window, with the
//! warmup shaded and every timeline event of the step drawn as a marked vertical line.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::RGBColor;

use super::{clean, headroom, svg_element, ChartError, EVENT, FONT, WIDTH};
use crate::model::{EventRecord, StepResult};

const PANEL: u32 = 210;
const TITLE: u32 = 34;
/// Room right of each panel for its legend.
const LEGEND: u32 = 300;

/// One line of a panel.
pub(crate) struct Line {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// A thin reference line (a target) rather than a measurement.
    pub thin: bool,
}

/// What every panel of a timeline shares: the x range, the warmup, the events.
pub(crate) struct Frame<'a> {
    pub x_end: f64,
    pub warmup_s: f64,
    pub events: &'a [&'a EventRecord],
}

impl<'a> Frame<'a> {
    /// The time axis of a step's charts: long enough for its windows, its events and any
    /// other sample times the chart draws.
    pub fn new(
        step: &StepResult,
        events: &'a [&'a EventRecord],
        sample_times: impl Iterator<Item = f64>,
    ) -> Self {
        let x_end = step
            .load
            .windows
            .iter()
            .map(|w| w.t_s + 1.0)
            .chain(sample_times)
            .chain(events.iter().map(|e| e.applied_s + 0.5))
            .fold(step.load.warmup_s.max(1.0), f64::max);
        Frame {
            x_end,
            warmup_s: step.load.warmup_s,
            events,
        }
    }
}

/// Draws the step's windows as three stacked panels sharing the time axis (seconds from the
/// step's start, warmup included, the clock events are recorded on). Each window is plotted
/// at its middle, `t_s + 0.5`.
pub fn timeline(step: &StepResult, events: &[&EventRecord]) -> Result<String, ChartError> {
    let w = &step.load.windows;
    let mid = |t: f64| t + 0.5;
    let frame = Frame::new(step, events, std::iter::empty());
    let x_end = frame.x_end;
    let mut rps = Vec::new();
    if let Some(target) = step.load.target_rps {
        let mut t = line(
            "target",
            RGBColor(150, 150, 150),
            vec![(0.0, target), (x_end, target)],
        );
        t.thin = true;
        rps.push(t);
    }
    rps.push(line(
        "achieved rps",
        RGBColor(31, 119, 180),
        w.iter().map(|w| (mid(w.t_s), w.rps)).collect(),
    ));
    let latency = vec![
        line(
            "p50",
            RGBColor(44, 160, 44),
            w.iter().map(|w| (mid(w.t_s), w.p50_ms)).collect(),
        ),
        line(
            "p99",
            RGBColor(230, 110, 20),
            w.iter().map(|w| (mid(w.t_s), w.p99_ms)).collect(),
        ),
    ];
    let mut errors = vec![line(
        "errors (failures + 5xx)",
        RGBColor(214, 39, 40),
        w.iter().map(|w| (mid(w.t_s), w.errors as f64)).collect(),
    )];
    if w.iter().any(|w| w.failures > 0) {
        errors.push(line(
            "failures",
            RGBColor(90, 90, 90),
            w.iter().map(|w| (mid(w.t_s), w.failures as f64)).collect(),
        ));
    }

    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, TITLE + 3 * PANEL + 30)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!("Step {} over time", clean(&step.name, 60));
        let body = root.titled(&title, (FONT, 18))?;
        let (top, rest) = body.split_vertically(PANEL);
        let (middle, bottom) = rest.split_vertically(PANEL);
        panel(&top, &frame, "requests / s", &rps, true, false)?;
        panel(&middle, &frame, "latency (ms)", &latency, false, false)?;
        panel(&bottom, &frame, "errors / s", &errors, false, true)?;
        root.present()?;
    }
    Ok(svg_element(svg))
}

fn line(name: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Line {
    Line {
        name: name.to_string(),
        color,
        points,
        thin: false,
    }
}

/// One panel: warmup band, event lines (labelled when `labels`), the lines and a legend.
pub(crate) fn panel(
    area: &DrawingArea<SVGBackend, Shift>,
    frame: &Frame,
    y_desc: &str,
    lines: &[Line],
    labels: bool,
    x_axis: bool,
) -> Result<(), ChartError> {
    let y_max = headroom(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let top = if labels { 24 } else { 6 };
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(LEGEND)
        .margin_top(top)
        .x_label_area_size(if x_axis { 40 } else { 22 })
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..frame.x_end, 0.0..y_max)?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(y_desc)
        .label_style((FONT, 12))
        .x_label_formatter(&|x| format!("{x}s"))
        .light_line_style(WHITE.mix(0.0));
    if x_axis {
        mesh.x_desc("seconds from the step's start");
    }
    mesh.draw()?;

    // The legend goes in the right margin, beside the plot, where it hides no data.
    let mut legend: Vec<(String, ShapeStyle, bool)> = Vec::new();
    if frame.warmup_s > 0.0 {
        let band = RGBColor(200, 200, 200).mix(0.35).filled();
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (frame.warmup_s, y_max)],
            band,
        )))?;
        legend.push(("warmup".to_string(), band, true));
    }
    for (i, e) in frame.events.iter().enumerate() {
        let x = e.applied_s;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, y_max)],
            EVENT.stroke_width(2),
        )))?;
        if labels {
            // Stagger the labels over three rows so events close in time stay readable.
            let row = (i % 3) as f64;
            let style = (FONT, 13).into_font().color(&EVENT);
            chart.draw_series(std::iter::once(Text::new(
                format!("▼ {}", clean(&e.label, 32)),
                (x, y_max * (1.0 - 0.1 * row)),
                style,
            )))?;
        }
    }
    for l in lines {
        let style = l.color.stroke_width(2);
        let style = if l.thin {
            l.color.stroke_width(1)
        } else {
            style
        };
        chart.draw_series(LineSeries::new(l.points.iter().copied(), style))?;
        legend.push((clean(&l.name, 50), style, false));
    }
    let (width, _) = area.dim_in_pixel();
    let x0 = width as i32 - LEGEND as i32 + 14;
    let font = (FONT, 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, style, band)) in legend.into_iter().enumerate() {
        let y = top + 8 + 17 * i as i32;
        if band {
            area.draw(&Rectangle::new([(x0, y - 6), (x0 + 22, y + 6)], style))?;
        } else {
            area.draw(&PathElement::new(vec![(x0, y), (x0 + 22, y)], style))?;
        }
        area.draw(&Text::new(label, (x0 + 30, y), font.clone()))?;
    }
    Ok(())
}
