//! Text → raw structs through serde, with serde's errors turned into positioned ones that
//! say what to do.

use std::path::Path;

use serde_path_to_error::Segment;

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::check::{shorten, Ctx};
use super::error::{closest, Pos, ScenarioError};
use super::locate::{FieldPath, Locator, Seg};

/// Fields of the design that a later version will accept; a scenario using one gets a
/// clearer message than "unknown field".
const PLANNED: &[&str] = &["stages"];

/// Deserializes `text` (already scanned by `loc`) into the raw scenario (`RawScenario`,
/// or `RawPlan` for a file with several phases).
pub(crate) fn decode<T: DeserializeOwned>(
    text: &str,
    file: &Path,
    loc: &Locator,
) -> Result<T, ScenarioError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = FieldPath(e.path().iter().map(seg_of).collect());
        let inner = e.into_inner();
        let serde_pos = inner.location().map(|l| Pos::new(l.line(), l.column()));
        let message = strip_location(&inner.to_string());
        translate(file, loc, &path, serde_pos, &message)
    })
}

/// Deserializes a value kept whole by the first pass (a timeline event's `set:`) found at
/// `at`, recording an error in `ctx` when it does not fit `T`.
pub(crate) fn value<T: DeserializeOwned>(
    ctx: &mut Ctx<'_>,
    at: &FieldPath,
    value: &Value,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let mut path = ctx.full(at);
            path.0.extend(e.path().iter().map(seg_of));
            let message = strip_location(&e.into_inner().to_string());
            let err = translate(ctx.file, ctx.loc, &path, None, &message);
            ctx.errors.push(err);
            None
        }
    }
}

fn seg_of(seg: &Segment) -> Seg {
    match seg {
        Segment::Seq { index } => Seg::Index(*index),
        Segment::Map { key } => Seg::Key(key.clone()),
        Segment::Enum { variant } => Seg::Key(variant.clone()),
        _ => Seg::Key("?".to_string()),
    }
}

/// serde_yaml's message without its ` at line L column C` suffix and `path: ` prefix.
fn strip_location(message: &str) -> String {
    let mut msg = message;
    if let Some(at) = msg.rfind(" at line ") {
        msg = &msg[..at];
    }
    const KINDS: &[&str] = &[
        "unknown field",
        "invalid type",
        "invalid value",
        "invalid length",
        "missing field",
        "duplicate field",
        "unknown variant",
        "recursion limit",
        "repetition limit",
    ];
    let start = KINDS.iter().filter_map(|k| msg.find(k)).min().unwrap_or(0);
    msg[start..].to_string()
}

/// Every backticked word in `s`, in order.
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

