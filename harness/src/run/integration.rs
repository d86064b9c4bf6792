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

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use gauntlet_mocks::{serve_fanout, Call, FanoutConfig, FanoutStats, UpstreamHandle};
use gauntlet_reports::graph::{GraphEdge, GraphNode, ServiceGraph};
use gauntlet_reports::{RunResult, StepResult};
use tokio_util::sync::CancellationToken;

use super::compare_phases;
use super::config::Live;
use super::egress::routes_for;
use super::hops::{self, Counters, HopStats, ProcClock};
use super::rundir::RunDir;
use super::single_service::{self as single, EnvoyLaunch};
use super::step::{self, StepCtx, StepSpec};
use super::timeline::Timeline;
use super::watch;
use super::world::{
    resolve_envoy, setup_cancelled, start_mocks, start_xds, stop_rest, XdsServer, ACK_DEADLINE,
};
use super::RunOptions;
use crate::envoy::Envoy;
use crate::scenario::{Scenario, ServiceKind, ServiceNode, UpstreamProtocol, PORT_VAR};
use crate::service::{self, ServiceLaunch, ServiceProcess};
use crate::xds::model::{ClusterSpec, EnvoyConfig, ListenerSpec, RouteSpec};
use crate::xds::XdsControl;

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
    Process(ServiceProcess),
}

#[derive(Default)]
struct World {
    mocks: BTreeMap<String, UpstreamHandle>,
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
    let resolved = resolve_envoy(scenario, opts).await?;
    let endpoints = start_mocks(scenario, &mut world.mocks).await?;
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
            binary: &resolved.path,
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
    result.envoy = Some(single::envoy_info(entry_sidecar, &resolved, scenario).await?);
    let measured = measure(scenario, opts, dir, result, world, cancel, &wiring, control).await;
    compare_phases::attach_to(result, stored.as_ref());
    measured
}

/// The baseline and the step through the entry's sidecar, then the graph.
#[allow(clippy::too_many_arguments)]
async fn measure(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &RunDir,
    result: &mut RunResult,
    world: &World,
    cancel: &CancellationToken,
    wiring: &[Wiring],
    control: XdsControl,
) -> anyhow::Result<()> {
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
    let mut before = BTreeMap::new();
    for (name, e) in &world.sidecars {
        hops::reset(e.admin())
            .await
            .with_context(|| format!("resetting the counters of `{name}`'s sidecar"))?;
        before.insert(name.clone(), hops::counters(e.admin()).await);
    }
    let clocks: BTreeMap<&String, ProcClock> = world
        .services
        .iter()
        .filter_map(|(n, r)| match r {
            Running::Process(p) => Some((n, ProcClock::start(p.pid()))),
            Running::Mock { stats, .. } => {
                stats.reset();
                None
            }
        })
        .collect();
    let started = Instant::now();
    let node = node_id(&entry.name);
    let live = Live::new(scenario, BTreeMap::new());
    let mut timeline = Timeline::new(scenario, control, leak(node), entry.inbound, live);
    let spec = StepSpec::envoy(entry.inbound, entry_sidecar);
    let run = step::run(&ctx, spec, Some(&mut timeline));
    let (mut step, err) = watch::watched(run, deaths(), &step_cancel).await;
    let seconds = started.elapsed().as_secs_f64();
    let mut after = BTreeMap::new();
    let mut latency = BTreeMap::new();
    for (name, e) in &world.sidecars {
        after.insert(name.clone(), hops::counters(e.admin()).await);
        latency.insert(
            name.clone(),
            hops::quantiles(e.admin(), "downstream_rq_time").await,
        );
    }
    step.envoy_stats = after.get(&entry.name).cloned().unwrap_or_default();
    let figures = Figures {
        before: &before,
        after: &after,
        latency: &latency,
        seconds,
        clocks: &clocks,
    };
    result.graph = Some(graph(scenario, wiring, world, &figures, &step));
    result.events.extend(timeline.into_records());
    result.steps.push(step);
    err.map_or(Ok(()), Err)
}

/// The timeline wants a `'static` node id; a run has one entry, so one small leak per run.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn node_id(service: &str) -> String {
    format!("gauntlet-{service}")
}

