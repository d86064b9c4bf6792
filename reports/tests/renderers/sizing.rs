//! The sizing sections in every text renderer: sweep table, fit, capacity plan with Istio
//! annotations, and the find_max walk; the HTML page stays self-contained and well-formed.

use gauntlet_reports::sizing::{
    CapacityPlan, CpuFit, FindMax, FindMaxProbe, LimitSummary, Sizing, SizingPoint,
};
use gauntlet_reports::{html, json, markdown, terminal, AddedLatency, RunResult};

use crate::fixture::{self, NASTY};

/// The fixture run with a five-point sweep, a fit, a plan and a find_max walk.
pub fn run() -> RunResult {
    let mut run = fixture::run();
    let points = [250.0, 500.0, 1000.0, 2000.0, 4000.0]
        .iter()
        .map(|&rps| SizingPoint {
            step: format!("envoy@{rps:.0}rps"),
            baseline_step: Some(format!("baseline@{rps:.0}rps")),
            group: format!("c16 b0 {NASTY}"),
            target_rps: rps,
            achieved_rps: rps * 0.998,
            connections: 16,
            body_bytes: 0,
            envoy_cpu: Some(0.02 + 0.00035 * rps),
            cpu_samples: 3,
            cpu_per_krps: Some((0.02 + 0.00035 * rps) / rps * 1000.0),
            rss_max_mb: Some(40.0 + rps / 1000.0),
            allocated_max_mb: Some(12.0),
            heap_max_mb: Some(16.0),
            added: Some(AddedLatency {
                p50_ms: 0.1 + rps / 1e5,
                p90_ms: 0.15 + rps / 1e5,
                p99_ms: 0.3 + rps / 5e4,
                p999_ms: 0.9,
            }),
            p99_ms: 1.4,
            error_rate: 0.0,
            client_bound: rps >= 4000.0,
            in_fit: rps < 4000.0,
            ..SizingPoint::default()
        })
        .collect();
    let probe = |rps: f64, passed: bool, client_bound: bool| FindMaxProbe {
        step: format!("envoy@{rps:.0}rps"),
        target_rps: rps,
        achieved_rps: rps,
        p99_ms: if passed { 41.0 } else { 44.0 },
        error_rate: if passed { 0.0 } else { 0.2 },
        passed,
        verdict: match (passed, client_bound) {
            (true, _) => "met",
            (false, true) => "client_bound",
            (false, false) => "broken",
        }
        .into(),
        client_bound,
        reason: if passed {
            String::new()
        } else {
            format!("errors 20% > 1% {NASTY}")
        },
    };
    run.sizing = Some(Sizing {
        points,
        fits: vec![CpuFit {
            group: format!("c16 b0 {NASTY}"),
            points: 5,
            intercept: 0.02,
            slope: 0.00035,
            slope_stderr: Some(0.000_002),
            r_squared: 0.998,
            vcpu_per_krps: 0.35,
            rps_min: 249.5,
            rps_max: 3992.0,
        }],
        memory_max_mb: Some(44.0),
        capacity: Some(CapacityPlan {
            target_rps: 20_000.0,
            cpu_limit: 0.5,
            headroom: 0.3,
            group: "c16 b0".into(),
            rps_per_replica: Some(942.9),
            replicas: Some(22),
            cpu_request: Some(0.338),
            memory_request_mib: Some(44),
            memory_limit_mib: Some(63),
            annotations: vec![
                ("sidecar.istio.io/proxyCPU".into(), "339m".into()),
                ("sidecar.istio.io/proxyCPULimit".into(), "500m".into()),
                ("sidecar.istio.io/proxyMemory".into(), "44Mi".into()),
                ("sidecar.istio.io/proxyMemoryLimit".into(), "63Mi".into()),
            ],
            reason: None,
            ..CapacityPlan::default()
        }),
        find_max: Some(FindMax {
            slo: "p99 < 100 ms, errors < 1%".into(),
            slo_p99_ms: Some(100.0),
            slo_error_rate: Some(0.01),
            knee_rps: Some(496.0),
            stopped: "converged".into(),
            detail: "max sustainable rate 496 rps".into(),
            walk: vec![
                probe(100.0, true, false),
                probe(200.0, true, false),
                probe(400.0, true, false),
                probe(800.0, false, false),
                probe(600.0, false, true),
                probe(496.0, true, false),
            ],
        }),
        notes: vec![format!("a note {NASTY}")],
        ..Sizing::default()
    });
    run
}

fn parse(page: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(page, opts)
        .unwrap_or_else(|e| panic!("not well-formed: {e}"))
}

/// The page's sizing section and how many charts it holds.
fn sizing_section<'a, 'i>(doc: &'a roxmltree::Document<'i>) -> (roxmltree::Node<'a, 'i>, usize) {
    let section = doc
        .descendants()
        .find(|n| n.has_tag_name("section") && n.attribute("id") == Some("sizing"))
        .expect("a sizing section");
    let svgs = section
        .descendants()
        .filter(|n| n.has_tag_name("svg"))
        .count();
    (section, svgs)
}

