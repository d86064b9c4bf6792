//! The integration phase: services wired together, each behind one sidecar Envoy.
//!
//! One Envoy per service (the Istio shape) rather than two: on a 2-core machine every Envoy
//! costs a core's share, and one sidecar with an inbound listener and one outbound listener
//! per callee carries every hop a pair would. Service `S`'s sidecar (node `gauntlet-S`) has:
//! - `inbound` → cluster `inbound|app`, the service's own port;
//! - `out_<C>` per callee `C` → cluster `C`: the callee's sidecar inbound listener when `C`
//!   is a service, the mock's endpoints (with `clusters:` policies and the `routes:` that
//!   name it) when `C` is an upstream.
//!
//! So a call S → C is counted on S's `out_<C>` listener and cluster: that is the graph's
//! edge. The load goes to the first service's inbound listener; the baseline sends it to
//! that service's port directly (its calls still go through the sidecars). The step's
//! `envoy_stats` are the entry sidecar's. Built-in mock services run in-process
//! (`gauntlet_mocks::fanout`); `command:` services are started like the single-service one,
//! with `PORT` and a `<NAME>_URL` per service and upstream it may call.
//!
//! With `envoy.image` every sidecar is its own container of that image with `envoy.cpus` and
//! `envoy.memory` as its limits; with `mocks:` the mock upstreams are containers too (the
//! built-in mock services stay in process). A container's figures come from its cgroup.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use gauntlet_mocks::{serve_fanout, Call, FanoutConfig, FanoutStats};
use gauntlet_reports::RunResult;
use tokio_util::sync::CancellationToken;

use super::compare_phases;
use super::config::Live;
use super::egress::{routes_for, upstream_cluster};
use super::hops::{self, Moment};
use super::rundir::RunDir;
use super::single_service::{self as single, EnvoyLaunch};
use super::step::{self, StepCtx, StepSpec};
use super::timeline::{NodeConfigs, Timeline};
use super::watch;
use super::world::{
    setup_cancelled, start_fleet, start_xds, stop_rest, Sidecars, XdsServer, ACK_DEADLINE,
};
use super::RunOptions;
use crate::envoy::Envoy;
use crate::scenario::{EnvoyImage, Scenario, ServiceKind, ServiceNode, PORT_VAR};
use crate::service::{self, RunningService, ServiceLaunch};
use crate::xds::model::{ClusterSpec, EnvoyConfig, ListenerSpec, RouteSpec, TargetSpec};
use crate::xds::XdsControl;

mod hop_graph;

use hop_graph::{graph, mark, targets, usage, Window};

/// The inbound listener's name and stat prefix in every sidecar.
const INBOUND: &str = "inbound";
/// The cluster of the service's own port (`|` keeps it apart from any service or upstream).
const LOCAL_CLUSTER: &str = "inbound|app";

/// One service's addresses.
struct Wiring {
    name: String,
    /// Its sidecar's inbound listener.
    inbound: SocketAddr,
    /// The service's own port.
    app: SocketAddr,
    /// Its sidecar's outbound listener per callee.
    outbound: BTreeMap<String, SocketAddr>,
}

/// A running service: a built-in mock (its counters and how to stop it) or a process.
enum Running {
    Mock {
        stats: Arc<FanoutStats>,
        stop: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    },
    Process(RunningService),
}

#[derive(Default)]
struct World {
    mocks: super::world::MockFleet,
    xds: Option<XdsServer>,
    sidecars: BTreeMap<String, Envoy>,
    services: BTreeMap<String, Running>,
}

/// Builds the world, runs the steps into `result`, and tears everything down.
pub(super) async fn drive(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &RunDir,
    result: &mut RunResult,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut world = World::default();
    let outcome = tokio::select! {
        r = steps(scenario, opts, dir, result, &mut world, &cancel) => r,
        () = setup_cancelled(&cancel) => Err(anyhow!("interrupted during setup")),
    };
    teardown(world, result).await;
    outcome
}