fn translate(
    file: &Path,
    loc: &Locator,
    path: &FieldPath,
    serde_pos: Option<Pos>,
    message: &str,
) -> ScenarioError {
    let field = path.to_string();
    let located = |key: bool| {
        if loc.has(path) {
            if key {
                loc.key(path)
            } else {
                loc.value(path)
            }
        } else {
            serde_pos.unwrap_or_else(|| loc.value(path))
        }
    };

    if let Some(rest) = message.strip_prefix("unknown field ") {
        let words = backticked(rest);
        let (name, expected) = words.split_first().map_or(("?", &[][..]), |(n, e)| (*n, e));
        let shown = shorten(name);
        let msg = if expected.is_empty() {
            format!("unknown field `{shown}`; this section takes no fields")
        } else {
            format!(
                "unknown field `{shown}`; expected one of: {}",
                expected.join(", ")
            )
        };
        let hint = if let Some(c) = closest(name, expected.iter().copied()) {
            format!("did you mean `{c}`?")
        } else if PLANNED.contains(&name) {
            format!("`{name}` is planned but not supported yet; remove it for now")
        } else if let Some(c) = closest(name, PLANNED.iter().copied()) {
            format!("did you mean `{c}`? it is planned but not supported yet; remove it for now")
        } else {
            "remove it, or check its spelling and indentation against the fields above".into()
        };
        return ScenarioError::at(file, located(true), Some(&field), msg).hint(hint);
    }

    if path.0.is_empty() && message.starts_with("invalid type") {
        return ScenarioError::at(
            file,
            Pos::START,
            None,
            "the top level must be a mapping of scenario fields",
        )
        .hint("start with `name: my-bench`, then `upstreams:`, `load:` and so on");
    }

    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let expected = plain_expectation(expected);
        let found = plain_found(found);
        // A whole number too large for any integer type arrives as a u128.
        let msg = if found.starts_with("integer") && expected == "a whole number" {
            format!("{} is too large", found.trim_start_matches("integer "))
        } else {
            format!("expected {expected}, found {found}")
        };
        let hint = example(path).map_or_else(
            || format!("write {expected} here"),
            |ex| format!("for example `{ex}`"),
        );
        return ScenarioError::at(file, located(false), Some(&field), msg).hint(hint);
    }

    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let msg = format!(
            "{found} is out of range for {}",
            plain_expectation(expected)
        );
        let hint = example(path).map_or_else(
            || "write a smaller number".to_string(),
            |ex| format!("for example `{ex}`"),
        );
        return ScenarioError::at(file, located(false), Some(&field), msg).hint(hint);
    }

    let pos = located(false);
    let field = (!path.0.is_empty()).then_some(field.as_str());
    if message.starts_with("recursion limit") {
        return ScenarioError::at(file, pos, field, "nested too deeply")
            .hint("a scenario needs only a few levels of nesting; check for runaway brackets");
    }
    if message.starts_with("repetition limit") {
        return ScenarioError::at(file, pos, field, "YAML aliases expand to too many values")
            .hint("write the values out instead of repeating `*alias` references");
    }
    ScenarioError::at(file, pos, field, message.to_string())
        .hint("check the value here against the scenario format")
}

/// serde's description of what it found, in words a scenario author knows.
fn plain_found(found: &str) -> String {
    match found {
        "map" => "a mapping".into(),
        "sequence" => "a list".into(),
        "unit value" => "nothing (null)".into(),
        other => other
            .trim_end_matches(" as u128")
            .trim_end_matches(" as i128")
            .to_string(),
    }
}

/// serde's expectation (`i64`, `struct RawLoad`, ...) in words a scenario author knows.
fn plain_expectation(expected: &str) -> String {
    let e = expected.trim();
    if e.starts_with("struct ") || e == "a mapping" || e == "a map" {
        "a mapping (`key: value` lines)".into()
    } else if matches!(e, "i64" | "u64" | "u32" | "i32" | "usize" | "u16" | "i128") {
        "a whole number".into()
    } else if e == "a sequence" {
        "a list (`[a, b]` or `- item` lines)".into()
    } else if e == "a boolean" {
        "`true` or `false`".into()
    } else {
        e.to_string()
    }
}

