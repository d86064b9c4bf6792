//! Fortio-compatible JSON: one step as Fortio's `fhttp.HTTPRunnerResults`, so Fortio's report
//! UI (`fortio report`, or `fortio server` with `-data-dir`) can browse Gauntlet runs beside
//! its own.
//!
//! Field names, order and JSON types follow Fortio's Go structs (`periodic.RunnerResults`,
//! `fhttp.HTTPOptions` with its embedded `TLSOptions`, `stats.HistogramData`), as
//! `encoding/json` writes them: `time.Duration` as integer nanoseconds, `time.Time` as
//! RFC 3339, latencies in seconds, `map[int]int64` with the codes as string keys (sorted as
//! strings, as Go sorts map keys), nil pointers and slices as `null`.
//!
//! What comes from where:
//! - `Count`, `Min`, `Max`, `Avg` and `Percentiles` (50, 90, 99, 99.9) are the model's
//!   figures for the step (`load.latency`), converted from ms to s. `Sum` is `Avg × Count`,
//!   the same figure in Fortio's other unit. `StdDev` is not in the model and is written as 0.
//! - `Data` (the histogram buckets Fortio's UI draws) is the one thing the model holds only
//!   as per-second HdrHistogram blobs (`Window.histogram`). Fortio's format needs the
//!   distribution as buckets, so this exporter decodes the step's non-warmup window blobs and
//!   adds their counts bucket by bucket into one histogram, then writes each recorded
//!   bucket as a Fortio bucket. That is a change of format of counts already measured —
//!   no percentile, mean or rate is computed from it. When any non-warmup window lacks its
//!   blob, the buckets would not match `Count`, so one bucket spanning `[Min, Max]` is
//!   written instead (what Fortio itself writes for a narrow distribution).
//! - `RetCodes` are the step's responses by status, plus Fortio's `-1` for requests that got
//!   no response (all failure kinds together). A gRPC step is written as Fortio's gRPC
//!   runner writes its `fgrpc.GRPCRunnerResults`: `RetCodes` keyed by name, `SERVING` for the
//!   calls that ended `OK` and `ERROR` for every other call (any other status, and calls that
//!   got no answer: Fortio counts every call that returned an error there), with `RunType`
//!   `GRPC`, the target as `Destination` and no `URL`, so Fortio's UI counts errors as
//!   `Count − SERVING`. The per-code breakdown stays in `result.json` (`grpc_statuses`).
//! - `ErrorsDurationHistogram` is Fortio's latency histogram of non-OK requests (not 2xx or
//!   418). The model has no separate latency for those, so it is an empty histogram when
//!   there were none and `null` otherwise (Fortio's UI then counts errors from `RetCodes`).
//! - `Sizes`, `HeaderSizes`, `ConnectionStats`, `Sockets`, `IPCountMap`: not measured, `null`.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::SecondsFormat;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::model::{RunResult, StepResult};

/// Fortio's `fhttp.HTTPRunnerResults`, flattened the way Go's `encoding/json` flattens its
/// embedded structs.
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRunnerResults {
    pub RunType: String,
    pub Labels: String,
    pub StartTime: String,
    pub RequestedQPS: String,
    pub RequestedDuration: String,
    pub ActualQPS: f64,
    pub ActualDuration: i64,
    pub NumThreads: i64,
    pub Version: String,
    pub DurationHistogram: Option<HistogramData>,
    pub ErrorsDurationHistogram: Option<HistogramData>,
    pub Exactly: i64,
    pub Jitter: bool,
    pub Uniform: bool,
    pub NoCatchUp: bool,
    pub RunID: i64,
    pub AccessLoggerInfo: String,
    pub ID: String,
    /// HTTP: status code (as a string, `-1` for no response) → count; gRPC: `SERVING` /
    /// `ERROR` → count.
    pub RetCodes: BTreeMap<String, i64>,
    pub IPCountMap: Option<BTreeMap<String, i64>>,
    pub Insecure: bool,
    pub MTLS: bool,
    pub CACert: String,
    pub Cert: String,
    pub Key: String,
    pub UnixDomainSocket: String,
    pub URL: String,
    pub NumConnections: i64,
    pub Compression: bool,
    pub DisableFastClient: bool,
    pub HTTP10: bool,
    pub H2: bool,
    pub DisableKeepAlive: bool,
    pub AllowHalfClose: bool,
    pub FollowRedirects: bool,
    pub Resolve: String,
    pub HTTPReqTimeOut: i64,
    pub UserCredentials: String,
    pub ContentType: String,
    /// Go `[]byte`: base64 text, or `null` for none.
    pub Payload: Option<String>,
    pub MethodOverride: String,
    pub LogErrors: bool,
    pub SequentialWarmup: bool,
    pub ConnReuseRange: [i64; 2],
    pub NoResolveEachConn: bool,
    pub Offset: i64,
    pub Resolution: f64,
    pub Sizes: Option<HistogramData>,
    pub HeaderSizes: Option<HistogramData>,
    pub Sockets: Option<Vec<i64>>,
    pub SocketCount: i64,
    pub ConnectionStats: Option<HistogramData>,
    pub AbortOn: i64,
    /// gRPC only (`fgrpc.GRPCRunnerResults`): the target, `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub Destination: Option<String>,
}

