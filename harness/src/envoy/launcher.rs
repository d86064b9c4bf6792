//! The two ways to run Envoy behind one handle: a child process ([`super::process`], the
//! default) or a container ([`super::container`], when the scenario names an `image:`).
//! The orchestrator takes an [`Envoy`] and does not care which.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::container::{self, EnvoyContainer};
use super::{process, AdminClient, EnvoyError, EnvoyProcess, ExitInfo, LaunchConfig};
use crate::container::DockerError;
use crate::scenario::EnvoyImage;

/// A running Envoy, however it was started.
#[derive(Debug)]
pub enum Envoy {
    Process(EnvoyProcess),
    /// Boxed: the container handle is several times the size of a process handle.
    Container(Box<EnvoyContainer>),
}

/// Why Envoy could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Process(#[from] EnvoyError),
    #[error(transparent)]
    Container(#[from] DockerError),
}

/// Where the container's figures come from, for the samplers.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    /// The engine's container id.
    pub id: String,
    pub name: String,
    pub image: String,
}

/// Starts Envoy as a process, or in a container of `image` when one is given. `cfg.binary`
/// is not used for a container: the image holds Envoy.
pub async fn start(cfg: LaunchConfig, image: Option<&EnvoyImage>) -> Result<Envoy, LaunchError> {
    Ok(match image {
        Some(image) => Envoy::Container(Box::new(container::launch(&cfg, image).await?)),
        None => Envoy::Process(process::launch(cfg).await?),
    })
}

impl Envoy {
    /// Envoy's pid on this machine (0 when the engine did not say).
    pub fn pid(&self) -> u32 {
        match self {
            Envoy::Process(p) => p.pid(),
            Envoy::Container(c) => c.pid(),
        }
    }

    pub fn admin(&self) -> &AdminClient {
        match self {
            Envoy::Process(p) => p.admin(),
            Envoy::Container(c) => c.admin(),
        }
    }

    pub fn log_path(&self) -> &Path {
        match self {
            Envoy::Process(p) => p.log_path(),
            Envoy::Container(c) => c.log_path(),
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        match self {
            Envoy::Process(p) => p.log_tail(lines),
            Envoy::Container(c) => c.log_tail(lines),
        }
    }

    /// Time from start to `/ready` saying `LIVE`.
    pub fn ready_after(&self) -> Duration {
        match self {
            Envoy::Process(p) => p.ready_after(),
            Envoy::Container(c) => c.ready_after(),
        }
    }

    /// Resolves as soon as Envoy exits; independent of `self`.
    pub fn exited(&self) -> impl Future<Output = ExitInfo> + Send + 'static {
        ExitInfo::reported(match self {
            Envoy::Process(p) => p.exit_watch(),
            Envoy::Container(c) => c.exit_watch(),
        })
    }

    pub fn exit_info(&self) -> Option<ExitInfo> {
        match self {
            Envoy::Process(p) => p.exit_info(),
            Envoy::Container(c) => c.exit_info(),
        }
    }

    /// Sends a signal (through the engine for a container).
    pub fn signal(&self, signal: Signal) {
        match self {
            Envoy::Process(p) => p.signal(signal),
            Envoy::Container(c) => c.signal(signal),
        }
    }

    /// The container, when Envoy runs in one.
    pub fn container(&self) -> Option<ContainerInfo> {
        match self {
            Envoy::Process(_) => None,
            Envoy::Container(c) => Some(ContainerInfo {
                id: c.id().to_string(),
                name: c.name().to_string(),
                image: c.image().to_string(),
            }),
        }
    }

    /// Changes the CPU limit of Envoy's container; an error for a process (validation keeps
    /// `sweep.cpus` to scenarios with an `image`).
    pub async fn set_cpus(&self, cpus: f64) -> Result<(), LaunchError> {
        match self {
            Envoy::Container(c) => Ok(c.set_cpus(cpus).await?),
            Envoy::Process(_) => Err(LaunchError::Container(DockerError::NotFound {
                what: "a container to limit".into(),
                hint: "a CPU limit needs `envoy.image`".into(),
            })),
        }
    }

    /// Stops Envoy in order (SIGTERM, `grace`, SIGKILL); a container is also removed.
    pub async fn stop(self, grace: Duration) -> Result<ExitInfo, LaunchError> {
        Ok(match self {
            Envoy::Process(p) => p.stop(grace).await?,
            Envoy::Container(c) => c.stop(grace).await?,
        })
    }
}
