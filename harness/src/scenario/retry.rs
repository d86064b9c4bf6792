//! `retries:` of a route: Envoy's `RetryPolicy`, in Envoy's words or Istio's.

use std::time::Duration;

use super::check::{shorten, Ctx};
use super::error::{did_you_mean, list};
use super::fold::{apply, opt_duration, pick};
use super::locate::FieldPath;
use super::patch::{OneOrMany, Patch};
use super::raw::Scalar;
use super::raw_policy::{RawBackoff, RawRetries};
use super::upstream::positive;
use crate::policy::{Backoff, RetryPolicy};

/// Envoy's retry conditions: `x-envoy-retry-on` (HTTP) and `x-envoy-retry-grpc-on` (gRPC)
/// values, both accepted in `RetryPolicy.retry_on`. `retriable-headers` is left out: it
/// needs header matchers the model does not have.
pub(crate) const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Most retries of one request; more is a typo for a timeout or a load test of its own.
const MAX_ATTEMPTS: u32 = 100;
/// Most host selection attempts (Envoy's `host_selection_retry_max_attempts`).
const MAX_HOST_SELECTION: u32 = 100;
/// Most retry conditions or retriable status codes: more is a mistake (there are only
/// about fifteen conditions), and the duplicate checks stay cheap.
const MAX_LIST: usize = 64;
/// Envoy's `num_retries` when `attempts` is not given.
const DEFAULT_ATTEMPTS: u32 = 1;
/// Envoy's default backoff base interval.
const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(25);

