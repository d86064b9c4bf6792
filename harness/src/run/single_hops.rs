//! The single-service phase's hops: load → service through the ingress sidecar, service →
//! each dependency through the egress sidecar, over the measured part of the Envoy step
//! (see `hops`: snapshots at its start and end, differences between them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gauntlet_reports::graph::{GraphNode, ServiceGraph};
use gauntlet_reports::StepResult;

use super::egress::{self, INGRESS_PREFIX};
use super::hops::{self, HopStats, Moment, Snapshot};
use super::mock_fleet::MockFleet;
use super::node_usage::{self, Target, Usage, UsageClock};
use crate::envoy::AdminClient;
use crate::scenario::{Scenario, ServiceSpec};

/// What the phase's hop figures are read from.
pub(super) struct Sources<'a> {
    pub ingress: &'a AdminClient,
    pub egress: &'a AdminClient,
    pub mocks: &'a MockFleet,
    /// Whose CPU and memory the graph shows: `ingress`, `service`, `egress`.
    pub targets: [(&'static str, Target); 3],
}

/// The hop figures' state at one end of the measured window.
pub(super) struct Mark {
    at: Instant,
    ingress: Snapshot,
    egress: Snapshot,
    /// Requests each mock had counted; `None` when their counts could not be read.
    counted: Option<BTreeMap<String, u64>>,
    /// The nodes' CPU clocks, at the start of the window.
    clocks: BTreeMap<&'static str, UsageClock>,
}

/// Snapshots both sidecars, the mocks' counts and the nodes' CPU clocks.
pub(super) async fn mark(s: &Sources<'_>, moment: Moment) -> Mark {
    let (ingress, egress, mocks) = tokio::join!(
        hops::snapshot(s.ingress, moment),
        hops::snapshot(s.egress, moment),
        async {
            match moment {
                // The step resets the mocks' counts when it starts.
                Moment::BeforeLoad => Some(BTreeMap::new()),
                Moment::EndOfWarmup | Moment::AfterLoad => s.mocks.counts().await.ok(),
            }
        }
    );
    Mark {
        at: Instant::now(),
        ingress,
        egress,
        counted: mocks.map(|m| m.into_iter().map(|(n, c)| (n, c.requests)).collect()),
        // The end of the window reads the clocks of its start (see `usage`).
        clocks: if moment == Moment::AfterLoad {
            BTreeMap::new()
        } else {
            s.targets
                .iter()
                .map(|(name, t)| (*name, UsageClock::start(t)))
                .collect()
        },
    }
}

/// The nodes' CPU since `start` and their memory now, read as soon as the step ends (the
/// snapshots after it take a moment, while everything idles). Without a start (the step
/// ended before its measured part) there is no CPU figure, only the memory.
pub(super) fn usage(s: &Sources<'_>, start: Option<&Mark>) -> BTreeMap<&'static str, Usage> {
    s.targets
        .iter()
        .map(|(name, t)| {
            let clock = start.and_then(|m| m.clocks.get(name));
            (*name, node_usage::over(clock, t))
        })
        .collect()
}

/// The two ends of the measured window, and the nodes' CPU and memory over it.
pub(super) struct Window<'a> {
    /// `None` when the step ended before its measured part began: the window is empty.
    pub start: Option<&'a Mark>,
    pub end: &'a Mark,
    pub usage: BTreeMap<&'static str, Usage>,
}

/// The graph of the window.
pub(super) fn graph(
    scenario: &Scenario,
    spec: &ServiceSpec,
    w: &Window<'_>,
    step: &StepResult,
) -> ServiceGraph {
    let (start, end) = (w.start, w.end);
    let first = start.unwrap_or(end);
    let wall = start.map_or(Duration::ZERO, |s| end.at - s.at);
    let seconds = hops::window_seconds(step.load.duration_s, wall);
    let counted = |name: &str| -> Option<u64> {
        let to = end.counted.as_ref()?.get(name)?;
        let from = first.counted.as_ref()?.get(name).copied().unwrap_or(0);
        Some(to.saturating_sub(from))
    };
    let name = spec.name.as_str();
    let inbound = HopStats {
        from: "load",
        to: name,
        via: "ingress",
        prefix: INGRESS_PREFIX,
        cluster: name,
    };
    let mut edges = vec![hops::edge(
        &inbound,
        &first.ingress,
        &end.ingress,
        seconds,
        None,
    )];
    let usage = |node: &str| w.usage.get(node).cloned().unwrap_or_default();
    let mut service = GraphNode {
        name: name.to_string(),
        kind: "service".into(),
        ..GraphNode::default()
    };
    usage("service").apply(&mut service);
    let mut nodes = vec![
        GraphNode {
            name: "load".into(),
            kind: "load".into(),
            counted: Some(step.load.requests),
            ..GraphNode::default()
        },
        service,
    ];
    for u in &scenario.upstreams {
        let prefix = egress::egress_prefix(&u.name);
        let hop = HopStats {
            from: name,
            to: &u.name,
            via: "egress",
            prefix: &prefix,
            cluster: &u.name,
        };
        let counted = counted(&u.name);
        edges.push(hops::edge(
            &hop,
            &first.egress,
            &end.egress,
            seconds,
            counted,
        ));
        nodes.push(GraphNode {
            name: u.name.clone(),
            kind: "mock".into(),
            counted,
            ..GraphNode::default()
        });
    }
    ServiceGraph {
        phase: "single-service".into(),
        step: step.name.clone(),
        seconds,
        nodes,
        edges,
        proxies: ["ingress", "egress"]
            .into_iter()
            .map(|p| usage(p).sidecar_node(p))
            .collect(),
        compared: None,
    }
}

/// The egress sidecar's counters at `end`: the step's `envoy_stats`.
pub(super) fn egress_counters(end: &Mark) -> hops::Counters {
    end.egress.counters.clone()
}
