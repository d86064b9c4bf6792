use base64::Engine;
use gauntlet_reports::hlog;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::fixture;

fn decode(blob: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .unwrap();
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

#[test]
fn the_log_parses_back_with_one_interval_per_window() {
    let run = fixture::run();
    let log = hlog::render(&run);
    assert!(log.contains(&format!("\n{}\n", hlog::LEGEND)), "{log}");
    let entries: Vec<LogEntry> = IntervalLogIterator::new(log.as_bytes())
        .map(|e| e.unwrap())
        .collect();
    let start = std::time::Duration::from_secs(1_800_000_000);
    assert!(matches!(entries[0], LogEntry::StartTime(t) if t == start));
    assert!(matches!(entries[1], LogEntry::BaseTime(t) if t == start));
    let intervals: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            LogEntry::Interval(h) => Some(h),
            _ => None,
        })
        .collect();
    let windows: Vec<_> = run
        .steps
        .iter()
        .flat_map(|s| s.load.windows.iter().map(move |w| (s.name.as_str(), w)))
        .collect();
    assert_eq!(intervals.len(), windows.len());
    for (h, (step, w)) in intervals.iter().zip(&windows) {
        // The main step (envoy) is untagged; the others carry their name.
        let want_tag = if *step == "envoy" { None } else { Some(*step) };
        assert_eq!(h.tag().map(|t| t.as_str()), want_tag);
        assert_eq!(h.start_timestamp().as_secs_f64(), w.t_s);
        assert_eq!(h.duration().as_secs_f64(), 1.0);
        assert!(
            (h.max() - w.max_ms).abs() < 0.001,
            "{} vs {}",
            h.max(),
            w.max_ms
        );
        let decoded = decode(h.encoded_histogram());
        assert_eq!(decoded.len(), w.requests, "{step} window at {}", w.t_s);
        assert_eq!(h.encoded_histogram(), w.histogram.as_deref().unwrap());
    }
}

#[test]
fn one_step_untagged_and_odd_names_as_valid_tags() {
    let mut run = fixture::run();
    let log = hlog::render_step(&run, "baseline").unwrap();
    let n = IntervalLogIterator::new(log.as_bytes())
        .map(|e| e.unwrap())
        .filter(|e| matches!(e, LogEntry::Interval(h) if h.tag().is_none()))
        .count();
    assert_eq!(n, 4);
    assert!(hlog::render_step(&run, "nope").is_none());

    run.steps[0].name = "base line,1\nx".into();
    run.steps[0].load.windows[1].histogram = None;
    let log = hlog::render(&run);
    let tags: Vec<String> = IntervalLogIterator::new(log.as_bytes())
        .map(|e| e.unwrap())
        .filter_map(|e| match e {
            LogEntry::Interval(h) => h.tag().map(|t| t.as_str().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(tags, vec!["base_line_1_x"; 3]);
    assert!(log.contains("#step base line,1 x window at 1.000 s has no stored histogram"));
}
