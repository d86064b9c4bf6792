//! A route's policies (timeouts, retries, mirrors, fault, rate limit), folded onto the
//! policy that stands. Retries are in `retry`, the fault in `fault`.

use std::time::Duration;

use super::check::Ctx;
use super::fault::fault;
use super::fold::{apply, both_spellings, istio_percentage, opt_duration, pick_opt};
use super::locate::FieldPath;
use super::patch::{OneOrMany, Patch};
use super::raw::{RawRoute, Scalar};
use super::raw_policy::{RawMirror, RawRateLimit};
use super::retry::retries;
use super::route::Names;
use super::upstream::positive;
use crate::policy::{LocalRateLimit, Mirror, RoutePolicy};

/// Most mirrors of one route.
const MAX_MIRRORS: usize = 8;
/// Envoy refuses a local rate limit refilled more often than this.
const MIN_FILL_INTERVAL: Duration = Duration::from_millis(50);
/// Largest token bucket or refill.
const MAX_TOKENS: u32 = 1_000_000_000;

/// Folds the policy fields of `raw` (a route at `path`) onto `base`.
pub(crate) fn route_policy(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: &RoutePolicy,
    raw: &RawRoute,
    names: &Names,
) -> Option<RoutePolicy> {
    let max = ctx.limits.max_duration;
    let timeout = opt_duration(ctx, &path.key("timeout"), &raw.timeout, base.timeout, max);
    let idle_timeout = opt_duration(
        ctx,
        &path.key("idle_timeout"),
        &raw.idle_timeout,
        base.idle_timeout,
        max,
    );
    let retries = apply(&raw.retries, &base.retries, |b, r| {
        retries(ctx, &path.key("retries"), b, r)
    });
    let mirrors = mirrors(ctx, path, &base.mirrors, raw, names);
    let fault = match &raw.fault {
        Patch::Absent => Some(base.fault.clone()),
        Patch::Remove => Some(None),
        Patch::Set(r) => fault(ctx, &path.key("fault"), base.fault.as_ref(), r),
    };
    let rate_limit = apply(&raw.rate_limit, &base.rate_limit, |b, r| {
        rate_limit(ctx, &path.key("rate_limit"), b, r)
    });
    Some(RoutePolicy {
        timeout: timeout?,
        idle_timeout: idle_timeout?,
        retries: retries?,
        mirrors: mirrors?,
        fault: fault?,
        rate_limit: rate_limit?,
    })
}

// === mirrors ===

/// `mirror:` (one mapping folds onto the mirror to the same cluster, or onto the only one;
/// a list replaces them all) and Istio's `mirrorPercentage:` beside it.
fn mirrors(
    ctx: &mut Ctx<'_>,
    route: &FieldPath,
    base: &[Mirror],
    raw: &RawRoute,
    names: &Names,
) -> Option<Vec<Mirror>> {
    let path = route.key("mirror");
    let mut out = match &raw.mirror {
        Patch::Absent => base.to_vec(),
        Patch::Remove => Vec::new(),
        Patch::Set(OneOrMany::One(m)) => vec![one_mirror(ctx, &path, base, m, names)?],
        Patch::Set(OneOrMany::Many(list)) => {
            if list.len() > MAX_MIRRORS {
                ctx.err(
                    &path,
                    format!("{} mirrors is over the limit of {MAX_MIRRORS}", list.len()),
                    format!("mirror to at most {MAX_MIRRORS} clusters"),
                );
                return None;
            }
            let mut out: Vec<Mirror> = Vec::with_capacity(list.len());
            for (i, m) in list.iter().enumerate() {
                let p = path.index(i);
                let (cluster, percent) = mirror_fields(ctx, &p, m, names)?;
                let Some(cluster) = cluster else {
                    ctx.err(&p, "missing `cluster`", "for example `{ cluster: shadow }`");
                    return None;
                };
                if out.iter().any(|o| o.cluster == cluster) {
                    ctx.err(
                        &p,
                        format!("`{cluster}` is mirrored to twice"),
                        "mirror to each cluster once",
                    );
                    return None;
                }
                let percent = percent.unwrap_or(100.0);
                out.push(Mirror { cluster, percent });
            }
            out
        }
    };
    let pct_path = route.key("mirrorPercentage");
    match &raw.mirror_percentage {
        Patch::Absent => {}
        _ if out.len() != 1 => {
            ctx.err_key(
                &pct_path,
                "`mirrorPercentage` needs exactly one `mirror`",
                "give the share in each mirror's `percent` instead",
            );
            return None;
        }
        _ if raw
            .mirror
            .set()
            .is_some_and(|m| m.items().iter().any(|m| m.percent.is_some())) =>
        {
            both_spellings(ctx, route, "mirror.percent", "mirrorPercentage");
            return None;
        }
        Patch::Remove => out[0].percent = 100.0,
        Patch::Set(p) => out[0].percent = istio_percentage(ctx, &pct_path, p)?,
    }
    Some(out)
}

