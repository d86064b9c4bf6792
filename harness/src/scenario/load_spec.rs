//! `load:` → [`Load`]: the loop (open at a `rate`, or closed at a `concurrency`), its
//! connections, duration, warmup, timeout and workers, the request every call sends (method,
//! path, headers, body size), and gRPC's part through `grpc::load_grpc`.

use std::collections::HashSet;
use std::time::Duration;

use super::check::{shorten, Ctx};
use super::headers::is_tchar;
use super::locate::FieldPath;
use super::model::{Load, LoadMode, LoadProtocol, RequestSpec};
use super::raw::{RawLoad, RawRequest, Scalar};
use super::route::url_path;
use super::upstream::positive;

/// Most request headers.
const MAX_HEADERS: usize = 100;
/// Headers the load client sets itself.
const MANAGED_HEADERS: &[&str] = &["content-length", "transfer-encoding", "connection"];

/// Validates `load:`, which every scenario needs.
pub(crate) fn load(ctx: &mut Ctx<'_>, raw: Option<&RawLoad>) -> Option<Load> {
    let path = FieldPath::root().key("load");
    let Some(raw) = raw else {
        ctx.missing(
            &FieldPath::root(),
            "load",
            "add e.g. `load: { rate: 2000/s, duration: 60s }`",
        );
        return None;
    };
    let limits = ctx.limits.clone();
    let protocol = match &raw.protocol {
        Some(p) => match ctx.choice(&path.key("protocol"), p, &["http1", "http2", "grpc"]) {
            Some("http2") => Some(LoadProtocol::Http2),
            Some("grpc") => Some(LoadProtocol::Grpc),
            Some(_) => Some(LoadProtocol::Http1),
            None => None,
        },
        None => Some(LoadProtocol::Http1),
    };
    let mode = match (&raw.rate, raw.concurrency) {
        (Some(_), Some(_)) => {
            ctx.err_key(&path.key("concurrency"), "`rate` and `concurrency` are both set", "keep one: `rate` is an open loop (requests per second), `concurrency` a closed loop (requests in flight)");
            None
        }
        (None, None) => {
            ctx.err(
                &path,
                "neither `rate` nor `concurrency` is set",
                "add `rate: 2000/s` (open loop) or `concurrency: 32` (closed loop)",
            );
            None
        }
        (Some(r), None) => rate(ctx, &path.key("rate"), r).map(|rate| LoadMode::Open { rate }),
        (None, Some(c)) => ctx
            .count(
                &path.key("concurrency"),
                c,
                1,
                limits.max_concurrency,
                "concurrency",
            )
            .map(|concurrency| LoadMode::Closed { concurrency }),
    };
    let connections = match raw.connections {
        Some(n) => ctx.count(
            &path.key("connections"),
            n,
            1,
            limits.max_connections,
            "connections",
        ),
        None => match (mode, protocol) {
            (Some(LoadMode::Closed { concurrency }), Some(LoadProtocol::Http1)) => {
                Some(concurrency)
            }
            (Some(LoadMode::Closed { concurrency }), _) => Some(concurrency.min(16)),
            _ => Some(16),
        },
    };
    let duration = match &raw.duration {
        Some(d) => positive(ctx, &path.key("duration"), d, limits.max_duration),
        None => {
            ctx.missing(
                &path,
                "duration",
                "say how long to measure, e.g. `duration: 60s`",
            );
            None
        }
    };
    let warmup = match &raw.warmup {
        Some(w) => ctx.duration(&path.key("warmup"), w, limits.max_duration),
        None => Some(Duration::from_secs(1)),
    };
    let timeout = match &raw.timeout {
        Some(t) => positive(ctx, &path.key("timeout"), t, limits.max_duration),
        None => Some(Duration::from_secs(10)),
    };
    let workers = match raw.workers {
        Some(n) => ctx.count(&path.key("workers"), n, 1, limits.max_workers, "workers"),
        None => Some(1),
    };
    let default = RawRequest::default();
    let mut request = request(
        ctx,
        &path.key("request"),
        raw.request.as_ref().unwrap_or(&default),
    );
    let grpc = super::grpc::load_grpc(ctx, &path, raw, protocol, mode);
    // A gRPC call is a POST to the method's path; the route check below sees that path.
    if let (Some(req), Some(call)) = (&mut request, grpc.as_ref().and_then(|g| g.call.as_ref())) {
        req.method = "POST".to_string();
        req.path = call.path.clone();
    }
    let grpc = grpc?;
    let connections = grpc.connections.or(connections);
    Some(Load {
        protocol: protocol?,
        mode: mode?,
        connections: connections?,
        duration: duration?,
        warmup: warmup?,
        request: request?,
        timeout: timeout?,
        workers: workers?,
        streams: grpc.streams,
        grpc: grpc.call,
    })
}

