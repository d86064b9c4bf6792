//! gRPC statuses show in every renderer when a step carries them, and only then.

use std::collections::BTreeMap;

use gauntlet_reports::{html, markdown, terminal, RunResult};

use crate::fixture;

/// The fixture with its last step turned into a gRPC step: 90 calls ended OK, 10
/// UNAVAILABLE, and the mock answered 14 UNAVAILABLE (some retried by Envoy).
fn grpc_run() -> RunResult {
    let mut r = fixture::run();
    let step = r.steps.last_mut().unwrap();
    step.load.protocol = "grpc".into();
    step.load.statuses = BTreeMap::new();
    step.load.failures = BTreeMap::new();
    step.load.responses = 100;
    step.load.grpc_statuses = BTreeMap::from([("OK".into(), 90), ("UNAVAILABLE".into(), 10)]);
    for m in step.mocks.values_mut() {
        m.grpc_statuses = BTreeMap::from([("OK".into(), 90), ("UNAVAILABLE".into(), 14)]);
    }
    r
}

#[test]
fn grpc_statuses_are_shown_when_present() {
    let r = grpc_run();
    let text = terminal::render(&r);
    assert!(
        text.contains("grpc statuses (envoy): OK: 90, UNAVAILABLE: 10"),
        "{text}"
    );
    assert!(text.contains("UNAVAILABLE:14"), "mock line: {text}");
    let md = markdown::render(&r);
    assert!(
        md.contains("| 90 | 10 (UNAVAILABLE: 10) |"),
        "OK counts as 2xx:\n{md}"
    );
    assert!(md.contains("gRPC OK: 90, UNAVAILABLE: 14"), "{md}");
    let page = html::render(&r);
    assert!(page.contains("10 (UNAVAILABLE: 10)"), "steps table");
    assert!(
        page.contains("gRPC OK: 90, UNAVAILABLE: 14"),
        "upstreams table"
    );
}

#[test]
fn http_runs_show_no_grpc() {
    let r = fixture::run();
    for out in [terminal::render(&r), markdown::render(&r), html::render(&r)] {
        assert!(!out.contains("gRPC") && !out.contains("grpc statuses"));
    }
}
