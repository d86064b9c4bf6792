//! Starting a [`ContainerSpec`] and the handle of the running container: its exit watch,
//! signals, CPU limit changes, bounded stop and removal, and the registry of the containers
//! this process has running.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use nix::sys::signal::Signal;
use testcontainers::bollard::query_parameters::{
    KillContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::docker::{self, DockerError, API_TIMEOUT, NAME_PREFIX};
use super::{image_ref, nano_cpus, ContainerSpec, Limits};
use crate::envoy::process::read_log_tail;
use crate::envoy::ExitInfo;

/// Label naming what a container holds (its [`ContainerSpec::role`]).
pub const ROLE_LABEL: &str = "org.gauntlet.role";

/// Ids of the containers this process has running, for [`remove_live_blocking`].
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// A started container. Dropping it removes the container (blocking the dropping thread on
/// the engine); prefer [`RunningContainer::stop`] or [`RunningContainer::remove`], which are
/// bounded in time.
pub struct RunningContainer {
    container: Option<ContainerAsync<GenericImage>>,
    docker: Docker,
    id: String,
    name: String,
    image: String,
    pid: u32,
    log_path: PathBuf,
    started_at: Instant,
    exit: watch::Receiver<Option<ExitInfo>>,
    requested: Arc<AtomicBool>,
}

impl std::fmt::Debug for RunningContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningContainer")
            .field("name", &self.name)
            .field("id", &docker::short(&self.id))
            .field("image", &self.image)
            .field("pid", &self.pid)
            .finish()
    }
}

/// Starts a container of `spec` on the host network: connects to the engine, removes the
/// containers of a Gauntlet that died, makes sure the image is there, starts the container
/// and registers it for removal. It returns once the engine says it runs; whether the
/// program inside is ready is the caller's check. On any error no container is left.
pub async fn start(spec: &ContainerSpec) -> Result<RunningContainer, DockerError> {
    let docker = docker::connect().await?;
    match docker::remove_orphans(&docker).await {
        Ok(removed) if !removed.is_empty() => {
            tracing::warn!(?removed, "removed containers left by a Gauntlet that died")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not check for leftover containers: {e}"),
    }
    image_ref::ensure_local(&docker, &spec.image).await?;
    let name = container_name(&spec.role);
    let started_at = Instant::now();
    let container = match request(spec, &name)?.start().await {
        Ok(c) => c,
        Err(e) => {
            // testcontainers leaves a created container behind when it fails to start it.
            let _ = docker::force_remove(&docker, &name).await;
            return Err(DockerError::Api {
                action: format!("starting a container of `{}`", spec.image),
                detail: e.to_string(),
            });
        }
    };
    let id = container.id().to_string();
    register(&id);
    let requested = Arc::new(AtomicBool::new(false));
    let exit = watch_exit(docker.clone(), id.clone(), requested.clone());
    let mut handle = RunningContainer {
        container: Some(container),
        docker,
        id,
        name,
        image: spec.image.clone(),
        pid: 0,
        log_path: spec.log_path.clone(),
        started_at,
        exit,
        requested,
    };
    handle.pid = handle.host_pid().await.unwrap_or(0);
    tracing::debug!(container = %handle.name, pid = handle.pid, "container started");
    Ok(handle)
}

/// `gauntlet-<role>-<pid>-<serial>`, with anything a container name may not hold as `-`.
fn container_name(role: &str) -> String {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let role: String = role
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
            _ => '-',
        })
        .collect();
    format!(
        "{NAME_PREFIX}{role}-{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    )
}