/// Fortio's `stats.HistogramData`; values in seconds for latencies.
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramData {
    pub Count: i64,
    pub Min: f64,
    pub Max: f64,
    pub Sum: f64,
    pub Avg: f64,
    pub StdDev: f64,
    pub Data: Vec<Bucket>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub Percentiles: Vec<Percentile>,
}

/// Fortio's `stats.Bucket`: an interval `[Start, End]`, the cumulative percent at its end
/// and its own count.
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub Start: f64,
    pub End: f64,
    pub Percent: f64,
    pub Count: i64,
}

/// Fortio's `stats.Percentile`.
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    pub Percentile: f64,
    pub Value: f64,
}

/// Renders the `envoy` step (or the last step when there is none) as Fortio JSON; `{}` when
/// the run has no step at all.
pub fn render(result: &RunResult) -> String {
    let step = result.step("envoy").or(result.steps.last());
    match step {
        Some(s) => to_json(&results(result, s)),
        None => "{}\n".to_string(),
    }
}

/// Renders the named step as Fortio JSON; `None` when the run has no such step.
pub fn render_step(result: &RunResult, step: &str) -> Option<String> {
    result.step(step).map(|s| to_json(&results(result, s)))
}

fn to_json(r: &HttpRunnerResults) -> String {
    // Plain structs of strings, numbers and maps: serialising cannot fail.
    let mut s =
        serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// The Fortio view of one step.
pub fn results(run: &RunResult, step: &StepResult) -> HttpRunnerResults {
    let l = &step.load;
    let secs = |ms: f64| ms / 1000.0;
    let p = &l.latency;
    let grpc = l.protocol == "grpc";
    let ret_codes = if grpc {
        grpc_ret_codes(step)
    } else {
        http_ret_codes(step)
    };
    let not_ok: i64 = ret_codes
        .iter()
        .filter(|(c, _)| !ok_code(c))
        .map(|(_, n)| n)
        .sum();
    let duration = HistogramData {
        Count: p.count as i64,
        Min: secs(p.min_ms),
        Max: secs(p.max_ms),
        Sum: secs(p.mean_ms) * p.count as f64,
        Avg: secs(p.mean_ms),
        StdDev: 0.0,
        Data: buckets(step),
        Percentiles: [
            (50.0, p.p50_ms),
            (90.0, p.p90_ms),
            (99.0, p.p99_ms),
            (99.9, p.p999_ms),
        ]
        .iter()
        .map(|&(pc, v)| Percentile {
            Percentile: pc,
            Value: secs(v),
        })
        .collect(),
    };
    let errors = (not_ok == 0).then(|| HistogramData {
        Count: 0,
        Min: 0.0,
        Max: 0.0,
        Sum: 0.0,
        Avg: 0.0,
        StdDev: 0.0,
        Data: Vec::new(),
        Percentiles: Vec::new(),
    });
    let target = step.targets.first().cloned().unwrap_or_default();
    HttpRunnerResults {
        RunType: if grpc { "GRPC" } else { "HTTP" }.to_string(),
        Labels: format!("{} {} (gauntlet)", run.name, step.name),
        StartTime: run.started_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        RequestedQPS: match l.target_rps {
            Some(rps) => crate::markdown::trim(rps),
            None => "max".to_string(),
        },
        RequestedDuration: go_duration(l.duration_s),
        ActualQPS: l.achieved_rps,
        ActualDuration: (l.duration_s * 1e9).round() as i64,
        NumThreads: i64::from(l.connections),
        Version: format!("gauntlet-{}", run.gauntlet_version),
        DurationHistogram: Some(duration),
        ErrorsDurationHistogram: errors,
        Exactly: 0,
        Jitter: false,
        Uniform: false,
        NoCatchUp: false,
        RunID: 0,
        AccessLoggerInfo: String::new(),
        ID: id(run, step),
        RetCodes: ret_codes,
        IPCountMap: None,
        Insecure: false,
        MTLS: false,
        CACert: String::new(),
        Cert: String::new(),
        Key: String::new(),
        UnixDomainSocket: String::new(),
        URL: if target.is_empty() || grpc {
            String::new()
        } else {
            format!("http://{target}/")
        },
        // Fortio's fast client: one connection per thread.
        NumConnections: 1,
        Compression: false,
        DisableFastClient: false,
        HTTP10: false,
        H2: l.protocol.contains('2') || l.protocol == "grpc",
        DisableKeepAlive: false,
        AllowHalfClose: false,
        FollowRedirects: false,
        Resolve: String::new(),
        HTTPReqTimeOut: 0,
        UserCredentials: String::new(),
        ContentType: String::new(),
        Payload: None,
        MethodOverride: String::new(),
        LogErrors: false,
        SequentialWarmup: false,
        ConnReuseRange: [0, 0],
        NoResolveEachConn: false,
        Offset: 0,
        Resolution: 0.001,
        Sizes: None,
        HeaderSizes: None,
        Sockets: None,
        SocketCount: i64::from(l.connections),
        ConnectionStats: None,
        AbortOn: 0,
        Destination: grpc.then_some(target),
    }
}

/// Fortio's HTTP `RetCodes`: responses by status, and `-1` for requests with no response.
fn http_ret_codes(step: &StepResult) -> BTreeMap<String, i64> {
    let l = &step.load;
    let mut codes: BTreeMap<String, i64> = l
        .statuses
        .iter()
        .filter(|(code, _)| code.parse::<i64>().is_ok())
        .map(|(code, n)| (code.clone(), *n as i64))
        .collect();
    let failed: u64 = l.failures.values().sum();
    if failed > 0 {
        *codes.entry("-1".to_string()).or_default() += failed as i64;
    }
    codes
}

/// Fortio's gRPC `RetCodes`: `SERVING` for calls that ended `OK`, `ERROR` for the rest (any
/// other status, or no answer at all), each key only when counted.
fn grpc_ret_codes(step: &StepResult) -> BTreeMap<String, i64> {
    let l = &step.load;
    let ok = l.grpc_statuses.get("OK").copied().unwrap_or(0);
    let other: u64 = l
        .grpc_statuses
        .iter()
        .filter(|(name, _)| *name != "OK")
        .map(|(_, n)| n)
        .sum();
    let errors = other + l.failures.values().sum::<u64>();
    [(GRPC_OK, ok), (GRPC_ERROR, errors)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n as i64))
        .collect()
}

