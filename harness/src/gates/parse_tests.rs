//! Parser table: gates that parse (and into what), gates that don't (column, message, hint).

use super::*;

fn ok(text: &str) -> Gate {
    match parse(text) {
        Ok(g) => g,
        Err(e) => panic!(
            "`{text}` should parse, got column {}: {} ({})",
            e.column, e.message, e.hint
        ),
    }
}

/// Parses `text`, expecting an error at `column` whose message and hint contain the given
/// fragments.
fn bad(text: &str, column: usize, message: &str, hint: &str) {
    match parse(text) {
        Ok(g) => panic!("`{text}` should not parse, got {g:?}"),
        Err(e) => {
            assert_eq!(e.column, column, "`{text}`: column of {e:?}");
            assert!(
                e.message.contains(message),
                "`{text}`: message {:?} lacks {message:?}",
                e.message
            );
            assert!(
                e.hint.contains(hint),
                "`{text}`: hint {:?} lacks {hint:?}",
                e.hint
            );
        }
    }
}

fn envoy(name: &str, metric: Metric) -> MetricRef {
    MetricRef {
        name: name.into(),
        metric,
        step: Some(Step::Envoy),
    }
}

#[test]
fn good_gates() {
    let p99 = Metric::Latency {
        corrected: true,
        stat: LatencyStat::P99,
    };
    let cases: Vec<(&str, MetricRef, Op, Threshold, Scope)> = vec![
        (
            "latency.p99 < 50ms",
            envoy("latency.p99", p99.clone()),
            Op::Lt,
            Threshold::Value(50.0),
            Scope::WholeStep,
        ),
        (
            "latency.p99<1.5s",
            envoy("latency.p99", p99.clone()),
            Op::Lt,
            Threshold::Value(1500.0),
            Scope::WholeStep,
        ),
        (
            "latency_uncorrected.max <= 200us",
            envoy(
                "latency_uncorrected.max",
                Metric::Latency {
                    corrected: false,
                    stat: LatencyStat::Max,
                },
            ),
            Op::Le,
            Threshold::Value(0.2),
            Scope::WholeStep,
        ),
        (
            "errors.rate < 0.1%",
            envoy("errors.rate", Metric::Errors(Measure::Rate)),
            Op::Lt,
            Threshold::Value(0.001),
            Scope::WholeStep,
        ),
        (
            "status.503.count == 0 during [20s, 40s]",
            envoy(
                "status.503.count",
                Metric::Status(StatusMatch::Code(503), Measure::Count),
            ),
            Op::Eq,
            Threshold::Value(0.0),
            Scope::During {
                from_s: 20.0,
                to_s: 40.0,
            },
        ),
        (
            "status.5xx.rate != 0% after shift-to-canary + 2s",
            envoy(
                "status.5xx.rate",
                Metric::Status(StatusMatch::Class(5), Measure::Rate),
            ),
            Op::Ne,
            Threshold::Value(0.0),
            Scope::After {
                label: "shift-to-canary".into(),
                offset_s: 2.0,
            },
        ),
        (
            "failures.timeout.count >= 1 before shift",
            envoy(
                "failures.timeout.count",
                Metric::Failures(Some("timeout".into()), Measure::Count),
            ),
            Op::Ge,
            Threshold::Value(1.0),
            Scope::Before {
                label: "shift".into(),
            },
        ),
        (
            "envoy.cluster.backend.upstream_rq_retry > 0",
            envoy(
                "envoy.cluster.backend.upstream_rq_retry",
                Metric::Envoy("cluster.backend.upstream_rq_retry".into()),
            ),
            Op::Gt,
            Threshold::Value(0.0),
            Scope::WholeStep,
        ),
        (
            "rps >= 950rps",
            envoy("rps", Metric::Rps),
            Op::Ge,
            Threshold::Value(950.0),
            Scope::WholeStep,
        ),
        (
            "requests > 1000 during [0, 1m]",
            envoy("requests", Metric::Requests),
            Op::Gt,
            Threshold::Value(1000.0),
            Scope::During {
                from_s: 0.0,
                to_s: 60.0,
            },
        ),
        (
            "added.p99 < -1ms",
            MetricRef {
                name: "added.p99".into(),
                metric: Metric::Added(LatencyStat::P99),
                step: None,
            },
            Op::Lt,
            Threshold::Value(-1.0),
            Scope::WholeStep,
        ),
        (
            "xds.ack_ms.max < 100ms",
            MetricRef {
                name: "xds.ack_ms.max".into(),
                metric: Metric::XdsAck(LatencyStat::Max),
                step: None,
            },
            Op::Lt,
            Threshold::Value(100.0),
            Scope::WholeStep,
        ),
        (
            "mocks.shadow.requests >= 99% of mocks.backend.requests",
            envoy(
                "mocks.shadow.requests",
                Metric::MockRequests("shadow".into()),
            ),
            Op::Ge,
            Threshold::ShareOf {
                fraction: 0.99,
                of: envoy(
                    "mocks.backend.requests",
                    Metric::MockRequests("backend".into()),
                ),
            },
            Scope::WholeStep,
        ),
        (
            "mocks.backend.status.5xx <= 10 step baseline",
            MetricRef {
                name: "mocks.backend.status.5xx".into(),
                metric: Metric::MockStatus("backend".into(), StatusMatch::Class(5)),
                step: Some(Step::Baseline),
            },
            Op::Le,
            Threshold::Value(10.0),
            Scope::WholeStep,
        ),
        (
            "latency.p99 <= 120% of baseline.latency.p99 during [5s, 10s]",
            envoy("latency.p99", p99.clone()),
            Op::Le,
            Threshold::ShareOf {
                fraction: 1.2,
                of: MetricRef {
                    name: "baseline.latency.p99".into(),
                    metric: p99.clone(),
                    step: Some(Step::Baseline),
                },
            },
            Scope::During {
                from_s: 5.0,
                to_s: 10.0,
            },
        ),
        (
            "  baseline.latency.p50 < 5ms  ",
            MetricRef {
                name: "baseline.latency.p50".into(),
                metric: Metric::Latency {
                    corrected: true,
                    stat: LatencyStat::P50,
                },
                step: Some(Step::Baseline),
            },
            Op::Lt,
            Threshold::Value(5.0),
            Scope::WholeStep,
        ),
    ];
    for (text, metric, op, threshold, scope) in cases {
        let g = ok(text);
        assert_eq!(g.text, text.trim());
        assert_eq!(g.metric, metric, "{text}");
        assert_eq!(g.op, op, "{text}");
        assert_eq!(g.threshold, threshold, "{text}");
        assert_eq!(g.scope, scope, "{text}");
    }
}

