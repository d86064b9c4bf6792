use std::time::Duration;

use gauntlet_reports::{LoadSummary, Percentiles, Saturation};

use super::*;

fn spec(start: f64, max: f64) -> FindMaxSpec {
    FindMaxSpec {
        slo: Slo {
            p99: Some(Duration::from_millis(10)),
            errors: Some(0.001),
            ..Slo::default()
        },
        start_rate: start,
        max_rate: max,
        step_duration: Duration::from_secs(1),
        cooldown: Duration::ZERO,
        precision: 0.02,
        max_steps: 30,
    }
}

/// Runs the search against a fake "measure this rate" function; returns the search and
/// every rate it tried.
fn drive(spec: &FindMaxSpec, measure: impl Fn(f64) -> Verdict) -> (Search, Vec<f64>) {
    let mut search = Search::new(spec);
    let mut walk = Vec::new();
    while let Some(rate) = search.next_rate() {
        walk.push(rate);
        search.record(rate, &measure(rate));
    }
    (search, walk)
}

fn limit(capacity: f64) -> impl Fn(f64) -> Verdict {
    move |rate| {
        if rate <= capacity {
            Verdict::Pass
        } else {
            Verdict::Fail("p99 over".into())
        }
    }
}

#[test]
fn converges_within_the_precision_of_a_known_limit() {
    for capacity in [333.0, 1000.0, 1234.5, 7777.0] {
        let (search, walk) = drive(&spec(100.0, 100_000.0), limit(capacity));
        assert_eq!(search.stopped(), Some(Stop::Converged), "{walk:?}");
        let knee = search.knee().unwrap();
        assert!(knee <= capacity, "{knee} above {capacity}");
        assert!(
            (capacity - knee) / capacity <= 0.02,
            "{knee} vs {capacity}: {walk:?}"
        );
        // Exponential growth first: 100, 200, 400, …
        assert_eq!(&walk[..3], &[100.0, 200.0, 400.0]);
        assert!(walk.len() < 20, "{walk:?}");
    }
}

#[test]
fn an_slo_broken_at_the_start_rate_ends_at_once() {
    let (search, walk) = drive(&spec(500.0, 8000.0), limit(100.0));
    assert_eq!(walk, [500.0]);
    assert_eq!(search.stopped(), Some(Stop::BrokenAtStart));
    assert_eq!(search.knee(), None);
}

#[test]
fn the_max_rate_caps_the_growth() {
    let (search, walk) = drive(&spec(500.0, 3000.0), limit(1e9));
    assert_eq!(walk, [500.0, 1000.0, 2000.0, 3000.0]);
    assert_eq!(search.stopped(), Some(Stop::MaxRate));
    assert_eq!(search.knee(), Some(3000.0));
}

#[test]
fn a_saturated_client_stops_the_search_without_blaming_envoy() {
    let measure = |rate: f64| {
        if rate < 1500.0 {
            Verdict::Pass
        } else {
            Verdict::ClientBound("generator saturated".into())
        }
    };
    let (search, walk) = drive(&spec(500.0, 8000.0), measure);
    assert_eq!(walk, [500.0, 1000.0, 2000.0]);
    assert_eq!(search.stopped(), Some(Stop::ClientBound));
    // The knee is a lower bound: the highest rate that was measured passing.
    assert_eq!(search.knee(), Some(1000.0));
}

#[test]
fn the_step_limit_ends_a_search_that_cannot_converge() {
    let mut s = spec(1.0, 1e6);
    s.max_steps = 5;
    let (search, walk) = drive(&s, limit(999_999.0));
    assert_eq!(walk.len(), 5);
    assert_eq!(search.stopped(), Some(Stop::StepLimit));
}

fn summary(p99_ms: f64, error_rate: f64, achieved: f64, client_bound: bool) -> LoadSummary {
    LoadSummary {
        achieved_rps: achieved,
        error_rate,
        latency: Percentiles {
            count: 1000,
            p99_ms,
            ..Percentiles::default()
        },
        saturation: Saturation {
            client_bound,
            reason: client_bound.then(|| "worker 0 used 95% of a core".into()),
            ..Saturation::default()
        },
        ..LoadSummary::default()
    }
}

#[test]
fn judge_checks_every_ceiling_and_tells_client_saturation_apart() {
    let slo = spec(1.0, 2.0).slo;
    assert_eq!(
        judge(&slo, 1000.0, &summary(9.0, 0.0005, 999.0, false)),
        Verdict::Pass
    );
    // A pass stays a pass when the client was busy: the SLO held all the same.
    assert_eq!(
        judge(&slo, 1000.0, &summary(9.0, 0.0, 999.0, true)),
        Verdict::Pass
    );
    match judge(&slo, 1000.0, &summary(12.0, 0.002, 999.0, false)) {
        Verdict::Fail(why) => {
            assert!(why.contains("p99 12.000 ms > 10 ms"), "{why}");
            assert!(why.contains("errors 0.200% > 0.1%"), "{why}");
        }
        v => panic!("{v:?}"),
    }
    match judge(&slo, 1000.0, &summary(5.0, 0.0, 700.0, false)) {
        Verdict::Fail(why) => assert!(why.contains("achieved 700 rps of 1000"), "{why}"),
        v => panic!("{v:?}"),
    }
    match judge(&slo, 1000.0, &summary(50.0, 0.0, 999.0, true)) {
        Verdict::ClientBound(why) => assert!(why.contains("worker 0"), "{why}"),
        v => panic!("{v:?}"),
    }
    match judge(&slo, 1000.0, &summary(5.0, 0.0, 500.0, true)) {
        Verdict::ClientBound(why) => assert!(why.contains("achieved 500"), "{why}"),
        v => panic!("{v:?}"),
    }
    // Errors are the target's answers: a busy client does not excuse them.
    match judge(&slo, 1000.0, &summary(50.0, 0.3, 999.0, true)) {
        Verdict::Fail(why) => assert!(why.contains("errors 30.000%"), "{why}"),
        v => panic!("{v:?}"),
    }
    assert_eq!(describe(&slo), "p99 < 10 ms, errors < 0.1%");
}
