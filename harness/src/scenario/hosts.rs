//! Which hosts of a cluster get traffic: outlier detection, load balancing and active
//! health checks, in Envoy's words or Istio's.

use std::time::Duration;

use serde_yaml::Value;

use super::check::{shorten, Ctx};
use super::error::did_you_mean;
use super::fold::{apply, both_spellings, opt_count, opt_count_istio, opt_duration, pick};
use super::locate::FieldPath;
use super::patch::Patch;
use super::raw::Scalar;
use super::raw_policy::{RawCluster, RawHealthCheck, RawLoadBalancer, RawOutlier};
use super::route::url_path;
use super::upstream::positive;
use crate::policy::{HealthCheck, LbPolicy, OutlierDetection};

const LB_POLICIES: &[&str] = &["round_robin", "least_request", "random", "ring_hash"];
const ISTIO_LB: &[&str] = &["ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN", "RANDOM"];
/// Highest health check threshold.
const MAX_THRESHOLD: u32 = 1000;

// === outlier detection ===

pub(crate) fn outlier(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&OutlierDetection>,
    raw: &RawOutlier,
) -> Option<OutlierDetection> {
    let b = base.cloned().unwrap_or_default();
    let max = ctx.limits.max_duration;
    let mut counted = |native: (&str, &Patch<i64>), istio: (&str, &Patch<i64>), standing| {
        let (p, patch) = pick(ctx, path, native, istio)?;
        if std::ptr::eq(patch, istio.1) {
            opt_count_istio(ctx, &p, patch, standing, u32::MAX, istio.0)
        } else {
            opt_count(ctx, &p, patch, standing, (1, u32::MAX), native.0)
        }
    };
    let consecutive_5xx = counted(
        ("consecutive_5xx", &raw.consecutive_5xx),
        ("consecutive5xxErrors", &raw.consecutive_5xx_istio),
        b.consecutive_5xx,
    );
    let consecutive_gateway_failure = counted(
        (
            "consecutive_gateway_failure",
            &raw.consecutive_gateway_failure,
        ),
        ("consecutiveGatewayErrors", &raw.consecutive_gateway_istio),
        b.consecutive_gateway_failure,
    );
    let interval = opt_duration(ctx, &path.key("interval"), &raw.interval, b.interval, max);
    let base_ejection_time = pick(
        ctx,
        path,
        ("base_ejection_time", &raw.base_ejection_time),
        ("baseEjectionTime", &raw.base_ejection_time_istio),
    )
    .and_then(|(p, patch)| opt_duration(ctx, &p, patch, b.base_ejection_time, max));
    let max_ejection_percent = pick(
        ctx,
        path,
        ("max_ejection_percent", &raw.max_ejection_percent),
        ("maxEjectionPercent", &raw.max_ejection_percent_istio),
    )
    .and_then(|(p, patch)| {
        let istio = std::ptr::eq(patch, &raw.max_ejection_percent_istio);
        apply(patch, &b.max_ejection_percent, |_, v| {
            ejection_percent(ctx, &p, v, istio)
        })
    });
    Some(OutlierDetection {
        consecutive_5xx: consecutive_5xx?,
        consecutive_gateway_failure: consecutive_gateway_failure?,
        interval: interval?,
        base_ejection_time: base_ejection_time?,
        max_ejection_percent: max_ejection_percent?,
    })
}

/// A whole percentage, `50` or `50%` (Envoy's field is a whole number of percent).
fn ejection_percent(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Scalar,
    istio: bool,
) -> Option<u32> {
    let n = match value {
        Scalar::Int(n) => Some(*n),
        Scalar::Str(s) => s
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<i128>().ok()),
        _ => None,
    };
    let hint = "a whole percentage from 0 to 100, e.g. `50` or `50%`";
    match n.and_then(|n| u32::try_from(n).ok()) {
        Some(0) if istio => {
            ctx.err(
                path,
                "maxEjectionPercent must be at least 1, not 0",
                "Istio reads 0 as \"not set\"; leave the field out for Envoy's default",
            );
            None
        }
        Some(n) if n <= 100 => Some(n),
        _ => {
            ctx.err(
                path,
                format!(
                    "`{}` is not a percentage from 0 to 100",
                    shorten(&value.to_string())
                ),
                hint,
            );
            None
        }
    }
}

// === load balancing ===

