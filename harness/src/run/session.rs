//! One run's live world (mocks, xDS server, Envoy) and the order it is built and torn down
//! in. Teardown always runs, so no error path leaves a child process or a server behind.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use gauntlet_reports::{EnvoyInfo, RunResult};
use tokio_util::sync::CancellationToken;

use super::config;
use super::rundir::RunDir;
use super::step::{self, StepCtx, StepSpec};
use super::sweep;
use super::timeline::Timeline;
use super::world::{
    resolve_envoy, setup_cancelled, start_fleet, start_xds, stop_rest, MockFleet, XdsServer,
    ACK_DEADLINE,
};
use super::RunOptions;
use crate::envoy::{self, Envoy, LaunchConfig};
use crate::scenario::Scenario;
use crate::xds;

/// The node id Envoy presents to the xDS server in the benchmark phase.
pub const NODE_ID: &str = "gauntlet-benchmark";

/// Everything started for the run, so teardown can stop exactly what exists.
#[derive(Default)]
struct World {
    mocks: MockFleet,
    xds: Option<XdsServer>,
    envoy: Option<Envoy>,
}

/// Builds the world, runs the steps into `result`, and tears everything down.
pub(super) async fn drive(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &RunDir,
    result: &mut RunResult,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    // The other phases build a world of their own (sidecars, services).
    match scenario.phase {
        crate::scenario::Phase::SingleService => {
            return super::single_service::drive(scenario, opts, dir, result, cancel).await
        }
        crate::scenario::Phase::Integration => {
            return super::integration::drive(scenario, opts, dir, result, cancel).await
        }
        crate::scenario::Phase::Benchmark => {}
    }
    let mut world = World::default();
    let outcome = tokio::select! {
        r = steps(scenario, opts, dir, result, &mut world, &cancel) => r,
        // Cancellation during setup (an install, Envoy start-up) stops at once; during the
        // load steps the steps themselves stop gracefully and return what they measured.
        _ = setup_cancelled(&cancel) => Err(anyhow!("interrupted during setup")),
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
    // An `envoy.image` runs in a container (the image holds Envoy) unless --envoy-bin names
    // a binary, which wins over the scenario.
    let image = chosen_image(scenario, opts);
    let image = image.as_ref().filter(|_| opts.envoy_bin.is_none());
    let resolved = match image {
        Some(_) => None,
        None => Some(resolve_envoy(scenario, opts).await?),
    };
    // In process, or as containers logging into the run directory (`mocks:`).
    let endpoints = start_fleet(scenario, Some(dir.path()), &mut world.mocks).await?;
    let (control, xds_addr) = start_xds(&mut world.xds).await?;
    let listener = match scenario.envoy.listen_port {
        Some(port) => SocketAddr::from(([127, 0, 0, 1], port)),
        None => {
            super::ports::free_loopback_port().context("choosing a port for Envoy's listener")?
        }
    };
    let live = config::Live::new(scenario, endpoints.clone());
    let cfg = config::envoy_config(scenario, listener, &live);
    let version = control
        .set_config(NODE_ID, &cfg)
        .context("building Envoy's configuration")?;
    let spec = xds::BootstrapSpec::new(NODE_ID, xds_addr);
    let bootstrap_path = dir.file("bootstrap.pb");
    let bytes = xds::bootstrap_bytes(&spec).context("building Envoy's bootstrap")?;
    std::fs::write(&bootstrap_path, bytes).context("writing Envoy's bootstrap")?;
    if let Ok(text) = xds::bootstrap_text(&spec) {
        // A readable copy for people; Envoy reads the .pb.
        let _ = std::fs::write(dir.file("bootstrap.txt"), text);
    }
    let binary = resolved
        .as_ref()
        .map_or(envoy::image::ENVOY_PATH.into(), |r| r.path.clone());
    let mut launch = LaunchConfig::new(&binary, bootstrap_path, dir.path());
    launch.concurrency = scenario.envoy.concurrency;
    launch.log_level = scenario.envoy.log_level.clone();
    let process = envoy::start(launch, image)
        .await
        .context("starting Envoy")?;
    let admin = process.admin().clone();
    world.envoy = Some(process);
    control
        .wait_applied(NODE_ID, version, ACK_DEADLINE)
        .await
        .context("Envoy did not accept Gauntlet's initial configuration")?;
    let info = admin
        .server_info()
        .await
        .context("reading Envoy's /server_info")?;
    result.envoy = Some(EnvoyInfo {
        version: info.version,
        build: info.full_version,
        binary: binary.display().to_string(),
        source: match &resolved {
            Some(r) => serde_json::to_value(r.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            None => "container".to_string(),
        },
        concurrency: scenario.envoy.concurrency,
        container: image.map(container_info),
    });

    let route = scenario
        .route_for_load()
        .ok_or_else(|| anyhow!("no route matches the load's path"))?;
    let ctx = StepCtx {
        scenario,
        mocks: &world.mocks,
        dir,
        progress: opts.progress,
        cancel: cancel.clone(),
    };
    if !scenario.sizing.is_empty() {
        // Sweep points and find_max probes run in this same session (`run::sweep`).
        let envoy = world
            .envoy
            .as_ref()
            .ok_or_else(|| anyhow!("Envoy is not running"))?;
        let run = sweep::SizingRun {
            baseline: scenario
                .baseline
                .then(|| StepSpec::baseline(config::baseline_targets(route, &endpoints))),
            envoy: StepSpec::envoy(listener, envoy),
            admin: &admin,
        };
        return sweep::run(&ctx, run, result).await;
    }
    if scenario.baseline {
        let spec = StepSpec::baseline(config::baseline_targets(route, &endpoints));
        let (step, err) = step::run(&ctx, spec, None).await;
        result.steps.push(step);
        if let Some(e) = err {
            return Err(e);
        }
        if cancel.is_cancelled() {
            return Ok(());
        }
    }
    let mut timeline = Timeline::new(scenario, control.clone(), NODE_ID, listener, live);
    let envoy = world
        .envoy
        .as_ref()
        .ok_or_else(|| anyhow!("Envoy is not running"))?;
    let spec = StepSpec::envoy(listener, envoy);
    let (mut step, err) = step::run(&ctx, spec, Some(&mut timeline)).await;
    // Envoy's own counters at the end of the step, unless it is gone or stalled.
    let admin = admin.with_timeout(Duration::from_secs(2));
    if let Ok(stats) = admin.stats().await {
        step.envoy_stats = stats;
    }
    result.events.extend(timeline.into_records());
    result.steps.push(step);
    err.map_or(Ok(()), Err)
}

/// The image Envoy runs in: `opts.envoy_image` (with the scenario's limits) or the
/// scenario's `envoy.image`; `None`: a process.
pub(super) fn chosen_image(
    scenario: &Scenario,
    opts: &RunOptions,
) -> Option<crate::scenario::EnvoyImage> {
    let limits = scenario.envoy.image.clone();
    match (&opts.envoy_image, limits) {
        (Some(image), Some(l)) => Some(crate::scenario::EnvoyImage {
            image: image.clone(),
            ..l
        }),
        (Some(image), None) => Some(crate::scenario::EnvoyImage {
            image: image.clone(),
            cpus: None,
            memory: None,
        }),
        (None, l) => l,
    }
}

/// What the result records about Envoy's container: the image and its limits.
pub(super) fn container_info(
    image: &crate::scenario::EnvoyImage,
) -> gauntlet_reports::ContainerLimits {
    gauntlet_reports::ContainerLimits {
        image: image.image.clone(),
        cpus: image.cpus,
        memory_mb: image.memory.map(|b| b as f64 / (1024.0 * 1024.0)),
    }
}

async fn teardown(world: World, result: &mut RunResult) {
    if let Some(envoy) = world.envoy {
        if let Err(e) = envoy.stop(Duration::from_secs(3)).await {
            tracing::warn!("stopping Envoy: {e}");
        }
    }
    stop_rest(world.xds, world.mocks, result).await;
}
