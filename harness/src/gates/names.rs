//! Metric names: parsed segment by segment so that an error points at the segment that is
//! wrong (`latency.p95`: the column of `p95`) and the hint offers the closest valid spelling.

use super::metric::{
    LatencyStat, Measure, Metric, StatusMatch, ADDED_STATS, BASELINE_PREFIX, FAILURE_KINDS,
    LATENCY_STATS,
};
use super::suggest::{closest, one_of};
use super::{syntax_error as err, GateSyntaxError};

/// Spellings offered when a metric's first segment is unknown.
const CATALOGUE: &[&str] = &[
    "latency.p50",
    "latency.p90",
    "latency.p99",
    "latency.p999",
    "latency.max",
    "latency.mean",
    "latency.min",
    "latency_uncorrected.p99",
    "added.p50",
    "added.p90",
    "added.p99",
    "added.p999",
    "errors.rate",
    "errors.count",
    "status.5xx.rate",
    "status.5xx.count",
    "status.503.rate",
    "grpc.unavailable.rate",
    "grpc.deadline_exceeded.count",
    "failures.rate",
    "failures.count",
    "failures.timeout.count",
    "requests",
    "responses",
    "rps",
    "envoy.<stat name>",
    "mocks.<upstream>.requests",
    "xds.ack_ms.max",
    "xds.ack_ms.p99",
    "xds.pushes",
    "xds.nacks",
];

/// First segments of every metric family.
const ROOTS: &[&str] = &[
    "latency",
    "latency_uncorrected",
    "added",
    "errors",
    "status",
    "grpc",
    "failures",
    "requests",
    "responses",
    "rps",
    "envoy",
    "mocks",
    "xds",
    "baseline",
];

/// A segment of a metric name with its 1-based column in the gate.
struct Seg<'a> {
    text: &'a str,
    col: usize,
}

/// Parses a metric name that starts at 1-based column `col`. Returns the metric and whether
/// it carried the `baseline.` prefix.
pub fn parse_metric(word: &str, col: usize) -> Result<(Metric, bool), GateSyntaxError> {
    let (rest, col, baseline) = match word.strip_prefix(BASELINE_PREFIX) {
        Some(rest) => (rest, col + BASELINE_PREFIX.len(), true),
        None => (word, col, false),
    };
    let mut segs = Vec::new();
    let mut c = col;
    for text in rest.split('.') {
        segs.push(Seg { text, col: c });
        c += text.chars().count() + 1;
    }
    let end = c - 1;
    let metric = match segs[0].text {
        "latency" | "latency_uncorrected" => {
            let corrected = segs[0].text == "latency";
            let stat = latency_stat(&segs, end, segs[0].text, &LATENCY_STATS)?;
            Metric::Latency { corrected, stat }
        }
        "added" => {
            if baseline {
                return Err(err(
                    col - BASELINE_PREFIX.len(),
                    "`added.*` has no baseline form",
                )
                .with_hint("added latency is already the envoy step minus the baseline step"));
            }
            Metric::Added(latency_stat(&segs, end, "added", &ADDED_STATS)?)
        }
        "errors" => Metric::Errors(measure(&segs, 1, end, "errors")?),
        "status" => {
            let code = segment(&segs, 1, end, "a status code or class", "status.503.rate")?;
            let status = StatusMatch::from_name(code.text).ok_or_else(|| {
                err(code.col, &format!("`{}` is not an HTTP status", code.text))
                    .with_hint("write a code such as `503` or a class such as `5xx`")
            })?;
            Metric::Status(status, measure(&segs, 2, end, "status.<code>")?)
        }
        "grpc" => {
            let code = segment(&segs, 1, end, "a gRPC status", "grpc.unavailable.rate")?;
            let parsed = gauntlet_mocks::grpc::parse_code(code.text).ok_or_else(|| {
                err(code.col, &format!("`{}` is not a gRPC status", code.text))
                    .with_hint(&grpc_hint(code.text))
            })?;
            Metric::Grpc(parsed, measure(&segs, 2, end, "grpc.<code>")?)
        }
        "failures" => failures(&segs, end)?,
        "requests" | "responses" | "rps" => {
            no_more(&segs, 1)?;
            match segs[0].text {
                "requests" => Metric::Requests,
                "responses" => Metric::Responses,
                _ => Metric::Rps,
            }
        }
        "envoy" => {
            let stat = rest.strip_prefix("envoy.").unwrap_or("");
            if stat.is_empty() {
                return Err(err(end, "`envoy.` needs a stat name")
                    .with_hint("e.g. `envoy.cluster.backend.upstream_rq_retry`"));
            }
            Metric::Envoy(stat.to_string())
        }
        "mocks" => mocks(&segs, end)?,
        "xds" => xds(&segs, end)?,
        other => return Err(unknown_root(other, word, &segs, col)),
    };
    if baseline && !metric.per_step() {
        return Err(err(
            col - BASELINE_PREFIX.len(),
            "this metric has no baseline form",
        )
        .with_hint("`xds.*` covers the whole run"));
    }
    Ok((metric, baseline))
}

fn unknown_root(root: &str, word: &str, segs: &[Seg], col: usize) -> GateSyntaxError {
    let message = format!("unknown metric `{word}`");
    let hint = match closest(word, CATALOGUE).or_else(|| {
        closest(root, ROOTS).map(|r| {
            if segs.len() > 1 {
                format!("{r}.…")
            } else {
                r.to_string()
            }
        })
    }) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "metrics: latency.pXX, latency_uncorrected.pXX, added.pXX, errors.rate, \
             status.<code>.rate, grpc.<code>.rate, failures.<kind>.count, requests, responses, rps, \
             envoy.<stat>, mocks.<upstream>.requests, xds.ack_ms.pXX (e.g. `{}`)",
            CATALOGUE[2]
        ),
    };
    err(col, &message).with_hint(&hint)
}

