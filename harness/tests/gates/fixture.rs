//! The run every gate test reads: see `gates.rs` for what is in it.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{TimeZone, Utc};
use gauntlet_reports::{
    AddedLatency, EventRecord, LoadSummary, Machine, MockCounts, Percentiles, RunResult, RunStatus,
    StatSample, StepResult, Window, XdsPush,
};
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

fn hist(values_us: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).unwrap();
    for &(v, n) in values_us {
        h.record_n(v, n).unwrap();
    }
    h
}

/// A histogram as the result model stores it: base64 of HdrHistogram V2 deflate.
fn blob(h: &Histogram<u64>) -> Option<String> {
    if h.is_empty() {
        return None;
    }
    let mut buf = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut buf).unwrap();
    Some(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// One second: `ok` 200s at `ok_us`, `s503` 503s at `err_us`, `failures` failed requests.
pub fn window(t_s: f64, warmup: bool, ok: u64, s503: u64, failures: u64, ok_us: u64) -> Window {
    let h = hist(&[(ok_us, ok), (40_000, s503)]);
    let mut statuses = BTreeMap::new();
    statuses.insert("200".to_string(), ok);
    if s503 > 0 {
        statuses.insert("503".to_string(), s503);
    }
    Window {
        t_s,
        warmup,
        requests: ok + s503 + failures,
        responses: ok + s503,
        statuses,
        failures,
        errors: failures + s503,
        rps: (ok + s503) as f64,
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
        histogram: blob(&h),
    }
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |us: u64| us as f64 / 1000.0;
    Percentiles {
        count: h.len(),
        min_ms: ms(h.min()),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.5)),
        p90_ms: ms(h.value_at_quantile(0.9)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

/// A step whose totals are those of its non-warmup windows.
fn step(name: &str, windows: Vec<Window>, ok_us: u64, timeouts: u64) -> StepResult {
    let measured: Vec<&Window> = windows.iter().filter(|w| !w.warmup).collect();
    let mut statuses = BTreeMap::new();
    let mut all = Histogram::<u64>::new(3).unwrap();
    for w in &measured {
        for (c, n) in &w.statuses {
            *statuses.entry(c.clone()).or_insert(0) += n;
        }
        let s503 = w.statuses.get("503").copied().unwrap_or(0);
        all.add(hist(&[(ok_us, w.responses - s503), (40_000, s503)]))
            .unwrap();
    }
    let responses: u64 = measured.iter().map(|w| w.responses).sum();
    let requests: u64 = measured.iter().map(|w| w.requests).sum();
    let mut failures = BTreeMap::new();
    failures.insert("timeout".to_string(), timeouts);
    let latency = percentiles(&all);
    StepResult {
        name: name.into(),
        targets: vec!["127.0.0.1:10000".into()],
        load: LoadSummary {
            mode: "open".into(),
            target_rps: Some(100.0),
            connections: 4,
            protocol: "http1".into(),
            duration_s: 10.0,
            warmup_s: 2.0,
            requests,
            responses,
            statuses,
            failures,
            error_rate: 0.0,
            achieved_rps: responses as f64 / 10.0,
            latency,
            latency_uncorrected: Percentiles {
                p99_ms: latency.p99_ms / 2.0,
                ..latency
            },
            windows,
            ..LoadSummary::default()
        },
        envoy_stats: BTreeMap::new(),
        mocks: BTreeMap::new(),
        envoy_series: Vec::new(),
        ..StepResult::default()
    }
}

fn envoy_step() -> StepResult {
    let mut ws = vec![
        window(0.0, true, 50, 0, 0, 5_000),
        window(1.0, true, 50, 0, 0, 5_000),
    ];
    for t in 2..12 {
        ws.push(match t {
            6 | 7 => window(t as f64, false, 90, 10, 0, 1_000),
            8 => window(t as f64, false, 95, 0, 5, 1_000),
            _ => window(t as f64, false, 100, 0, 0, 1_000),
        });
    }
    let mut s = step("envoy", ws, 1_000, 5);
    let retry = "cluster.backend.upstream_rq_retry";
    let active = "cluster.backend.upstream_cx_active";
    for i in 0..12u64 {
        let mut stats = BTreeMap::new();
        stats.insert(retry.to_string(), 10 * i.clamp(6, 9) - 60);
        stats.insert(active.to_string(), if i == 7 { 9 } else { 4 });
        s.envoy_series.push(StatSample {
            t_s: i as f64 + 0.05,
            stats,
        });
    }
    s.envoy_stats.insert(retry.into(), 30);
    s.envoy_stats.insert(active.into(), 4);
    s.envoy_stats
        .insert("cluster.backend.upstream_rq_total".into(), 1000);
    s.envoy_stats
        .insert("cluster.backend.upstream_rq_503".into(), 20);
    s.mocks
        .insert("backend".into(), mock(1000, &[("200", 990), ("503", 10)]));
    s.mocks.insert("shadow".into(), mock(995, &[("200", 995)]));
    s
}

fn mock(requests: u64, statuses: &[(&str, u64)]) -> MockCounts {
    MockCounts {
        requests,
        statuses: statuses.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
        endpoints: vec![requests],
        ..MockCounts::default()
    }
}

fn baseline_step() -> StepResult {
    let mut ws = vec![
        window(0.0, true, 50, 0, 0, 500),
        window(1.0, true, 50, 0, 0, 500),
    ];
    ws.extend((2..12).map(|t| window(t as f64, false, 100, 0, 0, 500)));
    step("baseline", ws, 500, 0)
}

fn push(ack_ms: Option<f64>, nack: bool) -> XdsPush {
    let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    XdsPush {
        node: "gauntlet".into(),
        resource_type: "route".into(),
        version: "1".into(),
        nonce: "1".into(),
        resources: vec!["routes".into()],
        sent_at: at,
        acked_at: ack_ms.map(|_| at),
        nacked_at: nack.then_some(at),
        ack_ms,
        error: nack.then(|| "bad <route> & \"quotes\"".to_string()),
    }
}

pub fn run() -> RunResult {
    let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    RunResult {
        schema: gauntlet_reports::SCHEMA.into(),
        gauntlet_version: "0.1.0".into(),
        name: "canary".into(),
        phase: "single-service".into(),
        status: RunStatus::Completed,
        error: None,
        started_at: at,
        finished_at: at + chrono::Duration::seconds(30),
        machine: Machine::default(),
        envoy: None,
        scenario: serde_json::Value::Null,
        steps: vec![baseline_step(), envoy_step()],
        added_latency: Some(AddedLatency {
            p50_ms: 0.5,
            p90_ms: 0.5,
            p99_ms: 39.5,
            p999_ms: 39.5,
        }),
        events: vec![EventRecord {
            label: "shift".into(),
            action: "set route".into(),
            at_s: 6.0,
            applied_s: 6.02,
            step: "envoy".into(),
            ack_ms: Some(2.0),
            error: None,
        }],
        xds: vec![
            push(Some(1.0), false),
            push(Some(3.0), false),
            push(Some(2.0), false),
            push(None, true),
        ],
        gates: Vec::new(),
        sizing: None,
        graph: None,
    }
}