async fn steps(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &RunDir,
    result: &mut RunResult,
    world: &mut World,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let entry = scenario
        .services
        .first()
        .ok_or_else(|| anyhow!("phase integration needs `services:`"))?;
    let stored = compare_phases::for_scenario(scenario)?;
    let sidecars = Sidecars::choose(scenario, opts).await?;
    let endpoints = start_fleet(scenario, Some(dir.path()), &mut world.mocks).await?;
    let (control, xds_addr) = start_xds(&mut world.xds).await?;
    let wiring = wire(scenario)?;
    let live = Live::new(scenario, endpoints);
    for w in &wiring {
        let node = node_id(&w.name);
        let cfg = sidecar_config(scenario, &live, w, &wiring);
        let version = control
            .set_config(&node, &cfg)
            .with_context(|| format!("building the configuration of `{}`'s sidecar", w.name))?;
        let role = format!("sidecar-{}", w.name);
        let launch = EnvoyLaunch {
            role: &role,
            node: &node,
            sidecars: &sidecars,
            xds: xds_addr,
            scenario,
            dir,
        };
        world
            .sidecars
            .insert(w.name.clone(), single::launch_envoy(&launch).await?);
        control
            .wait_applied(&node, version, ACK_DEADLINE)
            .await
            .with_context(|| format!("`{}`'s sidecar did not accept its configuration", w.name))?;
    }
    for (node, w) in scenario.services.iter().zip(&wiring) {
        let running = start_service(node, w, dir).await?;
        world.services.insert(w.name.clone(), running);
    }
    let entry_sidecar = world.sidecars.get(&entry.name);
    result.envoy = Some(single::envoy_info(entry_sidecar, &sidecars, scenario).await?);
    let plane = Plane {
        wiring: &wiring,
        control,
        live,
        image: sidecars.image.as_ref(),
    };
    let measured = measure(scenario, opts, dir, result, world, cancel, plane).await;
    compare_phases::attach_to(result, stored.as_ref());
    measured
}

/// How the sidecars are wired and configured: what the timeline changes.
struct Plane<'w> {
    wiring: &'w [Wiring],
    control: XdsControl,
    /// What the sidecars' current configs were built from.
    live: Live,
    /// The image the sidecars run in, if any (for the graph's container figures).
    image: Option<&'w EnvoyImage>,
}

