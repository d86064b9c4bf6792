//! `fault:` of a route: Envoy's HTTP fault filter, configured per route (a fixed delay, an
//! abort with an HTTP or gRPC status, on a share of the requests matching some headers).

use super::check::{shorten, Ctx};
use super::fold::{apply, pick_opt, share};
use super::headers::header_matches;
use super::locate::{FieldPath, Seg};
use super::patch::Patch;
use super::raw::Scalar;
use super::raw_policy::{RawAbort, RawDelay, RawFault};
use super::upstream::positive;
use crate::policy::{AbortKind, FaultAbort, FaultDelay, FaultPolicy};

/// gRPC status codes by name, for Istio's `grpcStatus: UNAVAILABLE`: one table for the
/// workspace, the mocks'.
use gauntlet_mocks::grpc::CODES as GRPC_CODES;

/// `fault:` folded onto the fault that stands; `Some(None)` when folding leaves neither a
/// delay nor an abort (an event removed both).
pub(crate) fn fault(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&FaultPolicy>,
    raw: &RawFault,
) -> Option<Option<FaultPolicy>> {
    if !raw.delay.given() && !raw.abort.given() && !raw.headers.given() {
        ctx.err(
            path,
            "nothing in `fault`",
            "give a `delay`, an `abort`, or both",
        );
        return None;
    }
    let standing = base.cloned().unwrap_or_default();
    let delay = apply(&raw.delay, &standing.delay, |b, r| {
        delay(ctx, &path.key("delay"), b, r)
    });
    let abort = apply(&raw.abort, &standing.abort, |b, r| {
        abort(ctx, &path.key("abort"), b, r)
    });
    let headers = match &raw.headers {
        Patch::Absent => Some(standing.headers),
        Patch::Remove => Some(Vec::new()),
        Patch::Set(m) => header_matches(ctx, &path.key("headers"), m),
    };
    let policy = FaultPolicy {
        delay: delay?,
        abort: abort?,
        headers: headers?,
    };
    if policy.delay.is_none() && policy.abort.is_none() {
        if base.is_some()
            && (matches!(raw.delay, Patch::Remove) || matches!(raw.abort, Patch::Remove))
        {
            return Some(None);
        }
        ctx.err(
            path,
            "a fault needs a `delay` or an `abort`",
            "for example `abort: { status: 503, percent: 10% }`",
        );
        return None;
    }
    Some(Some(policy))
}

fn delay(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&FaultDelay>,
    raw: &RawDelay,
) -> Option<FaultDelay> {
    let limit = ctx.limits.max_duration;
    let fixed = match pick_opt(
        ctx,
        path,
        ("fixed", raw.fixed.as_ref()),
        ("fixedDelay", raw.fixed_delay.as_ref()),
    ) {
        None => None,
        Some(Some((p, v))) => positive(ctx, &p, v, limit),
        Some(None) => match base {
            Some(b) => Some(b.fixed),
            None => {
                ctx.err(
                    path,
                    "missing `fixed`",
                    "say how long to delay, e.g. `fixed: 50ms`",
                );
                None
            }
        },
    };
    let percent = share(ctx, path, raw.percent.as_ref(), raw.percentage.as_ref());
    Some(FaultDelay {
        fixed: fixed?,
        percent: percent?.or(base.map(|b| b.percent)).unwrap_or(100.0),
    })
}

fn abort(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    base: Option<&FaultAbort>,
    raw: &RawAbort,
) -> Option<FaultAbort> {
    let http = pick_opt(
        ctx,
        path,
        ("status", raw.status.as_ref()),
        ("httpStatus", raw.http_status.as_ref()),
    );
    let grpc = pick_opt(
        ctx,
        path,
        ("grpc_status", raw.grpc_status.as_ref().map(|_| &())),
        ("grpcStatus", raw.grpc_status_istio.as_ref().map(|_| &())),
    );
    let percent = share(ctx, path, raw.percent.as_ref(), raw.percentage.as_ref());
    let kind = match (http?, grpc?) {
        (Some((hp, _)), Some((gp, _))) => {
            let (h, g) = (last_key(&hp), last_key(&gp));
            ctx.err_key(
                &gp,
                format!("`{h}` and `{g}` are both set"),
                "an abort answers with an HTTP status or a gRPC status: keep one",
            );
            None
        }
        (Some((p, code)), None) => match u16::try_from(*code) {
            Ok(c) if (200..=599).contains(&c) => Some(AbortKind::Http(c)),
            _ => {
                ctx.err(
                    &p,
                    format!("HTTP status {code} is not in 200..=599"),
                    "abort with a status Envoy can send, e.g. `503`",
                );
                None
            }
        },
        (None, Some((p, _))) => grpc_code(ctx, &p, raw).map(AbortKind::Grpc),
        (None, None) => match base {
            Some(b) => Some(b.kind),
            None => {
                ctx.err(
                    path,
                    "missing `status`",
                    "say how to answer, e.g. `status: 503` or `grpc_status: 14`",
                );
                None
            }
        },
    };
    Some(FaultAbort {
        kind: kind?,
        percent: percent?.or(base.map(|b| b.percent)).unwrap_or(100.0),
    })
}

/// The last key of a path, for messages.
fn last_key(path: &FieldPath) -> String {
    match path.0.last() {
        Some(Seg::Key(k)) => k.clone(),
        _ => String::new(),
    }
}

/// `grpc_status: 14`, or Istio's `grpcStatus: UNAVAILABLE` (or a number): 1..=16.
fn grpc_code(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawAbort) -> Option<u32> {
    let code = match (&raw.grpc_status, &raw.grpc_status_istio) {
        (Some(n), _) => Some(*n),
        (None, Some(Scalar::Int(n))) => i64::try_from(*n).ok(),
        (None, Some(Scalar::Str(s))) => GRPC_CODES
            .iter()
            .position(|c| c == s)
            .and_then(|i| i64::try_from(i).ok()),
        _ => None,
    };
    match code.and_then(|c| u32::try_from(c).ok()) {
        Some(c) if (1..=16).contains(&c) => Some(c),
        Some(0) => {
            ctx.err(
                path,
                "gRPC status 0 is OK, not an error",
                "abort with an error code, e.g. `14` (UNAVAILABLE)",
            );
            None
        }
        _ => {
            let shown = raw
                .grpc_status
                .map(|n| n.to_string())
                .or(raw.grpc_status_istio.as_ref().map(|s| s.to_string()))
                .unwrap_or_default();
            let hint = super::error::did_you_mean(&shown, GRPC_CODES.iter().copied())
                .unwrap_or_else(|| "use a gRPC code from 1 to 16, e.g. `14` (UNAVAILABLE)".into());
            ctx.err(
                path,
                format!("`{}` is not a gRPC status code", shorten(&shown)),
                hint,
            );
            None
        }
    }
}