fn one_mirror(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: &[Mirror],
    raw: &RawMirror,
    names: &Names,
) -> Option<Mirror> {
    let (cluster, percent) = mirror_fields(ctx, path, raw, names)?;
    let standing = match &cluster {
        Some(c) => base.iter().find(|m| m.cluster == *c),
        None if base.len() == 1 => base.first(),
        None => {
            ctx.err(
                path,
                "missing `cluster`",
                "say which cluster to mirror to, e.g. `{ cluster: shadow, percent: 100% }`",
            );
            return None;
        }
    };
    Some(Mirror {
        cluster: cluster.or_else(|| standing.map(|m| m.cluster.clone()))?,
        percent: percent.or(standing.map(|m| m.percent)).unwrap_or(100.0),
    })
}

/// The cluster (`cluster` or Istio's `host`) and share of one mirror, each if written.
fn mirror_fields(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawMirror,
    names: &Names,
) -> Option<(Option<String>, Option<f64>)> {
    let cluster = match pick_opt(
        ctx,
        path,
        ("cluster", raw.cluster.as_ref()),
        ("host", raw.host.as_ref()),
    ) {
        None => None,
        Some(None) => Some(None),
        Some(Some((p, v))) => names.resolve(ctx, &p, v, "cluster").map(Some),
    };
    let percent = match &raw.percent {
        Some(v) => ctx
            .percent(&path.key("percent"), v)
            .map(|f| Some(f * 100.0)),
        None => Some(None),
    };
    Some((cluster?, percent?))
}

// === rate limit ===

/// `rate_limit:`: `{ requests_per_second }`, or a token bucket
/// `{ max_tokens, tokens_per_fill, fill_interval }`; `status` defaults to 429.
fn rate_limit(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&LocalRateLimit>,
    raw: &RawRateLimit,
) -> Option<LocalRateLimit> {
    let bucket_field = [
        ("max_tokens", raw.max_tokens.is_some()),
        ("tokens_per_fill", raw.tokens_per_fill.is_some()),
        ("fill_interval", raw.fill_interval.is_some()),
    ]
    .into_iter()
    .find_map(|(name, given)| given.then_some(name));
    let status = match raw.status {
        Some(s) => match u16::try_from(s) {
            Ok(c) if (400..=599).contains(&c) => Some(c),
            _ => {
                ctx.err(
                    &path.key("status"),
                    format!("status {s} is not in 400..=599"),
                    "answer limited requests with an error status, e.g. `429` or `503`",
                );
                None
            }
        },
        None => Some(base.map_or(429, |b| b.status)),
    };
    let (max_tokens, tokens_per_fill, fill_interval) = match (raw.requests_per_second, bucket_field)
    {
        (Some(_), Some(other)) => {
            ctx.err_key(
                &path.key(other),
                format!("`requests_per_second` and `{other}` are both set"),
                "`requests_per_second: N` is short for `{ max_tokens: N, tokens_per_fill: N, fill_interval: 1s }`: use one form",
            );
            return None;
        }
        (Some(rps), None) => {
            let n = ctx.count(
                &path.key("requests_per_second"),
                rps,
                1,
                MAX_TOKENS,
                "requests_per_second",
            )?;
            (Some(n), Some(n), Some(Duration::from_secs(1)))
        }
        (None, _) => {
            let max_tokens = match raw.max_tokens {
                Some(n) => ctx.count(&path.key("max_tokens"), n, 1, MAX_TOKENS, "max_tokens"),
                None if base.is_some() => base.map(|b| b.max_tokens),
                None => {
                    ctx.err(
                        path,
                        "missing `requests_per_second` or `max_tokens`",
                        "for example `rate_limit: { requests_per_second: 100 }`",
                    );
                    None
                }
            };
            let tokens_per_fill = match raw.tokens_per_fill {
                Some(n) => ctx.count(
                    &path.key("tokens_per_fill"),
                    n,
                    1,
                    MAX_TOKENS,
                    "tokens_per_fill",
                ),
                None => base.map(|b| b.tokens_per_fill).or(max_tokens),
            };
            let fill_interval = match &raw.fill_interval {
                Some(v) => fill_interval(ctx, &path.key("fill_interval"), v),
                None => Some(base.map_or(Duration::from_secs(1), |b| b.fill_interval)),
            };
            (max_tokens, tokens_per_fill, fill_interval)
        }
    };
    let limit = LocalRateLimit {
        max_tokens: max_tokens?,
        tokens_per_fill: tokens_per_fill?,
        fill_interval: fill_interval?,
        status: status?,
    };
    if limit.tokens_per_fill > limit.max_tokens {
        ctx.err(
            &path.key("tokens_per_fill"),
            format!(
                "`tokens_per_fill` ({}) is more than `max_tokens` ({})",
                limit.tokens_per_fill, limit.max_tokens
            ),
            "the bucket never holds more than `max_tokens`: raise it, or refill less",
        );
        return None;
    }
    Some(limit)
}

fn fill_interval(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<Duration> {
    let d = positive(ctx, path, value, ctx.limits.max_duration)?;
    if d < MIN_FILL_INTERVAL {
        ctx.err(
            path,
            format!("`{value}` is shorter than Envoy's minimum of 50ms"),
            "refill at most every 50ms; give more tokens per fill for a higher rate",
        );
        return None;
    }
    Some(d)
}