pub(crate) fn lb_policy(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: LbPolicy,
    raw: &RawCluster,
) -> Option<LbPolicy> {
    if raw.lb_policy.given() && raw.load_balancer.given() {
        both_spellings(ctx, path, "lb_policy", "loadBalancer");
        return None;
    }
    let native = |name: &str| match name {
        "least_request" => LbPolicy::LeastRequest,
        "random" => LbPolicy::Random,
        "ring_hash" => LbPolicy::RingHash,
        _ => LbPolicy::RoundRobin,
    };
    match (&raw.lb_policy, &raw.load_balancer) {
        (Patch::Set(v), _) => ctx
            .choice(&path.key("lb_policy"), v, LB_POLICIES)
            .map(native),
        (_, Patch::Set(lb)) => load_balancer(ctx, &path.key("loadBalancer"), lb),
        (Patch::Remove, _) | (_, Patch::Remove) => Some(LbPolicy::default()),
        (Patch::Absent, Patch::Absent) => Some(base),
    }
}

/// Istio's `loadBalancer: { simple: LEAST_REQUEST }` or `{ consistentHash: {} }`.
fn load_balancer(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawLoadBalancer) -> Option<LbPolicy> {
    match (&raw.simple, &raw.consistent_hash) {
        (Some(_), hash) if hash.given() => {
            ctx.err_key(
                &path.key("consistentHash"),
                "`simple` and `consistentHash` are both set",
                "keep one",
            );
            None
        }
        (Some(v), _) => {
            let p = path.key("simple");
            let text = v.to_string();
            match text.as_str() {
                "ROUND_ROBIN" => Some(LbPolicy::RoundRobin),
                "LEAST_REQUEST" | "LEAST_CONN" => Some(LbPolicy::LeastRequest),
                "RANDOM" => Some(LbPolicy::Random),
                _ => {
                    let hint = did_you_mean(&text, ISTIO_LB.iter().copied()).unwrap_or_else(|| {
                        "use `ROUND_ROBIN`, `LEAST_REQUEST` or `RANDOM` (PASSTHROUGH and UNSPECIFIED are not supported)".into()
                    });
                    ctx.err(
                        &p,
                        format!("`{}` is not a load balancer", shorten(&text)),
                        hint,
                    );
                    None
                }
            }
        }
        (None, Patch::Remove) => Some(LbPolicy::RingHash),
        (None, Patch::Set(Value::Mapping(m))) if m.is_empty() => Some(LbPolicy::RingHash),
        (None, Patch::Set(_)) => {
            ctx.err(
                &path.key("consistentHash"),
                "hash keys are not supported",
                "write `consistentHash: {}` for a ring hash; requests carry no hash policy",
            );
            None
        }
        (None, Patch::Absent) => {
            ctx.err(
                path,
                "no `simple` or `consistentHash` given",
                "for example `loadBalancer: { simple: LEAST_REQUEST }`",
            );
            None
        }
    }
}

// === health checks ===

pub(crate) fn health_check(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&HealthCheck>,
    raw: &RawHealthCheck,
) -> Option<HealthCheck> {
    let max = ctx.limits.max_duration;
    let b = base.cloned().unwrap_or(HealthCheck {
        path: "/healthz".into(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        unhealthy_threshold: 2,
        healthy_threshold: 1,
    });
    let check_path = match &raw.path {
        Some(v) => url_path(ctx, &path.key("path"), v),
        None => Some(b.path),
    };
    let interval = match &raw.interval {
        Some(v) => positive(ctx, &path.key("interval"), v, max),
        None => Some(b.interval),
    };
    let timeout = match &raw.timeout {
        Some(v) => positive(ctx, &path.key("timeout"), v, max),
        None => Some(b.timeout),
    };
    let mut threshold = |field: &str, v: Option<i64>, standing: u32| match v {
        Some(n) => ctx.count(&path.key(field), n, 1, MAX_THRESHOLD, field),
        None => Some(standing),
    };
    let unhealthy_threshold = threshold(
        "unhealthy_threshold",
        raw.unhealthy_threshold,
        b.unhealthy_threshold,
    );
    let healthy_threshold = threshold(
        "healthy_threshold",
        raw.healthy_threshold,
        b.healthy_threshold,
    );
    Some(HealthCheck {
        path: check_path?,
        interval: interval?,
        timeout: timeout?,
        unhealthy_threshold: unhealthy_threshold?,
        healthy_threshold: healthy_threshold?,
    })
}
