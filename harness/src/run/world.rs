//! The pieces every phase's world is built from (the Envoy binary, the mock upstreams as a
//! [`MockFleet`], the xDS server) and the way they are stopped, so the benchmark, single-service and
//! integration phases start and tear down the same things the same way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use gauntlet_reports::RunResult;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub(super) use super::mock_fleet::MockFleet;
use super::summary;
use super::RunOptions;
use crate::envoy;
use crate::scenario::{EnvoyImage, Scenario, DEFAULT_ENVOY_VERSION};
use crate::xds::{self, XdsControl};

/// How long Envoy may take to ACK a push before the run fails.
pub(super) const ACK_DEADLINE: Duration = Duration::from_secs(10);

/// The running xDS server: its control handle, how to stop it, and its task.
pub(super) struct XdsServer {
    pub control: XdsControl,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The Envoy binary: `--envoy-bin`, else the scenario's choice.
pub(super) async fn resolve_envoy(
    scenario: &Scenario,
    opts: &RunOptions,
) -> anyhow::Result<envoy::Resolved> {
    let request = match &opts.envoy_bin {
        Some(bin) => envoy::Request::Binary(bin.clone()),
        None => envoy::Request::from(&scenario.envoy.source),
    };
    envoy::install::which(&request, DEFAULT_ENVOY_VERSION)
        .await
        .context("finding an Envoy binary")
}

/// How a phase's sidecars run: in containers of `image` (then no binary is resolved), or
/// as processes of the resolved binary.
pub(super) struct Sidecars {
    pub image: Option<EnvoyImage>,
    pub resolved: Option<envoy::Resolved>,
}

impl Sidecars {
    /// `envoy.image` (or `--envoy-image`) unless `--envoy-bin` names a binary, which wins
    /// over the scenario, as in the benchmark phase; else the binary.
    pub async fn choose(scenario: &Scenario, opts: &RunOptions) -> anyhow::Result<Self> {
        let image =
            super::session::chosen_image(scenario, opts).filter(|_| opts.envoy_bin.is_none());
        let resolved = match image {
            Some(_) => None,
            None => Some(resolve_envoy(scenario, opts).await?),
        };
        Ok(Self { image, resolved })
    }

    /// The binary a process runs, or the image's Envoy.
    pub fn binary(&self) -> PathBuf {
        self.resolved
            .as_ref()
            .map_or(envoy::image::ENVOY_PATH.into(), |r| r.path.clone())
    }
}

/// Starts every mock upstream of the scenario into `mocks`: as containers logging into
/// `run_dir` when the scenario has `mocks:`, else in process. Returns their endpoints.
pub(super) async fn start_fleet(
    scenario: &Scenario,
    run_dir: Option<&Path>,
    mocks: &mut MockFleet,
) -> anyhow::Result<BTreeMap<String, Vec<SocketAddr>>> {
    *mocks = MockFleet::start(scenario, run_dir)
        .await
        .context("starting the mock upstreams")?;
    tracing::info!(mocks = mocks.kind(), "mock upstreams started");
    Ok(mocks.addrs().await)
}

/// Starts the xDS server on a loopback port; `slot` holds it for teardown.
pub(super) async fn start_xds(
    slot: &mut Option<XdsServer>,
) -> anyhow::Result<(XdsControl, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the xDS server")?;
    let addr = listener.local_addr().context("reading the xDS address")?;
    let control = XdsControl::new();
    let (shutdown, rx) = oneshot::channel();
    let server = control.clone();
    let task = tokio::spawn(async move {
        let stop = async {
            let _ = rx.await;
        };
        if let Err(e) = xds::server::run(listener, server, stop).await {
            tracing::error!("xDS server stopped: {e}");
        }
    });
    *slot = Some(XdsServer {
        control: control.clone(),
        shutdown,
        task,
    });
    Ok((control, addr))
}

/// Stops the xDS server (keeping its push log in the result) and the mocks.
pub(super) async fn stop_rest(xds: Option<XdsServer>, mocks: MockFleet, result: &mut RunResult) {
    if let Some(xds) = xds {
        result.xds = summary::xds_log(&xds.control.push_log());
        let _ = xds.shutdown.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), xds.task).await;
    }
    mocks.stop().await;
}

/// Resolves when the run is cancelled and the steps have had time to wind down: during
/// set-up (an install, Envoy start-up) a cancellation stops at once, while the load steps
/// stop gracefully by themselves and return what they measured.
pub(super) async fn setup_cancelled(cancel: &CancellationToken) {
    cancel.cancelled().await;
    tokio::time::sleep(Duration::from_secs(15)).await;
}
