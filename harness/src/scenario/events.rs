//! The state the timeline changes, event by event in time order: routes, cluster policies,
//! and each upstream's endpoints (how many Envoy is given, how each behaves). Each event's
//! `set:` is folded onto this state, so an action says the whole new value.
//!
//! Endpoints keep their own behaviour: an event on `endpoints: [0]` changes only endpoint 0,
//! and an event on several endpoints keeps each field it does not give only where those
//! endpoints agree on it (otherwise it is an error: the model has one behaviour per action).
//! Endpoints added by `scale` behave as the upstream's last whole-upstream behaviour.

use std::collections::{HashMap, HashSet};

use gauntlet_mocks::Behavior;

use super::behavior::{behavior_patch, check_protocol, servable, BehaviorFields};
use super::check::Ctx;
use super::cluster_policy::cluster_policy;
use super::locate::FieldPath;
use super::model::{Route, TimelineAction};
use super::raw::{RawBehavior, RawEvent, RawRoute};
use super::raw_policy::RawCluster;
use super::route::{route, Names};
use super::timeline::{decode_set, Kind, Op, Refs};
use crate::policy::ClusterPolicy;

/// The routes, clusters and upstreams as the events so far left them.
pub(crate) struct State {
    /// `None` when the routes are invalid: route events are then only read.
    routes: Option<Vec<Route>>,
    clusters: HashMap<String, ClusterPolicy>,
    upstreams: HashMap<String, Endpoints>,
}

/// One upstream's endpoints.
struct Endpoints {
    /// How many Envoy is given.
    count: u32,
    /// The behaviour of every endpoint the mock has started (at least `count`).
    each: Vec<Behavior>,
    /// The last behaviour given to the whole upstream, for endpoints `scale` adds.
    whole: Behavior,
}

impl State {
    /// The state before the first event.
    pub fn new(refs: &Refs<'_>) -> Self {
        let ups = refs.upstreams.unwrap_or_default();
        State {
            routes: refs.routes.map(<[Route]>::to_vec),
            clusters: ups
                .iter()
                .map(|u| (u.name.clone(), u.policy.clone()))
                .collect(),
            upstreams: ups
                .iter()
                .map(|u| {
                    let endpoints = Endpoints {
                        count: u.endpoints,
                        each: vec![u.behavior.clone(); u.endpoints as usize],
                        whole: u.behavior.clone(),
                    };
                    (u.name.clone(), endpoints)
                })
                .collect(),
        }
    }

    /// Reads the event at `path` and folds it onto the state; its action, or `None` once an
    /// error is recorded (or when what it refers to is invalid, already reported).
    pub fn act(
        &mut self,
        ctx: &mut Ctx<'_>,
        path: &FieldPath,
        raw: &RawEvent,
        kind: &Kind,
        names: &Names,
    ) -> Option<TimelineAction> {
        let set_path = path.key("set");
        match kind {
            Kind::Route(index) => {
                let set: RawRoute = decode_set(ctx, &set_path, raw.set.as_ref()?, "route")?;
                let index = (*index)?;
                let current = self.routes.as_mut()?.get_mut(index)?;
                let new = route(ctx, &set_path, index, Some(current), &set, names)?;
                *current = new.clone();
                Some(TimelineAction::SetRoute { route: index, new })
            }
            Kind::Cluster(name) => {
                let set: RawCluster = decode_set(ctx, &set_path, raw.set.as_ref()?, "cluster")?;
                let name = name.as_ref()?;
                let current = self.clusters.get_mut(name)?;
                let policy = cluster_policy(ctx, &set_path, current, &set)?;
                *current = policy.clone();
                Some(TimelineAction::SetCluster {
                    cluster: name.clone(),
                    policy,
                })
            }
            Kind::Upstream(name, op) => {
                // Read `set:` before resolving the name, so its own errors are reported too.
                let set: Option<RawBehavior> = match (op, &raw.set) {
                    (Op::Set, Some(v)) => Some(decode_set(ctx, &set_path, v, "upstream")?),
                    _ => None,
                };
                let name = name.as_ref()?;
                let up = self.upstreams.get_mut(name)?;
                match op {
                    Op::Set => set_upstream(ctx, path, name, up, raw, set.as_ref()?),
                    Op::Up(is_up) => {
                        let endpoints = match &raw.endpoints {
                            Some(list) => {
                                endpoints(ctx, &path.key("endpoints"), list, name, up.count)?
                            }
                            None => (0..up.count).collect(),
                        };
                        Some(TimelineAction::SetEndpointsUp {
                            upstream: name.clone(),
                            endpoints,
                            up: *is_up,
                        })
                    }
                    Op::Scale(n) => {
                        let max = ctx.limits.max_endpoints;
                        let count = ctx.count(&path.key("scale"), *n, 1, max, "scale")?;
                        up.count = count;
                        while up.each.len() < count as usize {
                            up.each.push(up.whole.clone());
                        }
                        Some(TimelineAction::SetEndpointCount {
                            upstream: name.clone(),
                            count,
                        })
                    }
                }
            }
        }
    }
}

