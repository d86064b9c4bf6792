//! The validated scenario: what everything downstream of `scenario` takes.
//!
//! A value of these types has passed every check (references resolve, mixes sum to 100%,
//! rates and durations are positive and within limits), so no later stage re-validates.

use std::path::PathBuf;
use std::time::Duration;

use gauntlet_mocks::Behavior;
use serde::Serialize;

use crate::gates::Gate;
use crate::policy::{ClusterPolicy, HeaderMatch, RoutePolicy};

/// Envoy version used when a scenario names none and no binary is found.
pub const DEFAULT_ENVOY_VERSION: &str = "1.40.0";

/// A whole, validated scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    /// The file the scenario was read from, for messages.
    pub source: PathBuf,
    pub phase: Phase,
    pub envoy: EnvoySpec,
    /// Mock upstreams in file order; names are unique.
    pub upstreams: Vec<Upstream>,
    /// Routes in match order (first match wins, as in Envoy).
    pub routes: Vec<Route>,
    pub load: Load,
    /// Measure the direct path (client → mocks) before the path through Envoy.
    pub baseline: bool,
    /// Events at offsets from the start of the Envoy load step (warmup included), sorted.
    pub timeline: Vec<TimelineEvent>,
    /// CI gates evaluated over the result, in file order.
    pub gates: Vec<Gate>,
    /// The service under test (`phase: single-service` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<super::service::ServiceSpec>,
    /// The services wired together (`phase: integration` only); the first is the entry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<super::integration::ServiceNode>,
    /// A stored run (its `result.json` or its directory) of another phase whose per-hop
    /// figures the report puts beside this run's (single-service and integration only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_with: Option<std::path::PathBuf>,
    /// `sweep:`, `capacity:` and `find_max_rps:`; empty for a single-point run.
    #[serde(skip_serializing_if = "super::sizing::SizingSpec::is_empty")]
    pub sizing: super::sizing::SizingSpec,
    /// `mocks:`: run the mock upstreams as containers; `None`: inside Gauntlet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mocks: Option<MockContainers>,
}

/// Which of the three rollout phases the scenario exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Benchmark,
    SingleService,
    Integration,
}

/// How to get and run Envoy.
#[derive(Debug, Clone, Serialize)]
pub struct EnvoySpec {
    pub source: EnvoySource,
    /// Envoy's `--concurrency` (worker threads).
    pub concurrency: u32,
    /// Envoy's `--log-level`.
    pub log_level: String,
    /// Port of Envoy's listener on 127.0.0.1; `None` picks a free one.
    pub listen_port: Option<u16>,
    /// `image:`: run Envoy in a container of this image instead of as a process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<EnvoyImage>,
}

/// Envoy in a container: the image and its limits (`envoy.image`, `cpus`, `memory`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvoyImage {
    /// `repository[:tag]`, e.g. `gauntlet/envoy:1.40.0`.
    pub image: String,
    /// CPU limit in cores (`0.5` = 500m); `None`: no limit.
    pub cpus: Option<f64>,
    /// Memory limit in bytes; `None`: no limit.
    pub memory: Option<u64>,
}

/// Mock upstreams as containers (`mocks.image`, `cpus`, `memory`): one container of
/// `image` per endpoint, each with these limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MockContainers {
    /// `repository[:tag]`, e.g. `gauntlet/mock:0.1.0`.
    pub image: String,
    /// CPU limit of each container in cores; `None`: no limit.
    pub cpus: Option<f64>,
    /// Memory limit of each container in bytes; `None`: no limit.
    pub memory: Option<u64>,
}

/// Where the Envoy binary comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvoySource {
    /// `binary:` in the scenario: used as is.
    Binary(PathBuf),
    /// `version:` in the scenario: a binary of exactly this version (ENVOY_BIN or PATH if
    /// it matches, else a managed install).
    Version(String),
    /// Nothing named: ENVOY_BIN, then PATH, then a managed install of the default version.
    Default,
}

/// Protocol an upstream mock speaks (and Envoy speaks to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    Http1,
    Http2,
    /// Unary gRPC over HTTP/2 (`scenario::grpc`).
    Grpc,
}

