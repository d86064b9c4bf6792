//! The single-service phase: the service under test between two sidecars.
//!
//! ```text
//! load ─► ingress Envoy ─► service ─► egress Envoy ─► mocks (upstreams)
//!        (gauntlet-ingress)          (gauntlet-egress, one listener per dependency)
//! ```
//!
//! Order: Envoy binary (or image) → mocks (in process, or containers with `mocks:`) → xDS
//! server (one, both nodes) → egress Envoy → the service (which learns `<DEP>_URL` = its
//! egress listener, and `PORT`) → ingress Envoy → baseline
//! (load → service directly; its calls still go through the egress sidecar, so the
//! difference between the steps is what the ingress hop costs) → the step through the
//! ingress listener, with the timeline applied to the egress node → per-hop figures →
//! teardown (Envoys, service, xDS, mocks), which always runs.
//!
//! The step's `envoy_stats` and series are the egress sidecar's, where the policies are, so
//! gates on `cluster.<upstream>.*` read as in the benchmark phase. The service exiting or
//! the ingress Envoy exiting mid-step ends the run with an error, like an Envoy crash.
//!
//! With `envoy.image` each sidecar is its own container of that image with `envoy.cpus` and
//! `envoy.memory` as its limits (Istio's `proxyCPULimit` per pod), and the graph's sidecar
//! and service figures come from each container's cgroup.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use gauntlet_reports::{EnvoyInfo, RunResult};
use tokio_util::sync::CancellationToken;

use super::compare_phases;
use super::config::{self, Live};
use super::egress::{self, EGRESS_NODE, INGRESS_NODE};
use super::hops::{self, Moment};
use super::node_usage::Target;
use super::rundir::RunDir;
use super::single_hops;
use super::step::{self, StepCtx, StepSpec};
use super::timeline::Timeline;
use super::watch;
use super::world::{
    setup_cancelled, start_fleet, start_xds, stop_rest, Sidecars, XdsServer, ACK_DEADLINE,
};
use super::RunOptions;
use crate::envoy::{self, Envoy, LaunchConfig};
use crate::scenario::{Scenario, ServiceSpec, PORT_VAR};
use crate::service::{self, RunningService, ServiceLaunch};
use crate::xds;

/// Everything started for the run, so teardown stops exactly what exists.
#[derive(Default)]
struct World {
    mocks: super::world::MockFleet,
    xds: Option<XdsServer>,
    ingress: Option<Envoy>,
    egress: Option<Envoy>,
    service: Option<RunningService>,
}

/// Builds the world, runs the steps into `result`, and tears everything down.
pub(super) async fn drive(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &RunDir,
    result: &mut RunResult,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let spec = scenario
        .service
        .as_ref()
        .ok_or_else(|| anyhow!("phase single-service needs `service:`"))?;
    let mut world = World::default();
    let outcome = tokio::select! {
        r = steps(scenario, spec, opts, dir, result, &mut world, &cancel) => r,
        () = setup_cancelled(&cancel) => Err(anyhow!("interrupted during setup")),
    };
    teardown(world, result).await;
    outcome
}

/// The addresses of everything the phase wires together.
struct Wiring {
    ingress: SocketAddr,
    service: SocketAddr,
    egress: BTreeMap<String, SocketAddr>,
}

