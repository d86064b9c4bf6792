//! The integration phase's service graph: an edge per hop, counted by the caller's
//! sidecar over the measured part of the Envoy step (see `run::hops`: snapshots at its
//! start and end, differences between them), beside the callee's own count.

use std::collections::BTreeMap;
use std::time::Instant;

use gauntlet_reports::graph::{GraphEdge, GraphNode, ServiceGraph};
use gauntlet_reports::StepResult;

use super::{Running, Wiring, World, INBOUND, LOCAL_CLUSTER};
use crate::run::hops::{self, HopStats, Moment, Snapshot};
use crate::run::node_usage::{self, Target, Usage, UsageClock};
use crate::scenario::{EnvoyImage, Scenario, ServiceKind};

/// The hop figures' state at one end of the measured window.
pub(super) struct Mark {
    pub at: Instant,
    pub sidecars: BTreeMap<String, Snapshot>,
    /// Requests each mock upstream and built-in mock service had counted; `None` when the
    /// mocks' counts could not be read.
    counted: Option<BTreeMap<String, u64>>,
    /// The CPU clocks of the `command:`/`image:` services and the sidecars, at the start of
    /// the window.
    clocks: BTreeMap<String, UsageClock>,
}

/// Whose CPU and memory the graph shows: each program service (by name) and each sidecar
/// (`sidecar:<service>`, as the edges' `via` names it).
pub(super) type Targets = BTreeMap<String, Target>;

/// The targets of the running world; the sidecars are in containers of `image` if given.
pub(super) fn targets(scenario: &Scenario, world: &World, image: Option<&EnvoyImage>) -> Targets {
    let mut out = Targets::new();
    for (name, envoy) in &world.sidecars {
        out.insert(sidecar_name(name), Target::sidecar(envoy, image));
    }
    for node in &scenario.services {
        if let (ServiceKind::Command(spec), Some(Running::Process(p))) =
            (&node.kind, world.services.get(&node.name))
        {
            out.insert(node.name.clone(), Target::service(p, spec));
        }
    }
    out
}

/// The name a sidecar goes by in the edges (`via`) and the proxies.
fn sidecar_name(service: &str) -> String {
    format!("sidecar:{service}")
}

/// Snapshots every sidecar, the callees' own counts and the nodes' CPU clocks at `moment`.
pub(super) async fn mark(world: &World, targets: &Targets, moment: Moment) -> Mark {
    let admins = world.sidecars.iter().map(|(n, e)| (n, e.admin()));
    let (sidecars, mocks) = tokio::join!(hops::snapshots(admins, moment), async {
        match moment {
            // The step resets the mocks' counts when it starts.
            Moment::BeforeLoad => Some(BTreeMap::new()),
            Moment::EndOfWarmup | Moment::AfterLoad => world.mocks.counts().await.ok(),
        }
    });
    let mut counted: Option<BTreeMap<String, u64>> =
        mocks.map(|m| m.into_iter().map(|(n, c)| (n, c.requests)).collect());
    for (name, r) in &world.services {
        if let (Running::Mock { stats, .. }, Some(c)) = (r, counted.as_mut()) {
            c.insert(name.clone(), stats.snapshot().requests);
        }
    }
    // The end of the window reads the clocks of its start (see `usage`).
    let clocks = if moment == Moment::AfterLoad {
        BTreeMap::new()
    } else {
        targets
            .iter()
            .map(|(name, t)| (name.clone(), UsageClock::start(t)))
            .collect()
    };
    Mark {
        at: Instant::now(),
        sidecars,
        counted,
        clocks,
    }
}

/// The figures of each target over the window.
pub(super) type Usages = BTreeMap<String, Usage>;

/// The targets' CPU since `start` and their memory now, read as soon as the step ends (the
/// snapshots after it take a moment, while everything idles). Without a start (the step
/// ended before its measured part) there is no CPU figure, only the memory.
pub(super) fn usage(targets: &Targets, start: Option<&Mark>) -> Usages {
    targets
        .iter()
        .map(|(name, t)| {
            let clock = start.and_then(|s| s.clocks.get(name));
            (name.clone(), node_usage::over(clock, t))
        })
        .collect()
}

