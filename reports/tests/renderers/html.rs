use gauntlet_reports::{html, RunStatus};

use crate::fixture::{self, NASTY};

/// Parses the page as XML (it is written XHTML-compatible); panics with the parser's
/// complaint if it is not well-formed.
fn parse(page: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(page, opts)
        .unwrap_or_else(|e| panic!("not well-formed: {e}\n{page}"))
}

/// All text of the document, joined.
fn all_text(doc: &roxmltree::Document) -> String {
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("")
}

#[test]
fn the_page_is_well_formed_and_holds_every_section() {
    let page = html::render(&fixture::run());
    let doc = parse(&page);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "html");
    let ids: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("section"))
        .filter_map(|n| n.attribute("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "steps",
            "gates",
            "resources",
            "charts",
            "events",
            "xds",
            "upstreams",
            "scenario"
        ]
    );
    // Spectrum; per step a timeline and a resources chart; the envoy step's counters.
    let svgs = doc.descendants().filter(|n| n.has_tag_name("svg")).count();
    assert_eq!(svgs, 6, "{page}");
    let text = all_text(&doc);
    for want in [
        "completed, 1 of 2 gates failed",
        "1.40.0 · concurrency 2 · managed",
        "added by Envoy",
        "+1.250",
        "2 (timeout 2)",
        "2 pushes, 1 ACKed, slowest ACK 7.2 ms, 1 NACKed.",
        "#0: 301 · #1: 302",
        "client-bound",
        "Latency by percentile",
        "99.9%",
        "Step envoy over time",
        "Envoy CPU",
        "Envoy counters during step envoy",
    ] {
        assert!(text.contains(want), "page lacks {want:?}:\n{text}");
    }
}

#[test]
fn every_user_string_is_escaped() {
    let page = html::render(&fixture::run());
    assert!(!page.to_ascii_lowercase().contains("<script"), "{page}");
    let doc = parse(&page);
    let text = all_text(&doc);
    // Name, host, gate, window, event, NACK message, upstream, stat name (in a chart legend),
    // saturation reason: each comes back intact as text, so each was escaped, not dropped.
    for want in [
        format!("canary {NASTY}"),
        format!("host {NASTY}"),
        format!("errors.rate < 1% {NASTY}"),
        format!("whole envoy step {NASTY}"),
        format!("shift {NASTY}"),
        format!("Proto constraint: {NASTY}"),
        format!("backend {NASTY}"),
        format!("late sends {NASTY}"),
    ] {
        assert!(text.contains(&want), "page lacks {want:?}");
    }
    let legend = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .any(|t| t.trim().starts_with("cluster.<script>"));
    assert!(legend, "the stat name is not in the counters legend");
    let title = doc
        .descendants()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(title.contains(NASTY), "{title}");
}

#[test]
fn the_page_needs_no_network() {
    for run in [
        fixture::run(),
        fixture::chaos_timeline(),
        crate::sizing::run(),
    ] {
        let page = html::render(&run);
        let doc = parse(&page);
        for node in doc.descendants().filter(|n| n.is_element()) {
            assert!(
                !["script", "link", "img", "iframe", "object", "embed"]
                    .contains(&node.tag_name().name()),
                "a <{}> element",
                node.tag_name().name()
            );
            // Namespace declarations are not attributes here; no attribute may name a URL.
            for a in node.attributes() {
                let v = a.value().trim().to_ascii_lowercase();
                assert!(
                    !v.contains("http://") && !v.contains("https://") && !v.starts_with("//"),
                    "{}={:?} on <{}>",
                    a.name(),
                    a.value(),
                    node.tag_name().name()
                );
                assert!(!["src", "href", "srcset", "action"].contains(&a.name()));
            }
        }
        let lower = page.to_ascii_lowercase();
        for banned in ["src=", "href=", "@import", "url(", "@font-face"] {
            assert!(!lower.contains(banned), "the page holds {banned}");
        }
    }
}

#[test]
fn control_characters_and_failed_runs_keep_the_page_well_formed() {
    let mut run = fixture::run();
    run.name = "a\u{0}b\u{7}c\u{1b}[31m\u{ffff}".into();
    run.status = RunStatus::Failed;
    run.error = Some("Envoy exited <1> \u{0}".into());
    run.steps[1].load.windows.clear();
    run.steps[1].load.latency = Default::default();
    let page = html::render(&run);
    let doc = parse(&page);
    let h1 = doc.descendants().find(|n| n.has_tag_name("h1")).unwrap();
    let h1_text: String = h1
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    assert!(
        h1_text.ends_with("a\\u{0}b\\u{7}c\\u{1b}[31m\\u{ffff}"),
        "{h1_text}"
    );
    assert!(all_text(&doc).contains("failed (partial results)"));
    assert!(all_text(&doc).contains("Envoy exited <1> \\u{0}"));
}

#[test]
fn an_empty_run_still_renders() {
    let mut run = fixture::run();
    run.steps.clear();
    run.events.clear();
    run.xds.clear();
    run.gates.clear();
    run.envoy = None;
    run.added_latency = None;
    let doc_text = html::render(&run);
    let doc = parse(&doc_text);
    assert!(all_text(&doc).contains("not started"));
}

#[test]
fn a_real_run_renders() {
    let page = html::render(&fixture::chaos_timeline());
    let doc = parse(&page);
    let text = all_text(&doc);
    for want in [
        "chaos-timeline",
        "endpoint-0-fails",
        "Envoy counters during step envoy",
        "cluster.backend.upstream_rq_retry",
        "Resources during step envoy",
    ] {
        assert!(text.contains(want), "page lacks {want:?}");
    }
}
