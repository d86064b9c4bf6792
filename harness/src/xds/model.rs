//! The proto-free description of what one Envoy should be configured with.
//!
//! Everything outside `xds` speaks these types; `resources` turns them into Envoy protos.
//! Every struct has a `Default` (or a constructor) so a later field can be added without
//! touching the call sites that build them with `..Default::default()`.
//!
//! Resilience policies are the proto-free types of [`crate::policy`], carried as they are:
//! [`RoutePolicy`] on a [`RouteSpec`], [`ClusterPolicy`] on a [`ClusterSpec`].
//!
//! What a change costs on the wire: every listener always carries the local rate limit and
//! fault filters (inactive unless a route configures them), so a listener never changes
//! because of a policy; an LDS push would reach only new connections (old ones drain).
//! - A route policy or header match change is an RDS push only, which Envoy applies to open
//!   connections at once.
//! - A cluster policy change is a CDS push (plus Envoy re-fetching the unchanged endpoints):
//!   Envoy warms a new copy of the cluster (endpoints, first health check round) and swaps
//!   it in, so connection pools and outlier detection state start afresh.
//! - An endpoint list change is an EDS push only.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::policy::{ClusterPolicy, HeaderMatch, RoutePolicy};

/// The whole configuration of one Envoy node: one snapshot's worth of resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnvoyConfig {
    /// Listeners, each with its own route table.
    pub listeners: Vec<ListenerSpec>,
    /// Upstream clusters the routes may name.
    pub clusters: Vec<ClusterSpec>,
}

/// An HTTP listener: one HttpConnectionManager whose route table comes over RDS (via ADS),
/// with a single virtual host matching every domain (`*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListenerSpec {
    /// Listener name, unique within the config.
    pub name: String,
    /// Where Envoy listens.
    pub address: SocketAddr,
    /// The HCM's `stat_prefix`: Envoy's counters appear under `http.<stat_prefix>.`.
    pub stat_prefix: String,
    /// Name of the RouteConfiguration this listener asks for over RDS; unique per listener.
    pub route_config_name: String,
    /// Routes in match order (first match wins, as in Envoy).
    pub routes: Vec<RouteSpec>,
    /// HCM `generate_request_id`. Off by default: Envoy's benchmarking FAQ lists it as a cost
    /// (a UUID per request) that a production-like measurement should not pay unless tracing.
    pub generate_request_id: bool,
    /// Router `dynamic_stats`. On by default because the per-code cluster counters it
    /// produces (`cluster.<c>.upstream_rq_503`, `upstream_rq_2xx`, `retry.upstream_rq_503`,
    /// `upstream_rq_time`) are what resilience gates read. Envoy's benchmarking FAQ says to
    /// disable it for raw throughput numbers, so a benchmark-phase plan may turn it off.
    pub dynamic_stats: bool,
    /// Routes honour a gRPC client's `grpc-timeout` (`max_stream_duration`), capped by the
    /// route's timeout. Only for gRPC load: Envoy then applies `max_stream_duration` in
    /// place of the route `timeout`, which would change how HTTP requests time out.
    pub grpc_timeouts: bool,
}

impl ListenerSpec {
    /// A listener named `name` on `address`, with stat prefix `name` and route config
    /// `<name>_routes`, and no routes yet.
    pub fn new(name: impl Into<String>, address: SocketAddr) -> Self {
        let name = name.into();
        Self {
            stat_prefix: name.clone(),
            route_config_name: format!("{name}_routes"),
            name,
            address,
            ..Self::default()
        }
    }
}

impl Default for ListenerSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            stat_prefix: String::new(),
            route_config_name: String::new(),
            routes: Vec::new(),
            generate_request_id: false,
            dynamic_stats: true,
            grpc_timeouts: false,
        }
    }
}

/// One route of a listener's single virtual host.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteSpec {
    /// Route name (shows up in Envoy's config dump and access logs).
    pub name: String,
    /// Which requests the route takes, by path.
    pub matcher: RouteMatchSpec,
    /// Request headers that must also match (all of them), in `RouteMatch.headers`.
    pub headers: Vec<HeaderMatch>,
    /// Where it sends them.
    pub target: TargetSpec,
    /// Timeouts, retries, mirrors, faults and rate limit. `policy.timeout` is the
    /// whole-request timeout: `None` keeps Envoy's default (15 s), `Some(ZERO)` disables it.
    pub policy: RoutePolicy,
}

impl RouteSpec {
    /// A route named `name` sending everything under `prefix` to `cluster`.
    pub fn prefix(
        name: impl Into<String>,
        prefix: impl Into<String>,
        cluster: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            matcher: RouteMatchSpec::Prefix(prefix.into()),
            target: TargetSpec::Cluster(cluster.into()),
            ..Self::default()
        }
    }
}

/// How a route matches the request path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteMatchSpec {
    /// Path starts with this.
    Prefix(String),
    /// Path equals this exactly.
    Path(String),
}

impl Default for RouteMatchSpec {
    fn default() -> Self {
        Self::Prefix("/".to_owned())
    }
}

/// Where a matched request goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSpec {
    /// One cluster.
    Cluster(String),
    /// Several clusters, split by relative weight.
    Weighted(Vec<(String, u32)>),
}

impl Default for TargetSpec {
    fn default() -> Self {
        Self::Cluster(String::new())
    }
}

/// An upstream cluster whose endpoints come over EDS (via ADS).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSpec {
    /// Cluster name, unique within the config; Envoy's counters appear under `cluster.<name>.`.
    pub name: String,
    /// The hosts, all in one locality and priority, equally weighted. Changing the list is
    /// an EDS push only; a host removed from it leaves Envoy at once, health checks or not.
    pub endpoints: Vec<SocketAddr>,
    /// Speak HTTP/2 to the endpoints (prior knowledge, no TLS); HTTP/1.1 otherwise.
    pub http2: bool,
    /// TCP connect timeout to an endpoint.
    pub connect_timeout: Duration,
    /// Circuit breakers, outlier detection, load balancing, health check, connection reuse.
    pub policy: ClusterPolicy,
}

impl ClusterSpec {
    /// An HTTP/1.1 cluster named `name` over `endpoints`.
    pub fn new(name: impl Into<String>, endpoints: Vec<SocketAddr>) -> Self {
        Self {
            name: name.into(),
            endpoints,
            ..Self::default()
        }
    }
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            endpoints: Vec::new(),
            http2: false,
            // Envoy's own default; it rejects zero.
            connect_timeout: Duration::from_secs(5),
            policy: ClusterPolicy::default(),
        }
    }
}
