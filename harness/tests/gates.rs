//! Gates evaluated over hand-built results: every metric kind, windows, relative gates,
//! and the failures that must never pass silently.
//!
//! The envoy step of [`run`]: 2 s warmup (t 0, 1), then 10 windows (t 2..11) of 100
//! requests each at 1 ms, except t 6 and 7 (10 × 503 at 40 ms each; the event `shift` was
//! applied at 6.02 s) and t 8 (5 timeouts). Envoy's retry counter climbs 0 → 30 over t 6..9;
//! the `cx_active` gauge peaks at 9 around t 7.

#[path = "gates/fixture.rs"]
mod fixture;

use gauntlet::gates::{evaluate, parse};
use gauntlet_reports::{GateResult, RunResult, Window};

use self::fixture::run;

/// Evaluates one gate over `r`.
fn eval_on(text: &str, r: &RunResult) -> GateResult {
    let gate = parse(text).unwrap_or_else(|e| panic!("`{text}`: {e} ({})", e.hint));
    evaluate(&[gate], r).remove(0)
}

/// Evaluates `text` over [`run`] and checks verdict and measured value (±0.5%).
fn check(text: &str, passed: bool, measured: f64) -> GateResult {
    let g = eval_on(text, &run());
    assert_eq!(g.passed, passed, "{text}: {}", g.detail);
    let m = g
        .measured
        .unwrap_or_else(|| panic!("{text}: unmeasured: {}", g.detail));
    assert!(
        (m - measured).abs() <= measured.abs() * 0.005 + 1e-9,
        "{text}: measured {m}, expected {measured}: {}",
        g.detail
    );
    g
}

/// Evaluates `text` over `r`, expecting it to be unmeasurable with `why` in the detail.
fn unmeasurable(text: &str, r: &RunResult, why: &str) -> GateResult {
    let g = eval_on(text, r);
    assert!(!g.passed, "{text} must fail: {}", g.detail);
    assert_eq!(g.measured, None, "{text}: {}", g.detail);
    assert!(
        g.detail.contains(why),
        "{text}: detail {:?} lacks {why:?}",
        g.detail
    );
    assert!(g.detail.ends_with(": FAIL"), "{}", g.detail);
    g
}

// === whole step ===

#[test]
fn latency_over_the_whole_step() {
    let g = check("latency.p50 < 50ms", true, 1.0);
    assert_eq!(g.detail, "latency.p50 = 1 ms, threshold < 50 ms: pass");
    assert_eq!(
        (g.unit.as_str(), g.window.as_str()),
        ("ms", "whole envoy step")
    );
    assert_eq!(g.threshold, Some(50.0));
    check("latency.p99 < 10ms", false, 40.03);
    check("latency.max >= 40ms", true, 40.03);
    check("latency.min == 1ms", true, 1.0);
    check("latency_uncorrected.p99 < 30ms", true, 20.02);
    check("baseline.latency.p50 < 1ms", true, 0.5);
    check("latency.p50 < 1ms step baseline", true, 0.5);
}

#[test]
fn errors_statuses_and_failures_over_the_whole_step() {
    let g = check("errors.rate < 1%", false, 0.025);
    assert_eq!(
        g.detail,
        "errors.rate = 2.5% (25 of 1000), threshold < 1%: FAIL"
    );
    assert_eq!(g.unit, "ratio");
    check("errors.count == 25", true, 25.0);
    check("status.503.count == 20", true, 20.0);
    check("status.503.rate <= 2%", true, 0.02);
    check("status.5xx.rate > 2%", false, 0.02);
    check("status.2xx.count >= 975", true, 975.0);
    check("failures.timeout.count == 5", true, 5.0);
    check("failures.connect.count == 0", true, 0.0);
    check("failures.rate < 1%", true, 0.005);
    check("requests == 1000", true, 1000.0);
    check("responses == 995", true, 995.0);
    let g = check("rps >= 90", true, 99.5);
    assert_eq!(g.unit, "rps");
}

#[test]
fn envoy_mocks_xds_and_added_latency() {
    check("envoy.cluster.backend.upstream_rq_retry > 0", true, 30.0);
    check("envoy.cluster.backend.upstream_rq_503 == 20", true, 20.0);
    check("mocks.backend.requests == 1000", true, 1000.0);
    check("mocks.backend.status.503 <= 10", true, 10.0);
    check("mocks.backend.status.5xx < 10", false, 10.0);
    let g = check("xds.ack_ms.max < 5ms", true, 3.0);
    assert_eq!(g.window, "whole run");
    check("xds.ack_ms.p50 == 2ms", true, 2.0);
    check("xds.ack_ms.p99 <= 3ms", true, 3.0);
    check("xds.nacks == 0", false, 1.0);
    check("xds.pushes == 4", true, 4.0);
    let g = check("added.p99 < 1ms", false, 39.5);
    assert_eq!(g.window, "envoy minus baseline");
}

