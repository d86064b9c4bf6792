//! Measurements → the result model. This is the one place statistics are computed
//! (percentiles, rates, error rates, added latency), so every renderer shows the same figures.

use std::collections::BTreeMap;

use gauntlet_mocks::UpstreamCounts;
use gauntlet_reports::{
    AddedLatency, LoadSummary, MockCounts, Percentiles, Saturation, StepResult, Window, XdsPush,
};
use hdrhistogram::Histogram;

use crate::load::{Failures, LoadOutcome, LoadPlan, Mode, Protocol, StatusCounts, WindowReport};
use crate::xds::PushLogEntry;

/// Percentiles of a histogram recorded in microseconds, in milliseconds.
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Percentiles {
        count: h.len(),
        min_ms: ms(h.min()),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

/// A load step's outcome as the result model holds it.
pub fn load(plan: &LoadPlan, o: &LoadOutcome) -> LoadSummary {
    let (mode, target_rps, concurrency) = match plan.mode {
        Mode::Open { rate } => ("open", Some(rate), None),
        Mode::Closed { concurrency } => ("closed", None, Some(concurrency)),
    };
    let open = target_rps.is_some();
    LoadSummary {
        mode: mode.to_string(),
        target_rps,
        concurrency,
        connections: o.connections,
        protocol: match plan.protocol {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
            Protocol::Grpc => "grpc",
        }
        .to_string(),
        duration_s: o.elapsed.as_secs_f64(),
        warmup_s: plan.warmup.as_secs_f64(),
        requests: o.requests_sent,
        responses: o.responses.total(),
        statuses: http_statuses(&o.responses),
        grpc_statuses: grpc_statuses(&o.responses),
        failures: failures(&o.failures),
        error_rate: error_rate(&o.responses, &o.failures),
        achieved_rps: o.achieved_rps,
        latency: percentiles(&o.corrected),
        latency_uncorrected: percentiles(&o.uncorrected),
        send_lateness: open.then(|| percentiles(&o.lateness)),
        saturation: Saturation {
            client_bound: o.client_bound,
            reason: o.saturation.reason.clone(),
            connections_busy: o.saturation.connections_busy,
            client_cpu: o.saturation.cpu_max().unwrap_or(0.0),
        },
        windows: o.windows.iter().map(window).collect(),
        cut_short: o.cancelled,
    }
}

/// One 1-second window as the result model holds it.
pub fn window(w: &WindowReport) -> Window {
    let responses = w.responses.total();
    let secs = w.length.as_secs_f64();
    // The window's figures were read from its histogram when it completed (see
    // `load::WindowLatency`); the same µs → ms conversion as `percentiles`.
    let ms = |us: u64| us as f64 / 1000.0;
    Window {
        t_s: w.start.as_secs_f64(),
        warmup: w.warmup,
        requests: w.sent,
        responses,
        statuses: statuses(&w.responses),
        failures: w.failures.total(),
        errors: w.failures.total() + w.responses.class(5) + grpc_errors(&w.responses),
        rps: if secs > 0.0 {
            responses as f64 / secs
        } else {
            0.0
        },
        p50_ms: ms(w.latency.p50_us),
        p99_ms: ms(w.latency.p99_us),
        max_ms: ms(w.latency.max_us),
        histogram: w.latency.histogram.clone(),
    }
}

/// Failures plus 5xx answers plus gRPC calls that did not end `OK`, over every request
/// that ended (answered or failed).
pub fn error_rate(responses: &StatusCounts, failures: &Failures) -> f64 {
    let ended = responses.total() + failures.total();
    if ended == 0 {
        return 0.0;
    }
    (responses.class(5) + grpc_errors(responses) + failures.total()) as f64 / ended as f64
}

/// gRPC calls that ended with a status other than `OK`. The load generator records a
/// call's gRPC code (0..=16) as its status; HTTP statuses have three digits.
fn grpc_errors(s: &StatusCounts) -> u64 {
    s.0.range(1..100).map(|(_, n)| n).sum()
}

/// Statuses as the result holds them: HTTP codes as numbers, gRPC codes by name.
fn statuses(s: &StatusCounts) -> BTreeMap<String, u64> {
    s.0.iter().map(|(c, n)| (status_name(*c), *n)).collect()
}

fn status_name(code: u16) -> String {
    u8::try_from(code)
        .ok()
        .and_then(gauntlet_mocks::grpc::code_name)
        .map_or_else(|| code.to_string(), str::to_string)
}

fn http_statuses(s: &StatusCounts) -> BTreeMap<String, u64> {
    s.0.range(100..).map(|(c, n)| (c.to_string(), *n)).collect()
}

fn grpc_statuses(s: &StatusCounts) -> BTreeMap<String, u64> {
    s.0.range(..100)
        .map(|(c, n)| (status_name(*c), *n))
        .collect()
}

/// gRPC answers by status name, from a mock's counts by code.
fn grpc_names(by_code: &BTreeMap<u8, u64>) -> BTreeMap<String, u64> {
    by_code
        .iter()
        .map(|(c, n)| (status_name(u16::from(*c)), *n))
        .collect()
}

fn failures(f: &Failures) -> BTreeMap<String, u64> {
    [
        ("connect", f.connect),
        ("reset", f.reset),
        ("timeout", f.timeout),
        ("protocol", f.protocol),
        ("other", f.other),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| (k.to_string(), n))
    .collect()
}

/// Every mock upstream's own counts since its last reset, as the result model has them.
pub fn mocks(counts: &BTreeMap<String, UpstreamCounts>) -> BTreeMap<String, MockCounts> {
    counts
        .iter()
        .map(|(name, c)| {
            let counts = MockCounts {
                requests: c.requests,
                statuses: c
                    .by_status
                    .iter()
                    .map(|(s, n)| (s.to_string(), *n))
                    .collect(),
                grpc_statuses: grpc_names(&c.by_grpc_status),
                endpoints: c.endpoints.iter().map(|e| e.requests).collect(),
                hung: c.hung,
                reset: c.reset,
                closed: c.closed,
            };
            (name.clone(), counts)
        })
        .collect()
}

/// Envoy step minus baseline step, per percentile, when both exist and have data.
pub fn added_latency(steps: &[StepResult]) -> Option<AddedLatency> {
    let base = &steps.iter().find(|s| s.name == "baseline")?.load.latency;
    let envoy = &steps.iter().find(|s| s.name == "envoy")?.load.latency;
    if base.count == 0 || envoy.count == 0 {
        return None;
    }
    Some(AddedLatency {
        p50_ms: envoy.p50_ms - base.p50_ms,
        p90_ms: envoy.p90_ms - base.p90_ms,
        p99_ms: envoy.p99_ms - base.p99_ms,
        p999_ms: envoy.p999_ms - base.p999_ms,
    })
}

/// The xDS push log as the result model holds it.
pub fn xds_log(log: &[PushLogEntry]) -> Vec<XdsPush> {
    log.iter()
        .map(|p| XdsPush {
            node: p.node.clone(),
            resource_type: p.resource_type.short_name().to_string(),
            version: p.version.to_string(),
            nonce: p.nonce.clone(),
            resources: p.resource_names.clone(),
            sent_at: p.sent_at,
            acked_at: p.acked_at,
            nacked_at: p.nacked_at,
            ack_ms: p.ack_latency.map(|d| d.as_secs_f64() * 1e3),
            error: p.error_detail.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_ms() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let p = percentiles(&h);
        assert_eq!(p.count, 1000);
        assert!((p.p50_ms - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99_ms - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max_ms - 1000.0).abs() < 1.0, "{p:?}");
    }

    #[test]
    fn window_histograms_round_trip() {
        use crate::load::encode_histogram;
        use base64::Engine;
        use hdrhistogram::serialization::Deserializer;
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in [100u64, 2_000, 35_000] {
            h.record(v).unwrap();
        }
        let blob = encode_histogram(&h).expect("non-empty");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(blob)
            .unwrap();
        let back: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back.max(), h.max());
        assert!(encode_histogram(&Histogram::<u64>::new(3).unwrap()).is_none());
    }

    #[test]
    fn a_compact_window_shows_the_figures_of_its_histogram() {
        use crate::load::{encode_histogram, WindowLatency};
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=5_000u64 {
            h.record(v * 37 % 90_001 + 50).unwrap();
        }
        let w = WindowReport {
            index: 4,
            start: std::time::Duration::from_secs(4),
            length: std::time::Duration::from_secs(1),
            warmup: false,
            sent: 5_000,
            responses: StatusCounts::default(),
            failures: Failures::default(),
            latency: WindowLatency::of(&h),
        };
        let (got, p) = (window(&w), percentiles(&h));
        assert_eq!(
            (got.p50_ms, got.p99_ms, got.max_ms),
            (p.p50_ms, p.p99_ms, p.max_ms)
        );
        assert_eq!(got.histogram, encode_histogram(&h));
        assert_eq!(w.latency.len(), h.len());
    }

    #[test]
    fn grpc_codes_are_named_and_non_ok_ones_are_errors() {
        // The load generator records a gRPC call's code (0..=16) as its status.
        let mut r = StatusCounts::default();
        r.add(0, 90);
        r.add(14, 7);
        r.add(4, 3);
        assert!((error_rate(&r, &Failures::default()) - 0.10).abs() < 1e-12);
        let named = grpc_statuses(&r);
        assert_eq!(named["OK"], 90);
        assert_eq!(named["UNAVAILABLE"], 7);
        assert_eq!(named["DEADLINE_EXCEEDED"], 3);
        assert!(http_statuses(&r).is_empty());
        r.add(200, 5);
        assert_eq!(http_statuses(&r).len(), 1);
        assert_eq!(
            statuses(&r)["UNAVAILABLE"],
            7,
            "windows name gRPC codes too"
        );
        assert_eq!(statuses(&r)["200"], 5);
    }

    #[test]
    fn error_rate_counts_5xx_and_failures() {
        let mut r = StatusCounts::default();
        r.add(200, 90);
        r.add(503, 5);
        r.add(404, 3);
        let f = Failures {
            timeout: 2,
            ..Failures::default()
        };
        assert!((error_rate(&r, &f) - 0.07).abs() < 1e-12);
        assert_eq!(
            error_rate(&StatusCounts::default(), &Failures::default()),
            0.0
        );
    }
}
