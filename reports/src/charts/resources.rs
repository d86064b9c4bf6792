//! Envoy's and Gauntlet's CPU and memory over a step, from the stored `/proc` samples
//! (`steps[].resources`), on the same time axis as the step's timeline.

use plotters::prelude::*;
use plotters::style::RGBColor;

use super::timeline::{panel, Frame, Line};
use super::{clean, svg_element, ChartError, FONT, WIDTH};
use crate::model::{EventRecord, ResourceSample, StepResult};

const PANEL: u32 = 190;

/// Draws CPU (cores) and RSS (MB) of Envoy (when it ran in the step) and of Gauntlet; `None`
/// when the step has no samples.
pub fn resources(step: &StepResult, events: &[&EventRecord]) -> Result<Option<String>, ChartError> {
    let samples = &step.resources;
    if samples.is_empty() {
        return Ok(None);
    }
    let envoy = RGBColor(230, 110, 20);
    let gauntlet = RGBColor(31, 119, 180);
    let pick = |f: fn(&ResourceSample) -> Option<f64>| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter_map(|s| f(s).map(|v| (s.t_s, v)))
            .collect()
    };
    let mut cpu = Vec::new();
    let mut rss = Vec::new();
    let envoy_cpu = pick(|s| s.envoy_cpu);
    if !envoy_cpu.is_empty() {
        cpu.push(line("Envoy CPU", envoy, envoy_cpu));
        rss.push(line("Envoy RSS", envoy, pick(|s| s.envoy_rss_mb)));
    }
    cpu.push(line(
        "Gauntlet CPU",
        gauntlet,
        pick(|s| Some(s.gauntlet_cpu)),
    ));
    rss.push(line(
        "Gauntlet RSS",
        gauntlet,
        pick(|s| Some(s.gauntlet_rss_mb)),
    ));
    let frame = Frame::new(step, events, samples.iter().map(|s| s.t_s));

    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, 34 + 2 * PANEL + 30)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!("Resources during step {}", clean(&step.name, 60));
        let body = root.titled(&title, (FONT, 18))?;
        let (top, bottom) = body.split_vertically(PANEL);
        panel(&top, &frame, "CPU (cores)", &cpu, true, false)?;
        panel(&bottom, &frame, "RSS (MB)", &rss, false, true)?;
        root.present()?;
    }
    Ok(Some(svg_element(svg)))
}

fn line(name: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Line {
    Line {
        name: name.to_string(),
        color,
        points,
        thin: false,
    }
}
