//! The latency percentile spectrum, HdrHistogram-style: x is the percentile on a log scale of
//! 1/(1−p), so 90%, 99%, 99.9% sit one decade apart and the tail gets the room it deserves.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{clean, headroom, step_color, svg_element, ChartError, FONT, WIDTH};
use crate::model::{Percentiles, StepResult};

const HEIGHT: u32 = 420;

/// A line's points, (x, y) in chart units.
type Points = Vec<(f64, f64)>;

/// Draws every step's stored percentiles (p50, p90, p99, p99.9 and the maximum) on one chart,
/// one line per step with a legend. Steps that measured nothing are left out.
///
/// The maximum has no percentile of its own; it is drawn where HdrHistogram's plots put it,
/// at the rank of the last sample (x = log10(count)), and never left of p99.9.
pub fn spectrum(steps: &[StepResult]) -> Result<String, ChartError> {
    let lines: Vec<(usize, &StepResult, Points)> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.load.latency.count > 0)
        .map(|(i, s)| (i, s, points(&s.load.latency)))
        .collect();
    let x_max = lines
        .iter()
        .flat_map(|(_, _, pts)| pts.iter().map(|p| p.0))
        .fold(4.0_f64, f64::max)
        .ceil();
    let y_max = headroom(
        lines
            .iter()
            .flat_map(|(_, _, pts)| pts.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let mut ticks = vec![2f64.log10()];
    ticks.extend((1..=x_max as u32).map(f64::from));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Latency by percentile (from intended send time)",
                (FONT, 18),
            )
            .margin(12)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max + 0.25, 0.0..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .y_label_formatter(&|y| format!("{y}"))
            .label_style((FONT, 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        // The percentile ticks are placed by hand: plotters' key-point ranges do not take a
        // label formatter.
        let grid = BLACK.mix(0.15);
        let tick_font = (FONT, 13)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for x in ticks {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, y_max)],
                grid,
            )))?;
            let (px, py) = chart.backend_coord(&(x, 0.0));
            root.draw(&Text::new(
                percentile_label(x),
                (px, py + 6),
                tick_font.clone(),
            ))?;
        }
        if lines.is_empty() {
            let style = (FONT, 16).into_font().color(&BLACK);
            chart.draw_series(std::iter::once(Text::new(
                "no latency measured",
                (x_max / 2.5, y_max / 2.0),
                style,
            )))?;
        }
        for (i, step, pts) in &lines {
            let color = step_color(&step.name, *i);
            let label = clean(&step.name, 40);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            )?;
        }
        if !lines.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg_element(svg))
}

/// The points of one step: (log10(1/(1−p)), ms).
fn points(p: &Percentiles) -> Points {
    let max_x = (p.count as f64).log10().max(3.0);
    vec![
        (2f64.log10(), p.p50_ms),
        (1.0, p.p90_ms),
        (2.0, p.p99_ms),
        (3.0, p.p999_ms),
        (max_x, p.max_ms),
    ]
}

/// `50%` at log10(2), then `90%`, `99%`, `99.9%`, … at the whole decades.
fn percentile_label(x: f64) -> String {
    if (x - 2f64.log10()).abs() < 1e-6 {
        return "50%".to_string();
    }
    let nines = x.round() as usize;
    if nines == 0 || (x - x.round()).abs() > 1e-6 {
        return String::new();
    }
    match nines {
        1 => "90%".to_string(),
        n => format!("99.{}%", "9".repeat(n - 2)).replace("99.%", "99%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_at_decades() {
        let labels: Vec<String> = [2f64.log10(), 1.0, 2.0, 3.0, 4.0, 5.0, 2.5]
            .iter()
            .map(|x| percentile_label(*x))
            .collect();
        assert_eq!(
            labels,
            ["50%", "90%", "99%", "99.9%", "99.99%", "99.999%", ""]
        );
    }
}
