//! `upstreams:` and the mock behaviour fields (`latency`, `responses`, `body`), which a
//! timeline event can also `set`.

use std::collections::HashSet;
use std::time::Duration;

use gauntlet_mocks::behavior::MAX_LATENCY;
use gauntlet_mocks::spec::parse_latency;
use gauntlet_mocks::{Behavior, Latency, StatusMix};
use serde_yaml::Value;

use super::check::Ctx;
use super::locate::FieldPath;
use super::model::{Upstream, UpstreamProtocol};
use super::raw::{OrderedMap, RawUpstream, Scalar};

/// Mixes may be off from 100% by this much (rounding in hand-written thirds).
const MIX_TOLERANCE: f64 = 0.0001;

/// Most points of a percentile latency.
const MAX_PERCENTILES: usize = 100;

/// Validates `upstreams:`; `None` when the section is absent or any upstream is invalid.
pub(crate) fn upstreams(
    ctx: &mut Ctx<'_>,
    raw: Option<&OrderedMap<Scalar, Option<RawUpstream>>>,
) -> Option<Vec<Upstream>> {
    let path = FieldPath::root().key("upstreams");
    let Some(raw) = raw else {
        ctx.missing(
            &FieldPath::root(),
            "upstreams",
            "declare at least one mock upstream, e.g. `upstreams: { backend: { endpoints: 2 } }`",
        );
        return None;
    };
    if raw.0.is_empty() {
        ctx.err(
            &path,
            "no upstreams are declared",
            "declare at least one, e.g. `backend: { endpoints: 2 }`",
        );
        return None;
    }
    let max = ctx.limits.max_upstreams;
    if raw.0.len() > max {
        ctx.err(
            &path,
            format!("{} upstreams is over the limit of {max}", raw.0.len()),
            format!("declare at most {max}"),
        );
        return None;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.0.len());
    let mut ok = true;
    for (key, up) in &raw.0 {
        let p = path.key(key.to_string());
        let Some(name) = ctx.name(&p, key, false, "upstream name", "backend", true) else {
            ok = false;
            continue;
        };
        if !seen.insert(name.clone()) {
            ctx.err_key(
                &p,
                format!("upstream `{name}` is declared twice"),
                "give each upstream its own name",
            );
            ok = false;
            continue;
        }
        let default = RawUpstream::default();
        match upstream(ctx, &p, name, up.as_ref().unwrap_or(&default)) {
            Some(u) => out.push(u),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn upstream(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    name: String,
    raw: &RawUpstream,
) -> Option<Upstream> {
    let endpoints = match raw.endpoints {
        Some(n) => ctx.count(
            &path.key("endpoints"),
            n,
            1,
            ctx.limits.max_endpoints,
            "endpoints",
        ),
        None => Some(1),
    };
    let protocol = match &raw.protocol {
        Some(p) => match ctx.choice(&path.key("protocol"), p, &["http1", "http2"]) {
            Some("http2") => Some(UpstreamProtocol::Http2),
            Some(_) => Some(UpstreamProtocol::Http1),
            None => None,
        },
        None => Some(UpstreamProtocol::Http1),
    };
    let behavior = behavior(
        ctx,
        path,
        &Behavior::default(),
        &raw.latency,
        &raw.responses,
        &raw.body,
    );
    let connect_timeout = match &raw.connect_timeout {
        Some(v) => positive(ctx, &path.key("connect_timeout"), v, MAX_LATENCY),
        None => Some(Duration::from_secs(1)),
    };
    Some(Upstream {
        name,
        endpoints: endpoints?,
        protocol: protocol?,
        behavior: behavior?,
        connect_timeout: connect_timeout?,
        policy: Default::default(),
    })
}

/// A duration that must be more than zero.
pub(crate) fn positive(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Scalar,
    max: Duration,
) -> Option<Duration> {
    let d = ctx.duration(path, value, max)?;
    if d.is_zero() {
        ctx.err(
            path,
            "must be more than 0",
            "write a positive duration, e.g. `1s`",
        );
        return None;
    }
    Some(d)
}

/// `base` with the behaviour fields given under `path` applied.
pub(crate) fn behavior(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: &Behavior,
    latency_raw: &Option<Value>,
    responses_raw: &Option<OrderedMap<Scalar, Scalar>>,
    body_raw: &Option<Scalar>,
) -> Option<Behavior> {
    let latency = match latency_raw {
        Some(v) => latency(ctx, &path.key("latency"), v),
        None => Some(base.latency.clone()),
    };
    let statuses = match responses_raw {
        Some(m) => responses(ctx, &path.key("responses"), m),
        None => Some(base.statuses.clone()),
    };
    let body_bytes = match body_raw {
        Some(b) => ctx.body(&path.key("body"), b),
        None => Some(base.body_bytes),
    };
    let behavior = Behavior {
        latency: latency?,
        statuses: statuses?,
        body_bytes: body_bytes?,
    };
    // The mocks' own check, as a backstop: the model promises a servable behaviour.
    if let Err(e) = behavior.validate() {
        ctx.err(
            path,
            e.to_string(),
            "the mocks cannot serve this behaviour; adjust the values above",
        );
        return None;
    }
    Some(behavior)
}

/// A YAML scalar value as a [`Scalar`]; `None` for collections and nulls.
pub(crate) fn scalar_of(v: &Value) -> Option<Scalar> {
    match v {
        Value::String(s) => Some(Scalar::Str(s.clone())),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Scalar::Int(i.into()),
            (_, Some(u), _) => Scalar::Int(u.into()),
            (_, _, f) => Scalar::Float(f.unwrap_or(f64::NAN)),
        }),
        _ => None,
    }
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