/// A mock upstream cluster: `endpoints` servers, each on its own port.
#[derive(Debug, Clone, Serialize)]
pub struct Upstream {
    pub name: String,
    pub endpoints: u32,
    pub protocol: UpstreamProtocol,
    pub behavior: Behavior,
    pub connect_timeout: Duration,
    /// Envoy's policies for this upstream's cluster (`clusters.<name>` in the file).
    pub policy: ClusterPolicy,
}

/// One route of the listener's single virtual host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// Stable name: `route-<index>` unless the scenario names it.
    pub name: String,
    pub matcher: RouteMatch,
    /// Request headers that must also match (all of them).
    pub headers: Vec<HeaderMatch>,
    pub target: RouteTarget,
    /// Timeouts, retries, mirrors, faults, rate limit.
    pub policy: RoutePolicy,
}

/// How a route matches the request path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteMatch {
    Prefix(String),
    Path(String),
}

impl RouteMatch {
    /// Whether a request path matches, with Envoy's semantics (case-sensitive).
    pub fn matches(&self, path: &str) -> bool {
        let path = path.split('?').next().unwrap_or(path);
        match self {
            RouteMatch::Prefix(p) => path.starts_with(p.as_str()),
            RouteMatch::Path(p) => path == p,
        }
    }
}

/// Where a route sends traffic. Every name refers to an upstream in the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    Cluster(String),
    /// `(cluster, weight)` pairs; weights are positive.
    Weighted(Vec<(String, u32)>),
}

/// Load protocol spoken by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadProtocol {
    Http1,
    Http2,
    /// Unary gRPC calls over HTTP/2 (`Load::grpc` says which).
    Grpc,
}

/// Open loop (a rate) or closed loop (a concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    /// Requests per second, spread evenly over the connections.
    Open { rate: f64 },
    /// Requests in flight at all times.
    Closed { concurrency: u32 },
}

/// The load driven in each step.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub protocol: LoadProtocol,
    pub mode: LoadMode,
    pub connections: u32,
    /// Measured time, after warmup.
    pub duration: Duration,
    /// Time at the start of each step whose requests are excluded from the results.
    pub warmup: Duration,
    pub request: RequestSpec,
    /// Client-side timeout per request; a request past it counts as a `timeout` failure.
    pub timeout: Duration,
    /// Load worker threads.
    pub workers: u32,
    /// Most streams in flight per HTTP/2 connection; `None`: the load generator's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<u32>,
    /// With `protocol: grpc`: the call every stream makes (`request.path` is its path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<super::grpc::GrpcCall>,
}

/// The request every load connection sends.
#[derive(Debug, Clone, Serialize)]
pub struct RequestSpec {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body_bytes: usize,
}

/// A timeline event: at `at`, do `action`.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    /// Offset from the start of the Envoy load step (warmup included).
    pub at: Duration,
    /// Human-readable label, `event-<index>` unless named.
    pub label: String,
    pub action: TimelineAction,
}

/// What a timeline event changes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineAction {
    /// Replace route `route` by `new` (pushed over xDS). The validator folds the event's
    /// `set:` into the route as it stands at that point of the timeline, so `new` is whole.
    SetRoute { route: usize, new: Route },
    /// Replace the policies of an upstream's cluster (pushed over xDS), folded likewise.
    SetCluster {
        cluster: String,
        policy: ClusterPolicy,
    },
    /// Change the behaviour of some endpoints of an upstream (all when `endpoints` is None).
    SetUpstream {
        upstream: String,
        endpoints: Option<Vec<u32>>,
        behavior: Behavior,
    },
    /// Take endpoints down (they refuse connections) or bring them back up.
    SetEndpointsUp {
        upstream: String,
        endpoints: Vec<u32>,
        up: bool,
    },
    /// Grow or shrink the set of endpoints Envoy is given for an upstream (EDS); the mock
    /// starts new servers when it grows beyond what it has.
    SetEndpointCount { upstream: String, count: u32 },
}

impl Scenario {
    /// The upstream with this name, if any.
    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == name)
    }

    /// The first route matching the load's request path.
    pub fn route_for_load(&self) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.matcher.matches(&self.load.request.path))
    }
}