/// The closest gRPC status name in the gates' spelling (lower case), or every name.
fn grpc_hint(text: &str) -> String {
    let names: Vec<String> = gauntlet_mocks::grpc::CODES
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    match closest(&text.to_ascii_lowercase(), &refs) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("write a name ({}) or a number 0..=16", refs.join(", ")),
    }
}

fn latency_stat(
    segs: &[Seg],
    end: usize,
    family: &str,
    allowed: &[&str],
) -> Result<LatencyStat, GateSyntaxError> {
    let s = segment(segs, 1, end, "a statistic", &format!("{family}.p99"))?;
    no_more(segs, 2)?;
    match LatencyStat::from_name(s.text).filter(|_| allowed.contains(&s.text)) {
        Some(stat) => Ok(stat),
        None => Err(
            err(s.col, &format!("`{family}` has no statistic `{}`", s.text))
                .with_hint(&one_of(s.text, allowed, family)),
        ),
    }
}

fn measure(segs: &[Seg], i: usize, end: usize, family: &str) -> Result<Measure, GateSyntaxError> {
    let s = segment(segs, i, end, "`rate` or `count`", &format!("{family}.rate"))?;
    no_more(segs, i + 1)?;
    Measure::from_name(s.text).ok_or_else(|| {
        err(s.col, &format!("`{family}` has no `{}`", s.text)).with_hint(&one_of(
            s.text,
            &["rate", "count"],
            family,
        ))
    })
}

fn failures(segs: &[Seg], end: usize) -> Result<Metric, GateSyntaxError> {
    let s = segment(
        segs,
        1,
        end,
        "a failure kind or `rate`/`count`",
        "failures.rate",
    )?;
    if let Some(m) = Measure::from_name(s.text) {
        no_more(segs, 2)?;
        return Ok(Metric::Failures(None, m));
    }
    if !FAILURE_KINDS.contains(&s.text) {
        let mut options = FAILURE_KINDS.to_vec();
        options.extend(["rate", "count"]);
        return Err(err(s.col, &format!("unknown failure kind `{}`", s.text))
            .with_hint(&one_of(s.text, &options, "failures")));
    }
    let m = measure(segs, 2, end, &format!("failures.{}", s.text))?;
    Ok(Metric::Failures(Some(s.text.to_string()), m))
}

fn mocks(segs: &[Seg], end: usize) -> Result<Metric, GateSyntaxError> {
    let example = "mocks.backend.requests";
    let upstream = segment(segs, 1, end, "an upstream name", example)?;
    let what = segment(segs, 2, end, "`requests` or `status.<code>`", example)?;
    match what.text {
        "requests" => {
            no_more(segs, 3)?;
            Ok(Metric::MockRequests(upstream.text.to_string()))
        }
        "status" => {
            let code = segment(segs, 3, end, "a status code", "mocks.backend.status.503")?;
            no_more(segs, 4)?;
            let status = StatusMatch::from_name(code.text).ok_or_else(|| {
                err(code.col, &format!("`{}` is not an HTTP status", code.text))
                    .with_hint("write a code such as `503` or a class such as `5xx`")
            })?;
            Ok(Metric::MockStatus(upstream.text.to_string(), status))
        }
        other => Err(
            err(what.col, &format!("mocks count no `{other}`")).with_hint(&one_of(
                other,
                &["requests", "status"],
                "mocks.<upstream>",
            )),
        ),
    }
}

fn xds(segs: &[Seg], end: usize) -> Result<Metric, GateSyntaxError> {
    let s = segment(
        segs,
        1,
        end,
        "`ack_ms`, `pushes` or `nacks`",
        "xds.ack_ms.max",
    )?;
    match s.text {
        "ack_ms" => Ok(Metric::XdsAck(latency_stat(
            &segs[1..],
            end,
            "xds.ack_ms",
            &LATENCY_STATS,
        )?)),
        "pushes" | "nacks" => {
            no_more(segs, 2)?;
            Ok(if s.text == "pushes" {
                Metric::XdsPushes
            } else {
                Metric::XdsNacks
            })
        }
        other => Err(
            err(s.col, &format!("`xds` has no `{other}`")).with_hint(&one_of(
                other,
                &["ack_ms", "pushes", "nacks"],
                "xds",
            )),
        ),
    }
}

/// Segment `i`, which must exist and be non-empty.
fn segment<'a, 'b>(
    segs: &'b [Seg<'a>],
    i: usize,
    end: usize,
    what: &str,
    example: &str,
) -> Result<&'b Seg<'a>, GateSyntaxError> {
    match segs.get(i) {
        Some(s) if !s.text.is_empty() => Ok(s),
        Some(s) => {
            Err(err(s.col, &format!("expected {what}")).with_hint(&format!("e.g. `{example}`")))
        }
        None => {
            Err(err(end, &format!("expected {what} here")).with_hint(&format!("e.g. `{example}`")))
        }
    }
}

/// Fails when there are segments from `i` on.
fn no_more(segs: &[Seg], i: usize) -> Result<(), GateSyntaxError> {
    match segs.get(i) {
        None => Ok(()),
        Some(s) => Err(err(s.col - 1, &format!("unexpected `.{}`", s.text))
            .with_hint("the metric name ends before it")),
    }
}
