//! The sizing sections: parsed and validated here, run by `run::sweep`.
//!
//! # Sizing: `sweep:`, `capacity:`, `find_max_rps:`
//!
//! Benchmark phase, top-level sections, all optional:
//!
//! ```yaml
//! sweep:                        # run baseline + envoy steps once per point, one Envoy session
//!   rate: [250, 500, 1000, 2000, 4000]   # required; 2.. rates, each like `load.rate`
//!   connections: [16, 64]       # optional; default: `load.connections`
//!   body: [0, 1KiB]             # optional request body sizes; default: `load.request.body`
//!   cooldown: 1s                # optional pause between points; default 0
//!                               # points = rates × connections × bodies, at most 100
//!                               # each point runs `load.warmup` + `load.duration`
//! capacity:                     # optional; needs `sweep`
//!   target_rps: 20000/s         # required: the traffic to plan for
//!   cpu_limit: 500m             # required: CPU limit per proxy, cores (`2`, `1.5`) or `500m`
//!   headroom: 30%               # share of the limit kept free; 0% to 90%, default 30%
//!   slo: { p99: 10ms, errors: 0.1% }     # optional; what a point must meet (as find_max_rps)
//! find_max_rps:                 # optional; not with `sweep`
//!   slo: { p99: 10ms, errors: 0.1% }     # required; any of p50, p90, p99, p999, errors
//!   start_rate: 250/s           # required
//!   max_rate: 8000/s            # required; > start_rate
//!   step_duration: 2s           # measured time per probe; default `load.duration`
//!   cooldown: 1s                # pause between probes; default 0
//!   precision: 2%               # stop when (fail − pass) / pass ≤ this; 0.1% to 50%
//!   max_steps: 20               # most probes; 2..=100
//! ```
//!
//! Step names: a single run keeps `baseline` and `envoy`; a sweep point's steps are named
//! `baseline@2000rps` and `envoy@2000rps`, with `-c64` and `-b1KiB` added when the sweep
//! varies connections or body size; `find_max_rps` probes are `envoy@<rate>rps` (no
//! baseline). Gates on a sweep must hold at every point; on `find_max_rps`, at the knee.
//!
//! Each sweep point is judged against an SLO: `capacity.slo` when set (as `find_max_rps`
//! judges a probe), else the gates (each holding at that point), else none; and it must
//! achieve 90% of its rate. Per CPU limit of Envoy's container (`sweep.cpus`, `envoy.cpus`)
//! the result gives the highest rate that met the SLO with every lower rate meeting it, and
//! where CFS throttling began (the lowest rate from which every rate up was throttled). The
//! capacity plan suggests the smallest swept limit that carries `target_rps / replicas` per
//! proxy (SLO met at or above that rate, CPU there within `limit × (1 − headroom)`) as its
//! `sidecar.istio.io/proxyCPULimit`. A broken `capacity.slo` never fails the run.
//! A point missed only while the load generator itself was saturated is not judged: it
//! neither proves nor breaks a limit's capacity. Values listed twice in one sweep list are
//! refused (each point needs its own step).
//!
//! Neither section goes with a `timeline:` (each point would replay it) or a closed-loop
//! `load:` (a sweep sets rates).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Ctx;
use super::load_spec::rate;
use super::locate::FieldPath;
use super::model::{Load, LoadMode};
use super::raw::{OrderedMap, RawScenario, Scalar};
use super::upstream::positive;

/// `sweep:` as read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSweep {
    pub rate: Option<Vec<Scalar>>,
    pub connections: Option<Vec<i64>>,
    pub body: Option<Vec<Scalar>>,
    pub cooldown: Option<Scalar>,
    /// CPU limits of Envoy's container (`scenario::container`).
    pub cpus: Option<Vec<Scalar>>,
}

/// `capacity:` as read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCapacity {
    pub target_rps: Option<Scalar>,
    pub cpu_limit: Option<Scalar>,
    pub headroom: Option<Scalar>,
    pub slo: Option<OrderedMap<Scalar, Scalar>>,
}

/// `find_max_rps:` as read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFindMax {
    pub slo: Option<OrderedMap<Scalar, Scalar>>,
    pub start_rate: Option<Scalar>,
    pub max_rate: Option<Scalar>,
    pub step_duration: Option<Scalar>,
    pub cooldown: Option<Scalar>,
    pub precision: Option<Scalar>,
    pub max_steps: Option<i64>,
}

/// The sizing sections of a validated scenario; all empty for a single-point run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SizingSpec {
    pub sweep: Option<Sweep>,
    pub capacity: Option<CapacitySpec>,
    pub find_max: Option<FindMaxSpec>,
}

impl SizingSpec {
    /// True when the scenario has no sizing section (a plain single-point run).
    pub fn is_empty(&self) -> bool {
        self.sweep.is_none() && self.find_max.is_none() && self.capacity.is_none()
    }
}

