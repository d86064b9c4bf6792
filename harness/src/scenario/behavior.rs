//! The mock behaviour fields (`latency`, `responses`, `body`, `chaos`) of an upstream, and
//! of an upstream event's `set:`, which changes only the fields it gives.

use std::time::Duration;

use gauntlet_mocks::behavior::MAX_LATENCY;
use gauntlet_mocks::spec::parse_latency;
use gauntlet_mocks::{Behavior, Chaos, GrpcStatusMix, Latency, SlowBody, StatusMix};
use serde_yaml::Value;

use super::check::Ctx;
use super::locate::FieldPath;
use super::patch::Patch;
use super::raw::{OrderedMap, RawChaos, RawSlowBody, Scalar};
use super::upstream::scalar_of;

/// Mixes may be off from 100% by this much (rounding in hand-written thirds).
const MIX_TOLERANCE: f64 = 0.0001;

/// Most points of a percentile latency.
const MAX_PERCENTILES: usize = 100;

/// The behaviour fields of an upstream definition or of an upstream event's `set:`.
pub(crate) struct BehaviorFields<'a> {
    pub latency: Option<&'a Value>,
    pub responses: Option<&'a OrderedMap<Scalar, Scalar>>,
    pub body: Option<&'a Scalar>,
    pub chaos: &'a Patch<RawChaos>,
}

/// Behaviour fields as written, validated, to apply onto any behaviour: an upstream event
/// may change endpoints that behave differently at that point.
#[derive(Debug, Clone, Default)]
pub(crate) struct BehaviorPatch {
    latency: Option<Latency>,
    statuses: Option<StatusMix>,
    /// `responses` written in gRPC codes (`scenario::grpc`).
    grpc: Option<GrpcStatusMix>,
    body_bytes: Option<usize>,
    chaos: Patch<ChaosPatch>,
}

/// The `chaos:` fields as written.
#[derive(Debug, Clone, Default)]
struct ChaosPatch {
    hang: Option<f64>,
    reset: Option<f64>,
    close: Option<f64>,
    slow_body: Patch<SlowBody>,
}

impl BehaviorPatch {
    /// Whether no field is given.
    pub fn is_empty(&self) -> bool {
        self.latency.is_none()
            && self.statuses.is_none()
            && self.grpc.is_none()
            && self.body_bytes.is_none()
            && !self.chaos.given()
    }

    /// `base` with the given fields replaced (within `chaos`, field by field).
    pub fn apply(&self, base: &Behavior) -> Behavior {
        let chaos = match &self.chaos {
            Patch::Absent => base.chaos.clone(),
            Patch::Remove => Chaos::default(),
            Patch::Set(c) => Chaos {
                hang: c.hang.unwrap_or(base.chaos.hang),
                reset: c.reset.unwrap_or(base.chaos.reset),
                close: c.close.unwrap_or(base.chaos.close),
                slow_body: match c.slow_body {
                    Patch::Absent => base.chaos.slow_body,
                    Patch::Remove => None,
                    Patch::Set(s) => Some(s),
                },
            },
        };
        Behavior {
            latency: self.latency.clone().unwrap_or_else(|| base.latency.clone()),
            statuses: self
                .statuses
                .clone()
                .unwrap_or_else(|| base.statuses.clone()),
            body_bytes: self.body_bytes.unwrap_or(base.body_bytes),
            chaos,
            grpc: self.grpc.clone().or_else(|| base.grpc.clone()),
        }
    }
}

/// Validates the behaviour fields at `path`.
pub(crate) fn behavior_patch(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    fields: &BehaviorFields<'_>,
) -> Option<BehaviorPatch> {
    let latency = match fields.latency {
        Some(v) => latency(ctx, &path.key("latency"), v).map(Some),
        None => Some(None),
    };
    let (statuses, grpc) = match fields.responses {
        Some(m) if super::grpc::is_grpc_mix(m) => (
            Some(None),
            super::grpc::grpc_responses(ctx, &path.key("responses"), m).map(Some),
        ),
        Some(m) => (
            responses(ctx, &path.key("responses"), m).map(Some),
            Some(None),
        ),
        None => (Some(None), Some(None)),
    };
    let body_bytes = match fields.body {
        Some(b) => ctx.body(&path.key("body"), b).map(Some),
        None => Some(None),
    };
    let chaos = match fields.chaos {
        Patch::Absent => Some(Patch::Absent),
        Patch::Remove => Some(Patch::Remove),
        Patch::Set(raw) => chaos(ctx, &path.key("chaos"), raw).map(Patch::Set),
    };
    Some(BehaviorPatch {
        latency: latency?,
        statuses: statuses?,
        grpc: grpc?,
        body_bytes: body_bytes?,
        chaos: chaos?,
    })
}