/// Fortio's gRPC `RetCodes` keys (`grpc_health_v1` `SERVING`, `fgrpc.Error`).
const GRPC_OK: &str = "SERVING";
const GRPC_ERROR: &str = "ERROR";

/// A code Fortio counts as success: 2xx and 418 (its echo server's teapot) for HTTP,
/// `SERVING` for gRPC.
fn ok_code(code: &str) -> bool {
    match code.parse::<i64>() {
        Ok(c) => (200..=299).contains(&c) || c == 418,
        Err(_) => code == GRPC_OK,
    }
}

/// Fortio's run id shape, `YYYY-MM-DD-HHMMSS_labels`, with only file-name-safe characters.
fn id(run: &RunResult, step: &StepResult) -> String {
    let raw = format!(
        "{}_{}_{}",
        run.started_at.format("%Y-%m-%d-%H%M%S"),
        run.name,
        step.name
    );
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Seconds as Go's `time.Duration.String()` writes them: `8s`, `1.5s`, `2m30s`.
fn go_duration(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as u64;
    let (h, m, s) = (
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms % 60_000) as f64 / 1000.0,
    );
    let s = crate::markdown::trim(s);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// The step's non-warmup window histograms as Fortio buckets (see the module doc for why this
/// exporter may decode them). Falls back to one `[Min, Max]` bucket when a blob is missing
/// or unreadable.
fn buckets(step: &StepResult) -> Vec<Bucket> {
    let p = &step.load.latency;
    if p.count == 0 {
        return Vec::new();
    }
    let single = vec![Bucket {
        Start: p.min_ms / 1000.0,
        End: p.max_ms / 1000.0,
        Percent: 100.0,
        Count: p.count as i64,
    }];
    let Some(merged) = decode_windows(step) else {
        return single;
    };
    if merged.len() != p.count {
        return single;
    }
    // Like Fortio's, the buckets are contiguous and cover exactly [Min, Max]: each one runs
    // from the previous one's end to the top of its HdrHistogram bucket.
    let mut start = p.min_ms / 1000.0;
    let mut out: Vec<Bucket> = merged
        .iter_recorded()
        .map(|v| {
            let end = (merged.highest_equivalent(v.value_iterated_to()) as f64 / 1e6).max(start);
            let b = Bucket {
                Start: start,
                End: end,
                Percent: v.percentile(),
                Count: v.count_since_last_iteration() as i64,
            };
            start = end;
            b
        })
        .collect();
    if let Some(last) = out.last_mut() {
        last.End = (p.max_ms / 1000.0).max(last.Start);
    }
    out
}

/// Decodes and adds up the non-warmup windows' histograms (µs); `None` if any is missing.
fn decode_windows(step: &StepResult) -> Option<Histogram<u64>> {
    let mut merged: Option<Histogram<u64>> = None;
    let mut de = Deserializer::new();
    for w in step.load.windows.iter().filter(|w| !w.warmup) {
        let blob = w.histogram.as_deref()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(blob)
            .ok()?;
        let mut h: Histogram<u64> = de.deserialize(&mut bytes.as_slice()).ok()?;
        match merged.as_mut() {
            None => {
                // Windows may have grown to different ranges: let the sum grow too.
                h.auto(true);
                merged = Some(h);
            }
            Some(m) => m.add(&h).ok()?,
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::go_duration;

    #[test]
    fn durations_as_go_writes_them() {
        let got: Vec<String> = [8.0, 1.5, 150.0, 3600.0, 0.25]
            .iter()
            .map(|s| go_duration(*s))
            .collect();
        assert_eq!(got, ["8s", "1.5s", "2m30s", "1h0m0s", "0.25s"]);
    }
}
