//! `services:` of the integration phase: the services wired together, each behind its own
//! sidecar. A service is either a built-in mock service (`mock:`, a fan-out to others) or a
//! program (`command:` or `image:`, and the other fields of `service:`). Calls name other
//! services or upstreams (the leaf mocks). The first service in file order is the entry the
//! load goes to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gauntlet_mocks::{Behavior, CallMode, Latency};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use super::behavior::{behavior, BehaviorFields};
use super::check::Ctx;
use super::locate::FieldPath;
use super::model::Phase;
use super::patch::Patch;
use super::raw::{OrderedMap, RawScenario, Scalar};
use super::service::{service_at, RawService, ServiceSpec};

/// Most services.
const MAX_SERVICES: usize = 32;
/// Most calls of one mock service.
const MAX_CALLS: usize = 32;

/// One entry of `services:` as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    pub mock: Option<RawMockService>,
    pub command: Option<Vec<Scalar>>,
    pub image: Option<Scalar>,
    pub args: Option<Vec<Scalar>>,
    pub env: Option<OrderedMap<Scalar, Scalar>>,
    pub cwd: Option<Scalar>,
    pub port: Option<i64>,
    pub health: Option<Scalar>,
    pub startup_timeout: Option<Scalar>,
    pub cpus: Option<Scalar>,
    pub memory: Option<Scalar>,
}

/// `mock:` of a service.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMockService {
    pub calls: Option<Vec<RawCall>>,
    pub mode: Option<Scalar>,
    pub latency: Option<Value>,
    pub failure_status: Option<i64>,
}

/// One call of a mock service.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCall {
    pub service: Option<Scalar>,
    pub path: Option<Scalar>,
}

/// A validated service of the integration phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceNode {
    pub name: String,
    pub kind: ServiceKind,
}

/// A built-in mock service or a program (a `command` or an `image`, see
/// [`ServiceSpec::run`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    Mock(MockService),
    Command(ServiceSpec),
}

/// A built-in fan-out service (`gauntlet_mocks::fanout`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MockService {
    pub calls: Vec<CallSpec>,
    pub mode: CallMode,
    pub latency: Latency,
    pub failure_status: u16,
}

/// A call: which service or upstream, and the path requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSpec {
    pub target: String,
    pub path: String,
}

impl ServiceNode {
    /// The services and upstreams it may call: a mock's call targets (deduplicated, in
    /// order), or, for a program, every other service and every upstream.
    pub fn callees(&self, services: &[ServiceNode], upstreams: &[String]) -> Vec<String> {
        match &self.kind {
            ServiceKind::Mock(m) => {
                let mut seen = BTreeSet::new();
                m.calls
                    .iter()
                    .filter(|c| seen.insert(c.target.clone()))
                    .map(|c| c.target.clone())
                    .collect()
            }
            ServiceKind::Command(_) => services
                .iter()
                .filter(|s| s.name != self.name)
                .map(|s| s.name.clone())
                .chain(upstreams.iter().cloned())
                .collect(),
        }
    }
}

/// `services:` as the phase wants it: required (non-empty) by `integration`, refused
/// elsewhere. Timeline events of every kind apply: a route or cluster change goes to the
/// sidecars whose outbound listeners lead to the upstream it names.
pub(crate) fn section(
    ctx: &mut Ctx<'_>,
    raw: &RawScenario,
    phase: Option<Phase>,
    source: &Path,
) -> Option<Vec<ServiceNode>> {
    let path = FieldPath::root().key("services");
    match (phase?, raw.services.as_ref()) {
        (Phase::Integration, Some(map)) if !map.0.is_empty() => services(ctx, raw, map, source),
        (Phase::Integration, _) => {
            ctx.missing(
                &FieldPath::root(),
                "services",
                "phase `integration` wires services together: add \
                 `services: { bff: { mock: { calls: [{ service: backend, path: / }] } } }`",
            );
            None
        }
        (_, Some(_)) => {
            ctx.err_key(
                &path,
                "`services:` is only used by `phase: integration`",
                "add `phase: integration`, or remove `services:`",
            );
            None
        }
        (_, None) => Some(Vec::new()),
    }
}

fn services(
    ctx: &mut Ctx<'_>,
    raw: &RawScenario,
    map: &OrderedMap<Scalar, Option<RawNode>>,
    source: &Path,
) -> Option<Vec<ServiceNode>> {
    let path = FieldPath::root().key("services");
    if map.0.len() > MAX_SERVICES {
        ctx.err(
            &path,
            format!(
                "{} services is over the limit of {MAX_SERVICES}",
                map.0.len()
            ),
            format!("declare at most {MAX_SERVICES}"),
        );
        return None;
    }
    let upstreams: Vec<String> = raw
        .upstreams
        .iter()
        .flat_map(|m| m.0.iter().map(|(k, _)| k.to_string()))
        .collect();
    let names: Vec<String> = map.0.iter().map(|(k, _)| k.to_string()).collect();
    let mut out = Vec::new();
    let mut ok = true;
    for (key, node) in &map.0 {
        let p = path.key(key.to_string());
        let Some(name) = ctx.name(&p, key, false, "service name", "bff", true) else {
            ok = false;
            continue;
        };
        if upstreams.contains(&name) {
            ctx.err_key(
                &p,
                format!("`{name}` is both a service and an upstream"),
                "rename one: a call names either a service or an upstream",
            );
            ok = false;
            continue;
        }
        let default = RawNode::default();
        let node = node.as_ref().unwrap_or(&default);
        let targets: Vec<String> = names
            .iter()
            .filter(|n| **n != name)
            .chain(&upstreams)
            .cloned()
            .collect();
        match kind(ctx, &p, &name, node, &targets, source) {
            Some(kind) => out.push(ServiceNode { name, kind }),
            None => ok = false,
        }
    }
    if ok && cycle(ctx, &out) {
        return None;
    }
    ok.then_some(out)
}

