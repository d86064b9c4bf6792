//! The compare renderers on a hand-built `CompareResult`: every format shows the stored
//! figures, the HTML page is self-contained and well-formed, JUnit has one case per check.

use chrono::{TimeZone, Utc};
use gauntlet_reports::compare::{
    self, Better, Check, CompareResult, CompareStatus, Figure, FigureVerdict, Interval, Method,
    RunRef, SampleKind, Side, COMPARE_SCHEMA,
};
use gauntlet_reports::Format;

fn figure(key: &str, verdict: FigureVerdict, relative: Option<f64>) -> Figure {
    Figure {
        key: key.to_string(),
        label: format!("{key} <&> label"),
        unit: "ms".to_string(),
        better: Better::Lower,
        baseline: vec![1.0, 1.1, 0.9],
        candidate: vec![1.3, 1.4, 1.2],
        baseline_median: Some(1.0),
        candidate_median: Some(1.3),
        change: Some(0.3),
        change_ci: Some(Interval {
            low: 0.1,
            high: 0.5,
        }),
        reference: relative.map(|_| 1.0),
        relative,
        relative_ci: relative.map(|_| Interval {
            low: 0.1,
            high: 0.5,
        }),
        method: Method::Bootstrap,
        confidence: Some(0.95),
        min_change: 0.05,
        verdict,
        reason: "because".to_string(),
    }
}

fn sample() -> CompareResult {
    let side = |role: &str, v: &str| Side {
        role: role.to_string(),
        label: format!("envoy {v}"),
        envoy_version: Some(v.to_string()),
        binary: Some("/x/envoy".to_string()),
        runs: vec![RunRef {
            dir: format!("{role}-1"),
            status: "completed".to_string(),
            excluded: None,
        }],
    };
    CompareResult {
        schema: COMPARE_SCHEMA.to_string(),
        gauntlet_version: "0.1.0".to_string(),
        name: "bench|<mark>".to_string(),
        status: CompareStatus::Completed,
        error: None,
        started_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        finished_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 5, 5).unwrap(),
        machine: Default::default(),
        samples: SampleKind::Runs,
        confidence: 0.95,
        min_effect: 0.05,
        baseline: side("baseline", "1.39.3"),
        candidate: side("candidate", "1.40.0"),
        notes: vec!["a note".to_string()],
        figures: vec![
            figure("latency.p99", FigureVerdict::Regression, Some(0.3)),
            figure("error_rate", FigureVerdict::NoSignificantChange, None),
        ],
        checks: vec![
            Check {
                expr: "latency.p99 > +10%".to_string(),
                figure: "latency.p99".to_string(),
                passed: false,
                detail: "latency p99 changed +30%".to_string(),
            },
            Check {
                expr: "error_rate > +0.5%".to_string(),
                figure: "error_rate".to_string(),
                passed: true,
                detail: "within".to_string(),
            },
        ],
    }
}

#[test]
fn terminal_and_markdown_show_the_stored_figures() {
    let c = sample();
    let t = compare::render(Format::Terminal, &c).unwrap();
    assert!(t.contains("+30.0% (+0.300 ms)"), "{t}");
    assert!(t.contains("[+10.0%, +50.0%] @95%"), "{t}");
    assert!(
        t.contains("regression") && t.contains("no significant change"),
        "{t}"
    );
    assert!(t.contains("FAIL latency.p99 > +10%"), "{t}");
    let md = compare::render(Format::Markdown, &c).unwrap();
    assert!(
        md.contains("1 regression(s), 1 of 2 check(s) failed"),
        "{md}"
    );
    assert!(!md.contains("bench|<mark>"), "the name is escaped: {md}");
}

#[test]
fn html_is_self_contained_and_well_formed() {
    let html = compare::render(Format::Html, &sample()).unwrap();
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, opts).expect("well-formed XHTML");
    assert!(
        doc.descendants().any(|n| n.has_tag_name("svg")),
        "has the chart"
    );
    for n in doc.descendants() {
        for a in n.attributes() {
            let external = a.value().starts_with("http") && a.name() != "xmlns";
            assert!(
                !external || a.value().contains("www.w3.org"),
                "external {a:?}"
            );
        }
        assert!(!n.has_tag_name("script") && !n.has_tag_name("link"));
    }
    assert!(
        html.contains("Not plotted"),
        "error rate has no relative change"
    );
}

#[test]
fn junit_has_a_case_per_check() {
    let xml = compare::render(Format::Junit, &sample()).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].attribute("name"), Some("latency.p99 > +10%"));
    assert!(cases[0].children().any(|n| n.has_tag_name("failure")));
    assert!(!cases[1].children().any(|n| n.has_tag_name("failure")));
}

#[test]
fn json_round_trips_and_single_run_formats_are_refused() {
    let c = sample();
    let dir = std::env::temp_dir().join(format!("gauntlet-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("compare.json");
    compare::write(&c, &path).unwrap();
    let back = compare::read(&path).unwrap();
    assert_eq!(back.figures.len(), 2);
    assert_eq!(back.figure("latency.p99").unwrap().relative, Some(0.3));
    assert!(compare::render(Format::Fortio, &c).is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