/// A rate sweep: the cartesian product of rates, connections and body sizes.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    pub rates: Vec<f64>,
    /// Empty: the load's connections.
    pub connections: Vec<u32>,
    /// Request body sizes; empty: the load's.
    pub bodies: Vec<usize>,
    pub cooldown: Duration,
    /// CPU limits (cores) of Envoy's container, each swept over the rates; empty: the
    /// scenario's `envoy.cpus`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<f64>,
}

/// The traffic to plan for and the proxy's CPU budget.
#[derive(Debug, Clone, Serialize)]
pub struct CapacitySpec {
    pub target_rps: f64,
    /// Cores.
    pub cpu_limit: f64,
    /// Share of the limit kept free, 0..0.9.
    pub headroom: f64,
    /// What each sweep point must meet; `None`: the gates judge the points.
    pub slo: Option<Slo>,
}

/// A max-sustainable-rate search.
#[derive(Debug, Clone, Serialize)]
pub struct FindMaxSpec {
    pub slo: Slo,
    pub start_rate: f64,
    pub max_rate: f64,
    pub step_duration: Duration,
    pub cooldown: Duration,
    pub precision: f64,
    pub max_steps: u32,
}

/// Latency ceilings (through Envoy, coordinated-omission corrected) and an error ceiling.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Slo {
    pub p50: Option<Duration>,
    pub p90: Option<Duration>,
    pub p99: Option<Duration>,
    pub p999: Option<Duration>,
    /// Share of requests failed or answered 5xx.
    pub errors: Option<f64>,
}

/// Validates the three sections against the (already validated) load; `has_timeline` says
/// whether the scenario has events, which a sweep cannot replay.
pub(crate) fn sizing(
    ctx: &mut Ctx<'_>,
    raw: &RawScenario,
    load: Option<&Load>,
    has_timeline: bool,
) -> Option<SizingSpec> {
    let root = FieldPath::root();
    let (raw_sweep, raw_capacity, raw_find) = (
        raw.sweep.as_ref(),
        raw.capacity.as_ref(),
        raw.find_max_rps.as_ref(),
    );
    if raw_sweep.is_none() && raw_capacity.is_none() && raw_find.is_none() {
        return Some(SizingSpec::default());
    }
    // Without a valid load its errors are reported already; the sections need it.
    let load = load?;
    let closed_loop = matches!(load.mode, LoadMode::Closed { .. });
    let sweep = raw_sweep.map(|s| sweep(ctx, &root.key("sweep"), s));
    let capacity = raw_capacity.map(|c| capacity(ctx, &root.key("capacity"), c));
    let find_max = raw_find.map(|f| {
        find_max(ctx, &root.key("find_max_rps"), f).map(|mut f| {
            if f.step_duration.is_zero() {
                f.step_duration = load.duration;
            }
            f
        })
    });
    let hint_which = if raw_sweep.is_some() {
        "sweep"
    } else {
        "find_max_rps"
    };
    if raw_sweep.is_some() && raw_find.is_some() {
        ctx.err_key(
            &root.key("find_max_rps"),
            "`sweep` and `find_max_rps` are both set",
            "run them as two scenarios: a sweep measures cost per rps, find_max_rps the limit",
        );
        return None;
    }
    if raw_capacity.is_some() && raw_sweep.is_none() {
        ctx.err_key(
            &root.key("capacity"),
            "`capacity` needs a `sweep` to fit Envoy's CPU against rps",
            "add e.g. `sweep: { rate: [500, 1000, 2000, 4000, 8000] }`",
        );
        return None;
    }
    if (raw_sweep.is_some() || raw_find.is_some()) && has_timeline {
        ctx.err_key(
            &root.key(hint_which),
            format!("`{hint_which}` cannot go with a `timeline`"),
            "every point would replay the events; measure sizing and chaos in separate scenarios",
        );
        return None;
    }
    if (raw_sweep.is_some() || raw_find.is_some()) && closed_loop {
        ctx.err_key(
            &root.key(hint_which),
            format!("`{hint_which}` needs an open-loop load"),
            "replace `load.concurrency` by a `load.rate` (the sweep sets the rate of each point)",
        );
        return None;
    }
    Some(SizingSpec {
        sweep: sweep.map_or(Some(None), |s| s.map(Some))?,
        capacity: capacity.map_or(Some(None), |c| c.map(Some))?,
        find_max: find_max.map_or(Some(None), |f| f.map(Some))?,
    })
}

