//! Unit tests of the evaluation internals: window selection at uneven boundaries, stats
//! sample slack, comparisons and number formatting. Whole results are tested through the
//! public API in `harness/tests/gates.rs`.

use std::collections::BTreeMap;

use gauntlet_reports::{EventRecord, StatSample, StepResult, Window};

use super::eval::{percent, show, trim};
use super::window::{counter_over, select, window_len, Span};
use super::*;

fn w(t_s: f64, warmup: bool, responses: u64, rps: f64) -> Window {
    Window {
        t_s,
        warmup,
        requests: responses,
        responses,
        rps,
        ..Window::default()
    }
}

fn step(windows: Vec<Window>) -> StepResult {
    StepResult {
        name: "envoy".into(),
        targets: Vec::new(),
        load: gauntlet_reports::LoadSummary {
            windows,
            ..Default::default()
        },
        envoy_stats: BTreeMap::new(),
        mocks: BTreeMap::new(),
        envoy_series: Vec::new(),
        ..Default::default()
    }
}

fn event(label: &str, applied_s: f64) -> EventRecord {
    EventRecord {
        label: label.into(),
        action: "set route".into(),
        at_s: applied_s,
        applied_s,
        step: "envoy".into(),
        ack_ms: None,
        error: None,
    }
}

/// A step with a 1.5 s warmup: windows at 0 (0.5 s long), 0.5 (warmup), then 1.5, 2.5, ….
fn uneven() -> StepResult {
    let mut ws = vec![w(0.0, true, 50, 100.0), w(0.5, true, 100, 100.0)];
    ws.extend((0..5).map(|i| w(1.5 + i as f64, false, 100, 100.0)));
    step(ws)
}

fn starts(span: &Span) -> Vec<f64> {
    span.windows.iter().map(|w| w.t_s).collect()
}

#[test]
fn window_lengths_come_from_the_rate_or_the_next_window() {
    let s = uneven();
    let ws = &s.load.windows;
    assert_eq!(window_len(ws, 0), 0.5);
    assert_eq!(window_len(ws, 2), 1.0);
    let empty = [w(3.0, false, 0, 0.0), w(3.25, false, 0, 0.0)];
    assert_eq!(window_len(&empty, 0), 0.25);
    assert_eq!(window_len(&empty, 1), 1.0);
}

#[test]
fn events_snap_to_the_nearest_window_boundary() {
    let s = uneven();
    let events = [
        event("early", 2.4),
        event("late", 2.6),
        event("in-warmup", 0.2),
    ];
    let after = |label: &str| Scope::After {
        label: label.into(),
        offset_s: 0.0,
    };
    let before = |label: &str| Scope::Before {
        label: label.into(),
    };
    // 2.4 is nearer 2.5 than 1.5: the window at 1.5 is mostly before the event.
    assert_eq!(
        starts(&select(&after("early"), &s, &events).unwrap()),
        [2.5, 3.5, 4.5, 5.5]
    );
    assert_eq!(
        starts(&select(&before("early"), &s, &events).unwrap()),
        [1.5]
    );
    assert_eq!(
        starts(&select(&after("late"), &s, &events).unwrap()),
        [2.5, 3.5, 4.5, 5.5]
    );
    // Warmup windows never count for `after`/`before`…
    assert_eq!(
        starts(&select(&after("in-warmup"), &s, &events).unwrap()).len(),
        5
    );
    let err = select(&before("in-warmup"), &s, &events).unwrap_err();
    assert!(err.contains("no 1-second window"), "{err}");
    // … but do for `during`, which names its times.
    let during = Scope::During {
        from_s: 0.0,
        to_s: 2.0,
    };
    let span = select(&during, &s, &events).unwrap();
    assert_eq!(starts(&span), [0.0, 0.5, 1.5]);
    assert_eq!((span.from_s, span.to_s, span.secs), (0.0, 2.5, 2.5));
    // An offset moves the start; one past the end leaves nothing.
    let offset = Scope::After {
        label: "early".into(),
        offset_s: 2.0,
    };
    assert_eq!(starts(&select(&offset, &s, &events).unwrap()), [4.5, 5.5]);
    let past = Scope::After {
        label: "early".into(),
        offset_s: 60.0,
    };
    assert!(select(&past, &s, &events).is_err());
}

#[test]
fn counter_samples_may_sit_half_a_second_inside_the_span() {
    let mut s = uneven();
    for (t, v) in [(1.8, 10u64), (3.2, 30), (4.9, 50)] {
        let mut stats = BTreeMap::new();
        stats.insert("c".to_string(), v);
        s.envoy_series.push(StatSample { t_s: t, stats });
    }
    let span = |from_s, to_s| Span {
        windows: Vec::new(),
        from_s,
        to_s,
        secs: to_s - from_s,
    };
    // No sample at or before 1.5, but the first one is within half a second.
    assert_eq!(counter_over(&s, "c", &span(1.5, 3.0)), Ok((10, 30)));
    assert!(counter_over(&s, "c", &span(1.0, 3.0))
        .unwrap_err()
        .contains("at or before 1s"));
    // No sample at or after 5.5 and no end-of-step value: the last one is too early.
    assert!(counter_over(&s, "c", &span(1.5, 5.5))
        .unwrap_err()
        .contains("at or after 5.5s"));
    // With the end-of-step value, the end of the step is covered.
    s.envoy_stats.insert("c".into(), 60);
    assert_eq!(counter_over(&s, "c", &span(3.2, 6.5)), Ok((30, 60)));
}

#[test]
fn comparisons_never_hold_for_nan() {
    for op in [Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Eq, Op::Ne] {
        assert!(!op.holds(f64::NAN, 1.0), "{op:?}");
        assert!(!op.holds(1.0, f64::NAN), "{op:?}");
    }
    assert!(Op::Ne.holds(1.0, 2.0) && Op::Eq.holds(2.0, 2.0) && Op::Le.holds(2.0, 2.0));
}

#[test]
fn numbers_read_like_a_person_wrote_them() {
    assert_eq!(trim(12.300, 3), "12.3");
    assert_eq!(trim(40.0, 3), "40");
    assert_eq!(trim(-0.0001, 3), "0");
    assert_eq!(percent(0.0291), "2.91%");
    assert_eq!(percent(0.00001), "0.001%");
    assert_eq!(percent(0.0), "0%");
    assert_eq!(show(12.3456, Unit::Ms), "12.346 ms");
    assert_eq!(show(998.55, Unit::Rps), "998.5 rps");
    assert_eq!(show(1042.0, Unit::Count), "1042");
}
