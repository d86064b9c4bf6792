//! Measuring one metric over one scope of a result. `Err` is the reason a value cannot be
//! measured, in words, for the gate's `detail`.

use std::io::Cursor;

use base64::Engine;
use gauntlet_reports::{LoadSummary, Percentiles, RunResult, StepResult};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use super::metric::{LatencyStat, Measure, Metric, MetricRef, StatusMatch, Step};
use super::suggest::closest;
use super::window::{counter_over, gauge_max, is_gauge, missing_stat, secs, select, Span};
use super::Scope;

/// A measured value and what a reader needs to trust it (` (291 of 10000)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub value: f64,
    /// Starts with a space when not empty.
    pub note: String,
}

impl Measured {
    fn plain(value: f64) -> Measured {
        Measured {
            value,
            note: String::new(),
        }
    }

    fn noted(value: f64, note: String) -> Measured {
        Measured {
            value,
            note: format!(" ({note})"),
        }
    }
}

/// Measures `m` over `scope` of `result`.
pub fn measure(m: &MetricRef, scope: &Scope, result: &RunResult) -> Result<Measured, String> {
    let run_wide = |what: &str| -> Result<(), String> {
        match scope {
            Scope::WholeStep => Ok(()),
            _ => Err(format!(
                "{what} is measured over the whole run only; drop the window"
            )),
        }
    };
    match &m.metric {
        Metric::Added(stat) => {
            run_wide("added latency")?;
            let a = result
                .added_latency
                .ok_or("the run has no added latency (it needs a baseline step)")?;
            Ok(Measured::plain(match stat {
                LatencyStat::P50 => a.p50_ms,
                LatencyStat::P90 => a.p90_ms,
                LatencyStat::P99 => a.p99_ms,
                _ => a.p999_ms,
            }))
        }
        Metric::XdsAck(stat) => {
            run_wide("xDS ACK time")?;
            xds_ack(result, *stat)
        }
        Metric::XdsPushes => {
            run_wide("the number of xDS pushes")?;
            Ok(Measured::plain(result.xds.len() as f64))
        }
        Metric::XdsNacks => {
            run_wide("the number of xDS NACKs")?;
            let n = result.xds.iter().filter(|p| p.nacked_at.is_some()).count();
            Ok(Measured::noted(
                n as f64,
                format!("of {} pushes", result.xds.len()),
            ))
        }
        _ => {
            let name = m.step.unwrap_or(Step::Envoy).name();
            let step = result
                .step(name)
                .ok_or_else(|| format!("the run has no {name} step"))?;
            if let Metric::Grpc(..) = m.metric {
                grpc_step(step)?;
            }
            match scope {
                Scope::WholeStep => whole(&m.metric, step),
                _ => windowed(&m.metric, step, &select(scope, step, &result.events)?),
            }
        }
    }
}

/// Over the step's totals.
fn whole(metric: &Metric, step: &StepResult) -> Result<Measured, String> {
    let load = &step.load;
    let failures: u64 = load.failures.values().sum();
    let ended = load.responses + failures;
    Ok(match metric {
        Metric::Latency { corrected, stat } => {
            let p = if *corrected {
                &load.latency
            } else {
                &load.latency_uncorrected
            };
            if p.count == 0 {
                return Err("the step has no responses".into());
            }
            Measured::plain(pick(p, *stat))
        }
        Metric::Errors(m) => share(
            *m,
            failures + status_count(load, StatusMatch::Class(5)) + grpc_errors(load),
            ended,
        )?,
        Metric::Status(s, m) => share(*m, status_count(load, *s), ended)?,
        Metric::Grpc(code, m) => {
            let n = load.grpc_statuses.get(grpc_name(*code)).copied();
            share(*m, n.unwrap_or(0), ended)?
        }
        Metric::Failures(kind, m) => {
            let n = match kind {
                Some(k) => load.failures.get(k).copied().unwrap_or(0),
                None => failures,
            };
            share(*m, n, ended)?
        }
        Metric::Requests => Measured::plain(load.requests as f64),
        Metric::Responses => Measured::plain(load.responses as f64),
        Metric::Rps => Measured::plain(load.achieved_rps),
        Metric::Envoy(name) => match step.envoy_stats.get(name) {
            Some(v) => Measured::plain(*v as f64),
            None => return Err(missing_stat(step, name)),
        },
        Metric::MockRequests(u) => Measured::plain(mock(step, u)?.requests as f64),
        Metric::MockStatus(u, s) => {
            let counts = mock(step, u)?;
            let n: u64 = counts
                .statuses
                .iter()
                .filter(|(code, _)| s.matches(code))
                .map(|(_, n)| n)
                .sum();
            Measured::noted(n as f64, format!("of {} requests", counts.requests))
        }
        Metric::Added(_) | Metric::XdsAck(_) | Metric::XdsPushes | Metric::XdsNacks => {
            return Err("not a per-step metric".into())
        }
    })
}