fn sweep(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawSweep) -> Option<Sweep> {
    let rates = match &raw.rate {
        Some(list) if list.len() >= 2 => {
            let rates: Vec<Option<f64>> = list
                .iter()
                .enumerate()
                .map(|(i, r)| rate(ctx, &path.key("rate").index(i), r))
                .collect();
            rates.into_iter().collect::<Option<Vec<f64>>>()
        }
        Some(_) => {
            ctx.err(
                &path.key("rate"),
                "a sweep needs at least 2 rates to fit CPU against rps",
                "list 5 or more, e.g. `rate: [500, 1000, 2000, 4000, 8000]`",
            );
            None
        }
        None => {
            ctx.missing(
                path,
                "rate",
                "add e.g. `rate: [500, 1000, 2000, 4000, 8000]`",
            );
            None
        }
    };
    let max = ctx.limits.max_connections;
    let connections = raw.connections.as_deref().map(|list| {
        let each: Vec<Option<u32>> = list
            .iter()
            .enumerate()
            .map(|(i, n)| ctx.count(&path.key("connections").index(i), *n, 1, max, "connections"))
            .collect();
        each.into_iter().collect::<Option<Vec<u32>>>()
    });
    let bodies = raw.body.as_deref().map(|list| {
        let each: Vec<Option<usize>> = list
            .iter()
            .enumerate()
            .map(|(i, b)| ctx.body(&path.key("body").index(i), b))
            .collect();
        each.into_iter().collect::<Option<Vec<usize>>>()
    });
    let cooldown = cooldown(ctx, &path.key("cooldown"), raw.cooldown.as_ref());
    let cpus = super::container::sweep_cpus(ctx, &path.key("cpus"), raw.cpus.as_deref());
    let (rates, connections, bodies) = (
        rates?,
        connections.unwrap_or(Some(Vec::new()))?,
        bodies.unwrap_or(Some(Vec::new()))?,
    );
    let cpus = cpus?;
    let rates = distinct(ctx, &path.key("rate"), rates, "rate")?;
    let connections = distinct(
        ctx,
        &path.key("connections"),
        connections,
        "connection count",
    )?;
    let bodies = distinct(ctx, &path.key("body"), bodies, "body size")?;
    let cpus = distinct(ctx, &path.key("cpus"), cpus, "CPU limit")?;
    let points = rates.len() * connections.len().max(1) * bodies.len().max(1) * cpus.len().max(1);
    let limit = ctx.limits.max_sweep_points;
    if points > limit {
        ctx.err_key(
            path,
            format!("the sweep has {points} points, over the limit of {limit}"),
            "fewer rates, connections or body sizes: each point is a full load step",
        );
        return None;
    }
    Some(Sweep {
        rates,
        connections,
        bodies,
        cooldown: cooldown?,
        cpus,
    })
}

/// Refuses a value listed twice (`500m` and `0.5` are the same limit): both points would get
/// the same step name, and every figure of the second would be read from the first.
fn distinct<T: PartialEq + std::fmt::Debug>(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    values: Vec<T>,
    what: &str,
) -> Option<Vec<T>> {
    for (i, v) in values.iter().enumerate() {
        if let Some(first) = values[..i].iter().position(|w| w == v) {
            ctx.err(
                &path.index(i),
                format!("this {what} is already listed at index {first} ({v:?})"),
                format!("list each {what} once"),
            );
            return None;
        }
    }
    Some(values)
}

fn cooldown(ctx: &mut Ctx<'_>, path: &FieldPath, raw: Option<&Scalar>) -> Option<Duration> {
    match raw {
        Some(c) => ctx.duration(path, c, Duration::from_secs(3600)),
        None => Some(Duration::ZERO),
    }
}

fn capacity(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawCapacity) -> Option<CapacitySpec> {
    let target = match &raw.target_rps {
        Some(t) => rate(ctx, &path.key("target_rps"), t),
        None => {
            ctx.missing(
                path,
                "target_rps",
                "add the traffic to plan for, e.g. `target_rps: 20000/s`",
            );
            None
        }
    };
    let cpu_limit = match &raw.cpu_limit {
        Some(c) => cpu(ctx, &path.key("cpu_limit"), c),
        None => {
            ctx.missing(
                path,
                "cpu_limit",
                "add the CPU limit of one proxy, e.g. `cpu_limit: 500m` or `cpu_limit: 2`",
            );
            None
        }
    };
    let headroom = match &raw.headroom {
        Some(h) => ctx.percent(&path.key("headroom"), h).and_then(|h| {
            if h > 0.9 {
                ctx.err(
                    &path.key("headroom"),
                    format!(
                        "headroom `{}` leaves less than 10% of the limit to use",
                        raw.headroom
                            .as_ref()
                            .map(Scalar::to_string)
                            .unwrap_or_default()
                    ),
                    "use 0% to 90%, e.g. `headroom: 30%`",
                );
                return None;
            }
            Some(h)
        }),
        None => Some(0.3),
    };
    let slo = match &raw.slo {
        Some(s) => slo(ctx, &path.key("slo"), s).map(Some),
        None => Some(None),
    };
    Some(CapacitySpec {
        target_rps: target?,
        cpu_limit: cpu_limit?,
        headroom: headroom?,
        slo: slo?,
    })
}

