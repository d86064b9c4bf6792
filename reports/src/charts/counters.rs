//! Envoy's resilience counters over a step, from the stat samples the run stored
//! (`steps[].envoy_series`), drawn as the cumulative values Envoy reported.

use std::collections::BTreeSet;

use plotters::prelude::*;

use super::timeline::{panel, Frame, Line};
use super::{clean, svg_element, ChartError, FONT, PALETTE, WIDTH};
use crate::model::{EventRecord, StepResult};

/// Counter names (suffixes) worth a line when they moved during the step: the ones that show
/// a resilience policy at work.
const WATCHED: [&str; 14] = [
    "upstream_rq_retry",
    "upstream_rq_retry_overflow",
    "upstream_rq_retry_success",
    "upstream_rq_timeout",
    "upstream_rq_per_try_timeout",
    "upstream_rq_pending_overflow",
    "upstream_cx_overflow",
    "upstream_cx_connect_fail",
    "upstream_rq_5xx",
    "upstream_rq_rx_reset",
    "outlier_detection.ejections_enforced_total",
    "fault.aborts_injected",
    "fault.delays_injected",
    "rate_limited",
];

/// At most this many lines, so the legend stays readable.
const MAX_LINES: usize = 8;

/// Draws the watched counters that changed between the step's first and last sample;
/// `None` when the step has no samples or none of them moved.
pub fn counters(step: &StepResult, events: &[&EventRecord]) -> Result<Option<String>, ChartError> {
    let series = &step.envoy_series;
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        return Ok(None);
    };
    let names: BTreeSet<&String> = last
        .stats
        .iter()
        .filter(|(name, v)| {
            WATCHED.iter().any(|w| name.ends_with(w)) && first.stats.get(*name) != Some(*v)
        })
        .map(|(name, _)| name)
        .take(MAX_LINES)
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let lines: Vec<Line> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Line {
            name: (*name).clone(),
            color: PALETTE[i % PALETTE.len()],
            points: series
                .iter()
                .filter_map(|s| s.stats.get(*name).map(|v| (s.t_s, *v as f64)))
                .collect(),
            thin: false,
        })
        .collect();
    let frame = Frame::new(step, events, series.iter().map(|s| s.t_s));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 330)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!(
            "Envoy counters during step {} (cumulative, as sampled)",
            clean(&step.name, 60)
        );
        let body = root.titled(&title, (FONT, 18))?;
        panel(&body, &frame, "count", &lines, true, true)?;
        root.present()?;
    }
    Ok(Some(svg_element(svg)))
}
