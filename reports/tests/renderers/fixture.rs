//! A run result to render: two steps with real HdrHistogram windows, and every string a user
//! controls set to something hostile.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{TimeZone, Utc};
use gauntlet_reports::*;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Markup, quotes and Markdown specials in one string.
pub const NASTY: &str = "<script>alert(1)</script> \"dq\" 'sq' & a|b *em* _u_ [x](y) `c` $m$";

/// The run: baseline and envoy steps, events, xDS pushes with a NACK, gates, mocks.
pub fn run() -> RunResult {
    let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    RunResult {
        schema: SCHEMA.into(),
        gauntlet_version: "0.1.0".into(),
        name: format!("canary {NASTY}"),
        phase: "resilience".into(),
        status: RunStatus::Completed,
        error: None,
        started_at: at,
        finished_at: at + chrono::Duration::milliseconds(12_500),
        machine: Machine {
            hostname: format!("host {NASTY}"),
            os: "Debian".into(),
            kernel: "6.1".into(),
            cpus: 8,
            cpu_model: "EPYC".into(),
        },
        envoy: Some(EnvoyInfo {
            version: "1.40.0".into(),
            build: "abc/1.40.0/Clean/RELEASE/BoringSSL".into(),
            binary: "/opt/envoy".into(),
            source: "managed".into(),
            concurrency: 2,
            ..Default::default()
        }),
        scenario: serde_json::json!({ "name": NASTY }),
        steps: vec![step("baseline", 1000, 0), step("envoy", 1400, 5)],
        added_latency: Some(AddedLatency {
            p50_ms: 0.25,
            p90_ms: 0.5,
            p99_ms: 1.25,
            p999_ms: 2.5,
        }),
        events: vec![
            event(&format!("shift {NASTY}"), 1.5, None),
            event("bad-push", 2.5, Some(&format!("rejected: {NASTY}"))),
        ],
        xds: vec![
            push(None),
            push(Some(&format!("Proto constraint: {NASTY}"))),
        ],
        gates: vec![
            gate("latency.p99 < 50ms", true, 12.0, 50.0, "ms"),
            gate(
                &format!("errors.rate < 1% {NASTY}"),
                false,
                0.021,
                0.01,
                "ratio",
            ),
        ],
        sizing: None,
        graph: None,
    }
}