#[test]
fn step_clause_sets_the_step_of_the_metric_and_its_reference() {
    // `step` may not come first: a gate starts with a metric.
    assert!(parse("step baseline errors.count < 1").is_err());
    let g = ok("errors.count <= 50% of status.503.count step baseline");
    assert_eq!(g.metric.step, Some(Step::Baseline));
    match g.threshold {
        Threshold::ShareOf { of, .. } => assert_eq!(of.step, Some(Step::Baseline)),
        t => panic!("{t:?}"),
    }
    let g = ok("errors.rate < 1% step envoy during [1s, 2s]");
    assert_eq!(
        g.scope,
        Scope::During {
            from_s: 1.0,
            to_s: 2.0
        }
    );
}

#[test]
fn bad_gates() {
    #[rustfmt::skip]
    let cases: &[(&str, usize, &str, &str)] = &[
        ("", 1, "empty gate", "latency.p99 < 50ms"),
        ("50ms > latency.p99", 1, "starts with a metric", "e.g."),
        ("latncy.p99 < 50ms", 1, "unknown metric `latncy.p99`", "did you mean `latency.p99`?"),
        ("error.rate < 1%", 1, "unknown metric", "did you mean `errors.rate`?"),
        ("rsp > 100", 1, "unknown metric", "did you mean `rps`?"),
        ("bogus.thing < 1", 1, "unknown metric", "metrics: latency.pXX"),
        ("latency.p95 < 50ms", 9, "no statistic `p95`", "`latency` takes `p50`, `p90`, `p99`, `p999`, `max`, `mean` or `min`"),
        ("latency.p999x < 50ms", 9, "no statistic", "did you mean `latency.p999`?"),
        ("latency < 50ms", 8, "expected a statistic", "latency.p99"),
        ("latency.p99.max < 50ms", 12, "unexpected `.max`", ""),
        ("added.max < 1ms", 7, "no statistic `max`", "`added` takes"),
        ("baseline.added.p99 < 1ms", 1, "no baseline form", ""),
        ("baseline.xds.pushes < 1", 1, "no baseline form", "whole run"),
        ("errors.rat < 1%", 8, "no `rat`", "did you mean `errors.rate`?"),
        ("status.50x.rate < 1%", 8, "not an HTTP status", "`5xx`"),
        ("status.503 < 1%", 11, "expected `rate` or `count`", "status.<code>.rate"),
        ("failures.timeot.count > 0", 10, "unknown failure kind `timeot`", "did you mean `failures.timeout`?"),
        ("mocks.backend.reqs > 0", 15, "mocks count no `reqs`", "`mocks.<upstream>` takes"),
        ("mocks.backend.status.abc > 0", 22, "not an HTTP status", ""),
        ("xds.ack.max < 1ms", 5, "`xds` has no `ack`", "did you mean `xds.ack_ms`?"),
        ("envoy. > 0", 7, "needs a stat name", "envoy.cluster.backend"),
        ("latency.p99 50ms", 13, "expected a comparison", "latency.p99 < 50ms"),
        ("latency.p99 lt 50ms", 13, "expected a comparison", "write `<`"),
        ("latency.p99 = 50ms", 13, "`=` is not an operator", "`==`"),
        ("latency.p99 =< 50ms", 13, "`=<` is not an operator", "`<=`"),
        ("latency.p99 ! 50ms", 13, "`!` is not an operator", "`!=`"),
        ("latency.p99 <", 14, "expected a threshold after `<`", "latency.p99 < 50ms"),
        ("latency.p99 < 50", 15, "`50` has no unit", "`50ms`"),
        ("latency.p99 < 50 ms", 15, "`50` and `ms` are apart", "write `50ms`, without the space"),
        ("errors.rate < 1 %", 15, "are apart", "`1%`"),
        ("latency.p99 < 50sec", 15, "not a duration", "`us`, `ms`, `s` or `m`"),
        ("latency.p99 < 5%", 15, "a percentage of what?", "5% of <metric>"),
        ("errors.rate < 0.01", 15, "not a percentage", "`1%`"),
        ("errors.rate < 10ms", 15, "is a time", "percentage"),
        ("errors.count < 1%", 16, "a percentage of what?", ""),
        ("requests > 2s", 12, "is a time but `requests` is in count", "plain number"),
        ("requests > 99 of responses", 15, "`of` follows a percentage", "99% of"),
        ("requests > 99% of", 18, "expected a metric after `of`", ""),
        ("requests > 99% of latency.p99", 19, "`latency.p99` is in ms but `requests` is in count", "same unit"),
        ("requests > 99% of requets", 19, "unknown metric", "did you mean `requests`?"),
        ("errors.rate < 1% durring [1s, 2s]", 18, "unexpected `durring`", "did you mean `during`?"),
        ("errors.rate < 1% foo", 18, "unexpected `foo`", "after the threshold"),
        ("errors.rate < 1% during 20s..40s", 25, "expected `[`", "during [20s, 40s]"),
        ("errors.rate < 1% during [20s 40s]", 30, "expected `,`", ""),
        ("errors.rate < 1% during [20s, 40s", 34, "expected `]`", ""),
        ("errors.rate < 1% during [20, 40s]", 26, "`20` is not a duration", "20s"),
        ("errors.rate < 1% during [40s, 20s]", 31, "ends before it starts", ""),
        ("errors.rate < 1% after", 23, "expected an event label after `after`", "shift-to-canary"),
        ("errors.rate < 1% after x +", 27, "expected an offset", "2s"),
        ("errors.rate < 1% after x + 2", 28, "not a duration", ""),
        ("errors.rate < 1% before", 24, "expected an event label", ""),
        ("errors.rate < 1% after x before y", 26, "already has `after`", "one gate per window"),
        ("errors.rate < 1% step canary", 23, "unknown step `canary`", "`envoy` and `baseline`"),
        ("errors.rate < 1% step envoi", 23, "unknown step", "did you mean `envoy`?"),
        ("errors.rate < 1% step", 22, "expected a step name", ""),
        ("errors.rate < 1% step envoy step envoy", 29, "one step", ""),
        ("baseline.errors.rate < 1% step envoy", 32, "reads the baseline step", "drop the `baseline.` prefix"),
        ("added.p99 < 1ms step baseline", 22, "covers the whole run", "drop the `step`"),
        ("µ < 1", 1, "unknown metric", ""),
        ("latency.p99 < 50ms ,", 20, "unexpected `,`", ""),
    ];
    for (text, column, message, hint) in cases {
        bad(text, *column, message, hint);
    }
}

