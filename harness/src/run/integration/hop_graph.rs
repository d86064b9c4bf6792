//! The integration phase's service graph: an edge per hop, counted by the caller's
//! sidecar over the measured part of the Envoy step (see `run::hops`: snapshots at its
//! start and end, differences between them), beside the callee's own count.

use std::collections::BTreeMap;
use std::time::Instant;

use gauntlet_reports::graph::{GraphEdge, GraphNode, ServiceGraph};
use gauntlet_reports::StepResult;

use super::{Running, Wiring, World, INBOUND, LOCAL_CLUSTER};
use crate::run::hops::{self, HopStats, Moment, ProcClock, Snapshot};
use crate::scenario::{Scenario, ServiceKind};

/// The hop figures' state at one end of the measured window.
pub(super) struct Mark {
    pub at: Instant,
    pub sidecars: BTreeMap<String, Snapshot>,
    /// Requests each mock upstream and built-in mock service had counted; `None` when the
    /// mocks' counts could not be read.
    counted: Option<BTreeMap<String, u64>>,
    /// The `command:` services' CPU clocks, at the start of the window.
    clocks: BTreeMap<String, ProcClock>,
}

/// Snapshots every sidecar, the callees' own counts and the services' CPU clocks at
/// `moment`.
pub(super) async fn mark(world: &World, moment: Moment) -> Mark {
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
    let mut clocks = BTreeMap::new();
    for (name, r) in &world.services {
        match r {
            Running::Mock { stats, .. } => {
                if let Some(c) = counted.as_mut() {
                    c.insert(name.clone(), stats.snapshot().requests);
                }
            }
            // The end of the window reads the clocks of its start (see `usage`).
            Running::Process(p) if moment != Moment::AfterLoad => {
                clocks.insert(name.clone(), ProcClock::start(p.pid()));
            }
            Running::Process(_) => {}
        }
    }
    Mark {
        at: Instant::now(),
        sidecars,
        counted,
        clocks,
    }
}

/// Mean CPU (cores) and memory (MiB) of each `command:` service.
pub(super) type Usage = BTreeMap<String, (Option<f64>, Option<f64>)>;

/// The services' CPU since `start` and their memory now, read as soon as the step ends (the
/// snapshots after it take a moment, while the services idle). Without a start (the step
/// ended before its measured part) there is no CPU figure, only the memory.
pub(super) fn usage(world: &World, start: Option<&Mark>) -> Usage {
    let mut out = Usage::new();
    for (name, r) in &world.services {
        let Running::Process(p) = r else { continue };
        let figures = match start.and_then(|s| s.clocks.get(name)) {
            Some(clock) => clock.finish(),
            None => (None, ProcClock::start(p.pid()).finish().1),
        };
        out.insert(name.clone(), figures);
    }
    out
}

/// The two ends of the measured window.
pub(super) struct Window<'a> {
    /// `None` when the step ended before its measured part began: the window is empty.
    pub start: Option<&'a Mark>,
    pub end: &'a Mark,
    pub seconds: f64,
    pub usage: &'a Usage,
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
    let via_entry = format!("sidecar:{entry}");
    let inbound = HopStats {
        from: "load",
        to: entry,
        via: &via_entry,
        prefix: INBOUND,
        cluster: LOCAL_CLUSTER,
    };
    let mut edges = vec![w.edge(entry, inbound)];
    for caller in wiring {
        let via = format!("sidecar:{}", caller.name);
        for callee in caller.outbound.keys() {
            let prefix = format!("out_{callee}");
            let hop = HopStats {
                from: &caller.name,
                to: callee,
                via: &via,
                prefix: &prefix,
                cluster: callee,
            };
            edges.push(w.edge(&caller.name, hop));
        }
    }
    let mut nodes = vec![GraphNode {
        name: "load".into(),
        kind: "load".into(),
        counted: Some(step.load.requests),
        ..GraphNode::default()
    }];
    for s in &scenario.services {
        let (cpu, rss) = w.usage.get(&s.name).copied().unwrap_or((None, None));
        nodes.push(GraphNode {
            name: s.name.clone(),
            kind: match s.kind {
                ServiceKind::Mock(_) => "mock-service".into(),
                ServiceKind::Command(_) => "service".into(),
            },
            counted: w.counted(&s.name),
            cpu_cores: cpu,
            rss_mb: rss,
        });
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
        compared: None,
    }
}