/// The testcontainers request: host network, name, labels, limits, mounts, environment,
/// command, and the log appended to the spec's log file.
fn request(
    spec: &ContainerSpec,
    name: &str,
) -> Result<testcontainers::ContainerRequest<GenericImage>, DockerError> {
    let (repository, tag) = image_ref::split_reference(&spec.image);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_path)
        .map_err(DockerError::io(format!(
            "opening {}",
            spec.log_path.display()
        )))?;
    let log = Mutex::new(log);
    let append = move |frame: &LogFrame| {
        let bytes = match frame {
            LogFrame::StdOut(b) | LogFrame::StdErr(b) => b,
        };
        if let Ok(mut f) = log.lock() {
            let _ = f.write_all(bytes);
        }
    };
    let mut labels = docker::container_labels(&spec.run_dir);
    labels.insert(ROLE_LABEL.to_string(), spec.role.clone());
    labels.extend(spec.labels.clone());
    let limits = Limits::new(spec.cpus, spec.memory);
    let mut req = GenericImage::new(repository, tag)
        .with_network("host")
        .with_container_name(name)
        .with_labels(labels)
        .with_startup_timeout(spec.start_timeout)
        .with_host_config_modifier(move |hc| limits.apply(hc))
        .with_log_consumer(append);
    if !spec.cmd.is_empty() {
        req = req.with_cmd(spec.cmd.clone());
    }
    for (key, value) in &spec.env {
        req = req.with_env_var(key, value);
    }
    for m in &spec.mounts {
        req = req.with_mount(Mount::bind_mount(path_str(&m.host), path_str(&m.inside)));
    }
    Ok(req)
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Follows the engine's `wait` for the container's exit; the receiver says `None` while it
/// runs.
fn watch_exit(
    docker: Docker,
    id: String,
    requested: Arc<AtomicBool>,
) -> watch::Receiver<Option<ExitInfo>> {
    let (report, exit) = watch::channel(None);
    tokio::spawn(async move {
        let mut wait = docker.wait_container(&id, None);
        let code = match wait.next().await {
            Some(Ok(r)) => Some(r.status_code),
            Some(Err(testcontainers::bollard::errors::Error::DockerContainerWaitError {
                code,
                ..
            })) => Some(code),
            // The engine dropped the stream (container removed): unknown status.
            _ => None,
        };
        report.send_replace(Some(exit_info(code, requested.load(Ordering::SeqCst))));
    });
    exit
}

/// The engine's exit status as an [`ExitInfo`]: codes above 128 are its way of saying
/// "killed by signal code − 128".
pub(crate) fn exit_info(code: Option<i64>, requested: bool) -> ExitInfo {
    match code {
        Some(c) if (129..=128 + 64).contains(&c) => ExitInfo {
            code: None,
            signal: i32::try_from(c - 128).ok(),
            requested,
        },
        Some(c) => ExitInfo {
            code: i32::try_from(c).ok(),
            signal: None,
            requested,
        },
        None => ExitInfo {
            code: None,
            signal: None,
            requested,
        },
    }
}

fn register(id: &str) {
    if let Ok(mut live) = LIVE.lock() {
        live.insert(id.to_string());
    }
}

fn unregister(id: &str) {
    if let Ok(mut live) = LIVE.lock() {
        live.remove(id);
    }
}

/// Removes every container this process still has, within a few seconds; for an exit that
/// cannot wait for the orderly teardown (a second Ctrl-C). Safe to call from any thread.
pub fn remove_live_blocking() {
    let ids: Vec<String> = LIVE
        .lock()
        .map(|l| l.iter().cloned().collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return;
    }
    let worker = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(docker) = docker::connect().await else {
                return;
            };
            for id in ids {
                let _ = docker::force_remove(&docker, &id).await;
            }
        });
    });
    let _ = worker.join();
}

// === impl RunningContainer ===

impl RunningContainer {
    /// The host pid of the container's main process, from the engine.
    async fn host_pid(&self) -> Option<u32> {
        let inspect =
            tokio::time::timeout(API_TIMEOUT, self.docker.inspect_container(&self.id, None))
                .await
                .ok()?
                .ok()?;
        u32::try_from(inspect.state?.pid?).ok().filter(|p| *p > 0)
    }

    /// The main process's pid as this machine sees it (0 if the engine did not say); its
    /// `/proc/<pid>` and cgroup are readable from the host.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The container's full id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container's name (`gauntlet-<role>-<pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The image it runs.
    pub fn image(&self) -> &str {
        &self.image
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        read_log_tail(&self.log_path, lines)
    }

    /// The last `lines` lines of its log once the engine's log stream has caught up (it
    /// lags the program's writes a little): for error messages about an exit or a timeout.
    pub async fn settled_log_tail(&self, lines: usize) -> String {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.log_tail(lines)
    }

    /// When the engine was asked to start it.
    pub fn started_at(&self) -> Instant {
        self.started_at
    }