/// `base` with the fields at `path` applied, checked.
pub(crate) fn behavior(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: &Behavior,
    fields: &BehaviorFields<'_>,
) -> Option<Behavior> {
    let patch = behavior_patch(ctx, path, fields)?;
    check_protocol(ctx, path, base, &patch)?;
    servable(ctx, path, patch.apply(base))
}

/// Checks that a `responses` mix fits the upstream's protocol, which `base` carries: gRPC
/// codes for a gRPC upstream, HTTP statuses otherwise.
pub(crate) fn check_protocol(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: &Behavior,
    patch: &BehaviorPatch,
) -> Option<()> {
    let at = path.key("responses");
    if base.grpc.is_some() && patch.statuses.is_some() {
        ctx.err(
            &at,
            "HTTP status codes on a gRPC upstream",
            "write gRPC statuses, e.g. `responses: { ok: 70%, unavailable: 30% }`",
        );
        return None;
    }
    if base.grpc.is_none() && patch.grpc.is_some() {
        ctx.err(
            &at,
            "gRPC status codes on an upstream that does not speak gRPC",
            "add `protocol: grpc` to the upstream, or write HTTP statuses such as `{ 200: 97%, 503: 3% }`",
        );
        return None;
    }
    Some(())
}

/// Checks a behaviour once folded: what only the whole can tell (chaos shares adding up),
/// then the mocks' own check as a backstop, since the model promises a servable behaviour.
pub(crate) fn servable(ctx: &mut Ctx<'_>, path: &FieldPath, b: Behavior) -> Option<Behavior> {
    let (reset, hang) = (b.chaos.reset, b.chaos.hang);
    if reset + hang > 1.0 + MIX_TOLERANCE {
        ctx.err(
            &path.key("chaos"),
            format!(
                "`reset` ({}%) and `hang` ({}%) add up to more than 100%",
                round2(reset * 100.0),
                round2(hang * 100.0)
            ),
            "they are shares of all requests: make them add up to 100% at most",
        );
        return None;
    }
    if let Err(e) = b.validate() {
        ctx.err(
            path,
            e.to_string(),
            "the mocks cannot serve this behaviour; adjust the values above",
        );
        return None;
    }
    Some(b)
}

/// `chaos: { hang, reset, close, slow_body: { chunk_bytes, interval } }`.
fn chaos(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawChaos) -> Option<ChaosPatch> {
    let mut share = |field: &str, v: &Option<Scalar>| match v {
        Some(v) => ctx.percent(&path.key(field), v).map(Some),
        None => Some(None),
    };
    let hang = share("hang", &raw.hang);
    let reset = share("reset", &raw.reset);
    let close = share("close", &raw.close);
    let slow_body = match &raw.slow_body {
        Patch::Absent => Some(Patch::Absent),
        Patch::Remove => Some(Patch::Remove),
        Patch::Set(s) => slow_body(ctx, &path.key("slow_body"), s).map(Patch::Set),
    };
    Some(ChaosPatch {
        hang: hang?,
        reset: reset?,
        close: close?,
        slow_body: slow_body?,
    })
}

