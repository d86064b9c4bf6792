//! # gRPC: `protocol: grpc`, `load.streams`, `load.grpc`
//!
//! Mock upstreams and the load generator speak unary gRPC over HTTP/2 (h2c):
//!
//! ```yaml
//! upstreams:
//!   payments:
//!     protocol: grpc            # HTTP/2; answers any method (e.g. /gauntlet.mock.v1.Mock/Call)
//!     latency: 5ms              # the same distributions as HTTP
//!     responses: { ok: 70%, unavailable: 30% }   # gRPC codes by name (any case, `_` or
//!                               # `-`) or number 0..=16: { 0: 70%, 14: 30% }; default ok
//!     body: 256                 # size of the response message of an `OK` answer
//! routes:
//!   - match: { prefix: / }
//!     cluster: payments
//!     retries: { on: [unavailable], attempts: 2 }   # also resource-exhausted,
//!                               # deadline-exceeded, cancelled, internal
//! load:
//!   protocol: grpc              # unary calls over HTTP/2
//!   concurrency: 10
//!   connections: 1
//!   streams: 10                 # most streams in flight per connection (http2 and grpc);
//!                               # default 100; closed loop without `connections`:
//!                               # connections = concurrency / streams, rounded up
//!   grpc:                       # optional with a mock upstream
//!     method: gauntlet.mock.v1.Mock/Call       # default; `package.Service/Method`
//!     deadline: 50ms            # optional: sent as `grpc-timeout` on every call
//!     descriptor_set: api.pb    # a FileDescriptorSet (`protoc --include_imports
//!                               # --descriptor_set_out=api.pb`), relative to this file
//!     request: { sku: A-1, quantity: 2 }   # the request message in protobuf's JSON form;
//!                               # needs descriptor_set; default: the empty message
//!   request: { headers: { x-tenant: a } }  # metadata; method, path and body come from `grpc`
//! ```
//!
//! A mix of `responses` is all gRPC codes or all HTTP statuses (200..=599): gRPC codes on an
//! upstream that is not `protocol: grpc` are an error, and so are HTTP statuses on one that
//! is; an upstream event's `set: { responses: … }` follows its upstream. An `OK` answer
//! carries the status in the trailers, any other code is trailers-only.
//!
//! The request message is encoded once, when the scenario is read, with the method's input
//! type from the descriptor set: a method that is not in the set, or a request that does
//! not fit the message, is an error pointing at the field. With `protocol: grpc` load,
//! every route honours `grpc-timeout` (Envoy's `max_stream_duration`): a call ends at its
//! deadline or at the route's `timeout` (default 15 s), whichever comes first, and a call
//! past its deadline ends as `DEADLINE_EXCEEDED` whether Envoy or the client gives up
//! first (the client waits the deadline plus 10%, at least 5 ms, for Envoy's answer).
//!
//! The result counts gRPC statuses by name (`grpc_statuses`); the error rate counts every
//! call that did not end `OK`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_mocks::grpc::{parse_code, GrpcStatusMix, CODES};
use serde::{Deserialize, Serialize};

use super::check::{shorten, Ctx};
use super::locate::FieldPath;
use super::model::{LoadMode, LoadProtocol};
use super::raw::{OrderedMap, RawLoad, Scalar};
use super::upstream::positive;

/// The method of the built-in mock service.
pub const MOCK_METHOD: &str = "/gauntlet.mock.v1.Mock/Call";

/// Most streams in flight on one connection.
pub const MAX_STREAMS: u32 = 1000;

/// Largest descriptor set read; real ones are kilobytes.
const MAX_DESCRIPTOR_BYTES: u64 = 16 << 20;

/// Longest deadline; `grpc-timeout` is sent in microseconds up to 100 s, else milliseconds.
const MAX_DEADLINE: Duration = Duration::from_secs(3600);

/// `load.grpc:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrpc {
    pub method: Option<Scalar>,
    pub descriptor_set: Option<Scalar>,
    pub request: Option<serde_yaml::Value>,
    pub deadline: Option<Scalar>,
}

/// The unary call every load stream makes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrpcCall {
    /// The HTTP/2 path, `/package.Service/Method`.
    pub path: String,
    /// The request message, protobuf-encoded once (without gRPC's 5-byte prefix).
    #[serde(skip)]
    pub message: Vec<u8>,
    /// Size of `message`, for the result.
    pub message_bytes: usize,
    /// Where the request message's type came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_set: Option<PathBuf>,
    /// Sent as `grpc-timeout` on every call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Duration>,
}

/// What `load:` gets from the gRPC fields.
#[derive(Debug, Default)]
pub(crate) struct LoadGrpc {
    pub streams: Option<u32>,
    pub call: Option<GrpcCall>,
    /// Closed loop with `streams` and no `connections`: the connections needed.
    pub connections: Option<u32>,
}