fn set_upstream(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    name: &str,
    up: &mut Endpoints,
    raw: &RawEvent,
    set: &RawBehavior,
) -> Option<TimelineAction> {
    let set_path = path.key("set");
    let listed = match &raw.endpoints {
        Some(list) => Some(endpoints(ctx, &path.key("endpoints"), list, name, up.count)),
        None => None,
    };
    let fields = BehaviorFields {
        latency: set.latency.as_ref(),
        responses: set.responses.as_ref(),
        body: set.body.as_ref(),
        chaos: &set.chaos,
    };
    let patch = behavior_patch(ctx, &set_path, &fields)?;
    if patch.is_empty() {
        ctx.err(
            &set_path,
            "nothing to set",
            "give at least one of `latency`, `responses`, `body`, `chaos`",
        );
        return None;
    }
    let listed = match listed {
        Some(None) => return None,
        Some(Some(list)) => Some(list),
        None => None,
    };
    let targets: Vec<u32> = listed.clone().unwrap_or_else(|| (0..up.count).collect());
    // Every endpoint of an upstream speaks its protocol, so the first one tells.
    check_protocol(ctx, &set_path, up.each.first()?, &patch)?;
    let results: Vec<Behavior> = targets
        .iter()
        .filter_map(|&e| up.each.get(e as usize))
        .map(|b| patch.apply(b))
        .collect();
    let first = results.first()?;
    if let Some(other) = results.iter().position(|r| r != first) {
        let field = differing_field(first, &results[other]);
        ctx.err(
            &set_path,
            format!(
                "endpoints {} and {} of `{name}` differ in `{field}` at this point, so it cannot be kept for both",
                targets[0], targets[other]
            ),
            format!("give `{field}` here too, or list in `endpoints:` only endpoints that behave alike"),
        );
        return None;
    }
    let behavior = servable(ctx, &set_path, first.clone())?;
    match &listed {
        Some(list) => {
            for &e in list {
                if let Some(b) = up.each.get_mut(e as usize) {
                    *b = behavior.clone();
                }
            }
        }
        None => {
            up.each.iter_mut().for_each(|b| *b = behavior.clone());
            up.whole = behavior.clone();
        }
    }
    Some(TimelineAction::SetUpstream {
        upstream: name.to_string(),
        endpoints: listed,
        behavior,
    })
}

/// The first top-level field (as the behaviour serialises) in which `a` and `b` differ.
fn differing_field(a: &Behavior, b: &Behavior) -> String {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return "behaviour".to_string();
    };
    let field = a
        .iter()
        .find(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .or_else(|| b.keys().find(|k| !a.contains_key(*k)).cloned());
    match field.as_deref() {
        Some("statuses") => "responses".to_string(),
        Some("body_bytes") => "body".to_string(),
        Some(other) => other.to_string(),
        None => "behaviour".to_string(),
    }
}

/// Endpoint indices below `count`, each once.
fn endpoints(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    list: &[i64],
    upstream: &str,
    count: u32,
) -> Option<Vec<u32>> {
    if list.is_empty() {
        ctx.err(
            path,
            "no endpoints listed",
            "list endpoint indices, e.g. `[0]`, or remove `endpoints` to change all of them",
        );
        return None;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len().min(count as usize));
    for (i, &e) in list.iter().enumerate() {
        let p = path.index(i);
        match u32::try_from(e) {
            Ok(e) if e < count => {
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
                        "upstream `{upstream}` has {count} endpoint(s) at this point: use indices 0 to {}",
                        count.saturating_sub(1)
                    ),
                );
                return None;
            }
        }
    }
    Some(out)
}