fn slow_body(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawSlowBody) -> Option<SlowBody> {
    let hint = "for example `slow_body: { chunk_bytes: 100, interval: 50ms }`";
    let chunk_bytes = match &raw.chunk_bytes {
        Some(v) => match ctx.body(&path.key("chunk_bytes"), v) {
            Some(0) => {
                ctx.err(&path.key("chunk_bytes"), "must be at least 1 byte", hint);
                None
            }
            other => other,
        },
        None => {
            ctx.missing(path, "chunk_bytes", hint);
            None
        }
    };
    let interval = match &raw.interval {
        Some(v) => ctx.duration(&path.key("interval"), v, MAX_LATENCY),
        None => {
            ctx.missing(path, "interval", hint);
            None
        }
    };
    Some(SlowBody {
        chunk_bytes: chunk_bytes?,
        interval: interval?,
    })
}

const LATENCY_HINT: &str =
    "write `5ms`, `{ fixed: 5ms }`, `{ uniform: [1ms, 5ms] }` or `{ p50: 5ms, p99: 40ms }`";

/// `latency:`: a duration, `{ fixed }`, `{ uniform: [min, max] }` or percentile points.
fn latency(ctx: &mut Ctx<'_>, path: &FieldPath, v: &Value) -> Option<Latency> {
    let fixed = |d: Duration| {
        if d.is_zero() {
            Latency::Zero
        } else {
            Latency::Fixed(d)
        }
    };
    if let Some(s) = scalar_of(v) {
        // The command line's short forms, `1ms..5ms` and `p50=5ms,p99=40ms`, work here too.
        if let Scalar::Str(text) = &s {
            if text.contains("..") || text.contains('=') {
                return match parse_latency(text) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        ctx.err(path, e.message, LATENCY_HINT);
                        None
                    }
                };
            }
        }
        return ctx.duration(path, &s, MAX_LATENCY).map(fixed);
    }
    let Value::Mapping(map) = v else {
        ctx.err(path, "expected a duration or a mapping", LATENCY_HINT);
        return None;
    };
    let mut keys = Vec::with_capacity(map.len());
    for k in map.keys() {
        match scalar_of(k) {
            Some(Scalar::Str(s)) => keys.push(s),
            _ => {
                ctx.err(
                    path,
                    "latency keys must be `fixed`, `uniform` or percentiles like `p50`",
                    LATENCY_HINT,
                );
                return None;
            }
        }
    }
    let values: Vec<&Value> = map.values().collect();
    if keys.iter().any(|k| k == "fixed" || k == "uniform") {
        if keys.len() != 1 {
            ctx.err(
                path,
                format!(
                    "`{}` must be the only key of `latency`",
                    keys.iter()
                        .find(|k| *k == "fixed" || *k == "uniform")
                        .map_or("", |k| k.as_str())
                ),
                LATENCY_HINT,
            );
            return None;
        }
        let p = path.key(keys[0].clone());
        if keys[0] == "fixed" {
            return match scalar_of(values[0]) {
                Some(s) => ctx.duration(&p, &s, MAX_LATENCY).map(fixed),
                None => {
                    ctx.err(&p, "expected a duration", "for example `fixed: 5ms`");
                    None
                }
            };
        }
        return uniform(ctx, &p, values[0]);
    }
    percentiles(ctx, path, &keys, &values)
}

fn uniform(ctx: &mut Ctx<'_>, path: &FieldPath, v: &Value) -> Option<Latency> {
    let hint = "for example `uniform: [1ms, 5ms]`";
    let items = match v {
        Value::Sequence(items) if items.len() == 2 => items,
        _ => {
            ctx.err(path, "expected a list of two durations, `[min, max]`", hint);
            return None;
        }
    };
    let mut bounds = [Duration::ZERO; 2];
    for (i, item) in items.iter().enumerate() {
        let p = path.index(i);
        let Some(s) = scalar_of(item) else {
            ctx.err(&p, "expected a duration", hint);
            return None;
        };
        bounds[i] = ctx.duration(&p, &s, MAX_LATENCY)?;
    }
    let [min, max] = bounds;
    if min > max {
        ctx.err(
            path,
            "the minimum is larger than the maximum",
            "write `[min, max]` with min <= max",
        );
        return None;
    }
    Some(Latency::Uniform { min, max })
}