/// Whether a `responses:` mix is written in gRPC codes: any key that is a gRPC code by
/// name or by number (0..=16; HTTP statuses start at 100, so the two never overlap).
pub(crate) fn is_grpc_mix(raw: &OrderedMap<Scalar, Scalar>) -> bool {
    raw.0.iter().any(|(code, _)| match code {
        Scalar::Int(n) => (0..=16).contains(n),
        Scalar::Str(s) => parse_code(s).is_some(),
        _ => false,
    })
}

/// `responses:` in gRPC codes, summing to 100%.
pub(crate) fn grpc_responses(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &OrderedMap<Scalar, Scalar>,
) -> Option<GrpcStatusMix> {
    let names = || {
        CODES
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut mix: Vec<(u8, f64)> = Vec::with_capacity(raw.0.len());
    let mut ok = true;
    for (code, share) in &raw.0 {
        let p = path.key(code.to_string());
        let Some(c) = parse_code(&code.to_string()) else {
            let hint = if matches!(code, Scalar::Int(200..=599)) {
                "a mix is all gRPC codes or all HTTP statuses: write this one as a gRPC code, \
                 e.g. `ok` for 200 or `unavailable` for 503"
                    .to_string()
            } else {
                format!("use a gRPC status: {} (or its number 0..=16)", names())
            };
            ctx.err_key(
                &p,
                format!("`{}` is not a gRPC status code", shorten(&code.to_string())),
                hint,
            );
            ok = false;
            continue;
        };
        if mix.iter().any(|(s, _)| *s == c) {
            ctx.err_key(
                &p,
                format!("gRPC status {} is listed twice", CODES[usize::from(c)]),
                "list each status once (names and numbers are the same code)",
            );
            ok = false;
            continue;
        }
        match ctx.percent(&p, share) {
            Some(f) => mix.push((c, f)),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let sum: f64 = mix.iter().map(|(_, f)| f).sum();
    if (sum - 1.0).abs() > 0.0001 {
        ctx.err(
            path,
            format!(
                "percentages add up to {}%, not 100%",
                (sum * 10_000.0).round() / 100.0
            ),
            "make the shares of the gRPC statuses add up to 100%",
        );
        return None;
    }
    Some(GrpcStatusMix(
        mix.into_iter().map(|(c, f)| (c, f / sum)).collect(),
    ))
}

/// The gRPC fields of `load:` (`streams`, `grpc`), checked against the protocol and the
/// request. `connections` is whether `load.connections` was given.
pub(crate) fn load_grpc(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawLoad,
    protocol: Option<LoadProtocol>,
    mode: Option<LoadMode>,
) -> Option<LoadGrpc> {
    let grpc = protocol == Some(LoadProtocol::Grpc);
    let mut out = LoadGrpc::default();
    let mut ok = true;
    if let Some(n) = raw.streams {
        let p = path.key("streams");
        if protocol == Some(LoadProtocol::Http1) {
            ctx.err_key(
                &p,
                "`streams` needs HTTP/2: HTTP/1.1 carries one request per connection",
                "set `protocol: http2` or `protocol: grpc`, or remove `streams`",
            );
            ok = false;
        } else {
            out.streams = ctx.count(&p, n, 1, MAX_STREAMS, "streams");
            ok &= out.streams.is_some();
        }
    }
    if let (Some(LoadMode::Closed { concurrency }), Some(streams)) = (mode, out.streams) {
        match raw.connections {
            None => out.connections = Some(concurrency.div_ceil(streams)),
            Some(c) if (c as u64).saturating_mul(u64::from(streams)) < u64::from(concurrency) => {
                ctx.err(
                    &path.key("streams"),
                    format!(
                        "{c} connections × {streams} streams cannot hold a concurrency of \
                         {concurrency}"
                    ),
                    "raise `streams` or `connections`, or leave `connections` out to have it \
                     computed",
                );
                ok = false;
            }
            Some(_) => {}
        }
    }
    if grpc {
        for (field, given) in [
            (
                "method",
                raw.request.as_ref().is_some_and(|r| r.method.is_some()),
            ),
            (
                "path",
                raw.request.as_ref().is_some_and(|r| r.path.is_some()),
            ),
            (
                "body",
                raw.request.as_ref().is_some_and(|r| r.body.is_some()),
            ),
        ] {
            if given {
                ctx.err_key(
                    &path.key("request").key(field),
                    format!("`request.{field}` does not apply to gRPC calls"),
                    "a gRPC call is a POST to `load.grpc.method` with the message of \
                     `load.grpc.request`; only `headers` (metadata) apply",
                );
                ok = false;
            }
        }
        let default = RawGrpc::default();
        let call = call(
            ctx,
            &path.key("grpc"),
            raw.grpc.as_ref().unwrap_or(&default),
        );
        ok &= call.is_some();
        out.call = call;
    } else if raw.grpc.is_some() {
        ctx.err_key(
            &path.key("grpc"),
            "`grpc` needs `protocol: grpc`",
            "add `protocol: grpc` to `load`, or remove `grpc`",
        );
        ok = false;
    }
    ok.then_some(out)
}

/// `load.grpc:` → the call, its message encoded.
fn call(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawGrpc) -> Option<GrpcCall> {
    let method = match &raw.method {
        Some(m) => method(ctx, &path.key("method"), m),
        None => Some(MOCK_METHOD.to_string()),
    };
    let deadline = match &raw.deadline {
        Some(d) => positive(ctx, &path.key("deadline"), d, MAX_DEADLINE).map(Some),
        None => Some(None),
    };
    let descriptor_set = match &raw.descriptor_set {
        Some(d) => descriptor_path(ctx, &path.key("descriptor_set"), d).map(Some),
        None => Some(None),
    };
    let method = method?;
    let message = match (&raw.request, descriptor_set.as_ref()?) {
        (None, None) => Vec::new(),
        (Some(_), None) => {
            ctx.err_key(
                &path.key("request"),
                "`request` needs `descriptor_set`: the message type comes from it",
                "add `descriptor_set: api.pb` (made with `protoc --include_imports \
                 --descriptor_set_out=api.pb your.proto`)",
            );
            return None;
        }
        (request, Some(file)) => {
            super::grpc_message::encode(ctx, path, file, &method, request.as_ref())?
        }
    };
    Some(GrpcCall {
        path: method,
        message_bytes: message.len(),
        message,
        descriptor_set: descriptor_set?,
        deadline: deadline?,
    })
}

/// `package.Service/Method` (a leading `/` is allowed) → `/package.Service/Method`.
fn method(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<String> {
    let text = value.to_string();
    let trimmed = text.trim().trim_start_matches('/');
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|part| {
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    };
    match trimmed.split_once('/') {
        Some((service, method)) if ident(service) && ident(method) && !method.contains('.') => {
            Some(format!("/{service}/{method}"))
        }
        _ => {
            ctx.err(
                path,
                format!("`{}` is not a gRPC method", shorten(&text)),
                "write `package.Service/Method`, e.g. `shop.v1.Checkout/PlaceOrder`",
            );
            None
        }
    }
}

/// The descriptor set's path, relative to the scenario file's directory.
fn descriptor_path(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<PathBuf> {
    let text = ctx.string(path, value, "api.pb")?;
    let given = Path::new(&text);
    let full = if given.is_absolute() {
        given.to_path_buf()
    } else {
        ctx.file.parent().unwrap_or(Path::new(".")).join(given)
    };
    match std::fs::metadata(&full) {
        Ok(m) if m.len() > MAX_DESCRIPTOR_BYTES => {
            ctx.err(
                path,
                format!("`{text}` is {} bytes, over the limit of 16 MiB", m.len()),
                "a descriptor set is kilobytes: check that it is the right file",
            );
            None
        }
        Ok(_) => Some(full),
        Err(e) => {
            ctx.err(
                path,
                format!("cannot read `{}`: {e}", full.display()),
                "give the path of a descriptor set, relative to the scenario file \
                 (`protoc --include_imports --descriptor_set_out=api.pb your.proto`)",
            );
            None
        }
    }
}

/// `grpc-timeout` for a deadline: at most 8 digits, in microseconds while they fit, else
/// milliseconds (the deadline is capped far below 10^8 ms).
pub fn timeout_header(deadline: Duration) -> String {
    let us = deadline.as_micros();
    if us < 100_000_000 {
        format!("{}u", us.max(1))
    } else {
        format!("{}m", deadline.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_headers_fit_eight_digits() {
        assert_eq!(timeout_header(Duration::from_millis(50)), "50000u");
        assert_eq!(timeout_header(Duration::from_secs(99)), "99000000u");
        assert_eq!(timeout_header(Duration::from_secs(100)), "100000m");
        assert_eq!(timeout_header(MAX_DEADLINE), "3600000m");
        assert_eq!(timeout_header(Duration::from_nanos(10)), "1u");
    }

    #[test]
    fn grpc_mixes_are_told_from_http_ones() {
        let mix = |keys: &[Scalar]| {
            OrderedMap(
                keys.iter()
                    .map(|k| (k.clone(), Scalar::Str("50%".into())))
                    .collect(),
            )
        };
        assert!(is_grpc_mix(&mix(&[Scalar::Str("ok".into())])));
        assert!(is_grpc_mix(&mix(&[Scalar::Int(14)])));
        assert!(is_grpc_mix(&mix(&[Scalar::Int(200), Scalar::Int(0)])));
        assert!(!is_grpc_mix(&mix(&[Scalar::Int(200), Scalar::Int(503)])));
        assert!(!is_grpc_mix(&mix(&[Scalar::Str("503".into())])));
        assert!(!is_grpc_mix(&mix(&[Scalar::Str("5xx".into())])));
    }
}
