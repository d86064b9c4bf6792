//! `clusters:`: the policies of each upstream's cluster (circuit breakers, outlier
//! detection, load balancing, health checks), in Envoy's words or Istio's
//! (`DestinationRule.trafficPolicy`). A cluster event's `set:` is folded by the same code.

use super::check::Ctx;
use super::fold::{apply, opt_count, opt_count_istio, pick};
use super::hosts::{health_check, lb_policy, outlier};
use super::locate::FieldPath;
use super::patch::Patch;
use super::raw::{OrderedMap, Scalar};
use super::raw_policy::{RawCircuitBreakers, RawCluster, RawConnectionPool, RawRetryBudget};
use super::route::Names;
use crate::policy::{CircuitBreakers, ClusterPolicy, RetryBudget};

/// Validates `clusters:`: policies by upstream name, in file order.
pub(crate) fn clusters(
    ctx: &mut Ctx<'_>,
    raw: Option<&OrderedMap<Scalar, Option<RawCluster>>>,
    names: &Names,
) -> Option<Vec<(String, ClusterPolicy)>> {
    let Some(raw) = raw else {
        return Some(Vec::new());
    };
    let path = FieldPath::root().key("clusters");
    let mut out = Vec::with_capacity(raw.0.len().min(ctx.limits.max_upstreams));
    let mut ok = true;
    for (key, entry) in &raw.0 {
        let p = path.key(key.to_string());
        let Some(name) = names.resolve_key(ctx, &p, key, "upstream") else {
            ok = false;
            continue;
        };
        let default = RawCluster::default();
        match cluster_policy(
            ctx,
            &p,
            &ClusterPolicy::default(),
            entry.as_ref().unwrap_or(&default),
        ) {
            Some(policy) => out.push((name, policy)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Folds `raw` (at `path`) onto the cluster policy that stands.
pub(crate) fn cluster_policy(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: &ClusterPolicy,
    raw: &RawCluster,
) -> Option<ClusterPolicy> {
    let pool = raw.connection_pool.as_ref();
    let pool_path = path.key("connectionPool");
    let breakers = apply(&raw.circuit_breakers, &base.circuit_breakers, |b, r| {
        circuit_breakers(ctx, &path.key("circuit_breakers"), b, r)
    })
    .and_then(|cb| match pool {
        Some(pool) => with_pool(ctx, &pool_path, cb, raw, pool),
        None => Some(cb),
    });
    let outlier = pick(
        ctx,
        path,
        ("outlier_detection", &raw.outlier_detection),
        ("outlierDetection", &raw.outlier_detection_istio),
    )
    .and_then(|(p, patch)| {
        apply(patch, &base.outlier_detection, |b, r| {
            outlier(ctx, &p, b, r)
        })
    });
    let lb_policy = lb_policy(ctx, path, base.lb_policy, raw);
    let health_check = apply(&raw.health_check, &base.health_check, |b, r| {
        health_check(ctx, &path.key("health_check"), b, r)
    });
    let per_conn = pool
        .and_then(|p| p.http.as_ref())
        .map(|h| &h.max_requests_per_connection)
        .filter(|p| p.given());
    let max_requests_per_connection = match per_conn {
        Some(_) if raw.max_requests_per_connection.given() => {
            pool_conflict(
                ctx,
                &pool_path,
                "max_requests_per_connection",
                "http.maxRequestsPerConnection",
            );
            None
        }
        Some(istio) => {
            let p = pool_path.key("http").key("maxRequestsPerConnection");
            opt_count_istio(
                ctx,
                &p,
                istio,
                base.max_requests_per_connection,
                u32::MAX,
                "maxRequestsPerConnection",
            )
        }
        None => opt_count(
            ctx,
            &path.key("max_requests_per_connection"),
            &raw.max_requests_per_connection,
            base.max_requests_per_connection,
            (1, u32::MAX),
            "max_requests_per_connection",
        ),
    };
    Some(ClusterPolicy {
        circuit_breakers: breakers?,
        outlier_detection: outlier?,
        lb_policy: lb_policy?,
        health_check: health_check?,
        max_requests_per_connection: max_requests_per_connection?,
    })
}

fn pool_conflict(ctx: &mut Ctx<'_>, pool: &FieldPath, native: &str, istio: &str) {
    let mut at = pool.clone();
    for key in istio.split('.') {
        at = at.key(key);
    }
    ctx.err_key(
        &at,
        format!("`{native}` and `connectionPool.{istio}` are both set"),
        format!("`connectionPool.{istio}` is Istio's spelling of `{native}`: keep one"),
    );
}

// === circuit breakers ===

fn circuit_breakers(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&CircuitBreakers>,
    raw: &RawCircuitBreakers,
) -> Option<CircuitBreakers> {
    let b = base.cloned().unwrap_or_default();
    let mut count = |field: &str, patch: &Patch<i64>, standing: Option<u32>, min: u32| {
        opt_count(
            ctx,
            &path.key(field),
            patch,
            standing,
            (min, u32::MAX),
            field,
        )
    };
    // No connections or no requests at all would refuse every request; 0 pending requests
    // (no queueing) and 0 concurrent retries are real settings.
    let max_connections = count(
        "max_connections",
        &raw.max_connections,
        b.max_connections,
        1,
    );
    let max_pending = count(
        "max_pending_requests",
        &raw.max_pending_requests,
        b.max_pending_requests,
        0,
    );
    let max_requests = count("max_requests", &raw.max_requests, b.max_requests, 1);
    let max_retries = count("max_retries", &raw.max_retries, b.max_retries, 0);
    let retry_budget = apply(&raw.retry_budget, &b.retry_budget, |bb, r| {
        retry_budget(ctx, &path.key("retry_budget"), bb, r)
    });
    let cb = CircuitBreakers {
        max_connections: max_connections?,
        max_pending_requests: max_pending?,
        max_requests: max_requests?,
        max_retries: max_retries?,
        track_remaining: raw.track_remaining.unwrap_or(b.track_remaining),
        retry_budget: retry_budget?,
    };
    if cb.retry_budget.is_some() && cb.max_retries.is_some() {
        let at = if raw.retry_budget.given() {
            "retry_budget"
        } else {
            "max_retries"
        };
        ctx.err_key(
            &path.key(at),
            "`max_retries` and `retry_budget` are both set",
            "Envoy ignores `max_retries` when there is a retry budget: keep one",
        );
        return None;
    }
    Some(cb)
}

fn retry_budget(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&RetryBudget>,
    raw: &RawRetryBudget,
) -> Option<RetryBudget> {
    let budget_percent = match &raw.percent {
        Some(v) => ctx.percent(&path.key("percent"), v).map(|f| f * 100.0),
        None => Some(base.map_or(20.0, |b| b.budget_percent)),
    };
    let min_retry_concurrency = match raw.min_retry_concurrency {
        Some(n) => ctx.count(
            &path.key("min_retry_concurrency"),
            n,
            0,
            u32::MAX,
            "min_retry_concurrency",
        ),
        None => Some(base.map_or(3, |b| b.min_retry_concurrency)),
    };
    Some(RetryBudget {
        budget_percent: budget_percent?,
        min_retry_concurrency: min_retry_concurrency?,
    })
}

/// A circuit breaker field, its Istio spelling under `connectionPool`, and the two patches.
type PoolField<'a> = (
    &'static str,
    &'static str,
    Option<&'a Patch<i64>>,
    Option<&'a Patch<i64>>,
);

/// Istio's `connectionPool` fields, set on the circuit breakers folded so far.
fn with_pool(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    standing: Option<CircuitBreakers>,
    raw: &RawCluster,
    pool: &RawConnectionPool,
) -> Option<Option<CircuitBreakers>> {
    let native = raw.circuit_breakers.set();
    let tcp = pool.tcp.as_ref().map(|t| &t.max_connections);
    let http = pool.http.as_ref();
    let fields: [PoolField<'_>; 4] = [
        (
            "max_connections",
            "tcp.maxConnections",
            tcp,
            native.map(|n| &n.max_connections),
        ),
        (
            "max_pending_requests",
            "http.http1MaxPendingRequests",
            http.map(|h| &h.http1_max_pending_requests),
            native.map(|n| &n.max_pending_requests),
        ),
        (
            "max_requests",
            "http.http2MaxRequests",
            http.map(|h| &h.http2_max_requests),
            native.map(|n| &n.max_requests),
        ),
        (
            "max_retries",
            "http.maxRetries",
            http.map(|h| &h.max_retries),
            native.map(|n| &n.max_retries),
        ),
    ];
    if fields
        .iter()
        .all(|(_, _, istio, _)| !istio.is_some_and(Patch::given))
    {
        return Some(standing);
    }
    let mut cb = standing.unwrap_or_default();
    let mut ok = true;
    for (name, istio_name, istio, native) in fields {
        let Some(patch) = istio.filter(|p| p.given()) else {
            continue;
        };
        if native.is_some_and(Patch::given) {
            pool_conflict(ctx, path, &format!("circuit_breakers.{name}"), istio_name);
            ok = false;
            continue;
        }
        let mut at = path.clone();
        for key in istio_name.split('.') {
            at = at.key(key);
        }
        let slot = match name {
            "max_connections" => &mut cb.max_connections,
            "max_pending_requests" => &mut cb.max_pending_requests,
            "max_requests" => &mut cb.max_requests,
            _ => &mut cb.max_retries,
        };
        let what = istio_name.rsplit('.').next().unwrap_or(istio_name);
        match opt_count_istio(ctx, &at, patch, *slot, u32::MAX, what) {
            Some(v) => *slot = v,
            None => ok = false,
        }
    }
    ok.then_some(Some(cb))
}
