//! Metric names: what a gate measures, in which unit, and how each name is spelled.
//!
//! Names are parsed segment by segment so that an error points at the segment that is wrong
//! (`latency.p95`: the column of `p95`) and the hint offers the closest valid spelling.

use super::suggest::{closest, one_of};
use super::GateSyntaxError;

/// Prefix that moves a per-step metric to the baseline step.
pub const BASELINE_PREFIX: &str = "baseline.";

/// Which load step a metric reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Client → Envoy → mocks; the default.
    Envoy,
    /// Client → mocks directly.
    Baseline,
}

impl Step {
    /// The step's name in `RunResult.steps`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Envoy => "envoy",
            Step::Baseline => "baseline",
        }
    }

    /// The step called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Step> {
        match name {
            "envoy" => Some(Step::Envoy),
            "baseline" => Some(Step::Baseline),
            _ => None,
        }
    }
}

/// Unit of a metric's value, and so of the threshold it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds (latencies, ACK times); thresholds are durations.
    Ms,
    /// A share in 0..1; thresholds are percentages.
    Ratio,
    /// A number of things; thresholds are plain numbers.
    Count,
    /// Responses per second; thresholds are plain numbers.
    Rps,
}

impl Unit {
    /// The unit as `GateResult.unit` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Ratio => "ratio",
            Unit::Count => "count",
            Unit::Rps => "rps",
        }
    }
}

/// A statistic of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyStat {
    P50,
    P90,
    P99,
    P999,
    Max,
    Mean,
    Min,
}

/// Every latency statistic, as spelled in gates.
const LATENCY_STATS: [&str; 7] = ["p50", "p90", "p99", "p999", "max", "mean", "min"];
/// The statistics `added.*` knows (`RunResult.added_latency`).
const ADDED_STATS: [&str; 4] = ["p50", "p90", "p99", "p999"];

impl LatencyStat {
    fn from_name(name: &str) -> Option<LatencyStat> {
        Some(match name {
            "p50" => LatencyStat::P50,
            "p90" => LatencyStat::P90,
            "p99" => LatencyStat::P99,
            "p999" => LatencyStat::P999,
            "max" => LatencyStat::Max,
            "mean" => LatencyStat::Mean,
            "min" => LatencyStat::Min,
            _ => return None,
        })
    }

    /// The quantile for percentiles (0.5 … 0.999); `None` for max, mean and min.
    pub fn quantile(self) -> Option<f64> {
        match self {
            LatencyStat::P50 => Some(0.50),
            LatencyStat::P90 => Some(0.90),
            LatencyStat::P99 => Some(0.99),
            LatencyStat::P999 => Some(0.999),
            LatencyStat::Max | LatencyStat::Mean | LatencyStat::Min => None,
        }
    }
}

/// Rate (share of ended requests) or count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Rate,
    Count,
}

impl Measure {
    fn from_name(name: &str) -> Option<Measure> {
        match name {
            "rate" => Some(Measure::Rate),
            "count" => Some(Measure::Count),
            _ => None,
        }
    }
}

/// HTTP statuses a metric counts: one code (`503`) or a class (`5xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    Class(u8),
}

impl StatusMatch {
    fn from_name(name: &str) -> Option<StatusMatch> {
        let b = name.as_bytes();
        if b.len() != 3 || !(b'1'..=b'5').contains(&b[0]) {
            return None;
        }
        if &name[1..] == "xx" {
            return Some(StatusMatch::Class(b[0] - b'0'));
        }
        name.parse().ok().map(StatusMatch::Code)
    }

    /// Whether a status code as the result model keys it (`"503"`) is counted.
    pub fn matches(self, code: &str) -> bool {
        match (self, code.parse::<u16>()) {
            (StatusMatch::Code(c), Ok(n)) => c == n,
            (StatusMatch::Class(k), Ok(n)) => n / 100 == u16::from(k),
            (_, Err(_)) => false,
        }
    }
}

/// Every failure kind the load generator counts, as `LoadSummary.failures` keys them.
pub const FAILURE_KINDS: [&str; 5] = ["connect", "reset", "timeout", "protocol", "other"];

/// What a gate measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// `latency.*` (from the intended send time) or `latency_uncorrected.*`.
    Latency { corrected: bool, stat: LatencyStat },
    /// `added.*`: Envoy step minus baseline step.
    Added(LatencyStat),
    /// `errors.rate|count`: failures plus 5xx answers.
    Errors(Measure),
    /// `status.<code>.rate|count`, `status.5xx.rate|count`.
    Status(StatusMatch, Measure),
    /// `failures.rate|count` (all kinds) or `failures.<kind>.rate|count`.
    Failures(Option<String>, Measure),
    /// `requests`: requests sent.
    Requests,
    /// `responses`: responses received, any status.
    Responses,
    /// `rps`: achieved responses per second.
    Rps,
    /// `envoy.<stat>`: one of Envoy's counters or gauges.
    Envoy(String),
    /// `mocks.<upstream>.requests`: what the mock upstream itself counted.
    MockRequests(String),
    /// `mocks.<upstream>.status.<code>`: answers of one status (or class) the mock gave.
    MockStatus(String, StatusMatch),
    /// `xds.ack_ms.*`: push → ACK time over every ACKed push of the run.
    XdsAck(LatencyStat),
    /// `xds.pushes`: pushes sent.
    XdsPushes,
    /// `xds.nacks`: pushes Envoy rejected.
    XdsNacks,
}