/// Picks every port: per service its sidecar's inbound, its own (a `command:` service's
/// `port:` if set), and an outbound listener per callee.
fn wire(scenario: &Scenario) -> anyhow::Result<Vec<Wiring>> {
    let free = || -> anyhow::Result<SocketAddr> {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("choosing a loopback port")
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
            routes: routes_for(callee, &live.routes),
            ..ListenerSpec::new(format!("out_{callee}"), *addr)
        });
        let cluster = match scenario.upstream(callee) {
            Some(u) => ClusterSpec {
                name: u.name.clone(),
                endpoints: live.endpoints.get(&u.name).cloned().unwrap_or_default(),
                http2: u.protocol != UpstreamProtocol::Http1,
                connect_timeout: u.connect_timeout,
                policy: live.clusters.get(&u.name).cloned().unwrap_or_default(),
            },
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
            let expand = |t: &String| service::expand(t, &vars);
            let argv = spec
                .command
                .iter()
                .map(expand)
                .collect::<Result<Vec<_>, _>>()?;
            let mut env = vars.clone();
            for (k, v) in &spec.env {
                env.insert(k.clone(), expand(v)?);
            }
            let launch = ServiceLaunch {
                name: node.name.clone(),
                argv,
                env,
                cwd: spec.cwd.clone(),
                addr: w.app,
                health: spec.health.clone(),
                startup_timeout: spec.startup_timeout,
                log_path: dir.file(&format!("service-{}.log", node.name)),
            };
            Ok(Running::Process(service::start(&launch).await?))
        }
    }
}

/// What the graph is computed from.
struct Figures<'a> {
    before: &'a BTreeMap<String, Counters>,
    after: &'a BTreeMap<String, Counters>,
    latency: &'a BTreeMap<String, hops::Quantiles>,
    seconds: f64,
    clocks: &'a BTreeMap<&'a String, ProcClock>,
}

/// The callee's own count: a mock upstream's, or a built-in mock service's requests.
fn counted(world: &World, step: &StepResult, name: &str) -> Option<u64> {
    match world.services.get(name) {
        Some(Running::Mock { stats, .. }) => Some(stats.snapshot().requests),
        Some(Running::Process(_)) => None,
        None => step.mocks.get(name).map(|m| m.requests),
    }
}

fn graph(
    scenario: &Scenario,
    wiring: &[Wiring],
    world: &World,
    f: &Figures<'_>,
    step: &StepResult,
) -> ServiceGraph {
    let empty = Counters::new();
    let no_latency = BTreeMap::new();
    let edge = |caller: &str, hop: HopStats<'_>, callee: Option<u64>| -> GraphEdge {
        hops::edge(
            &hop,
            f.before.get(caller).unwrap_or(&empty),
            f.after.get(caller).unwrap_or(&empty),
            f.latency.get(caller).unwrap_or(&no_latency),
            f.seconds,
            callee,
        )
    };
    let entry = &wiring[0].name;
    let via_entry = format!("sidecar:{entry}");
    let inbound = HopStats {
        from: "load",
        to: entry,
        via: &via_entry,
        prefix: INBOUND,
        cluster: LOCAL_CLUSTER,
    };
    let mut edges = vec![edge(entry, inbound, counted(world, step, entry))];
    for w in wiring {
        let via = format!("sidecar:{}", w.name);
        for callee in w.outbound.keys() {
            let prefix = format!("out_{callee}");
            let hop = HopStats {
                from: &w.name,
                to: callee,
                via: &via,
                prefix: &prefix,
                cluster: callee,
            };
            edges.push(edge(&w.name, hop, counted(world, step, callee)));
        }
    }
    let mut nodes = vec![GraphNode {
        name: "load".into(),
        kind: "load".into(),
        counted: Some(step.load.requests),
        ..GraphNode::default()
    }];
    for s in &scenario.services {
        let (cpu, rss) = f
            .clocks
            .get(&s.name)
            .map_or((None, None), ProcClock::finish);
        nodes.push(GraphNode {
            name: s.name.clone(),
            kind: match s.kind {
                ServiceKind::Mock(_) => "mock-service".into(),
                ServiceKind::Command(_) => "service".into(),
            },
            counted: counted(world, step, &s.name),
            cpu_cores: cpu,
            rss_mb: rss,
        });
    }
    for u in &scenario.upstreams {
        nodes.push(GraphNode {
            name: u.name.clone(),
            kind: "mock".into(),
            counted: step.mocks.get(&u.name).map(|m| m.requests),
            ..GraphNode::default()
        });
    }
    ServiceGraph {
        phase: "integration".into(),
        step: step.name.clone(),
        seconds: f.seconds,
        nodes,
        edges,
        compared: None,
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