#[test]
fn columns_count_characters_not_bytes() {
    // `µs` is two bytes; the error after it must still point at the right character.
    bad("latency.p99 < 5µs foo", 19, "unexpected `foo`", "");
    assert_eq!(ok("latency.p99 < 5µs").threshold, Threshold::Value(0.005));
}

#[test]
fn event_refs_name_the_timeline_events() {
    assert_eq!(
        ok("errors.rate < 1% after shift + 1s").event_refs(),
        vec!["shift"]
    );
    assert_eq!(
        ok("errors.rate < 1% before shift").event_refs(),
        vec!["shift"]
    );
    assert!(ok("errors.rate < 1% during [1s, 2s]")
        .event_refs()
        .is_empty());
    assert!(ok("errors.rate < 1%").event_refs().is_empty());
}

#[test]
fn serializes_as_its_text() {
    let g = ok("latency.p99 < 50ms");
    let v = serde_json::to_value(&g).unwrap();
    assert_eq!(v, serde_json::json!({ "text": "latency.p99 < 50ms" }));
}

#[test]
fn gauges_are_known_by_name() {
    for g in [
        "cluster.b.upstream_cx_active",
        "cluster.b.upstream_rq_active",
        "cluster.b.outlier_detection.ejections_active",
        "cluster.b.circuit_breakers.default.cx_open",
        "cluster.b.circuit_breakers.default.remaining_rq",
        "server.memory_allocated",
        "server.live",
        "server.concurrency",
        "control_plane.connected_state",
        "cluster.b.membership_healthy",
    ] {
        assert!(is_gauge(g), "{g}");
    }
    for c in [
        "cluster.b.upstream_rq_retry",
        "cluster.b.upstream_cx_overflow",
        "cluster.b.outlier_detection.ejections_enforced_total",
        "http.ingress.downstream_rq_5xx",
    ] {
        assert!(!is_gauge(c), "{c}");
    }
}
