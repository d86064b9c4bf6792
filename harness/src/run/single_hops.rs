//! The single-service phase's hops: load → service through the ingress sidecar, service →
//! each dependency through the egress sidecar, over the measured part of the Envoy step
//! (see `hops`: snapshots at its start and end, differences between them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gauntlet_reports::graph::{GraphNode, ServiceGraph};
use gauntlet_reports::StepResult;

use super::egress::{self, INGRESS_PREFIX};
use super::hops::{self, HopStats, Moment, ProcClock, Snapshot};
use super::mock_fleet::MockFleet;
use crate::envoy::AdminClient;
use crate::scenario::{Scenario, ServiceSpec};

/// What the phase's hop figures are read from.
pub(super) struct Sources<'a> {
    pub ingress: &'a AdminClient,
    pub egress: &'a AdminClient,
    pub mocks: &'a MockFleet,
    /// The service's process (its CPU and memory).
    pub service_pid: u32,
}

/// The hop figures' state at one end of the measured window.
pub(super) struct Mark {
    at: Instant,
    ingress: Snapshot,
    egress: Snapshot,
    /// Requests each mock had counted; `None` when their counts could not be read.
    counted: Option<BTreeMap<String, u64>>,
    /// The service's CPU clock, at the start of the window.
    clock: Option<ProcClock>,
}

/// Snapshots both sidecars, the mocks' counts and the service's CPU clock.
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
        clock: (moment != Moment::AfterLoad).then(|| ProcClock::start(s.service_pid)),
    }
}

/// The service's CPU since `start` and its memory now, read as soon as the step ends (the
/// snapshots after it take a moment, while the service idles). Without a start (the step
/// ended before its measured part) there is no CPU figure, only the memory.
pub(super) fn usage(s: &Sources<'_>, start: Option<&Mark>) -> (Option<f64>, Option<f64>) {
    match start.and_then(|m| m.clock.as_ref()) {
        Some(clock) => clock.finish(),
        None => (None, ProcClock::start(s.service_pid).finish().1),
    }
}

/// The two ends of the measured window, and the service's CPU and memory over it.
pub(super) struct Window<'a> {
    /// `None` when the step ended before its measured part began: the window is empty.
    pub start: Option<&'a Mark>,
    pub end: &'a Mark,
    pub usage: (Option<f64>, Option<f64>),
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
    let (cpu, rss) = w.usage;
    let mut nodes = vec![
        GraphNode {
            name: "load".into(),
            kind: "load".into(),
            counted: Some(step.load.requests),
            ..GraphNode::default()
        },
        GraphNode {
            name: name.to_string(),
            kind: "service".into(),
            cpu_cores: cpu,
            rss_mb: rss,
            ..GraphNode::default()
        },
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
        compared: None,
    }
}

/// The egress sidecar's counters at `end`: the step's `envoy_stats`.
pub(super) fn egress_counters(end: &Mark) -> hops::Counters {
    end.egress.counters.clone()
}
