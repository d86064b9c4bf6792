//! Metrics: what a gate measures and in which unit. Their spelling is in `names`.

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
pub(super) const LATENCY_STATS: [&str; 7] = ["p50", "p90", "p99", "p999", "max", "mean", "min"];
/// The statistics `added.*` knows (`RunResult.added_latency`).
pub(super) const ADDED_STATS: [&str; 4] = ["p50", "p90", "p99", "p999"];

impl LatencyStat {
    pub(super) fn from_name(name: &str) -> Option<LatencyStat> {
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
    pub(super) fn from_name(name: &str) -> Option<Measure> {
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
    pub(super) fn from_name(name: &str) -> Option<StatusMatch> {
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
    /// `grpc.<code>.rate|count`: gRPC calls that ended with this status code (0..=16).
    Grpc(u8, Measure),
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
            Metric::Errors(m)
            | Metric::Status(_, m)
            | Metric::Grpc(_, m)
            | Metric::Failures(_, m) => match m {
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