async fn steps(
    scenario: &Scenario,
    spec: &ServiceSpec,
    opts: &RunOptions,
    dir: &RunDir,
    result: &mut RunResult,
    world: &mut World,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let stored = compare_phases::for_scenario(scenario)?;
    let sidecars = Sidecars::choose(scenario, opts).await?;
    let endpoints = start_fleet(scenario, Some(dir.path()), &mut world.mocks).await?;
    let (control, xds_addr) = start_xds(&mut world.xds).await?;
    let wiring = wire(scenario, spec)?;
    let mut live = Live::new(scenario, endpoints);
    live.egress = wiring.egress.clone();
    let egress_cfg = config::envoy_config(scenario, wiring.ingress, &live);
    let ingress_cfg = egress::ingress_config(&spec.name, wiring.ingress, wiring.service);
    let launch = |role: &'static str, node: &'static str| EnvoyLaunch {
        role,
        node,
        sidecars: &sidecars,
        xds: xds_addr,
        scenario,
        dir,
    };
    let v = control
        .set_config(EGRESS_NODE, &egress_cfg)
        .context("building the egress sidecar's configuration")?;
    world.egress = Some(launch_envoy(&launch("egress", EGRESS_NODE)).await?);
    control
        .wait_applied(EGRESS_NODE, v, ACK_DEADLINE)
        .await
        .context("the egress Envoy did not accept its configuration")?;
    world.service = Some(start_service(spec, &wiring, dir).await?);
    let v = control
        .set_config(INGRESS_NODE, &ingress_cfg)
        .context("building the ingress sidecar's configuration")?;
    world.ingress = Some(launch_envoy(&launch("ingress", INGRESS_NODE)).await?);
    control
        .wait_applied(INGRESS_NODE, v, ACK_DEADLINE)
        .await
        .context("the ingress Envoy did not accept its configuration")?;
    result.envoy = Some(envoy_info(world.egress.as_ref(), &sidecars, scenario).await?);

    let step_cancel = cancel.child_token();
    let ctx = StepCtx {
        scenario,
        mocks: &world.mocks,
        dir,
        progress: opts.progress,
        cancel: step_cancel.clone(),
    };
    let (Some(ingress), Some(egress_envoy), Some(service)) =
        (&world.ingress, &world.egress, &world.service)
    else {
        return Err(anyhow!("a sidecar or the service is not running"));
    };
    if scenario.baseline {
        let spec = StepSpec::baseline(vec![wiring.service]);
        let (step, err) = watch::watched(
            step::run(&ctx, spec, None),
            deaths(service, ingress),
            &step_cancel,
        )
        .await;
        result.steps.push(step);
        if let Some(e) = err {
            return Err(e);
        }
        if cancel.is_cancelled() {
            return Ok(());
        }
    }
    // The baseline's calls went through the egress sidecar too: its counters start afresh
    // so that gates on `envoy.*` read this step alone, as in the benchmark phase.
    hops::reset(egress_envoy.admin())
        .await
        .context("resetting the egress Envoy's counters")?;
    let mut timeline = Timeline::new(scenario, control.clone(), EGRESS_NODE, wiring.ingress, live);
    let origin = timeline.origin();
    let image = sidecars.image.as_ref();
    let sources = single_hops::Sources {
        ingress: ingress.admin(),
        egress: egress_envoy.admin(),
        mocks: &world.mocks,
        targets: [
            ("ingress", Target::sidecar(ingress, image)),
            ("service", Target::service(service, spec)),
            ("egress", Target::sidecar(egress_envoy, image)),
        ],
    };
    let spec_step = StepSpec::envoy(wiring.ingress, egress_envoy);
    let run = step::run(&ctx, spec_step, Some(&mut timeline));
    let run = watch::watched(run, deaths(service, ingress), &step_cancel);
    let warmup = scenario.load.warmup;
    let ((mut step, err), start) =
        hops::measured(run, origin, warmup, |m| single_hops::mark(&sources, m)).await;
    let usage = single_hops::usage(&sources, start.as_ref());
    let end = single_hops::mark(&sources, Moment::AfterLoad).await;
    step.envoy_stats = single_hops::egress_counters(&end);
    let window = single_hops::Window {
        start: start.as_ref(),
        end: &end,
        usage,
    };
    result.graph = Some(single_hops::graph(scenario, spec, &window, &step));
    compare_phases::attach_to(result, stored.as_ref());
    result.events.extend(timeline.into_records());
    result.steps.push(step);
    err.map_or(Ok(()), Err)
}

/// Picks the ports: the ingress listener (`envoy.listen_port` or free), the service's
/// (`service.port` or free), one egress listener per upstream.
fn wire(scenario: &Scenario, spec: &ServiceSpec) -> anyhow::Result<Wiring> {
    let port = |fixed: Option<u16>, what: &str| -> anyhow::Result<SocketAddr> {
        match fixed {
            Some(p) => Ok(SocketAddr::from(([127, 0, 0, 1], p))),
            None => super::ports::free_loopback_port()
                .with_context(|| format!("choosing a port for {what}")),
        }
    };
    let mut egress = BTreeMap::new();
    for u in &scenario.upstreams {
        egress.insert(
            u.name.clone(),
            port(None, &format!("the egress listener to `{}`", u.name))?,
        );
    }
    Ok(Wiring {
        ingress: port(scenario.envoy.listen_port, "the ingress listener")?,
        service: port(spec.port, "the service")?,
        egress,
    })
}