// === windows ===

#[test]
fn during_selects_windows_by_start_time() {
    let g = check("errors.rate < 1% during [6s, 8s]", false, 0.1);
    assert_eq!(g.window, "envoy 6s..8s");
    assert!(g.detail.contains("(20 of 200)"), "{}", g.detail);
    check("latency.p50 < 2ms during [6s, 8s]", true, 1.0);
    check("latency.p99 < 10ms during [9s, 12s]", true, 1.0);
    check("latency.p99 < 10ms during [6s, 8s]", false, 40.03);
    // Warmup windows count when the range names them.
    check("requests == 100 during [0, 2s]", true, 100.0);
    check("latency.p50 < 6ms during [0s, 2s]", true, 5.0);
    check("rps == 100 during [6s, 8s]", true, 100.0);
    check("failures.count == 5 during [8s, 9s]", true, 5.0);
    check("status.503.count == 20 during [2s, 12s]", true, 20.0);
}

#[test]
fn after_and_before_an_event() {
    // `shift` was applied at 6.02 s: the window starting at 6 s counts as after it.
    let g = check("status.503.count == 20 after shift", true, 20.0);
    assert_eq!(g.window, "after shift");
    let g = check("status.503.count == 0 after shift + 2s", true, 0.0);
    assert_eq!(g.window, "after shift +2s");
    check("requests == 400 after shift + 2s", true, 400.0);
    // Before: from the end of the warmup (t 2) to the event.
    check("requests == 400 before shift", true, 400.0);
    check("errors.rate == 0% before shift", true, 0.0);
    check("latency.p99 < 2ms before shift", true, 1.0);
    check("latency.p99 > 2ms after shift", true, 40.03);
}

#[test]
fn envoy_counters_increase_and_gauges_peak_over_windows() {
    let g = check(
        "envoy.cluster.backend.upstream_rq_retry == 20 during [6s, 8s]",
        true,
        20.0,
    );
    assert!(g.detail.contains("counter, 0 → 20"), "{}", g.detail);
    // To the end of the step: the end-of-step stats are the last sample.
    check(
        "envoy.cluster.backend.upstream_rq_retry == 30 after shift",
        true,
        30.0,
    );
    check(
        "envoy.cluster.backend.upstream_rq_retry == 0 before shift",
        true,
        0.0,
    );
    let g = check(
        "envoy.cluster.backend.upstream_cx_active < 5 during [6s, 8s]",
        false,
        9.0,
    );
    assert!(
        g.detail.contains("gauge, largest of 2 samples"),
        "{}",
        g.detail
    );
    check(
        "envoy.cluster.backend.upstream_cx_active < 5 before shift",
        true,
        4.0,
    );
}

#[test]
fn relative_gates() {
    let g = check(
        "mocks.shadow.requests >= 99% of mocks.backend.requests",
        true,
        995.0,
    );
    assert_eq!(g.threshold, Some(990.0));
    assert!(
        g.detail
            .contains("threshold >= 990 (99% of mocks.backend.requests = 1000)"),
        "{}",
        g.detail
    );
    check(
        "mocks.shadow.requests >= 100% of mocks.backend.requests",
        false,
        995.0,
    );
    // Another step's metric is read over its whole step, and the detail says so.
    let g = check("latency.p50 <= 300% of baseline.latency.p50", true, 1.0);
    assert_eq!(g.threshold, Some(1.5));
    let g = check(
        "latency.p99 <= 120% of baseline.latency.p99 during [6s, 8s]",
        false,
        40.03,
    );
    assert!(
        g.detail.contains("over whole baseline step"),
        "{}",
        g.detail
    );
    // The same step: the same window.
    let g = check(
        "status.503.count <= 10% of requests during [6s, 8s]",
        true,
        20.0,
    );
    assert_eq!(g.threshold, Some(20.0));
    check(
        "envoy.cluster.backend.upstream_rq_total >= 100% of mocks.backend.requests",
        true,
        1000.0,
    );
}

// === nothing passes silently ===