    /// Resolves as soon as the container exits; independent of `self`.
    pub fn exited(&self) -> impl std::future::Future<Output = ExitInfo> + Send + 'static {
        ExitInfo::reported(self.exit.clone())
    }

    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.clone()
    }

    /// How it exited, once it has.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.exit.borrow().clone()
    }

    /// Sends a signal to the main process through the engine (in the background; errors are
    /// logged). A terminating signal marks the exit as requested.
    pub fn signal(&self, signal: Signal) {
        if self.exit_info().is_some() {
            return;
        }
        if matches!(
            signal,
            Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT | Signal::SIGKILL
        ) {
            self.requested.store(true, Ordering::SeqCst);
        }
        let (docker, id) = (self.docker.clone(), self.id.clone());
        tokio::spawn(async move {
            let options = KillContainerOptionsBuilder::new()
                .signal(signal.as_str())
                .build();
            let sent = tokio::time::timeout(API_TIMEOUT, docker.kill_container(&id, Some(options)));
            if let Ok(Err(e)) = sent.await {
                tracing::warn!(container = %docker::short(&id), %signal, "could not signal: {e}");
            }
        });
    }

    /// Changes the CPU limit of the running container (the engine rewrites its CFS quota at
    /// once), so a sweep over limits reuses one container.
    pub async fn set_cpus(&self, cpus: f64) -> Result<(), DockerError> {
        let action = format!("setting the CPU limit of {} to {cpus}", self.name);
        let body = testcontainers::bollard::models::ContainerUpdateBody {
            nano_cpus: Some(nano_cpus(cpus)),
            ..Default::default()
        };
        docker::bounded(&action, async {
            self.docker
                .update_container(&self.id, body)
                .await
                .map_err(DockerError::api(action.clone()))
        })
        .await
    }

    /// Stops the container (SIGTERM, `grace`, SIGKILL) and removes it; bounded in time.
    pub async fn stop(mut self, grace: Duration) -> ExitInfo {
        if self.exit_info().is_none() {
            self.requested.store(true, Ordering::SeqCst);
            let secs = i32::try_from(grace.as_secs().max(1)).unwrap_or(i32::MAX);
            let options = StopContainerOptionsBuilder::new().t(secs).build();
            let stop = self.docker.stop_container(&self.id, Some(options));
            match tokio::time::timeout(grace + API_TIMEOUT, stop).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(container = %self.name, "stopping: {e}"),
                Err(_) => {
                    tracing::warn!(container = %self.name, "the engine did not stop it in time")
                }
            }
        }
        let info = tokio::time::timeout(Duration::from_secs(2), self.exited())
            .await
            .unwrap_or_else(|_| exit_info(None, true));
        self.remove_now().await;
        info
    }

    /// Removes the container at once (killing it if it runs); bounded in time. For error
    /// paths, where nothing is owed to the program inside.
    pub async fn remove(mut self) {
        self.requested.store(true, Ordering::SeqCst);
        self.remove_now().await;
    }

    /// testcontainers' `rm`, then a forced remove that succeeds when it is already gone.
    async fn remove_now(&mut self) {
        if let Some(container) = self.container.take() {
            match tokio::time::timeout(API_TIMEOUT, container.rm()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(container = %self.name, "removing: {e}"),
                Err(_) => tracing::warn!(container = %self.name, "removing timed out"),
            }
        }
        if let Err(e) = docker::force_remove(&self.docker, &self.id).await {
            tracing::warn!("{e}");
        } else {
            unregister(&self.id);
        }
    }
}

impl Drop for RunningContainer {
    fn drop(&mut self) {
        // The ContainerAsync removes the container when it drops (blocking this thread on
        // the engine call); this only keeps the registry right.
        if self.container.is_some() {
            tracing::debug!(container = %self.name, "container dropped while running; removing it");
        }
        unregister(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_exit_codes_read_as_signals() {
        assert_eq!(exit_info(Some(137), false).signal, Some(9));
        assert_eq!(exit_info(Some(0), true).code, Some(0));
        assert_eq!(exit_info(Some(1), false).code, Some(1));
        assert_eq!(exit_info(None, true).code, None);
    }

    #[test]
    fn names_carry_the_role_and_only_allowed_characters() {
        let name = container_name("svc-check out/1");
        let prefix = format!("{NAME_PREFIX}svc-check-out-1-{}-", std::process::id());
        assert!(name.starts_with(&prefix), "{name}");
    }
}