impl Metric {
    /// The unit of the metric's value.
    pub fn unit(&self) -> Unit {
        match self {
            Metric::Latency { .. } | Metric::Added(_) | Metric::XdsAck(_) => Unit::Ms,
            Metric::Errors(m) | Metric::Status(_, m) | Metric::Failures(_, m) => match m {
                Measure::Rate => Unit::Ratio,
                Measure::Count => Unit::Count,
            },
            Metric::Rps => Unit::Rps,
            Metric::Requests
            | Metric::Responses
            | Metric::Envoy(_)
            | Metric::MockRequests(_)
            | Metric::MockStatus(..)
            | Metric::XdsPushes
            | Metric::XdsNacks => Unit::Count,
        }
    }

    /// Whether the metric belongs to one step (most) or to the whole run (`added.*`, `xds.*`).
    pub fn per_step(&self) -> bool {
        !matches!(
            self,
            Metric::Added(_) | Metric::XdsAck(_) | Metric::XdsPushes | Metric::XdsNacks
        )
    }
}

/// A metric as a gate names it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRef {
    /// The name as written, `baseline.` prefix included.
    pub name: String,
    pub metric: Metric,
    /// The step it reads; `None` for run-wide metrics (`added.*`, `xds.*`).
    pub step: Option<Step>,
}

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
                return Err(err(col - BASELINE_PREFIX.len(), "`added.*` has no baseline form")
                    .hint("added latency is already the envoy step minus the baseline step"));
            }
            Metric::Added(latency_stat(&segs, end, "added", &ADDED_STATS)?)
        }
        "errors" => Metric::Errors(measure(&segs, 1, end, "errors")?),
        "status" => {
            let code = segment(&segs, 1, end, "a status code or class", "status.503.rate")?;
            let status = StatusMatch::from_name(code.text).ok_or_else(|| {
                err(code.col, &format!("`{}` is not an HTTP status", code.text))
                    .hint("write a code such as `503` or a class such as `5xx`")
            })?;
            Metric::Status(status, measure(&segs, 2, end, "status.<code>")?)
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
                    .hint("e.g. `envoy.cluster.backend.upstream_rq_retry`"));
            }
            Metric::Envoy(stat.to_string())
        }
        "mocks" => mocks(&segs, end)?,
        "xds" => xds(&segs, end)?,
        other => return Err(unknown_root(other, word, &segs, col)),
    };
    if baseline && !metric.per_step() {
        return Err(err(col - BASELINE_PREFIX.len(), "this metric has no baseline form")
            .hint("`xds.*` covers the whole run"));
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
             status.<code>.rate, failures.<kind>.count, requests, responses, rps, \
             envoy.<stat>, mocks.<upstream>.requests, xds.ack_ms.pXX (e.g. `{}`)",
            CATALOGUE[2]
        ),
    };
    err(col, &message).hint(&hint)
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
        None => Err(err(
            s.col,
            &format!("`{family}` has no statistic `{}`", s.text),
        )
        .hint(&one_of(s.text, allowed, family))),
    }
}

fn measure(segs: &[Seg], i: usize, end: usize, family: &str) -> Result<Measure, GateSyntaxError> {
    let s = segment(segs, i, end, "`rate` or `count`", &format!("{family}.rate"))?;
    no_more(segs, i + 1)?;
    Measure::from_name(s.text).ok_or_else(|| {
        err(s.col, &format!("`{family}` has no `{}`", s.text))
            .hint(&one_of(s.text, &["rate", "count"], family))
    })
}

fn failures(segs: &[Seg], end: usize) -> Result<Metric, GateSyntaxError> {
    let s = segment(segs, 1, end, "a failure kind or `rate`/`count`", "failures.rate")?;
    if let Some(m) = Measure::from_name(s.text) {
        no_more(segs, 2)?;
        return Ok(Metric::Failures(None, m));
    }
    if !FAILURE_KINDS.contains(&s.text) {
        let mut options = FAILURE_KINDS.to_vec();
        options.extend(["rate", "count"]);
        return Err(err(s.col, &format!("unknown failure kind `{}`", s.text))
            .hint(&one_of(s.text, &options, "failures")));
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
                    .hint("write a code such as `503` or a class such as `5xx`")
            })?;
            Ok(Metric::MockStatus(upstream.text.to_string(), status))
        }
        other => Err(err(what.col, &format!("mocks count no `{other}`"))
            .hint(&one_of(other, &["requests", "status"], "mocks.<upstream>"))),
    }
}

fn xds(segs: &[Seg], end: usize) -> Result<Metric, GateSyntaxError> {
    let s = segment(segs, 1, end, "`ack_ms`, `pushes` or `nacks`", "xds.ack_ms.max")?;
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
        other => Err(err(s.col, &format!("`xds` has no `{other}`"))
            .hint(&one_of(other, &["ack_ms", "pushes", "nacks"], "xds"))),
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
        Some(s) => Err(err(s.col, &format!("expected {what}")).hint(&format!("e.g. `{example}`"))),
        None => Err(err(end, &format!("expected {what} after `.`"))
            .hint(&format!("e.g. `{example}`"))),
    }
}

/// Fails when there are segments from `i` on.
fn no_more(segs: &[Seg], i: usize) -> Result<(), GateSyntaxError> {
    match segs.get(i) {
        None => Ok(()),
        Some(s) => Err(err(s.col - 1, &format!("unexpected `.{}`", s.text))
            .hint("the metric name ends before it")),
    }
}

fn err(column: usize, message: &str) -> GateSyntaxError {
    GateSyntaxError {
        column,
        message: message.to_string(),
        hint: String::new(),
    }
}