#[test]
fn unmeasurable_gates_fail_and_say_why() {
    let r = run();
    let g = unmeasurable(
        "envoy.cluster.backend.upstream_rq_retyr > 0",
        &r,
        "did you mean `envoy.cluster.backend.upstream_rq_retry`?",
    );
    assert!(
        g.detail.starts_with(
            "envoy.cluster.backend.upstream_rq_retyr cannot be measured over whole envoy step: "
        ),
        "{}",
        g.detail
    );
    unmeasurable(
        "envoy.cluster.backend.upstream_rq_503 > 0 during [6s, 8s]",
        &r,
        "was not sampled during the step",
    );
    unmeasurable(
        "mocks.backend.requests > 0 during [6s, 8s]",
        &r,
        "mock counts cover the whole step only",
    );
    unmeasurable(
        "mocks.backnd.requests > 0",
        &r,
        "did you mean `mocks.backend`?",
    );
    unmeasurable(
        "latency.p99 < 1s during [100s, 200s]",
        &r,
        "no 1-second window of the step falls in it (the step's windows cover 0s..12s)",
    );
    unmeasurable(
        "errors.rate < 1% after shfit",
        &r,
        "no timeline event `shfit` in this run; did you mean `shift`?",
    );
    unmeasurable(
        "errors.rate < 1% after shift step baseline",
        &r,
        "happened in the envoy step, not the baseline step",
    );
    unmeasurable(
        "latency_uncorrected.p99 < 1s during [6s, 8s]",
        &r,
        "whole step only",
    );
    unmeasurable(
        "failures.timeout.count < 10 during [6s, 9s]",
        &r,
        "`failures.count`",
    );
    unmeasurable("added.p99 < 1s during [6s, 8s]", &r, "whole run only");
    unmeasurable("xds.nacks == 0 after shift", &r, "whole run only");
    // A relative gate whose reference is missing fails too (but keeps the measured value).
    let g = eval_on("mocks.shadow.requests >= 99% of mocks.nope.requests", &r);
    assert!(!g.passed && g.measured == Some(995.0), "{}", g.detail);
    assert!(
        g.detail
            .contains("but the threshold (99% of mocks.nope.requests) cannot be measured"),
        "{}",
        g.detail
    );
}

#[test]
fn missing_parts_of_a_result_fail() {
    let mut r = run();
    r.steps.retain(|s| s.name == "envoy");
    r.added_latency = None;
    r.xds.clear();
    unmeasurable(
        "baseline.latency.p50 < 1ms",
        &r,
        "the run has no baseline step",
    );
    unmeasurable("added.p50 < 1ms", &r, "needs a baseline step");
    unmeasurable("xds.ack_ms.max < 1s", &r, "no xDS push was ACKed");

    // A window with responses but no histogram: latency over it is unknown.
    let mut r = run();
    r.steps[1].load.windows[7].histogram = None;
    unmeasurable(
        "latency.p99 < 1s during [6s, 8s]",
        &r,
        "the window at 7s has 100 responses but no latency histogram",
    );
    // … but counts over it are fine, and windows without responses need none.
    assert!(eval_on("requests == 200 during [6s, 8s]", &r).passed);
    let mut r = run();
    for w in &mut r.steps[1].load.windows {
        *w = Window {
            t_s: w.t_s,
            warmup: w.warmup,
            ..Window::default()
        };
    }
    unmeasurable(
        "latency.p99 < 1s during [6s, 8s]",
        &r,
        "there were no responses in it",
    );
    unmeasurable(
        "errors.rate < 1% during [6s, 8s]",
        &r,
        "no request ended in it",
    );

    // A corrupt histogram is reported, not skipped.
    let mut r = run();
    r.steps[1].load.windows[6].histogram = Some("bm90IGEgaGlzdG9ncmFt".into());
    unmeasurable(
        "latency.p99 < 1s during [6s, 8s]",
        &r,
        "the window at 6s has an unreadable histogram",
    );

    // A counter going down (an Envoy restart) is not an increase.
    let mut r = run();
    for s in &mut r.steps[1].envoy_series {
        s.stats.insert(
            "cluster.backend.upstream_rq_retry".into(),
            100 - s.t_s as u64,
        );
    }
    unmeasurable(
        "envoy.cluster.backend.upstream_rq_retry < 1 during [6s, 8s]",
        &r,
        "went down",
    );

    // An event that failed to apply is no reference point.
    let mut r = run();
    r.events[0].error = Some("NACK".into());
    unmeasurable(
        "errors.rate < 1% after shift",
        &r,
        "event `shift` failed: NACK",
    );
}

#[test]
fn evaluates_every_gate_in_order() {
    let gates: Vec<_> = ["latency.p50 < 50ms", "errors.rate < 1%", "requests > 0"]
        .iter()
        .map(|t| parse(t).unwrap())
        .collect();
    let results = evaluate(&gates, &run());
    let verdicts: Vec<(&str, bool)> = results
        .iter()
        .map(|g| (g.gate.as_str(), g.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("latency.p50 < 50ms", true),
            ("errors.rate < 1%", false),
            ("requests > 0", true)
        ]
    );
}
