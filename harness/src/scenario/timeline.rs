//! `timeline:`: chaos events at offsets into the Envoy load step.
//!
//! Two passes. The first reads what each event is (when, its name, what it changes); the
//! second goes through the events in time order and folds each `set:` onto the state as
//! earlier events left it (see `events`), so every action in the model is whole.

use std::collections::HashMap;
use std::time::Duration;

use gauntlet_mocks::units::format_duration;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::check::{shorten, Ctx};
use super::decode;
use super::events::State;
use super::locate::FieldPath;
use super::model::{Route, TimelineEvent, Upstream};
use super::patch::fields_of;
use super::raw::{RawBehavior, RawEvent, RawRoute, Scalar};
use super::raw_policy::RawCluster;
use super::route::Names;

/// What the events may refer to, from the rest of the (validated) scenario.
pub(crate) struct Refs<'a> {
    pub names: &'a Names,
    /// `None` when the routes or upstreams were invalid (errors already reported).
    pub routes: Option<&'a [Route]>,
    /// With their cluster policies.
    pub upstreams: Option<&'a [Upstream]>,
    /// `warmup + duration` of the load, when the load is valid.
    pub run_length: Option<Duration>,
}

/// What an event changes; `None` inside when the reference does not resolve (reported).
pub(crate) enum Kind {
    Route(Option<usize>),
    Cluster(Option<String>),
    Upstream(Option<String>, Op),
}

/// What an upstream event does.
#[derive(Clone, Copy)]
pub(crate) enum Op {
    Set,
    /// `up: true` / `down: false` (true) or `down: true` / `up: false` (false).
    Up(bool),
    Scale(i64),
}

/// The first pass's reading of one event.
struct Head {
    at: Option<Duration>,
    label: Option<String>,
    kind: Option<Kind>,
}

