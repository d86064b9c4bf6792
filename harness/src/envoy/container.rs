//! Running Envoy in a container: the second launcher beside [`super::process`], with the
//! same bootstrap, readiness, log and crash watch. The container itself (host network,
//! limits, log capture, exit watch, bounded removal) is [`crate::container`]'s; this adds
//! what is Envoy's.
//!
//! The run directory is bind-mounted at its own path, so the bootstrap and
//! `--admin-address-path` mean the same inside and out. Envoy is ready when its admin API
//! says `LIVE`; a container that exits first, or is not live in time, is removed before
//! the error is returned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::watch;

use super::process::wait_live;
use super::{AdminClient, EnvoyError, ExitInfo, LaunchConfig};
use crate::container::docker::{DockerError, API_TIMEOUT};
use crate::container::{self, BindMount, ContainerSpec, RunningContainer};
use crate::scenario::EnvoyImage;

pub use crate::container::{remove_live_blocking, split_reference};

/// Lines of `envoy.log` quoted in errors.
const LOG_TAIL_LINES: usize = 30;

/// A running Envoy container whose admin API said `LIVE`.
#[derive(Debug)]
pub struct EnvoyContainer {
    inner: RunningContainer,
    admin: AdminClient,
    ready_after: Duration,
}

/// Starts Envoy in a container of `spec.image` with its CPU and memory limits and waits
/// until its admin API says `LIVE`. On any error the container is gone when this returns.
pub async fn launch(cfg: &LaunchConfig, spec: &EnvoyImage) -> Result<EnvoyContainer, DockerError> {
    prepare_run_dir(cfg)?;
    let inner = container::start(&container_spec(cfg, spec)?).await?;
    match wait_ready(&inner, cfg).await {
        Ok(admin) => {
            let ready_after = inner.started_at().elapsed();
            tracing::info!(container = %inner.name(), admin = %admin.addr(), ?ready_after, "Envoy container is live");
            Ok(EnvoyContainer {
                inner,
                admin,
                ready_after,
            })
        }
        Err(e) => {
            inner.remove().await;
            Err(e)
        }
    }
}

/// Like the process launcher: the run directory exists, the bootstrap is there, and no
/// admin address is left from an earlier Envoy.
fn prepare_run_dir(cfg: &LaunchConfig) -> Result<(), DockerError> {
    std::fs::create_dir_all(&cfg.run_dir).map_err(DockerError::io(format!(
        "creating {}",
        cfg.run_dir.display()
    )))?;
    std::fs::metadata(&cfg.bootstrap_path).map_err(DockerError::io(format!(
        "reading the bootstrap {}",
        cfg.bootstrap_path.display()
    )))?;
    match std::fs::remove_file(cfg.admin_address_path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DockerError::io(format!(
            "removing {}",
            cfg.admin_address_path().display()
        ))(e)),
        _ => Ok(()),
    }
}

/// Envoy's container: its arguments with the host's absolute paths, the run directory (and
/// the bootstrap, if it lies elsewhere) mounted at their own paths, the limits, `envoy.log`.
fn container_spec(cfg: &LaunchConfig, spec: &EnvoyImage) -> Result<ContainerSpec, DockerError> {
    let run_dir = absolute(&cfg.run_dir)?;
    let bootstrap = absolute(&cfg.bootstrap_path)?;
    let mut out = ContainerSpec::new(&spec.image, "envoy", &cfg.run_dir, cfg.log_path());
    out.mounts.push(BindMount::same_path(&run_dir));
    if !bootstrap.starts_with(&run_dir) {
        out.mounts.push(BindMount::same_path(&bootstrap));
    }
    // Paths inside the container are the host's absolute paths.
    out.cmd = cfg
        .args()
        .iter()
        .map(|a| {
            let a = a.to_string_lossy().into_owned();
            if Path::new(a.as_str()) == cfg.bootstrap_path {
                path_str(&bootstrap)
            } else if Path::new(a.as_str()) == cfg.admin_address_path() {
                path_str(&run_dir.join("admin-address"))
            } else {
                a
            }
        })
        .collect();
    // The official envoyproxy/envoy images drop to uid 101 unless told otherwise; the run
    // directory is the invoking user's.
    out.env.insert("ENVOY_UID".into(), "0".into());
    out.cpus = spec.cpus;
    out.memory = spec.memory;
    out.start_timeout = cfg.ready_timeout + API_TIMEOUT;
    Ok(out)
}

/// The canonical path: the container has none of the host's directories, so neither `..`
/// nor a symlink on the way may be left for it to resolve.
fn absolute(path: &Path) -> Result<PathBuf, DockerError> {
    std::fs::canonicalize(path).map_err(DockerError::io(format!("resolving {}", path.display())))
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Waits for the admin API's `LIVE` (counted from the start request), failing at once if
/// the container exits first.
async fn wait_ready(c: &RunningContainer, cfg: &LaunchConfig) -> Result<AdminClient, DockerError> {
    let deadline = c.started_at() + cfg.ready_timeout;
    let mut stage = String::from("it wrote no admin address");
    let address = cfg.admin_address_path();
    let outcome = tokio::select! {
        biased;
        status = c.exited() => Err(Some(status)),
        admin = tokio::time::timeout_at(deadline, wait_live(&address, &mut stage)) => {
            admin.map_err(|_| None)
        }
    };
    match outcome {
        Ok(admin) => Ok(admin),
        Err(Some(status)) => Err(EnvoyError::ExitedEarly {
            status,
            log_tail: c.settled_log_tail(LOG_TAIL_LINES).await,
        }
        .into()),
        Err(None) => Err(EnvoyError::NotReady {
            waited: cfg.ready_timeout,
            stage,
            log_tail: c.settled_log_tail(LOG_TAIL_LINES).await,
        }
        .into()),
    }
}

// === impl EnvoyContainer ===

impl EnvoyContainer {
    /// Envoy's pid as this machine sees it (0 if the engine did not say).
    pub fn pid(&self) -> u32 {
        self.inner.pid()
    }

    /// The container's full id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The container's name (`gauntlet-envoy-<pid>-<n>`).
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The image it runs.
    pub fn image(&self) -> &str {
        self.inner.image()
    }

    pub fn admin(&self) -> &AdminClient {
        &self.admin
    }

    pub fn log_path(&self) -> &Path {
        self.inner.log_path()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.inner.log_tail(lines)
    }

    /// Time from the start request to `/ready` saying `LIVE`.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// Resolves as soon as the container exits.
    pub fn exited(&self) -> impl std::future::Future<Output = ExitInfo> + Send + 'static {
        self.inner.exited()
    }

    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.inner.exit_watch()
    }

    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.inner.exit_info()
    }

    /// Sends a signal to Envoy through the engine (in the background; errors are logged).
    pub fn signal(&self, signal: Signal) {
        self.inner.signal(signal)
    }

    /// Changes the CPU limit of the running container (the engine rewrites its CFS quota at
    /// once), so a sweep over limits reuses one Envoy.
    pub async fn set_cpus(&self, cpus: f64) -> Result<(), DockerError> {
        self.inner.set_cpus(cpus).await
    }

    /// Stops Envoy (SIGTERM, `grace`, SIGKILL) and removes the container; bounded in time.
    pub async fn stop(self, grace: Duration) -> Result<ExitInfo, DockerError> {
        Ok(self.inner.stop(grace).await)
    }
}