/// An example value for the field a path ends in, for type-error hints.
pub(crate) fn example(path: &FieldPath) -> Option<String> {
    // A field of a phase of a multi-phase file reads as the same field of a one-phase file.
    let path = match path.0.as_slice() {
        [Seg::Key(k), Seg::Index(_), rest @ ..] if k == "phases" && !rest.is_empty() => {
            &FieldPath(rest.to_vec())
        }
        _ => path,
    };
    let last = path.0.iter().rev().find_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Index(_) => None,
    })?;
    let parent_is_upstreams =
        matches!(path.0.first(), Some(Seg::Key(k)) if k == "upstreams") && path.0.len() == 2;
    let parent_is_clusters =
        matches!(path.0.first(), Some(Seg::Key(k)) if k == "clusters") && path.0.len() == 2;
    let ex = match last {
        _ if parent_is_upstreams => "backend: { endpoints: 2 }",
        _ if parent_is_clusters => "backend: { circuit_breakers: { max_connections: 100 } }",
        "name" => "name: checkout-bench",
        "phases" => "phases: [{ phase: single-service, service: { command: [./svc] } }]",
        "phase" => "phase: benchmark",
        "envoy" => "envoy: { version: \"1.40.0\" }",
        "version" => "version: \"1.40.0\"",
        "binary" => "binary: /usr/local/bin/envoy",
        "image" => "image: gauntlet/envoy:1.40.0",
        "cpus" => "cpus: 0.5",
        "memory" => "memory: 256Mi",
        "concurrency" => "concurrency: 32",
        "log_level" => "log_level: warn",
        "upstreams" => "upstreams: { backend: { endpoints: 2 } }",
        "endpoints" if matches!(path.0.first(), Some(Seg::Key(k)) if k == "timeline") => {
            "endpoints: [0, 1]"
        }
        "endpoints" => "endpoints: 2",
        "protocol" => "protocol: http1",
        "latency" => "latency: 5ms",
        "responses" => "responses: { 200: 97%, 503: 3% }",
        "body" => "body: 1KiB",
        "connect_timeout" => "connect_timeout: 1s",
        "routes" => "routes: [{ match: { prefix: / }, cluster: backend }]",
        "match" => "match: { prefix: / }",
        "prefix" => "prefix: /api",
        "path" => "path: /",
        "cluster" => "cluster: backend",
        "weighted" => "weighted: { backend: 90, canary: 10 }",
        "timeout" => "timeout: 2s",
        "load" => "load: { rate: 2000/s, duration: 60s }",
        "rate" => "rate: 2000/s",
        "connections" => "connections: 16",
        "duration" => "duration: 60s",
        "warmup" => "warmup: 5s",
        "workers" => "workers: 1",
        "request" => "request: { method: GET, path: / }",
        "method" => "method: GET",
        "headers" => "headers: { x-user: alice }",
        "baseline" => "baseline: true",
        "timeline" => "timeline: [{ at: 10s, route: 0, set: { cluster: canary } }]",
        "at" => "at: 10s",
        "route" => "route: 0",
        "upstream" => "upstream: backend",
        "set" => "set: { responses: { 503: 100% } }",
        "idle_timeout" => "idle_timeout: 30s",
        "retries" => "retries: { on: [5xx, reset], attempts: 2 }",
        "on" => "on: [5xx, reset, connect-failure]",
        "attempts" => "attempts: 2",
        "per_try_timeout" => "per_try_timeout: 250ms",
        "backoff" => "backoff: { base: 25ms, max: 250ms }",
        "retriable_status_codes" => "retriable_status_codes: [503, 504]",
        "avoid_previous_hosts" => "avoid_previous_hosts: true",
        "mirror" => "mirror: { cluster: shadow, percent: 100% }",
        "fault" => "fault: { abort: { status: 503, percent: 10% } }",
        "delay" => "delay: { fixed: 50ms, percent: 10% }",
        "abort" => "abort: { status: 503, percent: 10% }",
        "rate_limit" => "rate_limit: { requests_per_second: 100 }",
        "clusters" => "clusters: { backend: { circuit_breakers: { max_connections: 100 } } }",
        "circuit_breakers" => "circuit_breakers: { max_connections: 100, max_requests: 200 }",
        "retry_budget" => "retry_budget: { percent: 20%, min_retry_concurrency: 3 }",
        "outlier_detection" => "outlier_detection: { consecutive_5xx: 5, interval: 1s }",
        "health_check" => "health_check: { path: /healthz, interval: 1s }",
        "max_requests_per_connection" => "max_requests_per_connection: 1000",
        "chaos" => "chaos: { hang: 1%, reset: 1% }",
        "slow_body" => "slow_body: { chunk_bytes: 100, interval: 50ms }",
        "scale" => "scale: 5",
        "down" => "down: true",
        "up" => "up: true",
        "gates" => "gates: [\"latency.p99 < 50ms\"]",
        "sweep" => "sweep: { rate: [500, 1000, 2000, 4000, 8000] }",
        "capacity" => "capacity: { target_rps: 20000/s, cpu_limit: 500m, headroom: 30% }",
        "find_max_rps" => {
            "find_max_rps: { slo: { p99: 10ms }, start_rate: 500/s, max_rate: 8000/s }"
        }
        _ => return None,
    };
    Some(ex.to_string())
}
