//! `timeline:`: chaos events at offsets into the Envoy load step.

use std::collections::HashSet;
use std::time::Duration;

use gauntlet_mocks::units::format_duration;

use super::check::{shorten, Ctx};
use super::locate::FieldPath;
use super::model::{Route, TimelineAction, TimelineEvent, Upstream};
use super::raw::{RawEvent, RawSet, Scalar};
use super::route::{target, Names};
use super::upstream::behavior;

/// What the events may refer to, from the rest of the (validated) scenario.
pub(crate) struct Refs<'a> {
    pub names: &'a Names,
    /// `None` when the routes or upstreams were invalid (errors already reported).
    pub routes: Option<&'a [Route]>,
    pub upstreams: Option<&'a [Upstream]>,
    /// `warmup + duration` of the load, when the load is valid.
    pub run_length: Option<Duration>,
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
    let mut out = Vec::with_capacity(raw.len());
    let mut ok = true;
    for (i, ev) in raw.iter().enumerate() {
        match event(ctx, &path.index(i), i, ev, refs) {
            Some(e) => out.push(e),
            None => ok = false,
        }
    }
    out.sort_by_key(|e| e.at);
    ok.then_some(out)
}

fn event(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    index: usize,
    raw: &RawEvent,
    refs: &Refs<'_>,
) -> Option<TimelineEvent> {
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
    let action = match (&raw.route, &raw.upstream) {
        (Some(_), Some(_)) => {
            ctx.err(
                &path.key("upstream"),
                "`route` and `upstream` are both set",
                "an event changes one route or one upstream; split it in two events",
            );
            None
        }
        (None, None) => {
            ctx.err(
                path,
                "no `route` or `upstream` given",
                "say what the event changes, e.g. `upstream: backend` or `route: 0`",
            );
            None
        }
        (Some(r), None) => set_route(ctx, path, r, raw, refs),
        (None, Some(u)) => set_upstream(ctx, path, u, raw, refs),
    };
    Some(TimelineEvent {
        at: at?,
        label: label?,
        action: action?,
    })
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

fn set_route(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    route: &Scalar,
    raw: &RawEvent,
    refs: &Refs<'_>,
) -> Option<TimelineAction> {
    if raw.endpoints.is_some() {
        ctx.err(
            &path.key("endpoints"),
            "`endpoints` applies to upstream events",
            "remove it, or change `route:` to `upstream:`",
        );
    }
    let index = refs
        .routes
        .and_then(|routes| route_index(ctx, &path.key("route"), route, routes));
    let set_path = path.key("set");
    let Some(set) = &raw.set else {
        ctx.missing(
            path,
            "set",
            "say what changes, e.g. `set: { cluster: canary }`",
        );
        return None;
    };
    for (field, given) in [
        ("latency", set.latency.is_some()),
        ("responses", set.responses.is_some()),
        ("body", set.body.is_some()),
    ] {
        if given {
            ctx.err_key(
                &set_path.key(field),
                format!("`{field}` applies to upstream events"),
                "set it in an event with `upstream:`, or set `cluster`/`weighted` here",
            );
            return None;
        }
    }
    let target = target(
        ctx,
        &set_path,
        &set.cluster,
        &set.weighted,
        refs.names,
        true,
    )??;
    let index = index?;
    let mut new = refs.routes?.get(index)?.clone();
    new.target = target;
    (raw.endpoints.is_none()).then_some(TimelineAction::SetRoute { route: index, new })
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

fn set_upstream(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    upstream: &Scalar,
    raw: &RawEvent,
    refs: &Refs<'_>,
) -> Option<TimelineAction> {
    let name = refs
        .names
        .resolve(ctx, &path.key("upstream"), upstream, "upstream");
    let set_path = path.key("set");
    let Some(set) = &raw.set else {
        ctx.missing(
            path,
            "set",
            "say what changes, e.g. `set: { responses: { 503: 100% } }`",
        );
        return None;
    };
    if let Some(field) = route_field(set) {
        ctx.err_key(
            &set_path.key(field),
            format!("`{field}` applies to route events"),
            "set it in an event with `route:`, or set `latency`, `responses` or `body` here",
        );
        return None;
    }
    if set.latency.is_none() && set.responses.is_none() && set.body.is_none() {
        ctx.err(
            &set_path,
            "nothing to set",
            "give at least one of `latency`, `responses`, `body`",
        );
        return None;
    }
    // The upstream may be invalid (already reported); the event is then checked no further.
    let base = refs
        .upstreams?
        .iter()
        .find(|u| Some(&u.name) == name.as_ref())?;
    let endpoints = match &raw.endpoints {
        Some(list) => Some(endpoints(ctx, &path.key("endpoints"), list, base)?),
        None => None,
    };
    let behavior = behavior(
        ctx,
        &set_path,
        &base.behavior,
        &set.latency,
        &set.responses,
        &set.body,
    )?;
    Some(TimelineAction::SetUpstream {
        upstream: base.name.clone(),
        endpoints,
        behavior,
    })
}

fn route_field(set: &RawSet) -> Option<&'static str> {
    if set.cluster.is_some() {
        Some("cluster")
    } else if set.weighted.is_some() {
        Some("weighted")
    } else {
        None
    }
}

fn endpoints(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    list: &[i64],
    upstream: &Upstream,
) -> Option<Vec<u32>> {
    if list.is_empty() {
        ctx.err(
            path,
            "no endpoints listed",
            "list endpoint indices, e.g. `[0]`, or remove `endpoints` to change all of them",
        );
        return None;
    }
    let n = upstream.endpoints;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len().min(n as usize));
    for (i, &e) in list.iter().enumerate() {
        let p = path.index(i);
        match u32::try_from(e) {
            Ok(e) if e < n => {
                if !seen.insert(e) {
                    ctx.err(
                        &p,
                        format!("endpoint {e} is listed twice"),
                        "list each endpoint once",
                    );
                    return None;
                }
                out.push(e);
            }
            _ => {
                ctx.err(
                    &p,
                    format!("endpoint index {e} is out of range"),
                    format!(
                        "upstream `{}` has {n} endpoint(s): use indices 0 to {}",
                        upstream.name,
                        n - 1
                    ),
                );
                return None;
            }
        }
    }
    Some(out)
}