/// Over the windows of `span`.
fn windowed(metric: &Metric, step: &StepResult, span: &Span) -> Result<Measured, String> {
    let ws = &span.windows;
    let sum =
        |f: &dyn Fn(&gauntlet_reports::Window) -> u64| -> u64 { ws.iter().map(|w| f(w)).sum() };
    let ended = sum(&|w| w.responses + w.failures);
    Ok(match metric {
        Metric::Latency {
            corrected: true,
            stat,
        } => {
            let h = merged(span)?;
            let us = |v: u64| v as f64 / 1000.0;
            let value = match stat.quantile() {
                Some(q) => us(h.value_at_quantile(q)),
                None if *stat == LatencyStat::Max => us(h.max()),
                None if *stat == LatencyStat::Min => us(h.min()),
                None => h.mean() / 1000.0,
            };
            Measured::noted(
                value,
                format!("{} responses in {} windows", h.len(), ws.len()),
            )
        }
        Metric::Latency {
            corrected: false, ..
        } => {
            return Err(
                "uncorrected latency is kept for the whole step only (windows hold \
                        latency from the intended send time)"
                    .into(),
            )
        }
        Metric::Errors(m) => share(*m, sum(&|w| w.errors), ended)?,
        Metric::Status(s, m) => {
            let n = sum(&|w| {
                w.statuses
                    .iter()
                    .filter(|(c, _)| s.matches(c))
                    .map(|(_, n)| n)
                    .sum()
            });
            share(*m, n, ended)?
        }
        Metric::Grpc(code, m) => {
            // Windows key gRPC calls by status name, beside HTTP codes.
            let name = grpc_name(*code);
            share(
                *m,
                sum(&|w| w.statuses.get(name).copied().unwrap_or(0)),
                ended,
            )?
        }
        Metric::Failures(None, m) => share(*m, sum(&|w| w.failures), ended)?,
        Metric::Failures(Some(_), _) => {
            return Err(
                "failures by kind are kept for the whole step only; in a window use \
                        `failures.count` or `failures.rate`"
                    .into(),
            )
        }
        Metric::Requests => Measured::plain(sum(&|w| w.requests) as f64),
        Metric::Responses => Measured::plain(sum(&|w| w.responses) as f64),
        Metric::Rps => {
            let secs_total = span.secs;
            let responses = sum(&|w| w.responses);
            Measured::noted(
                responses as f64 / secs_total.max(f64::MIN_POSITIVE),
                format!("{responses} responses in {}", secs(secs_total)),
            )
        }
        Metric::Envoy(name) if is_gauge(name) => {
            let (max, n) = gauge_max(step, name, span)?;
            Measured::noted(max as f64, format!("gauge, largest of {n} samples"))
        }
        Metric::Envoy(name) => {
            let (a, b) = counter_over(step, name, span)?;
            Measured::noted((b - a) as f64, format!("counter, {a} → {b}"))
        }
        Metric::MockRequests(_) | Metric::MockStatus(..) => {
            return Err(
                "mock counts cover the whole step only; drop the window, or gate on \
                        `envoy.cluster.<name>.upstream_rq_total`"
                    .into(),
            )
        }
        Metric::Added(_) | Metric::XdsAck(_) | Metric::XdsPushes | Metric::XdsNacks => {
            return Err("not a per-step metric".into())
        }
    })
}