/// Starts the service (a process or a container) with `PORT` and `<DEP>_URL` set and
/// `${…}` expanded.
async fn start_service(
    spec: &ServiceSpec,
    wiring: &Wiring,
    dir: &RunDir,
) -> anyhow::Result<RunningService> {
    let mut vars = BTreeMap::from([(PORT_VAR.to_string(), wiring.service.port().to_string())]);
    for (dep, addr) in &wiring.egress {
        vars.insert(gauntlet_mocks::url_env_var(dep), format!("http://{addr}"));
    }
    let launch = ServiceLaunch::from_spec(spec, &spec.name, wiring.service, &vars, dir.path())
        .context("expanding the service's command, args or env")?;
    Ok(service::start(&launch).await?)
}

/// What stops a step of this phase besides the egress Envoy: the service or the ingress.
fn deaths<'a>(service: &'a RunningService, ingress: &'a Envoy) -> Vec<watch::Death<'a>> {
    vec![watch::service(service), watch::envoy("ingress", ingress)]
}

/// What the result says about Envoy, as `sidecar` reports it (every sidecar runs the same
/// binary or image, with the same limits).
pub(super) async fn envoy_info(
    sidecar: Option<&Envoy>,
    sidecars: &Sidecars,
    scenario: &Scenario,
) -> anyhow::Result<EnvoyInfo> {
    let sidecar = sidecar.ok_or_else(|| anyhow!("the sidecar is not running"))?;
    let info = sidecar
        .admin()
        .server_info()
        .await
        .context("reading Envoy's /server_info")?;
    Ok(EnvoyInfo {
        version: info.version,
        build: info.full_version,
        binary: sidecars.binary().display().to_string(),
        source: match &sidecars.resolved {
            Some(r) => serde_json::to_value(r.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            None => "container".to_string(),
        },
        concurrency: scenario.envoy.concurrency,
        container: sidecars.image.as_ref().map(super::session::container_info),
    })
}

/// One sidecar to start: its role (its run sub-directory), node id and where things are.
pub(super) struct EnvoyLaunch<'a> {
    pub role: &'a str,
    pub node: &'a str,
    /// The binary, or the image every sidecar runs in (each its own container).
    pub sidecars: &'a Sidecars,
    pub xds: SocketAddr,
    pub scenario: &'a Scenario,
    pub dir: &'a RunDir,
}

/// Writes the sidecar's bootstrap into `<run dir>/<role>/` and starts it there (its log is
/// `<role>/envoy.log`): a process, or a container of the sidecars' image with their limits.
pub(super) async fn launch_envoy(l: &EnvoyLaunch<'_>) -> anyhow::Result<Envoy> {
    let sub = l.dir.path().join(l.role);
    std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
    let mut spec = xds::BootstrapSpec::new(l.node, l.xds);
    // The hop figures snapshot the histograms: each read must see them merged.
    spec.stats_flush_on_admin = true;
    let path = sub.join("bootstrap.pb");
    let bytes = xds::bootstrap_bytes(&spec).context("building a bootstrap")?;
    std::fs::write(&path, bytes).context("writing a bootstrap")?;
    if let Ok(text) = xds::bootstrap_text(&spec) {
        let _ = std::fs::write(sub.join("bootstrap.txt"), text);
    }
    let mut launch = LaunchConfig::new(l.sidecars.binary(), path, &sub);
    launch.concurrency = l.scenario.envoy.concurrency;
    launch.log_level = l.scenario.envoy.log_level.clone();
    envoy::launcher::start(launch, l.sidecars.image.as_ref())
        .await
        .with_context(|| format!("starting the {} Envoy", l.role))
}

/// Stops the ingress first (no new load reaches the service), then the service, then the
/// egress, the xDS server and the mocks.
async fn teardown(world: World, result: &mut RunResult) {
    if let Some(envoy) = world.ingress {
        if let Err(e) = envoy.stop(Duration::from_secs(3)).await {
            tracing::warn!("stopping the ingress Envoy: {e}");
        }
    }
    if let Some(service) = world.service {
        service.stop(Duration::from_secs(3)).await;
    }
    if let Some(envoy) = world.egress {
        if let Err(e) = envoy.stop(Duration::from_secs(3)).await {
            tracing::warn!("stopping the egress Envoy: {e}");
        }
    }
    stop_rest(world.xds, world.mocks, result).await;
}