/// The baseline and the step through the entry's sidecar, then the graph.
async fn measure(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &RunDir,
    result: &mut RunResult,
    world: &World,
    cancel: &CancellationToken,
    plane: Plane<'_>,
) -> anyhow::Result<()> {
    let wiring = plane.wiring;
    let entry = &wiring[0];
    let entry_sidecar = world
        .sidecars
        .get(&entry.name)
        .ok_or_else(|| anyhow!("the entry's sidecar is not running"))?;
    let step_cancel = cancel.child_token();
    let ctx = StepCtx {
        scenario,
        mocks: &world.mocks,
        dir,
        progress: opts.progress,
        cancel: step_cancel.clone(),
    };
    let deaths = || {
        let mut d: Vec<watch::Death<'_>> = world
            .sidecars
            .iter()
            .map(|(name, e)| watch::envoy(name.as_str(), e))
            .collect();
        d.extend(world.services.values().filter_map(|r| match r {
            Running::Process(p) => Some(watch::service(p)),
            Running::Mock { .. } => None,
        }));
        d
    };
    if scenario.baseline {
        let spec = StepSpec::baseline(vec![entry.app]);
        let (step, err) = watch::watched(step::run(&ctx, spec, None), deaths(), &step_cancel).await;
        result.steps.push(step);
        if let Some(e) = err {
            return Err(e);
        }
        if cancel.is_cancelled() {
            return Ok(());
        }
    }
    // The step's own counters for `envoy_stats` (what gates on `envoy.*` read); the hop
    // figures are differences between snapshots, so they do not depend on this.
    for (name, e) in &world.sidecars {
        hops::reset(e.admin())
            .await
            .with_context(|| format!("resetting the counters of `{name}`'s sidecar"))?;
    }
    for r in world.services.values() {
        if let Running::Mock { stats, .. } = r {
            stats.reset();
        }
    }
    let configs = node_configs(scenario, wiring);
    let mut timeline = Timeline::for_nodes(scenario, plane.control, plane.live, configs);
    let origin = timeline.origin();
    let targets = targets(scenario, world, plane.image);
    let spec = StepSpec::envoy(entry.inbound, entry_sidecar);
    let run = watch::watched(
        step::run(&ctx, spec, Some(&mut timeline)),
        deaths(),
        &step_cancel,
    );
    let ((mut step, err), start) = hops::measured(run, origin, scenario.load.warmup, |m| {
        mark(world, &targets, m)
    })
    .await;
    let usage = usage(&targets, start.as_ref());
    let end = mark(world, &targets, Moment::AfterLoad).await;
    step.envoy_stats = end
        .sidecars
        .get(&entry.name)
        .map(|s| s.counters.clone())
        .unwrap_or_default();
    let wall = start.as_ref().map_or(Duration::ZERO, |s| end.at - s.at);
    let window = Window {
        start: start.as_ref(),
        end: &end,
        seconds: hops::window_seconds(step.load.duration_s, wall),
        usage: &usage,
    };
    result.graph = Some(graph(scenario, wiring, &window, &step));
    result.events.extend(timeline.into_records());
    result.steps.push(step);
    err.map_or(Ok(()), Err)
}

/// Every sidecar's config from the live state, for the timeline.
fn node_configs<'a>(scenario: &'a Scenario, wiring: &'a [Wiring]) -> NodeConfigs<'a> {
    Box::new(move |live: &Live| {
        wiring
            .iter()
            .map(|w| (node_id(&w.name), sidecar_config(scenario, live, w, wiring)))
            .collect()
    })
}

fn node_id(service: &str) -> String {
    format!("gauntlet-{service}")
}

/// Picks every port: per service its sidecar's inbound, its own (a `command:` service's
/// `port:` if set), and an outbound listener per callee.
fn wire(scenario: &Scenario) -> anyhow::Result<Vec<Wiring>> {
    let free = || -> anyhow::Result<SocketAddr> {
        super::ports::free_loopback_port().context("choosing a loopback port")
    };
    let upstreams: Vec<String> = scenario.upstreams.iter().map(|u| u.name.clone()).collect();
    let mut out = Vec::new();
    for (i, s) in scenario.services.iter().enumerate() {
        let fixed = match &s.kind {
            ServiceKind::Command(c) => c.port,
            ServiceKind::Mock(_) => None,
        };
        let inbound = match (i, scenario.envoy.listen_port) {
            (0, Some(p)) => SocketAddr::from(([127, 0, 0, 1], p)),
            _ => free()?,
        };
        let app = match fixed {
            Some(p) => SocketAddr::from(([127, 0, 0, 1], p)),
            None => free()?,
        };
        let mut outbound = BTreeMap::new();
        for c in s.callees(&scenario.services, &upstreams) {
            outbound.insert(c, free()?);
        }
        out.push(Wiring {
            name: s.name.clone(),
            inbound,
            app,
            outbound,
        });
    }
    Ok(out)
}

