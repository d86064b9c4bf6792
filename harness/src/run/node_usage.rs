//! A node's CPU and memory over a step's measured window, for the hop graphs: a sidecar's
//! or a service's. In a container they are its cgroup's (every process in it, and the CPU
//! throttling its limit caused), as for the benchmark's Envoy container; otherwise, or when
//! the cgroup cannot be read, `/proc` of the main process.

use gauntlet_reports::graph::{GraphNode, NodeContainer};

use super::cgroup::CgroupReader;
use super::hops::ProcClock;
use crate::envoy::Envoy;
use crate::scenario::{EnvoyImage, ServiceRun, ServiceSpec};
use crate::service::RunningService;

const MIB: f64 = 1024.0 * 1024.0;

/// What a node's figures are read from: its main process, and its container if it has one.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub pid: u32,
    /// Image and limits of the container (the throttling fields are filled in at the end).
    pub container: Option<NodeContainer>,
}

impl Target {
    /// A sidecar: in a container when it was started from `image`.
    pub fn sidecar(envoy: &Envoy, image: Option<&EnvoyImage>) -> Self {
        let container = envoy.container().map(|c| NodeContainer {
            image: c.image,
            cpus: image.and_then(|i| i.cpus),
            memory_mb: image.and_then(|i| i.memory).map(|b| b as f64 / MIB),
            ..NodeContainer::default()
        });
        Self {
            pid: envoy.pid(),
            container,
        }
    }

    /// A service started from `spec`: in a container when it has `image:`.
    pub fn service(running: &RunningService, spec: &ServiceSpec) -> Self {
        let container = match (&spec.run, running.container_id()) {
            (ServiceRun::Image(i), Some(_)) => Some(NodeContainer {
                image: i.image.clone(),
                cpus: i.cpus,
                memory_mb: i.memory.map(|b| b as f64 / MIB),
                ..NodeContainer::default()
            }),
            _ => None,
        };
        Self {
            pid: running.pid(),
            container,
        }
    }
}

/// A node's clocks at the start of the window.
#[derive(Debug)]
pub(super) struct UsageClock {
    target: Target,
    /// The container's cgroup, read once at the start.
    cgroup: Option<CgroupReader>,
    process: ProcClock,
}

/// A node's figures over the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Usage {
    pub cpu_cores: Option<f64>,
    pub rss_mb: Option<f64>,
    pub container: Option<NodeContainer>,
}

impl UsageClock {
    /// Reads the node's clocks now: the start of the window.
    pub fn start(target: &Target) -> Self {
        let cgroup = target
            .container
            .as_ref()
            .and_then(|_| CgroupReader::for_pid(target.pid))
            .map(|mut reader| {
                reader.sample();
                reader
            });
        Self {
            target: target.clone(),
            cgroup,
            process: ProcClock::start(target.pid),
        }
    }

    /// Mean CPU since the start, memory now and, in a container, the throttling since the
    /// start.
    pub fn finish(&self) -> Usage {
        let mut container = self.target.container.clone();
        let Some(reader) = &self.cgroup else {
            let (cpu_cores, rss_mb) = self.process.finish();
            return Usage {
                cpu_cores,
                rss_mb,
                container,
            };
        };
        // A copy keeps the start's counters, so a clock can be finished more than once.
        let sample = reader.clone().sample();
        if let Some(c) = container.as_mut() {
            c.cgroup = true;
            c.periods = sample.periods;
            c.throttled_periods = sample.throttled_periods;
            c.throttled_ms = sample.throttled_ms;
        }
        Usage {
            cpu_cores: sample.cpu,
            rss_mb: sample.working_set_mb.or(sample.memory_mb),
            container,
        }
    }
}

/// The node's memory now, with no CPU figure: for a step that ended before its window.
pub(super) fn memory_only(target: &Target) -> Usage {
    let finished = UsageClock::start(target).finish();
    let container = finished.container.map(|c| NodeContainer {
        periods: None,
        throttled_periods: None,
        throttled_ms: None,
        ..c
    });
    Usage {
        cpu_cores: None,
        rss_mb: finished.rss_mb,
        container,
    }
}

/// The figures of `start`'s clock when the window has one, else the memory alone.
pub(super) fn over(start: Option<&UsageClock>, target: &Target) -> Usage {
    match start {
        Some(clock) => clock.finish(),
        None => memory_only(target),
    }
}

impl Usage {
    /// Writes the figures into a graph node.
    pub fn apply(self, node: &mut GraphNode) {
        node.cpu_cores = self.cpu_cores;
        node.rss_mb = self.rss_mb;
        node.container = self.container;
    }

    /// A sidecar's node, named as the edges' `via` names it.
    pub fn sidecar_node(self, name: &str) -> GraphNode {
        let mut node = GraphNode {
            name: name.to_string(),
            kind: "sidecar".into(),
            ..GraphNode::default()
        };
        self.apply(&mut node);
        node
    }
}