fn kind(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    name: &str,
    node: &RawNode,
    targets: &[String],
    source: &Path,
) -> Option<ServiceKind> {
    let program = if node.command.is_some() {
        Some("command")
    } else if node.image.is_some() {
        Some("image")
    } else {
        None
    };
    match (&node.mock, program) {
        (Some(_), Some(field)) => {
            ctx.err_key(
                &path.key(field),
                format!("`mock` and `{field}` are both set"),
                "keep one: `mock` runs a built-in fan-out service, `command` a program, \
                 `image` a container",
            );
            None
        }
        (Some(m), None) => mock(ctx, &path.key("mock"), m, targets).map(ServiceKind::Mock),
        (None, _) => {
            let raw = RawService {
                name: None,
                command: node.command.clone(),
                image: node.image.clone(),
                args: node.args.clone(),
                env: node.env.clone(),
                cwd: node.cwd.clone(),
                port: node.port,
                health: node.health.clone(),
                startup_timeout: node.startup_timeout.clone(),
                cpus: node.cpus.clone(),
                memory: node.memory.clone(),
            };
            service_at(ctx, &raw, path, name, source, targets).map(ServiceKind::Command)
        }
    }
}

fn mock(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawMockService,
    targets: &[String],
) -> Option<MockService> {
    let calls = raw.calls.as_deref().unwrap_or_default();
    if calls.len() > MAX_CALLS {
        ctx.err(
            &path.key("calls"),
            format!("{} calls is over the limit of {MAX_CALLS}", calls.len()),
            format!("make at most {MAX_CALLS}"),
        );
        return None;
    }
    let mut ok = true;
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let p = path.key("calls").index(i);
        match call(ctx, &p, c, targets) {
            Some(c) => out.push(c),
            None => ok = false,
        }
    }
    let mode = match &raw.mode {
        Some(m) => match ctx.choice(&path.key("mode"), m, &["parallel", "sequential"])? {
            "sequential" => CallMode::Sequential,
            _ => CallMode::Parallel,
        },
        None => CallMode::Parallel,
    };
    let latency = match &raw.latency {
        Some(v) => {
            let fields = BehaviorFields {
                latency: Some(v),
                responses: None,
                body: None,
                chaos: &Patch::default(),
            };
            behavior(ctx, path, &Behavior::default(), &fields)?.latency
        }
        None => Latency::Zero,
    };
    let failure_status = match raw.failure_status {
        Some(s) => {
            u16::try_from(ctx.count(&path.key("failure_status"), s, 100, 599, "a status")?).ok()?
        }
        None => 502,
    };
    ok.then_some(MockService {
        calls: out,
        mode,
        latency,
        failure_status,
    })
}

fn call(ctx: &mut Ctx<'_>, p: &FieldPath, c: &RawCall, targets: &[String]) -> Option<CallSpec> {
    let Some(target) = &c.service else {
        ctx.missing(
            p,
            "service",
            "name the service or upstream to call, e.g. `service: db`",
        );
        return None;
    };
    let target = target.to_string();
    if !targets.contains(&target) {
        ctx.err(
            &p.key("service"),
            format!("`{target}` is not another service or an upstream"),
            format!("call one of: {}", targets.join(", ")),
        );
        return None;
    }
    let path = match &c.path {
        Some(s) => ctx.string(&p.key("path"), s, "/items")?,
        None => "/".to_string(),
    };
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        ctx.err(
            &p.key("path"),
            format!("`{path}` is not a path"),
            "write a path starting with `/`, e.g. `/items`",
        );
        return None;
    }
    Some(CallSpec { target, path })
}

/// Records an error and returns true when mock services call each other in a cycle, which
/// would loop every request forever.
fn cycle(ctx: &mut Ctx<'_>, nodes: &[ServiceNode]) -> bool {
    let edges: BTreeMap<&str, Vec<&str>> = nodes
        .iter()
        .map(|n| match &n.kind {
            ServiceKind::Mock(m) => (
                n.name.as_str(),
                m.calls.iter().map(|c| c.target.as_str()).collect(),
            ),
            ServiceKind::Command(_) => (n.name.as_str(), Vec::new()),
        })
        .collect();
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n);
            return Some(c);
        }
        stack.push(n);
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, edges, stack) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    for n in nodes {
        if let Some(c) = visit(&n.name, &edges, &mut Vec::new()) {
            ctx.err_key(
                &FieldPath::root().key("services").key(n.name.clone()),
                format!("services call each other in a cycle: {}", c.join(" → ")),
                "break the cycle: every request would loop forever",
            );
            return true;
        }
    }
    false
}

/// `compare_with:`: a path relative to the scenario file, in the phases that have hops.
pub(crate) fn compare_with(
    ctx: &mut Ctx<'_>,
    raw: &RawScenario,
    phase: Option<Phase>,
    source: &Path,
) -> Option<Option<std::path::PathBuf>> {
    let Some(value) = &raw.compare_with else {
        return Some(None);
    };
    let at = FieldPath::root().key("compare_with");
    if phase? == Phase::Benchmark {
        ctx.err_key(
            &at,
            "`compare_with:` compares the hops of a single-service or integration run",
            "use it with `phase: single-service` or `phase: integration`",
        );
        return None;
    }
    let text = ctx.string(&at, value, "runs/single-service/result.json")?;
    let dir = source.parent().unwrap_or(Path::new("."));
    Some(Some(dir.join(text)))
}