fn percentiles(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    keys: &[String],
    values: &[&Value],
) -> Option<Latency> {
    if keys.is_empty() {
        ctx.err(path, "empty latency mapping", LATENCY_HINT);
        return None;
    }
    if keys.len() > MAX_PERCENTILES {
        ctx.err(
            path,
            format!(
                "{} percentile points is over the limit of {MAX_PERCENTILES}",
                keys.len()
            ),
            "a handful of points (p50, p90, p99, p99.9) describe a distribution",
        );
        return None;
    }
    let mut points: Vec<(f64, Duration, String)> = Vec::with_capacity(keys.len());
    for (key, value) in keys.iter().zip(values) {
        let p = path.key(key.clone());
        let q = key
            .strip_prefix('p')
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|q| *q > 0.0 && *q <= 100.0);
        let Some(q) = q.filter(|_| key[1..].chars().all(|c| c.is_ascii_digit() || c == '.')) else {
            ctx.err_key(&p, format!("`{key}` is not a latency key"), format!("use `fixed`, `uniform`, or percentiles `p<number>` above 0 and up to 100, like `p50` or `p99.9`; {LATENCY_HINT}"));
            return None;
        };
        let Some(s) = scalar_of(value) else {
            ctx.err(
                &p,
                "expected a duration",
                format!("for example `{key}: 5ms`"),
            );
            return None;
        };
        let d = ctx.duration(&p, &s, MAX_LATENCY)?;
        if let Some((_, _, other)) = points.iter().find(|(q2, _, _)| *q2 == q) {
            ctx.err_key(
                &p,
                format!("`{key}` repeats the percentile of `{other}`"),
                "give each percentile once",
            );
            return None;
        }
        points.push((q, d, key.clone()));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in points.windows(2) {
        let (lo, hi) = (&pair[0], &pair[1]);
        if hi.1 < lo.1 {
            let at = path.key(hi.2.clone());
            ctx.err(
                &at,
                format!("`{}` is shorter than `{}`", hi.2, lo.2),
                "higher percentiles need equal or longer delays",
            );
            return None;
        }
    }
    Some(Latency::Percentiles(
        points.into_iter().map(|(q, d, _)| (q, d)).collect(),
    ))
}

/// `responses:`: status code → percentage, summing to 100%.
fn responses(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &OrderedMap<Scalar, Scalar>,
) -> Option<StatusMix> {
    if raw.0.is_empty() {
        ctx.err(
            path,
            "no status codes given",
            "for example `responses: { 200: 97%, 503: 3% }`",
        );
        return None;
    }
    let mut mix: Vec<(u16, f64)> = Vec::with_capacity(raw.0.len());
    let mut ok = true;
    for (code, share) in &raw.0 {
        let p = path.key(code.to_string());
        let status = match code {
            Scalar::Int(n) => u16::try_from(*n).ok(),
            Scalar::Str(s) => s.trim().parse::<u16>().ok(),
            _ => None,
        };
        // 1xx are interim responses: an exchange cannot end with one.
        let Some(status) = status.filter(|s| (200..=599).contains(s)) else {
            ctx.err_key(
                &p,
                format!("`{code}` is not a final HTTP status code"),
                "use status codes from 200 to 599, e.g. `200` or `503`",
            );
            ok = false;
            continue;
        };
        if mix.iter().any(|(s, _)| *s == status) {
            ctx.err_key(
                &p,
                format!("status {status} is listed twice"),
                "list each status code once",
            );
            ok = false;
            continue;
        }
        match ctx.percent(&p, share) {
            Some(f) => mix.push((status, f)),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let sum: f64 = mix.iter().map(|(_, f)| f).sum();
    if (sum - 1.0).abs() > MIX_TOLERANCE {
        let pct = format!("{}%", round2(sum * 100.0));
        let diff = format!("{}%", round2((sum - 1.0).abs() * 100.0));
        let hint = if sum < 1.0 {
            format!("add the missing {diff}, e.g. to `{}`", mix[0].0)
        } else {
            format!("take {diff} off somewhere")
        };
        ctx.err(path, format!("percentages add up to {pct}, not 100%"), hint);
        return None;
    }
    // Inside the tolerance: scale to exactly 1 as the model promises.
    Some(StatusMix(
        mix.into_iter().map(|(s, f)| (s, f / sum)).collect(),
    ))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