/// `2000/s`, `2k/s`, `2000` or `1.5M/s` → requests per second.
pub(crate) fn rate(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<f64> {
    let hint = "write requests per second, e.g. `2000/s`, `2k/s` or `2000`";
    let parsed = match value {
        Scalar::Int(n) => Some(*n as f64),
        Scalar::Float(x) => Some(*x),
        Scalar::Bool(_) => None,
        Scalar::Str(s) => {
            let s = s.trim();
            let s = s.strip_suffix("/s").unwrap_or(s).trim_end();
            let (number, scale) = match s.char_indices().last() {
                Some((i, 'k' | 'K')) => (&s[..i], 1e3),
                Some((i, 'M')) => (&s[..i], 1e6),
                _ => (s, 1.0),
            };
            let digits = |c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E');
            number
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|_| number.trim().chars().all(digits))
                .map(|n| n * scale)
        }
    };
    let Some(rate) = parsed.filter(|r| r.is_finite()) else {
        ctx.err(
            path,
            format!("`{}` is not a rate", shorten(&value.to_string())),
            hint,
        );
        return None;
    };
    if rate <= 0.0 {
        ctx.err(
            path,
            format!("rate must be more than 0, not `{value}`"),
            hint,
        );
        return None;
    }
    let max = ctx.limits.max_rate;
    if rate > max {
        ctx.err(
            path,
            format!("`{value}` is over the limit of {max}/s"),
            format!("use at most {max}/s; more than that needs several load machines"),
        );
        return None;
    }
    Some(rate)
}

fn request(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawRequest) -> Option<RequestSpec> {
    let method = match &raw.method {
        Some(m) => method(ctx, &path.key("method"), m),
        None => Some("GET".to_string()),
    };
    let req_path = match &raw.path {
        Some(p) => url_path(ctx, &path.key("path"), p),
        None => Some("/".to_string()),
    };
    let headers = match &raw.headers {
        Some(h) => headers(ctx, &path.key("headers"), &h.0),
        None => Some(Vec::new()),
    };
    let body_bytes = match &raw.body {
        Some(b) => ctx.body(&path.key("body"), b),
        None => Some(0),
    };
    Some(RequestSpec {
        method: method?,
        path: req_path?,
        headers: headers?,
        body_bytes: body_bytes?,
    })
}

fn method(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<String> {
    let m = value.to_string();
    if m.is_empty() || !m.chars().all(is_tchar) {
        ctx.err(
            path,
            format!(
                "`{}` is not an HTTP method",
                shorten(&m.escape_debug().to_string())
            ),
            "for example `GET` or `POST`",
        );
        return None;
    }
    let upper = m.to_ascii_uppercase();
    if upper != m
        && ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"].contains(&upper.as_str())
    {
        ctx.err(
            path,
            format!("method `{m}` is not upper case"),
            format!("methods are case-sensitive: write `{upper}`"),
        );
        return None;
    }
    Some(m)
}

fn headers(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &[(Scalar, Scalar)],
) -> Option<Vec<(String, String)>> {
    if raw.len() > MAX_HEADERS {
        ctx.err(
            path,
            format!("{} headers is over the limit of {MAX_HEADERS}", raw.len()),
            format!("send at most {MAX_HEADERS}"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut seen = HashSet::new();
    let mut ok = true;
    for (name, value) in raw {
        let name = name.to_string();
        let p = path.key(name.clone());
        let shown = shorten(&name.escape_debug().to_string());
        if name.is_empty() || !name.chars().all(is_tchar) {
            ctx.err_key(&p, format!("`{shown}` is not a valid header name"), "header names use letters, digits and `-` (any HTTP token character), e.g. `x-user`");
            ok = false;
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if MANAGED_HEADERS.contains(&lower.as_str()) {
            ctx.err_key(
                &p,
                format!("header `{name}` is set by the load client"),
                "remove it; the client sets it from `body` and the protocol",
            );
            ok = false;
            continue;
        }
        if !seen.insert(lower) {
            ctx.err_key(
                &p,
                format!("header `{name}` is given twice"),
                "header names are case-insensitive; give each once (join values with `, `)",
            );
            ok = false;
            continue;
        }
        let value = value.to_string();
        if value.chars().any(|c| c.is_control() && c != '\t') {
            ctx.err(
                &p,
                format!("the value of header `{name}` contains a line break or control character"),
                "header values are one line of text: remove CR, LF and other control characters",
            );
            ok = false;
            continue;
        }
        out.push((name, value));
    }
    ok.then_some(out)
}