/// One step: a warmup window and three measured ones; every `slow`-th request in the envoy
/// step is slow and the envoy step has a few 503s and timeouts.
pub fn step(name: &str, base_us: u64, errors: u64) -> StepResult {
    let mut windows = Vec::new();
    let mut all = Histogram::<u64>::new(3).unwrap();
    for i in 0..4u64 {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for r in 0..200u64 {
            h.record(base_us + r * 7 + i * 50).unwrap();
        }
        h.record(base_us * 30 + i).unwrap();
        let warmup = i == 0;
        if !warmup {
            all.add(&h).unwrap();
        }
        windows.push(Window {
            t_s: i as f64,
            warmup,
            requests: h.len(),
            responses: h.len(),
            statuses: BTreeMap::from([("200".to_string(), h.len())]),
            failures: 0,
            errors: if i == 2 { errors } else { 0 },
            rps: h.len() as f64,
            p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
            max_ms: h.max() as f64 / 1000.0,
            histogram: Some(encode(&h)),
        });
    }
    let ms = |v: u64| v as f64 / 1000.0;
    let latency = Percentiles {
        count: all.len(),
        min_ms: ms(all.min()),
        mean_ms: all.mean() / 1000.0,
        p50_ms: ms(all.value_at_quantile(0.5)),
        p90_ms: ms(all.value_at_quantile(0.9)),
        p99_ms: ms(all.value_at_quantile(0.99)),
        p999_ms: ms(all.value_at_quantile(0.999)),
        max_ms: ms(all.max()),
    };
    let failed = if errors > 0 { 2 } else { 0 };
    let requests = all.len() + failed;
    let mut statuses = BTreeMap::from([("200".to_string(), all.len() - errors)]);
    let mut failures = BTreeMap::new();
    if errors > 0 {
        statuses.insert("503".into(), errors);
        failures.insert("timeout".to_string(), failed);
        failures.insert("reset".to_string(), 0);
    }
    let stats_at = |t: f64, n: u64| StatSample {
        t_s: t,
        stats: BTreeMap::from([
            (format!("cluster.{NASTY}.upstream_rq_retry"), n),
            ("cluster.backend.upstream_rq_timeout".to_string(), 0),
            ("server.memory_allocated".to_string(), 1 << 20),
        ]),
    };
    StepResult {
        name: name.into(),
        targets: vec!["127.0.0.1:10000".into()],
        load: LoadSummary {
            mode: "open".into(),
            target_rps: Some(200.0),
            concurrency: None,
            connections: 8,
            protocol: "http1".into(),
            duration_s: 3.0,
            warmup_s: 1.0,
            requests,
            responses: all.len(),
            statuses,
            grpc_statuses: BTreeMap::new(),
            failures,
            error_rate: (errors + failed) as f64 / requests as f64,
            achieved_rps: 200.5,
            latency,
            latency_uncorrected: latency,
            send_lateness: None,
            saturation: Saturation {
                client_bound: name == "envoy",
                reason: Some(format!("late sends {NASTY}")),
                connections_busy: 0.0,
                client_cpu: 0.5,
            },
            windows,
            cut_short: false,
        },
        envoy_stats: BTreeMap::new(),
        mocks: BTreeMap::from([(
            format!("backend {NASTY}"),
            MockCounts {
                requests: all.len(),
                statuses: BTreeMap::from([("200".to_string(), all.len())]),
                grpc_statuses: BTreeMap::new(),
                endpoints: vec![all.len() / 2, all.len() - all.len() / 2],
                hung: 1,
                reset: 2,
                closed: 3,
            },
        )]),
        envoy_series: if name == "envoy" {
            vec![stats_at(0.0, 0), stats_at(1.5, 4), stats_at(3.0, 9)]
        } else {
            Vec::new()
        },
        resources: (0..4)
            .map(|i| ResourceSample {
                t_s: f64::from(i),
                envoy_cpu: (name == "envoy").then_some(0.25 + 0.05 * f64::from(i)),
                envoy_rss_mb: (name == "envoy").then_some(40.0 + f64::from(i)),
                gauntlet_cpu: 0.5,
                gauntlet_rss_mb: 20.0,
                ..Default::default()
            })
            .collect(),
        resource_summary: (name == "envoy").then_some(ResourceSummary {
            envoy_cpu_mean: 0.35,
            envoy_cpu_max: 0.4,
            envoy_cpu_per_krps: 1.75,
            envoy_rss_max_mb: 43.0,
            gauntlet_cpu_mean: 0.5,
            ..Default::default()
        }),
    }
}

/// A histogram as the run stores it: V2 deflate, base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut buf).unwrap();
    base64::engine::general_purpose::STANDARD.encode(buf)
}

fn event(label: &str, at: f64, error: Option<&str>) -> EventRecord {
    EventRecord {
        label: label.into(),
        action: format!("route main → {NASTY}"),
        at_s: at,
        applied_s: at + 0.01,
        step: "envoy".into(),
        ack_ms: Some(4.5),
        error: error.map(str::to_string),
    }
}

fn push(nack: Option<&str>) -> XdsPush {
    let at = Utc.timestamp_opt(1_800_000_001, 0).unwrap();
    XdsPush {
        node: "gauntlet".into(),
        resource_type: "route".into(),
        version: if nack.is_some() { "2" } else { "1" }.into(),
        nonce: "n".into(),
        resources: vec![format!("main {NASTY}")],
        sent_at: at,
        acked_at: nack.is_none().then_some(at),
        nacked_at: nack.map(|_| at),
        ack_ms: nack.is_none().then_some(7.25),
        error: nack.map(str::to_string),
    }
}

fn gate(text: &str, passed: bool, measured: f64, threshold: f64, unit: &str) -> GateResult {
    GateResult {
        gate: text.into(),
        passed,
        measured: Some(measured),
        threshold: Some(threshold),
        unit: unit.into(),
        window: format!("whole envoy step {NASTY}"),
        detail: format!("{text}: {}", if passed { "pass" } else { "FAIL" }),
    }
}

/// The real result of `scenarios/resilience/chaos-timeline.yaml` (Envoy stats trimmed).
pub fn chaos_timeline() -> RunResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/chaos-timeline.result.json"
    );
    json::read(std::path::Path::new(path)).unwrap()
}