/// `500m` (millicores), `2` or `1.5` (cores), as Kubernetes writes CPU quantities.
fn cpu(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<f64> {
    let parsed = match value {
        Scalar::Int(n) => Some(*n as f64),
        Scalar::Float(x) => Some(*x),
        Scalar::Bool(_) => None,
        Scalar::Str(s) => match s.trim().strip_suffix('m') {
            Some(milli) => milli.trim().parse::<f64>().ok().map(|m| m / 1000.0),
            None => s.trim().parse::<f64>().ok(),
        },
    };
    match parsed.filter(|c| c.is_finite()) {
        Some(c) if c > 0.0 && c <= 1024.0 => Some(c),
        Some(_) => {
            ctx.err(
                path,
                format!("CPU limit `{value}` is out of range"),
                "use more than 0 and at most 1024 cores, e.g. `500m` or `2`",
            );
            None
        }
        None => {
            ctx.err(
                path,
                format!("`{value}` is not a CPU quantity"),
                "write cores (`2`, `1.5`) or millicores (`500m`)",
            );
            None
        }
    }
}

fn find_max(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawFindMax) -> Option<FindMaxSpec> {
    let slo = match &raw.slo {
        Some(s) => slo(ctx, &path.key("slo"), s),
        None => {
            ctx.missing(path, "slo", "add e.g. `slo: { p99: 10ms, errors: 0.1% }`");
            None
        }
    };
    let required_rate = |ctx: &mut Ctx<'_>, key: &str, v: &Option<Scalar>| match v {
        Some(r) => rate(ctx, &path.key(key), r),
        None => {
            ctx.missing(path, key, &format!("add e.g. `{key}: 500/s`"));
            None
        }
    };
    let start = required_rate(ctx, "start_rate", &raw.start_rate);
    let max = required_rate(ctx, "max_rate", &raw.max_rate);
    if let (Some(s), Some(m)) = (start, max) {
        if m <= s {
            ctx.err(
                &path.key("max_rate"),
                format!("max_rate {m}/s is not above start_rate {s}/s"),
                "the search grows from start_rate up to max_rate: make max_rate larger",
            );
            return None;
        }
    }
    let limit = ctx.limits.max_duration;
    let step_duration = raw
        .step_duration
        .as_ref()
        .map(|d| positive(ctx, &path.key("step_duration"), d, limit));
    let cooldown = cooldown(ctx, &path.key("cooldown"), raw.cooldown.as_ref());
    let precision = match &raw.precision {
        Some(p) => ctx.percent(&path.key("precision"), p).and_then(|p| {
            if (0.001..=0.5).contains(&p) {
                Some(p)
            } else {
                ctx.err(
                    &path.key("precision"),
                    "precision is out of range",
                    "use 0.1% to 50%, e.g. `precision: 2%`",
                );
                None
            }
        }),
        None => Some(0.02),
    };
    let max_steps = match raw.max_steps {
        Some(n) => ctx.count(&path.key("max_steps"), n, 2, 100, "max_steps"),
        None => Some(20),
    };
    Some(FindMaxSpec {
        slo: slo?,
        start_rate: start?,
        max_rate: max?,
        // Zero means "the load's duration"; the validator fills it in `validate`.
        step_duration: step_duration.unwrap_or(Some(Duration::ZERO))?,
        cooldown: cooldown?,
        precision: precision?,
        max_steps: max_steps?,
    })
}

fn slo(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &OrderedMap<Scalar, Scalar>) -> Option<Slo> {
    let mut slo = Slo::default();
    let mut ok = true;
    let max = ctx.limits.max_duration;
    for (key, value) in &raw.0 {
        let name = key.to_string();
        let p = path.key(name.clone());
        let slot = match name.as_str() {
            "p50" => &mut slo.p50,
            "p90" => &mut slo.p90,
            "p99" => &mut slo.p99,
            "p999" | "p99.9" => &mut slo.p999,
            "errors" => {
                slo.errors = ctx.percent(&p, value);
                ok &= slo.errors.is_some();
                continue;
            }
            _ => {
                ctx.err_key(
                    &p,
                    format!("`{name}` is not an SLO field"),
                    "use p50, p90, p99, p999 (latency ceilings) and errors (a share)",
                );
                ok = false;
                continue;
            }
        };
        *slot = positive(ctx, &p, value, max);
        ok &= slot.is_some();
    }
    if ok && slo == Slo::default() {
        ctx.err(
            path,
            "the SLO is empty",
            "add at least one ceiling, e.g. `slo: { p99: 10ms, errors: 0.1% }`",
        );
        return None;
    }
    ok.then_some(slo)
}