/// Folds `retries:` onto the retry policy that stands (`None` for a new one).
pub(crate) fn retries(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&RetryPolicy>,
    raw: &RawRetries,
) -> Option<RetryPolicy> {
    let max = ctx.limits.max_duration;
    let on = pick(ctx, path, ("on", &raw.on), ("retryOn", &raw.retry_on));
    let per_try = pick(
        ctx,
        path,
        ("per_try_timeout", &raw.per_try_timeout),
        ("perTryTimeout", &raw.per_try_timeout_istio),
    );
    let istio_on = raw.retry_on.given();
    let (retry_on, on_codes) = match on {
        None => (None, Vec::new()),
        Some((_, Patch::Absent)) => (
            Some(base.map(|b| b.retry_on.clone()).unwrap_or_default()),
            Vec::new(),
        ),
        Some((_, Patch::Remove)) => (Some(Vec::new()), Vec::new()),
        Some((p, Patch::Set(items))) => match conditions(ctx, &p, items, istio_on) {
            Some((c, codes)) => (Some(c), codes),
            None => (None, Vec::new()),
        },
    };
    let num_retries = match &raw.attempts {
        Patch::Absent => Some(base.map_or(DEFAULT_ATTEMPTS, |b| b.num_retries)),
        Patch::Remove => Some(DEFAULT_ATTEMPTS),
        Patch::Set(n) => ctx.count(&path.key("attempts"), *n, 0, MAX_ATTEMPTS, "attempts"),
    };
    let per_try_timeout = per_try.and_then(|(p, patch)| {
        opt_duration(ctx, &p, patch, base.and_then(|b| b.per_try_timeout), max)
    });
    let per_try_idle_timeout = opt_duration(
        ctx,
        &path.key("per_try_idle_timeout"),
        &raw.per_try_idle_timeout,
        base.and_then(|b| b.per_try_idle_timeout),
        max,
    );
    let backoff = apply(&raw.backoff, &base.and_then(|b| b.backoff), |b, r| {
        backoff(ctx, &path.key("backoff"), b, r)
    });
    let codes_path = path.key("retriable_status_codes");
    // Istio's `retryOn` carries its status codes: written, it replaces the codes that stand.
    let replaces_codes = istio_on && raw.retry_on.set().is_some();
    let mut codes = match &raw.retriable_status_codes {
        Patch::Absent if replaces_codes => Some(Vec::new()),
        Patch::Absent => Some(
            base.map(|b| b.retriable_status_codes.clone())
                .unwrap_or_default(),
        ),
        Patch::Remove => Some(Vec::new()),
        Patch::Set(list) => status_codes(ctx, &codes_path, list),
    };
    if let Some(codes) = &mut codes {
        for code in on_codes {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    let avoid = match &raw.avoid_previous_hosts {
        Patch::Absent => base.is_some_and(|b| b.avoid_previous_hosts),
        Patch::Remove => false,
        Patch::Set(b) => *b,
    };
    let hsa_path = path.key("host_selection_attempts");
    let host_selection_attempts = match &raw.host_selection_attempts {
        Patch::Set(_) if !avoid => {
            ctx.err_key(
                &hsa_path,
                "`host_selection_attempts` applies only with `avoid_previous_hosts: true`",
                "add `avoid_previous_hosts: true`, or remove `host_selection_attempts`",
            );
            None
        }
        Patch::Set(n) => ctx.count(
            &hsa_path,
            *n,
            1,
            MAX_HOST_SELECTION,
            "host_selection_attempts",
        ),
        Patch::Absent if avoid => Some(match base {
            Some(b) if b.avoid_previous_hosts => b.host_selection_attempts,
            _ => 3,
        }),
        _ if avoid => Some(3),
        _ => Some(1),
    };
    let policy = RetryPolicy {
        retry_on: retry_on?,
        num_retries: num_retries?,
        per_try_timeout: per_try_timeout?,
        per_try_idle_timeout: per_try_idle_timeout?,
        backoff: backoff?,
        retriable_status_codes: codes?,
        avoid_previous_hosts: avoid,
        host_selection_attempts: host_selection_attempts?,
    };
    consistent(ctx, path, raw, policy)
}

/// The checks across fields, once the policy is folded.
fn consistent(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawRetries,
    policy: RetryPolicy,
) -> Option<RetryPolicy> {
    let on_path = if raw.retry_on.given() {
        path.key("retryOn")
    } else {
        path.key("on")
    };
    if policy.retry_on.is_empty() && policy.num_retries > 0 {
        ctx.err(
            &on_path,
            "no retry conditions: Envoy would never retry",
            "say when to retry, e.g. `on: [5xx, reset, connect-failure]` (Istio's default is \
             `retryOn: connect-failure,refused-stream,unavailable,cancelled,503`)",
        );
        return None;
    }
    let by_code = policy
        .retry_on
        .iter()
        .any(|c| c == "retriable-status-codes");
    if !policy.retriable_status_codes.is_empty() && !by_code {
        ctx.err_key(
            &path.key("retriable_status_codes"),
            "`retriable_status_codes` needs `retriable-status-codes` in `on`",
            "add `retriable-status-codes` to `on`; without it Envoy ignores these codes",
        );
        return None;
    }
    if by_code && policy.retriable_status_codes.is_empty() {
        ctx.err(
            &on_path,
            "`retriable-status-codes` is in `on` but no codes are given",
            "list them, e.g. `retriable_status_codes: [503, 504]`",
        );
        return None;
    }
    Some(policy)
}

/// Retry conditions: a list, or comma-separated strings. In Istio's `retryOn`, HTTP status
/// codes are allowed too, and stand for `retriable-status-codes` with those codes.
fn conditions(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    items: &OneOrMany<Scalar>,
    istio: bool,
) -> Option<(Vec<String>, Vec<u16>)> {
    let many = matches!(items, OneOrMany::Many(_));
    let count: usize = items
        .items()
        .iter()
        .map(|i| i.to_string().matches(',').count() + 1)
        .sum();
    if count > MAX_LIST {
        ctx.err(
            path,
            format!("{count} retry conditions is over the limit of {MAX_LIST}"),
            "list each condition once; Envoy knows about fifteen",
        );
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut codes: Vec<u16> = Vec::new();
    for (i, item) in items.items().iter().enumerate() {
        let p = if many { path.index(i) } else { path.clone() };
        let text = item.to_string();
        for word in text.split(',').map(str::trim) {
            if word.is_empty() {
                ctx.err(
                    &p,
                    "an empty retry condition",
                    "separate conditions with single commas, e.g. `5xx,reset`",
                );
                return None;
            }
            if word.chars().all(|c| c.is_ascii_digit()) {
                if !istio {
                    ctx.err(
                        &p,
                        format!("`{}` is a status code, not a retry condition", shorten(word)),
                        "add `retriable-status-codes` to `on` and list codes in `retriable_status_codes`",
                    );
                    return None;
                }
                // Too many digits for any number is as wrong as 700.
                let code = status(ctx, &p, word.parse().unwrap_or(i64::MAX))?;
                if !codes.contains(&code) {
                    codes.push(code);
                }
                continue;
            }
            if !RETRY_ON.contains(&word) {
                let hint = if word == "retriable-headers" {
                    "retrying on response headers is not supported; use `retriable-status-codes`"
                        .to_string()
                } else {
                    did_you_mean(word, RETRY_ON.iter().copied())
                        .unwrap_or_else(|| format!("use Envoy's conditions: {}", list(RETRY_ON)))
                };
                ctx.err(
                    &p,
                    format!("`{}` is not a retry condition", shorten(word)),
                    hint,
                );
                return None;
            }
            if out.iter().any(|c| c == word) {
                ctx.err(
                    &p,
                    format!("`{word}` is listed twice"),
                    "list each condition once",
                );
                return None;
            }
            out.push(word.to_string());
        }
    }
    if !codes.is_empty() && !out.iter().any(|c| c == "retriable-status-codes") {
        out.push("retriable-status-codes".to_string());
    }
    Some((out, codes))
}

fn status_codes(ctx: &mut Ctx<'_>, path: &FieldPath, list: &[i64]) -> Option<Vec<u16>> {
    if list.len() > MAX_LIST {
        ctx.err(
            path,
            format!(
                "{} status codes is over the limit of {MAX_LIST}",
                list.len()
            ),
            "list each code once",
        );
        return None;
    }
    let mut out: Vec<u16> = Vec::with_capacity(list.len().min(100));
    for (i, &code) in list.iter().enumerate() {
        let p = path.index(i);
        let code = status(ctx, &p, code)?;
        if out.contains(&code) {
            ctx.err(
                &p,
                format!("status {code} is listed twice"),
                "list each code once",
            );
            return None;
        }
        out.push(code);
    }
    Some(out)
}

/// A final HTTP status code to retry on.
fn status(ctx: &mut Ctx<'_>, path: &FieldPath, code: i64) -> Option<u16> {
    match u16::try_from(code) {
        Ok(c) if (200..=599).contains(&c) => Some(c),
        _ => {
            ctx.err(
                path,
                format!("`{code}` is not a final HTTP status code"),
                "use status codes from 200 to 599, e.g. `503`",
            );
            None
        }
    }
}

/// `backoff: { base, max }`: Envoy's defaults are 25 ms and 10 × base.
fn backoff(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    standing: Option<&Backoff>,
    raw: &RawBackoff,
) -> Option<Backoff> {
    let limit = ctx.limits.max_duration;
    let base = match &raw.base {
        Some(v) => positive(ctx, &path.key("base"), v, limit),
        None => Some(standing.map_or(DEFAULT_BACKOFF_BASE, |b| b.base)),
    };
    let max = match &raw.max {
        Some(v) => positive(ctx, &path.key("max"), v, limit),
        None => base.map(|base| standing.map_or(base.saturating_mul(10), |b| b.max)),
    };
    let (base, max) = (base?, max?);
    if max < base {
        let show = gauntlet_mocks::units::format_duration;
        ctx.err(
            &path.key("max"),
            format!(
                "`max` ({}) is shorter than `base` ({})",
                show(max),
                show(base)
            ),
            "make `max` at least `base`: it caps the growing interval",
        );
        return None;
    }
    Some(Backoff { base, max })
}
