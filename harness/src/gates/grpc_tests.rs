//! `grpc.<code>.rate|count`: parsed by name or number, measured from the step's
//! `grpc_statuses` (whole step) or the windows' statuses keyed by name, and unmeasurable on
//! a step of HTTP requests.

use std::collections::BTreeMap;

use chrono::Utc;
use gauntlet_reports::{LoadSummary, RunResult, StepResult, Window};

use super::*;

fn run(steps: Vec<StepResult>) -> RunResult {
    RunResult {
        steps,
        ..RunResult::started("grpc", "benchmark", Utc::now())
    }
}

fn window(t_s: f64, warmup: bool, ok: u64, unavailable: u64) -> Window {
    Window {
        t_s,
        warmup,
        requests: ok + unavailable,
        responses: ok + unavailable,
        statuses: BTreeMap::from([("OK".into(), ok), ("UNAVAILABLE".into(), unavailable)]),
        errors: unavailable,
        rps: (ok + unavailable) as f64,
        ..Window::default()
    }
}

/// 970 calls OK, 27 UNAVAILABLE, 3 DEADLINE_EXCEEDED and 2 failed without an answer; one
/// warmup window and two measured ones (the second with 5 of its 100 calls UNAVAILABLE).
fn grpc_step() -> StepResult {
    StepResult {
        name: "envoy".into(),
        load: LoadSummary {
            protocol: "grpc".into(),
            requests: 1002,
            responses: 1000,
            failures: BTreeMap::from([("timeout".into(), 2)]),
            grpc_statuses: BTreeMap::from([
                ("OK".into(), 970),
                ("UNAVAILABLE".into(), 27),
                ("DEADLINE_EXCEEDED".into(), 3),
            ]),
            windows: vec![
                window(0.0, true, 50, 50),
                window(1.0, false, 100, 0),
                window(2.0, false, 95, 5),
            ],
            ..LoadSummary::default()
        },
        ..StepResult::default()
    }
}

fn judge(text: &str, r: &RunResult) -> gauntlet_reports::GateResult {
    let gate = parse(text).unwrap_or_else(|e| panic!("`{text}`: {}", e.message));
    evaluate(&[gate], r).remove(0)
}

#[test]
fn codes_parse_by_name_in_any_spelling_or_by_number() {
    for (text, code, measure) in [
        ("grpc.unavailable.rate < 5%", 14, Measure::Rate),
        ("grpc.UNAVAILABLE.count == 0", 14, Measure::Count),
        ("grpc.deadline_exceeded.count < 10", 4, Measure::Count),
        ("grpc.deadline-exceeded.rate < 1%", 4, Measure::Rate),
        ("grpc.14.rate < 5%", 14, Measure::Rate),
        ("grpc.ok.rate > 90%", 0, Measure::Rate),
    ] {
        let g = parse(text).unwrap_or_else(|e| panic!("`{text}`: {}", e.message));
        assert_eq!(g.metric.metric, Metric::Grpc(code, measure), "{text}");
        assert_eq!(g.metric.step, Some(Step::Envoy));
    }
    let base = parse("baseline.grpc.unavailable.count == 0").unwrap();
    assert_eq!(base.metric.step, Some(Step::Baseline));
}

#[test]
fn bad_codes_point_at_the_code_with_a_suggestion() {
    for (text, column, message, hint) in [
        (
            "grpc.unavailabel.rate < 1%",
            6,
            "not a gRPC status",
            "`unavailable`",
        ),
        ("grpc.17.count == 0", 6, "not a gRPC status", "0..=16"),
        (
            "grpc.unavailable < 1%",
            17,
            "expected `rate` or `count`",
            "grpc.<code>.rate",
        ),
        (
            "grpc < 1%",
            5,
            "expected a gRPC status",
            "grpc.unavailable.rate",
        ),
        ("grpc.ok.ratio < 1%", 9, "no `ratio`", ""),
    ] {
        let e = parse(text).expect_err(text);
        assert_eq!(e.column, column, "{text}: {e:?}");
        assert!(e.message.contains(message), "{text}: {e:?}");
        assert!(e.hint.contains(hint), "{text}: {e:?}");
    }
}

#[test]
fn whole_step_counts_come_from_grpc_statuses_over_calls_that_ended() {
    let r = run(vec![grpc_step()]);
    let g = judge("grpc.unavailable.rate < 5%", &r);
    assert!(g.passed, "{g:?}");
    // 27 of 1002 ended: 1000 answered and 2 failed.
    assert_eq!(g.measured, Some(27.0 / 1002.0));
    assert_eq!(g.unit, "ratio");
    let g = judge("grpc.deadline_exceeded.count > 3", &r);
    assert!(!g.passed);
    assert_eq!(g.measured, Some(3.0));
    assert_eq!(g.unit, "count");
    assert_eq!(judge("grpc.4.count == 3", &r).measured, Some(3.0));
    // A code that never came is measured as zero, not unmeasurable.
    let g = judge("grpc.resource_exhausted.count == 0", &r);
    assert!(g.passed && g.measured == Some(0.0), "{g:?}");
}

#[test]
fn windows_count_the_statuses_by_name() {
    let r = run(vec![grpc_step()]);
    let g = judge("grpc.unavailable.count == 5 during [1s, 3s]", &r);
    assert!(g.passed, "{g:?}");
    let g = judge("grpc.unavailable.rate < 10% during [0s, 3s]", &r);
    // Warmup included when named: 55 of 300.
    assert_eq!(g.measured, Some(55.0 / 300.0));
    assert!(!g.passed);
}

#[test]
fn an_http_step_cannot_be_measured() {
    let mut step = grpc_step();
    step.load.protocol = "http1".into();
    step.load.grpc_statuses.clear();
    let g = judge("grpc.unavailable.rate < 5%", &run(vec![step]));
    assert!(!g.passed);
    assert_eq!(g.measured, None);
    assert!(g.detail.contains("not gRPC calls"), "{}", g.detail);
}