/// The windows' latency histograms merged into one.
fn merged(span: &Span) -> Result<Histogram<u64>, String> {
    let mut all: Histogram<u64> = Histogram::new(3).map_err(|e| e.to_string())?;
    for w in &span.windows {
        let Some(blob) = &w.histogram else {
            if w.responses == 0 {
                continue;
            }
            return Err(format!(
                "the window at {} has {} responses but no latency histogram",
                secs(w.t_s),
                w.responses
            ));
        };
        let bad = |e: String| {
            format!(
                "the window at {} has an unreadable histogram: {e}",
                secs(w.t_s)
            )
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(blob)
            .map_err(|e| bad(e.to_string()))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut Cursor::new(bytes))
            .map_err(|e| bad(format!("{e:?}")))?;
        all.add(&h).map_err(|e| bad(format!("{e:?}")))?;
    }
    if all.is_empty() {
        return Err("there were no responses in it".into());
    }
    Ok(all)
}

fn pick(p: &Percentiles, stat: LatencyStat) -> f64 {
    match stat {
        LatencyStat::P50 => p.p50_ms,
        LatencyStat::P90 => p.p90_ms,
        LatencyStat::P99 => p.p99_ms,
        LatencyStat::P999 => p.p999_ms,
        LatencyStat::Max => p.max_ms,
        LatencyStat::Mean => p.mean_ms,
        LatencyStat::Min => p.min_ms,
    }
}

/// `n` as a count, or as a share of `of` requests that ended.
fn share(m: Measure, n: u64, of: u64) -> Result<Measured, String> {
    match m {
        Measure::Count => Ok(Measured::plain(n as f64)),
        Measure::Rate if of == 0 => Err("no request ended in it, so there is no rate".into()),
        Measure::Rate => Ok(Measured::noted(
            n as f64 / of as f64,
            format!("{n} of {of}"),
        )),
    }
}

/// gRPC calls that did not end `OK`: errors like 5xx answers.
fn grpc_errors(load: &LoadSummary) -> u64 {
    load.grpc_statuses
        .iter()
        .filter(|(name, _)| *name != "OK")
        .map(|(_, n)| n)
        .sum()
}

/// The status name the result model keys gRPC calls by, e.g. 14 → `UNAVAILABLE`.
fn grpc_name(code: u8) -> &'static str {
    gauntlet_mocks::grpc::code_name(code).unwrap_or("UNKNOWN")
}

/// A `grpc.*` gate reads a step of gRPC calls: on an HTTP step it would count nothing and
/// pass whatever it asks, so it cannot be measured there.
fn grpc_step(step: &StepResult) -> Result<(), String> {
    if step.load.protocol == "grpc" {
        return Ok(());
    }
    Err(format!(
        "the {} step made {} requests, not gRPC calls; `grpc.*` counts gRPC statuses (use `status.<code>.*` for HTTP)",
        step.name, step.load.protocol
    ))
}

fn status_count(load: &LoadSummary, s: StatusMatch) -> u64 {
    load.statuses
        .iter()
        .filter(|(code, _)| s.matches(code))
        .map(|(_, n)| n)
        .sum()
}

fn mock<'a>(
    step: &'a StepResult,
    upstream: &str,
) -> Result<&'a gauntlet_reports::MockCounts, String> {
    step.mocks.get(upstream).ok_or_else(|| {
        let names: Vec<&str> = step.mocks.keys().map(String::as_str).collect();
        let mut why = format!("the {} step has no mock upstream `{upstream}`", step.name);
        match closest(upstream, &names) {
            Some(s) => why.push_str(&format!("; did you mean `mocks.{s}`?")),
            None if !names.is_empty() => {
                why.push_str(&format!(" (upstreams: {})", names.join(", ")))
            }
            None => {}
        }
        why
    })
}

/// Push → ACK time over every ACKed push (nearest-rank percentiles).
fn xds_ack(result: &RunResult, stat: LatencyStat) -> Result<Measured, String> {
    let mut acks: Vec<f64> = result.xds.iter().filter_map(|p| p.ack_ms).collect();
    if acks.is_empty() {
        return Err(format!(
            "no xDS push was ACKed (of {} pushes)",
            result.xds.len()
        ));
    }
    acks.sort_by(f64::total_cmp);
    let n = acks.len();
    let value = match stat.quantile() {
        Some(q) => acks[((q * n as f64).ceil() as usize).clamp(1, n) - 1],
        None if stat == LatencyStat::Max => acks[n - 1],
        None if stat == LatencyStat::Min => acks[0],
        None => acks.iter().sum::<f64>() / n as f64,
    };
    Ok(Measured::noted(value, format!("{n} ACKed pushes")))
}
