//! Envoy's and Gauntlet's CPU and memory over a step, from the stored `/proc` samples
//! (`steps[].resources`), on the same time axis as the step's timeline. When Envoy ran in a
//! container, its CPU limit, the share of CFS periods it was throttled in, and its working
//! set (from the cgroup) are drawn too.

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
    let throttled = pick(|s| s.envoy_throttled_share);
    if !throttled.is_empty() {
        cpu.push(line(
            "Envoy throttled (share of periods)",
            RGBColor(214, 39, 40),
            throttled,
        ));
        let working_set = pick(|s| s.envoy_working_set_mb);
        rss.push(line(
            "Envoy working set",
            RGBColor(148, 103, 189),
            working_set,
        ));
    }
    let limit = step
        .resource_summary
        .as_ref()
        .and_then(|s| s.envoy_cpu_limit);
    if let (Some(limit), Some(first), Some(last)) = (limit, samples.first(), samples.last()) {
        let points = vec![(first.t_s, limit), (last.t_s, limit)];
        let mut l = line("Envoy CPU limit", RGBColor(120, 120, 120), points);
        l.thin = true;
        cpu.push(l);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceSummary;

    #[test]
    fn a_container_step_shows_its_limit_throttling_and_working_set() {
        let sample = |t_s: f64, share: Option<f64>| ResourceSample {
            t_s,
            envoy_cpu: Some(0.1),
            envoy_rss_mb: Some(60.0),
            gauntlet_cpu: 0.2,
            gauntlet_rss_mb: 30.0,
            envoy_throttled_share: share,
            envoy_working_set_mb: share.map(|_| 17.0),
            ..Default::default()
        };
        let mut step = StepResult {
            name: "envoy".into(),
            resources: vec![sample(1.0, Some(0.9)), sample(2.0, Some(1.0))],
            resource_summary: Some(ResourceSummary {
                envoy_cpu_limit: Some(0.1),
                ..Default::default()
            }),
            ..Default::default()
        };
        let svg = resources(&step, &[]).unwrap().unwrap();
        for legend in ["Envoy throttled", "Envoy CPU limit", "Envoy working set"] {
            assert!(svg.contains(legend), "{legend} missing");
        }
        // A process has none of them.
        step.resources = vec![sample(1.0, None), sample(2.0, None)];
        step.resource_summary = None;
        let svg = resources(&step, &[]).unwrap().unwrap();
        assert!(!svg.contains("throttled") && !svg.contains("CPU limit"));
    }
}
