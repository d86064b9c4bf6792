//! [`RunningService`]: one handle for a service however it runs, so the phases start, watch
//! and stop it the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::container::ImageLaunch;
use super::{log_tail, ServiceError, ServiceLaunch};
use crate::container::RunningContainer;
use crate::envoy::supervise::Supervised;
use crate::envoy::ExitInfo;

/// A running service. Dropping it kills the process or removes the container; prefer
/// [`RunningService::stop`].
#[derive(Debug)]
pub struct RunningService {
    name: String,
    addr: SocketAddr,
    log_path: PathBuf,
    ready_after: Duration,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Process(Supervised),
    /// Boxed: the container handle is several times the size of a process handle.
    Container(Box<RunningContainer>),
}

impl RunningService {
    /// Spawns the process; not yet healthy.
    pub(super) async fn process(
        cfg: &ServiceLaunch,
        argv: &[String],
        cwd: &Path,
    ) -> Result<Self, ServiceError> {
        let child = super::process::spawn(cfg, argv, cwd).await?;
        Ok(Self::new(cfg, Inner::Process(child)))
    }

    /// Starts the container; not yet healthy.
    pub(super) async fn container(
        cfg: &ServiceLaunch,
        image: &ImageLaunch,
    ) -> Result<Self, ServiceError> {
        let container = super::container::spawn(cfg, image).await?;
        Ok(Self::new(cfg, Inner::Container(Box::new(container))))
    }

    fn new(cfg: &ServiceLaunch, inner: Inner) -> Self {
        Self {
            name: cfg.name.clone(),
            addr: cfg.addr,
            log_path: cfg.log_path.clone(),
            ready_after: Duration::ZERO,
            inner,
        }
    }

    pub(super) fn healthy_after(mut self, after: Duration) -> Self {
        self.ready_after = after;
        self
    }

    /// Kills the process and reaps it, or removes the container at once: for error paths.
    pub(super) async fn discard(self) {
        match self.inner {
            Inner::Process(child) => {
                if let Err(e) = child.kill_and_wait().await {
                    tracing::warn!("killing service {}: {e}", self.name);
                }
            }
            Inner::Container(c) => c.remove().await,
        }
    }

    /// The log's last lines once a container's log stream has caught up (it lags the
    /// program's writes a little); a process writes to the file itself.
    pub(super) async fn settled_log_tail(&self, lines: usize) -> String {
        if matches!(self.inner, Inner::Container(_)) {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        self.log_tail(lines)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pid of the process, or of the container's main process as this machine sees it
    /// (0 if the engine did not say): its `/proc/<pid>` is readable from the host either way.
    pub fn pid(&self) -> u32 {
        match &self.inner {
            Inner::Process(child) => child.pid,
            Inner::Container(c) => c.pid(),
        }
    }

    /// The container's id, when the service runs in one (for its cgroup figures).
    pub fn container_id(&self) -> Option<&str> {
        match &self.inner {
            Inner::Process(_) => None,
            Inner::Container(c) => Some(c.id()),
        }
    }

    /// The address its health check (and the ingress sidecar) reaches it at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// How long it took to become healthy.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }

    /// Resolves when the process or container exits; independent of `self`.
    pub fn exited(&self) -> impl Future<Output = ExitInfo> + Send + 'static {
        ExitInfo::reported(match &self.inner {
            Inner::Process(child) => child.exit.clone(),
            Inner::Container(c) => c.exit_watch(),
        })
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is reaped or the
    /// container removed.
    pub async fn stop(self, grace: Duration) -> ExitInfo {
        let child = match self.inner {
            Inner::Container(c) => return c.stop(grace).await,
            Inner::Process(child) => child,
        };
        child.signal(Signal::SIGTERM);
        if let Ok(info) = tokio::time::timeout(grace, child.exited()).await {
            return info;
        }
        match child.kill_and_wait().await {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!("service {} did not die: {e}", self.name);
                ExitInfo {
                    code: None,
                    signal: None,
                    requested: true,
                }
            }
        }
    }
}