/// Validates `timeline:`, returning the events sorted by time (stable for equal times).
pub(crate) fn timeline(
    ctx: &mut Ctx<'_>,
    raw: Option<&Vec<RawEvent>>,
    refs: &Refs<'_>,
) -> Option<Vec<TimelineEvent>> {
    let path = FieldPath::root().key("timeline");
    let Some(raw) = raw else {
        return Some(Vec::new());
    };
    let max = ctx.limits.max_timeline_events;
    if raw.len() > max {
        ctx.err(
            &path,
            format!("{} timeline events is over the limit of {max}", raw.len()),
            format!("give at most {max}"),
        );
        return None;
    }
    let heads: Vec<Head> = raw
        .iter()
        .enumerate()
        .map(|(i, ev)| head(ctx, &path.index(i), i, ev, refs))
        .collect();
    let mut ok = unique_labels(ctx, &path, raw, &heads);
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by_key(|&i| heads[i].at.unwrap_or(Duration::MAX));
    let mut state = State::new(refs);
    let mut out = Vec::with_capacity(raw.len());
    for i in order {
        let head = &heads[i];
        let action = head
            .kind
            .as_ref()
            .and_then(|kind| state.act(ctx, &path.index(i), &raw[i], kind, refs.names));
        match (head.at, &head.label, action) {
            (Some(at), Some(label), Some(action)) => out.push(TimelineEvent {
                at,
                label: label.clone(),
                action,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// The labels of `events`, for the gates' `after <event>` references.
pub(crate) fn labels(events: &[TimelineEvent]) -> Vec<&str> {
    events.iter().map(|e| e.label.as_str()).collect()
}

fn unique_labels(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &[RawEvent], heads: &[Head]) -> bool {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut ok = true;
    for (i, head) in heads.iter().enumerate() {
        let Some(label) = &head.label else { continue };
        if let Some(first) = seen.insert(label, i) {
            let p = path.index(i);
            let at = if raw[i].name.is_some() {
                p.key("name")
            } else {
                p
            };
            ctx.err(
                &at,
                format!(
                    "event name `{}` is already used by timeline[{first}]",
                    shorten(label)
                ),
                "give each event its own name: gates refer to events by name",
            );
            ok = false;
        }
    }
    ok
}

fn head(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    index: usize,
    raw: &RawEvent,
    refs: &Refs<'_>,
) -> Head {
    let at = match &raw.at {
        Some(v) => at(ctx, &path.key("at"), v, refs.run_length),
        None => {
            ctx.missing(path, "at", "say when the event happens, e.g. `at: 10s` (from the start of the load, warmup included)");
            None
        }
    };
    let label = match &raw.name {
        Some(n) => label(ctx, &path.key("name"), n),
        None => Some(format!("event-{index}")),
    };
    Head {
        at,
        label,
        kind: kind(ctx, path, raw, refs),
    }
}

fn kind(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawEvent, refs: &Refs<'_>) -> Option<Kind> {
    let given: Vec<(&str, &Scalar)> = [
        ("route", raw.route.as_ref()),
        ("cluster", raw.cluster.as_ref()),
        ("upstream", raw.upstream.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let (field, value) = match given.as_slice() {
        [] => {
            ctx.err(
                path,
                "no `route`, `cluster` or `upstream` given",
                "say what the event changes, e.g. `upstream: backend`, `route: 0` or `cluster: backend`",
            );
            return None;
        }
        [one] => *one,
        [first, second, ..] => {
            ctx.err(
                &path.key(second.0),
                format!("`{}` and `{}` are both set", first.0, second.0),
                "an event changes one route, cluster or upstream; split it in two events",
            );
            return None;
        }
    };
    if field == "upstream" {
        let name = refs
            .names
            .resolve(ctx, &path.key("upstream"), value, "upstream");
        return op(ctx, path, raw).map(|op| Kind::Upstream(name, op));
    }
    let mut ok = true;
    for (other, given) in [
        ("endpoints", raw.endpoints.is_some()),
        ("down", raw.down.is_some()),
        ("up", raw.up.is_some()),
        ("scale", raw.scale.is_some()),
    ] {
        if given {
            ctx.err(
                &path.key(other),
                format!("`{other}` applies to upstream events"),
                format!("remove it, or change `{field}:` to `upstream:`"),
            );
            ok = false;
        }
    }
    if raw.set.is_none() {
        ctx.missing(
            path,
            "set",
            "say what changes, e.g. `set: { cluster: canary }`",
        );
        ok = false;
    }
    let kind = if field == "route" {
        Kind::Route(
            refs.routes
                .and_then(|routes| route_index(ctx, &path.key("route"), value, routes)),
        )
    } else {
        Kind::Cluster(
            refs.names
                .resolve(ctx, &path.key("cluster"), value, "cluster"),
        )
    };
    ok.then_some(kind)
}

/// Exactly one of `set`, `down`/`up` and `scale`.
fn op(ctx: &mut Ctx<'_>, path: &FieldPath, raw: &RawEvent) -> Option<Op> {
    let given: Vec<&str> = [
        ("set", raw.set.is_some()),
        ("down", raw.down.is_some()),
        ("up", raw.up.is_some()),
        ("scale", raw.scale.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, given)| given.then_some(k))
    .collect();
    match given.as_slice() {
        [] => {
            ctx.missing(path, "set", "say what changes: `set: { responses: { 503: 100% } }`, `down: true`, `up: true` or `scale: 3`");
            None
        }
        [first, second, ..] => {
            ctx.err_key(
                &path.key(*second),
                format!("`{first}` and `{second}` are both set"),
                "an event does one thing: split it in two events at the same time",
            );
            None
        }
        ["scale"] if raw.endpoints.is_some() => {
            ctx.err(
                &path.key("endpoints"),
                "`endpoints` does not apply to `scale`",
                "`scale` sets how many endpoints the whole upstream has: remove `endpoints`",
            );
            None
        }
        ["scale"] => raw.scale.map(Op::Scale),
        ["down"] => raw.down.map(|down| Op::Up(!down)),
        ["up"] => raw.up.map(Op::Up),
        _ => Some(Op::Set),
    }
}

fn at(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Scalar,
    run_length: Option<Duration>,
) -> Option<Duration> {
    let at = ctx.duration(path, value, ctx.limits.max_duration.saturating_mul(2))?;
    if let Some(end) = run_length {
        if at >= end {
            let end = format_duration(end);
            ctx.err(
                path,
                format!("`{value}` is at or after the end of the run ({end}, warmup included)"),
                format!("use a time before {end}, or make `load.duration` longer"),
            );
            return None;
        }
    }
    Some(at)
}

fn label(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<String> {
    let s = value.to_string();
    let problem = if s.is_empty() {
        "is empty"
    } else if s.chars().count() > 128 {
        "is longer than 128 characters"
    } else if s.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Some(s);
    };
    let shown = shorten(&s.escape_debug().to_string());
    ctx.err(
        path,
        format!("event name `{shown}` {problem}"),
        "use a short one-line label, e.g. `move-to-canary`",
    );
    None
}

fn route_index(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Scalar,
    routes: &[Route],
) -> Option<usize> {
    let found = match value {
        Scalar::Int(n) => usize::try_from(*n).ok().filter(|i| *i < routes.len()),
        Scalar::Str(name) => routes.iter().position(|r| r.name == *name),
        _ => None,
    };
    if found.is_none() {
        let names: Vec<&str> = routes.iter().take(10).map(|r| r.name.as_str()).collect();
        ctx.err(
            path,
            format!("route `{}` is not defined", shorten(&value.to_string())),
            format!(
                "give a route index below {} or a route name ({})",
                routes.len(),
                names.join(", ")
            ),
        );
    }
    found
}

// === set: ===

/// The kinds of `set:`, with the event field that introduces each.
const SET_KINDS: [&str; 3] = ["route", "cluster", "upstream"];

/// The fields a `set:` of each kind takes.
fn set_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "route" => fields_of::<RawRoute>(),
        "cluster" => fields_of::<RawCluster>(),
        _ => fields_of::<RawBehavior>(),
    }
}

/// Reads the `set:` of an event of `kind` (`route`, `cluster` or `upstream`) as `T`. A field
/// that belongs to another kind of event gets its own message.
pub(crate) fn decode_set<T: DeserializeOwned>(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Value,
    kind: &str,
) -> Option<T> {
    let Value::Mapping(map) = value else {
        ctx.err(
            path,
            "expected a mapping of the fields to change",
            "for example `set: { responses: { 503: 100% } }`",
        );
        return None;
    };
    if map.is_empty() {
        ctx.err(path, "nothing to set", "give at least one field to change");
        return None;
    }
    let own = set_fields(kind);
    for key in map.keys().filter_map(Value::as_str) {
        if own.contains(&key) {
            continue;
        }
        if let Some(other) = SET_KINDS.iter().find(|k| set_fields(k).contains(&key)) {
            ctx.err_key(
                &path.key(key),
                format!("`{key}` applies to {other} events"),
                format!(
                    "set it in an event with `{other}:`, or set {} here",
                    own_list(kind)
                ),
            );
            return None;
        }
    }
    decode::value(ctx, path, value)
}

fn own_list(kind: &str) -> &'static str {
    match kind {
        "route" => "route fields (`cluster`, `weighted`, `timeout`, `retries`, …)",
        "cluster" => "cluster fields (`circuit_breakers`, `outlier_detection`, …)",
        _ => "`latency`, `responses`, `body` or `chaos`",
    }
}
