//! SVG charts for the HTML page, drawn with plotters' SVG backend into a `String`.
//!
//! Charts plot the model's figures as they are: the latency spectrum uses each step's stored
//! percentiles, the timeline the stored 1-second windows, the resources chart the stored
//! CPU/RSS samples, the counters chart the stored Envoy stat samples. Nothing here merges
//! histograms or derives a statistic; the only arithmetic is placing points on axes.
//!
//! Text handed to plotters is escaped by its SVG backend; `clean` additionally drops control
//! characters, which XML cannot carry at all.

mod counters;
mod resources;
pub mod sizing;
mod spectrum;
mod timeline;

pub use counters::counters;
pub use resources::resources;
pub use spectrum::spectrum;
pub use timeline::timeline;

use plotters::prelude::*;
use plotters::style::RGBColor;

/// Why a chart could not be drawn (plotters' own error, as text).
#[derive(Debug, thiserror::Error)]
#[error("chart could not be drawn: {0}")]
pub struct ChartError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError(e.to_string())
    }
}

/// Width of every chart, in SVG user units; the page scales them to its column.
pub(crate) const WIDTH: u32 = 1100;

/// The font every chart uses; SVG text, so the viewer's sans-serif renders it.
pub(crate) const FONT: &str = "sans-serif";

/// A step's colour: `baseline` and `envoy` keep theirs on every chart, other steps take
/// the rest of the palette in order.
pub(crate) fn step_color(name: &str, index: usize) -> RGBColor {
    match name {
        "baseline" => RGBColor(31, 119, 180),
        "envoy" => RGBColor(230, 110, 20),
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// Colours for series that are not steps (counters, extra steps).
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
    RGBColor(214, 39, 40),
];

/// Grey for events and annotations.
pub(crate) const EVENT: RGBColor = RGBColor(120, 60, 160);

/// A label safe for SVG text: control characters (which XML cannot carry) dropped, and long
/// labels shortened so they do not run across the chart.
pub(crate) fn clean(s: &str, max_chars: usize) -> String {
    let kept: String = s.chars().filter(|c| !c.is_control()).collect();
    if kept.chars().count() <= max_chars {
        kept
    } else {
        let mut short: String = kept.chars().take(max_chars.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// An upper bound for a y axis that leaves headroom above `max` and is never empty.
pub(crate) fn headroom(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// Strips what plotters writes before the `<svg` element, so the chart embeds in a page.
pub(crate) fn svg_element(raw: String) -> String {
    match raw.find("<svg") {
        Some(0) | None => raw,
        Some(i) => raw[i..].to_string(),
    }
}
