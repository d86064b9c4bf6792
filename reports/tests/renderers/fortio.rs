//! The Fortio exporter against Fortio's own JSON shape. `tests/data/fortio-http-runner-results.json`
//! is reconstructed from fortio/fortio@45e18710 (`periodic.RunnerResults`,
//! `fhttp.HTTPRunnerResults` with its embedded `HTTPOptions` and `TLSOptions`,
//! `stats.HistogramData`): every exported field in the order Go's `encoding/json` writes them,
//! float64 fields given a fraction so the test can tell them from integer fields.

use gauntlet_reports::fortio::{self, HttpRunnerResults};
use serde_json::Value;

use crate::fixture;

const REFERENCE: &str = include_str!("../data/fortio-http-runner-results.json");

/// Fields that are pointers, slices or maps in Go, and so may be `null`.
const NULLABLE: [&str; 9] = [
    "DurationHistogram",
    "ErrorsDurationHistogram",
    "IPCountMap",
    "Payload",
    "Sizes",
    "HeaderSizes",
    "Sockets",
    "ConnectionStats",
    "Percentiles",
];

/// Checks `ours` has the reference's keys in its order and the same JSON type per key.
fn same_shape(path: &str, reference: &Value, ours: &Value) {
    match (reference, ours) {
        (Value::Object(r), Value::Object(o))
            if path.ends_with("RetCodes") || path.ends_with("IPCountMap") =>
        {
            // Maps: integer (or string) keys as strings, integer values.
            assert!(
                o.keys()
                    .all(|k| !path.ends_with("RetCodes") || k.parse::<i64>().is_ok()),
                "{path}: {o:?}"
            );
            assert!(o.values().all(Value::is_i64), "{path}: {o:?}");
            assert!(r.values().all(Value::is_i64));
        }
        (Value::Object(r), Value::Object(o)) => {
            let want: Vec<&String> = r.keys().filter(|k| *k != "Percentiles").collect();
            let got: Vec<&String> = o.keys().filter(|k| *k != "Percentiles").collect();
            assert_eq!(got, want, "keys of {path}");
            for (k, rv) in r {
                match o.get(k) {
                    Some(ov) => same_shape(&format!("{path}.{k}"), rv, ov),
                    None => assert_eq!(k, "Percentiles", "{path}.{k} missing"),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let Some(first) = r.first() {
                for (i, ov) in o.iter().enumerate() {
                    same_shape(&format!("{path}[{i}]"), first, ov);
                }
            }
        }
        (_, Value::Null) | (Value::Null, _) => {
            let field = path.rsplit('.').next().unwrap_or(path);
            assert!(
                NULLABLE.contains(&field),
                "{path} is null but cannot be in Go"
            );
        }
        (Value::Number(r), Value::Number(o)) => {
            if r.is_i64() || r.is_u64() {
                assert!(o.is_i64() || o.is_u64(), "{path}: {o} is not an integer");
            }
        }
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        (r, o) => panic!("{path}: {o} where Fortio writes {r}"),
    }
}

#[test]
fn field_names_order_and_types_are_fortios() {
    let reference: Value = serde_json::from_str(REFERENCE).unwrap();
    for run in [fixture::run(), fixture::chaos_timeline()] {
        let ours: Value = serde_json::from_str(&fortio::render(&run)).unwrap();
        same_shape("", &reference, &ours);
    }
    // The reference itself reads as our struct: the same shape both ways.
    let back: HttpRunnerResults = serde_json::from_str(REFERENCE).unwrap();
    assert_eq!(back.ActualDuration, 104_035_637);
}

#[test]
fn figures_come_from_the_model_and_buckets_from_the_windows() {
    let run = fixture::run();
    let step = run.step("envoy").unwrap();
    let l = &step.load;
    let f = fortio::results(&run, step);
    let h = f.DurationHistogram.as_ref().unwrap();
    assert_eq!(h.Count as u64, l.latency.count);
    assert_eq!(h.Min, l.latency.min_ms / 1000.0);
    assert_eq!(h.Max, l.latency.max_ms / 1000.0);
    assert_eq!(h.Avg, l.latency.mean_ms / 1000.0);
    let pcts: Vec<(f64, f64)> = h
        .Percentiles
        .iter()
        .map(|p| (p.Percentile, p.Value))
        .collect();
    assert_eq!(
        pcts,
        [
            (50.0, l.latency.p50_ms / 1000.0),
            (90.0, l.latency.p90_ms / 1000.0),
            (99.0, l.latency.p99_ms / 1000.0),
            (99.9, l.latency.p999_ms / 1000.0)
        ]
    );
    // Buckets: the non-warmup windows' counts, contiguous over [Min, Max].
    assert!(h.Data.len() > 10, "{:?}", h.Data);
    assert_eq!(h.Data.iter().map(|b| b.Count).sum::<i64>(), h.Count);
    assert_eq!(h.Data[0].Start, h.Min);
    assert_eq!(h.Data.last().unwrap().End, h.Max);
    assert_eq!(h.Data.last().unwrap().Percent, 100.0);
    for pair in h.Data.windows(2) {
        assert_eq!(pair[0].End, pair[1].Start);
        assert!(pair[0].Percent <= pair[1].Percent);
    }
    assert_eq!(f.RetCodes.get("200"), Some(&598));
    assert_eq!(f.RetCodes.get("503"), Some(&5));
    assert_eq!(f.RetCodes.get("-1"), Some(&2));
    assert_eq!(f.Destination, None);
    assert!(
        f.ErrorsDurationHistogram.is_none(),
        "the model has no latency of errors"
    );
    assert_eq!(f.ActualDuration, 3_000_000_000);
    assert_eq!(f.RequestedDuration, "3s");
    assert_eq!(f.RequestedQPS, "200");
    assert_eq!(f.NumThreads, 8);
    assert_eq!(f.URL, "http://127.0.0.1:10000/");
    assert_eq!(f.StartTime, "2027-01-15T08:00:00Z");
    assert!(chrono::DateTime::parse_from_rfc3339(&f.StartTime).is_ok());
    assert!(
        f.ID.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{}",
        f.ID
    );
}

#[test]
fn an_error_free_step_has_an_empty_errors_histogram() {
    let run = fixture::run();
    let f = fortio::results(&run, run.step("baseline").unwrap());
    let e = f.ErrorsDurationHistogram.unwrap();
    assert_eq!((e.Count, e.Data.len()), (0, 0));
    assert!(fortio::render_step(&run, "baseline")
        .unwrap()
        .contains("\"Labels\""));
    assert!(fortio::render_step(&run, "nope").is_none());
}

#[test]
fn a_missing_window_histogram_gives_one_bucket_not_wrong_counts() {
    let mut run = fixture::run();
    run.steps[1].load.windows[2].histogram = None;
    let f = fortio::results(&run, &run.steps[1]);
    let h = f.DurationHistogram.unwrap();
    assert_eq!(h.Data.len(), 1);
    assert_eq!(
        (h.Data[0].Start, h.Data[0].End, h.Data[0].Count),
        (h.Min, h.Max, h.Count)
    );
}

/// Equal JSON, numbers within a relative 1e-12 (serde_json's default float parsing is not
/// exactly round-trip).
fn close(path: &str, a: &Value, b: &Value) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                "{path}: {x} vs {y}"
            );
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (k, v) in x {
                close(&format!("{path}.{k}"), v, &y[k]);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                close(&format!("{path}[{i}]"), v, w);
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

#[test]
fn the_json_round_trips() {
    for run in [fixture::run(), fixture::chaos_timeline()] {
        let text = fortio::render(&run);
        let parsed: HttpRunnerResults = serde_json::from_str(&text).unwrap();
        let again = serde_json::to_value(&parsed).unwrap();
        let want = serde_json::to_value(fortio::results(&run, run.step("envoy").unwrap())).unwrap();
        close("", &again, &want);
        close("", &serde_json::from_str::<Value>(&text).unwrap(), &want);
    }
}

/// A gRPC step is written as Fortio's gRPC runner writes it: `SERVING` for the calls that
/// ended OK, `ERROR` for every other status and for calls with no answer.
#[test]
fn grpc_steps_count_serving_and_error_as_fortios_grpc_runner() {
    let mut run = fixture::run();
    let step = run.steps.iter_mut().find(|s| s.name == "envoy").unwrap();
    step.load.protocol = "grpc".into();
    step.load.statuses.clear();
    step.load.grpc_statuses = [
        ("OK".to_string(), 970),
        ("UNAVAILABLE".to_string(), 27),
        ("DEADLINE_EXCEEDED".to_string(), 3),
    ]
    .into();
    step.load.failures = [("timeout".to_string(), 2)].into();
    let step = run.step("envoy").unwrap();
    let f = fortio::results(&run, step);
    assert_eq!(
        f.RetCodes,
        [("SERVING".to_string(), 970), ("ERROR".to_string(), 32)].into()
    );
    assert_eq!(f.RunType, "GRPC");
    assert_eq!(f.URL, "");
    assert_eq!(f.Destination.as_deref(), Some("127.0.0.1:10000"));
    assert!(f.H2);
    // Errors were counted, so there is no empty errors histogram to claim none.
    assert!(f.ErrorsDurationHistogram.is_none());
    let json: Value = serde_json::from_str(&fortio::render(&run)).unwrap();
    assert_eq!(json["RetCodes"]["SERVING"], 970);
    assert_eq!(json["Destination"], "127.0.0.1:10000");

    // All OK: no ERROR key (Fortio only writes the keys it counted), an empty errors histogram.
    let mut all_ok = run.clone();
    let load = &mut all_ok
        .steps
        .iter_mut()
        .find(|s| s.name == "envoy")
        .unwrap()
        .load;
    load.grpc_statuses = [("OK".to_string(), 1000)].into();
    load.failures.clear();
    let f = fortio::results(&all_ok, all_ok.step("envoy").unwrap());
    assert_eq!(f.RetCodes, [("SERVING".to_string(), 1000)].into());
    assert!(f.ErrorsDurationHistogram.is_some());
}