#[test]
fn the_sizing_section_is_well_formed_self_contained_and_complete() {
    let page = html::render(&run());
    // Well-formed: an XML parser reads it, so every tag is balanced.
    let doc = parse(&page);
    let (section, svgs) = sizing_section(&doc);
    assert_eq!(svgs, 3, "CPU fit, added latency, find_max walk");
    let text: String = section
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    for want in [
        "envoy@2000rps",
        "0.350 ± 0.002 vCPU per 1000 rps (R² 0.998",
        "Envoy CPU against rps",
        "fit: 0.350 vCPU per 1000 rps",
        "Latency added by Envoy",
        "added p99.9",
        "22 replica(s)",
        "sidecar.istio.io/proxyCPU: \"339m\"",
        "sidecar.istio.io/proxyMemoryLimit: \"63Mi\"",
        "max sustainable rate (p99 < 100 ms, errors < 1%): 496 rps",
        "knee 496 rps",
        "client-bound",
        &format!("a note {NASTY}"),
        &format!("c16 b0 {NASTY}"),
    ] {
        assert!(text.contains(want), "the section lacks {want:?}:\n{text}");
    }
    // Self-contained: no scripts, and no http(s) reference anywhere but the XML namespace
    // declarations, which name a namespace and are never fetched.
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("<script"));
    let without_ns = lower
        .replace("xmlns=\"http://www.w3.org/1999/xhtml\"", "")
        .replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !without_ns.contains("http://") && !without_ns.contains("https://"),
        "a URL in the page"
    );
}

#[test]
fn terminal_and_markdown_show_the_same_figures() {
    let r = run();
    let md = markdown::render(&r);
    let term = terminal::render(&r);
    for out in [&md, &term] {
        for want in [
            "envoy@4000rps (client-bound, not in fit)",
            "0.350 ± 0.002 vCPU per 1000 rps",
            "Envoy memory: 44.0 MB RSS at most",
            "22 replica(s) at up to 943 rps each",
            "sidecar.istio.io/proxyCPULimit: \"500m\"",
            "496 rps",
        ] {
            assert!(out.contains(want), "lacks {want:?}:\n{out}");
        }
    }
    assert!(md.contains("### Sizing") && md.contains("```yaml\nannotations:"));
    // Markdown escapes user strings in tables.
    assert!(!md.contains("<script>"), "{md}");
}

#[test]
fn json_keeps_every_sizing_figure() {
    let r = run();
    let text = json::render(&r);
    let back: RunResult = serde_json::from_str(&text).unwrap();
    let (a, b) = (r.sizing.unwrap(), back.sizing.unwrap());
    assert_eq!(a.points.len(), b.points.len());
    assert_eq!(b.capacity.unwrap().annotations.len(), 4);
    assert_eq!(b.find_max.unwrap().walk.len(), 6);
    assert_eq!(
        serde_json::to_value(&a.fits).unwrap(),
        serde_json::to_value(&b.fits).unwrap()
    );
}

/// The fixture with a sweep over two CPU limits: the per-limit table and the suggested limit.
fn limits_run() -> RunResult {
    let mut r = run();
    let s = r.sizing.as_mut().unwrap();
    s.slo = Some("capacity.slo (p99 < 10 ms), and at least 90% of the rate achieved".into());
    s.limits = vec![
        LimitSummary {
            cpu_limit: 0.25,
            group: "c16 b0 cpu0.25".into(),
            points: 3,
            max_rps_within_slo: Some(500.0),
            broke_at_rps: Some(1000.0),
            broke_because: format!("p99 41.000 ms > 10 ms {NASTY}"),
            throttled_from_rps: Some(1000.0),
            throttle_measured: true,
            vcpu_per_krps: Some(0.21),
        },
        LimitSummary {
            cpu_limit: 1.0,
            group: "c16 b0 cpu1".into(),
            points: 3,
            max_rps_within_slo: Some(2000.0),
            throttle_measured: true,
            vcpu_per_krps: Some(0.2),
            ..LimitSummary::default()
        },
    ];
    let plan = s.capacity.as_mut().unwrap();
    plan.suggested_cpu_limit = Some(1.0);
    plan.cpu_limit_reason =
        Some("1000m is the smallest swept CPU limit that carries 943 rps".into());
    plan.annotations[1].1 = "1000m".into();
    r
}

#[test]
fn per_limit_figures_and_the_suggested_limit_show_everywhere() {
    let r = limits_run();
    let md = markdown::render(&r);
    let term = terminal::render(&r);
    let page = html::render(&r);
    let doc = parse(&page);
    let html_text: String = doc
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    for out in [&md, &term, &html_text] {
        for want in [
            "max rps within SLO",
            "throttled from rps",
            "0.250 (250m)",
            "1.000 (1000m)",
            "c16 b0 cpu0.25",
            "a point meets the SLO when capacity.slo (p99",
            "suggested CPU limit 1.000 cores: 1000m is the smallest swept CPU limit",
            "sidecar.istio.io/proxyCPULimit: \"1000m\"",
            "c16 b0 cpu0.25: the SLO broke at 1000 rps: p99 41.000 ms",
        ] {
            assert!(out.contains(want), "lacks {want:?}:\n{out}");
        }
    }
    // The 0.25 row: the SLO held to 500 rps, broke at 1000, throttled from 1000.
    let row = term
        .lines()
        .find(|l| l.starts_with("0.250 (250m)"))
        .expect("a row for 250m");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[2..9],
        ["c16", "b0", "cpu0.25", "500", "1000", "1000", "0.210"]
    );
    assert!(md.contains("### Per CPU limit"), "{md}");
    let (_, svgs) = sizing_section(&doc);
    assert_eq!(
        svgs, 4,
        "CPU fit, added latency, p99 per limit, find_max walk"
    );
    assert!(html_text.contains("p99 against rate under each CPU limit"));
    assert!(!md.contains("<script>"), "{md}");
    // A run without limits shows no such table.
    assert!(!terminal::render(&run()).contains("per CPU limit"));
}