/// The two ends of the measured window.
pub(super) struct Window<'a> {
    /// `None` when the step ended before its measured part began: the window is empty.
    pub start: Option<&'a Mark>,
    pub end: &'a Mark,
    pub seconds: f64,
    pub usage: &'a Usages,
}

impl Window<'_> {
    fn start(&self) -> &Mark {
        self.start.unwrap_or(self.end)
    }

    /// Requests `name` (a mock upstream or a built-in mock service) counted itself in the
    /// window; `None` for a program, or when the counts could not be read.
    fn counted(&self, name: &str) -> Option<u64> {
        let end = self.end.counted.as_ref()?.get(name)?;
        let start = self
            .start()
            .counted
            .as_ref()?
            .get(name)
            .copied()
            .unwrap_or(0);
        Some(end.saturating_sub(start))
    }

    /// The edge of `hop`, counted by `caller`'s sidecar.
    fn edge(&self, caller: &str, hop: HopStats<'_>) -> GraphEdge {
        let empty = Snapshot::default();
        hops::edge(
            &hop,
            self.start().sidecars.get(caller).unwrap_or(&empty),
            self.end.sidecars.get(caller).unwrap_or(&empty),
            self.seconds,
            self.counted(hop.to),
        )
    }
}

pub(super) fn graph(
    scenario: &Scenario,
    wiring: &[Wiring],
    w: &Window<'_>,
    step: &StepResult,
) -> ServiceGraph {
    let entry = &wiring[0].name;
    let via_entry = sidecar_name(entry);
    let inbound = HopStats {
        from: "load",
        to: entry,
        via: &via_entry,
        prefix: INBOUND,
        cluster: LOCAL_CLUSTER,
    };
    let mut edges = vec![w.edge(entry, inbound)];
    for caller in wiring {
        let via = sidecar_name(&caller.name);
        // A program's calls are not declared, so its sidecar gets a listener for every
        // possible callee; only the hops it used are edges (a hop it never took would
        // otherwise show the callee's count from its real callers).
        let undeclared = scenario
            .services
            .iter()
            .any(|s| s.name == caller.name && matches!(s.kind, ServiceKind::Command(_)));
        for callee in caller.outbound.keys() {
            let prefix = format!("out_{callee}");
            let hop = HopStats {
                from: &caller.name,
                to: callee,
                via: &via,
                prefix: &prefix,
                cluster: callee,
            };
            let edge = w.edge(&caller.name, hop);
            if undeclared && edge.requests == 0 && edge.attempts == 0 {
                continue;
            }
            edges.push(edge);
        }
    }
    let mut nodes = vec![GraphNode {
        name: "load".into(),
        kind: "load".into(),
        counted: Some(step.load.requests),
        ..GraphNode::default()
    }];
    let usage = |name: &str| w.usage.get(name).cloned().unwrap_or_default();
    for s in &scenario.services {
        let mut node = GraphNode {
            name: s.name.clone(),
            kind: match s.kind {
                ServiceKind::Mock(_) => "mock-service".into(),
                ServiceKind::Command(_) => "service".into(),
            },
            counted: w.counted(&s.name),
            ..GraphNode::default()
        };
        usage(&s.name).apply(&mut node);
        nodes.push(node);
    }
    for u in &scenario.upstreams {
        nodes.push(GraphNode {
            name: u.name.clone(),
            kind: "mock".into(),
            counted: w.counted(&u.name),
            ..GraphNode::default()
        });
    }
    ServiceGraph {
        phase: "integration".into(),
        step: step.name.clone(),
        seconds: w.seconds,
        nodes,
        edges,
        proxies: wiring
            .iter()
            .map(|c| {
                let name = sidecar_name(&c.name);
                usage(&name).sidecar_node(&name)
            })
            .collect(),
        compared: None,
    }
}