/// One sidecar's config: the inbound listener and an outbound listener per callee.
fn sidecar_config(scenario: &Scenario, live: &Live, w: &Wiring, all: &[Wiring]) -> EnvoyConfig {
    let mut listeners = vec![ListenerSpec {
        routes: vec![RouteSpec::prefix("inbound", "/", LOCAL_CLUSTER)],
        ..ListenerSpec::new(INBOUND, w.inbound)
    }];
    let mut clusters = vec![ClusterSpec::new(LOCAL_CLUSTER, vec![w.app])];
    for (callee, addr) in &w.outbound {
        listeners.push(ListenerSpec {
            routes: routes_for(callee, &scenario.routes, &live.routes),
            ..ListenerSpec::new(format!("out_{callee}"), *addr)
        });
        let cluster = match scenario.upstream(callee) {
            Some(u) => upstream_cluster(u, live),
            None => {
                let target = all.iter().find(|o| &o.name == callee);
                ClusterSpec::new(
                    callee.clone(),
                    target.map(|o| vec![o.inbound]).unwrap_or_default(),
                )
            }
        };
        clusters.push(cluster);
    }
    // A route the timeline sent elsewhere, or one that mirrors, needs those upstreams'
    // clusters in this sidecar too.
    let routes = listeners.iter().flat_map(|l| &l.routes);
    let named: Vec<&str> = routes
        .flat_map(|r| {
            let targets = match &r.target {
                TargetSpec::Cluster(c) => vec![c.as_str()],
                TargetSpec::Weighted(w) => w.iter().map(|(c, _)| c.as_str()).collect(),
            };
            targets
                .into_iter()
                .chain(r.policy.mirrors.iter().map(|m| m.cluster.as_str()))
        })
        .collect();
    for name in named {
        if clusters.iter().all(|c| c.name != name) {
            if let Some(u) = scenario.upstream(name) {
                clusters.push(upstream_cluster(u, live));
            }
        }
    }
    EnvoyConfig {
        listeners,
        clusters,
    }
}

/// Starts a service: a built-in mock in-process, or a program with its variables set.
async fn start_service(node: &ServiceNode, w: &Wiring, dir: &RunDir) -> anyhow::Result<Running> {
    match &node.kind {
        ServiceKind::Mock(m) => {
            let calls = m
                .calls
                .iter()
                .map(|c| Call {
                    name: c.target.clone(),
                    url: format!("http://{}{}", w.outbound[&c.target], c.path),
                })
                .collect();
            let mut config = FanoutConfig::new(node.name.clone(), calls);
            config.mode = m.mode;
            config.latency = m.latency.clone();
            config.failure_status = m.failure_status;
            let listener = tokio::net::TcpListener::bind(w.app)
                .await
                .with_context(|| format!("binding mock service `{}`", node.name))?;
            let stop = CancellationToken::new();
            let token = stop.clone();
            let (stats, task) = serve_fanout(listener, config, async move {
                token.cancelled().await;
            })
            .with_context(|| format!("starting mock service `{}`", node.name))?;
            Ok(Running::Mock { stats, stop, task })
        }
        ServiceKind::Command(spec) => {
            let mut vars = BTreeMap::from([(PORT_VAR.to_string(), w.app.port().to_string())]);
            for (callee, addr) in &w.outbound {
                vars.insert(
                    gauntlet_mocks::url_env_var(callee),
                    format!("http://{addr}"),
                );
            }
            let launch = ServiceLaunch::from_spec(spec, &node.name, w.app, &vars, dir.path())?;
            Ok(Running::Process(service::start(&launch).await?))
        }
    }
}

/// Entry-side first: sidecars (no new calls), then services, then xDS and mocks.
async fn teardown(world: World, result: &mut RunResult) {
    for (name, envoy) in world.sidecars {
        if let Err(e) = envoy.stop(Duration::from_secs(3)).await {
            tracing::warn!("stopping `{name}`'s sidecar: {e}");
        }
    }
    for (_, running) in world.services {
        match running {
            Running::Mock { stop, task, .. } => {
                stop.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
            }
            Running::Process(p) => {
                p.stop(Duration::from_secs(3)).await;
            }
        }
    }
    stop_rest(world.xds, world.mocks, result).await;
}

#[cfg(test)]
mod tests;
