//! Running Envoy in a container through testcontainers: the second launcher beside
//! [`super::process`], with the same bootstrap, readiness, log and crash watch.
//!
//! The container shares the host's network, so Envoy binds 127.0.0.1 and reaches the xDS
//! server and the mocks there as a process would. The run directory is bind-mounted at its
//! own path, so the bootstrap and `--admin-address-path` mean the same inside and out. Its
//! output is appended to `envoy.log`; the engine's `wait` reports its exit at once.
//!
//! A container is always removed: by [`EnvoyContainer::stop`] (explicit and bounded, since
//! testcontainers' drop only blocks its thread), by its drop otherwise, by
//! [`remove_live_blocking`] when a second Ctrl-C exits at once, and, for a Gauntlet killed with
//! SIGKILL, by the next launch ([`super::docker::remove_orphans`]).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use nix::sys::signal::Signal;
use testcontainers::bollard::query_parameters::{
    CreateImageOptionsBuilder, KillContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::docker::{self, DockerError, API_TIMEOUT, NAME_PREFIX};
use super::process::{read_log_tail, wait_live};
use super::{AdminClient, EnvoyError, ExitInfo, LaunchConfig};
use crate::scenario::EnvoyImage;

/// Lines of `envoy.log` quoted in errors.
const LOG_TAIL_LINES: usize = 30;
/// How long pulling an image that is not local may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(120);

/// Ids of the containers this process has running, for [`remove_live_blocking`].
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// A running Envoy container whose admin API said `LIVE`.
pub struct EnvoyContainer {
    container: Option<ContainerAsync<GenericImage>>,
    docker: Docker,
    id: String,
    name: String,
    image: String,
    pid: u32,
    admin: AdminClient,
    log_path: PathBuf,
    ready_after: Duration,
    exit: watch::Receiver<Option<ExitInfo>>,
    requested: Arc<AtomicBool>,
}

impl std::fmt::Debug for EnvoyContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvoyContainer")
            .field("name", &self.name)
            .field("id", &docker::short(&self.id))
            .field("image", &self.image)
            .field("pid", &self.pid)
            .finish()
    }
}

/// Starts Envoy in a container of `spec.image` with its CPU and memory limits and waits
/// until its admin API says `LIVE`. On any error the container is gone when this returns.
pub async fn launch(cfg: &LaunchConfig, spec: &EnvoyImage) -> Result<EnvoyContainer, DockerError> {
    prepare_run_dir(cfg)?;
    let docker = docker::connect().await?;
    match docker::remove_orphans(&docker).await {
        Ok(removed) if !removed.is_empty() => {
            tracing::warn!(?removed, "removed containers left by a Gauntlet that died")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not check for leftover containers: {e}"),
    }
    ensure_local(&docker, &spec.image).await?;
    let name = format!(
        "{NAME_PREFIX}envoy-{}-{}",
        std::process::id(),
        next_serial()
    );
    let started = Instant::now();
    let container = match request(cfg, spec, &name)?.start().await {
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
    let mut handle = EnvoyContainer {
        container: Some(container),
        docker,
        id,
        name,
        image: spec.image.clone(),
        pid: 0,
        admin: AdminClient::new(([127, 0, 0, 1], 0).into()),
        log_path: cfg.log_path(),
        ready_after: Duration::ZERO,
        exit,
        requested,
    };
    match handle.wait_ready(cfg, started).await {
        Ok(()) => Ok(handle),
        Err(e) => {
            handle.remove().await;
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

fn next_serial() -> u64 {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// The testcontainers request: host network, the run directory mounted at its own path,
/// labels, limits, and the log appended to `envoy.log`.
fn request(
    cfg: &LaunchConfig,
    spec: &EnvoyImage,
    name: &str,
) -> Result<testcontainers::ContainerRequest<GenericImage>, DockerError> {
    let (repository, tag) = split_reference(&spec.image);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.log_path())
        .map_err(DockerError::io(format!(
            "opening {}",
            cfg.log_path().display()
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
    let run_dir = absolute(&cfg.run_dir)?;
    let mut args: Vec<String> = cfg
        .args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut mounts = vec![Mount::bind_mount(path_str(&run_dir), path_str(&run_dir))];
    let bootstrap = absolute(&cfg.bootstrap_path)?;
    if !bootstrap.starts_with(&run_dir) {
        mounts.push(Mount::bind_mount(
            path_str(&bootstrap),
            path_str(&bootstrap),
        ));
    }
    // Paths inside the container are the host's absolute paths.
    for a in args.iter_mut() {
        if Path::new(a.as_str()) == cfg.bootstrap_path {
            *a = path_str(&bootstrap);
        } else if Path::new(a.as_str()) == cfg.admin_address_path() {
            *a = path_str(&run_dir.join("admin-address"));
        }
    }
    let limits = Limits::from(spec);
    let mut req = GenericImage::new(repository, tag)
        .with_cmd(args)
        .with_network("host")
        .with_container_name(name)
        .with_labels(docker::container_labels(&cfg.run_dir))
        // The official envoyproxy/envoy images drop to uid 101 unless told otherwise; the run
        // directory is the invoking user's.
        .with_env_var("ENVOY_UID", "0")
        .with_startup_timeout(cfg.ready_timeout + API_TIMEOUT)
        .with_host_config_modifier(move |hc| limits.apply(hc))
        .with_log_consumer(append);
    for m in mounts {
        req = req.with_mount(m);
    }
    Ok(req)
}

/// CPU and memory limits as the engine takes them.
#[derive(Debug, Clone, Copy)]
struct Limits {
    nano_cpus: Option<i64>,
    memory: Option<i64>,
}

impl From<&EnvoyImage> for Limits {
    fn from(spec: &EnvoyImage) -> Self {
        Self {
            nano_cpus: spec.cpus.map(|c| (c * 1e9).round() as i64),
            memory: spec.memory.and_then(|m| i64::try_from(m).ok()),
        }
    }
}

impl Limits {
    fn apply(&self, hc: &mut testcontainers::bollard::models::HostConfig) {
        hc.nano_cpus = self.nano_cpus;
        hc.memory = self.memory;
        // No swap beyond the memory limit: a sidecar's limit is a hard one.
        hc.memory_swap = self.memory;
    }
}

/// `repository[:tag]` → (repository, tag), `latest` when no tag is given.
pub(crate) fn split_reference(image: &str) -> (String, String) {
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (
            image[..last_slash + i].to_string(),
            image[last_slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// The canonical path: the container has none of the host's directories, so neither `..`
/// nor a symlink on the way may be left for it to resolve.
fn absolute(path: &Path) -> Result<PathBuf, DockerError> {
    std::fs::canonicalize(path).map_err(DockerError::io(format!("resolving {}", path.display())))
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Checks that the image is in the engine, pulling it if a registry answers; the error
/// says how to build Gauntlet's own image instead.
async fn ensure_local(docker: &Docker, image: &str) -> Result<(), DockerError> {
    let local = docker::bounded("inspecting an image", async {
        Ok(docker.inspect_image(image).await.is_ok())
    })
    .await?;
    if local {
        return Ok(());
    }
    let (repository, tag) = split_reference(image);
    let options = CreateImageOptionsBuilder::new()
        .from_image(&repository)
        .tag(&tag)
        .build();
    let pull = async {
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    let detail = match tokio::time::timeout(PULL_TIMEOUT, pull).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e,
        Err(_) => format!("the pull took longer than {PULL_TIMEOUT:?}"),
    };
    Err(DockerError::MissingImage {
        image: image.to_string(),
        detail,
        hint: build_hint(image),
    })
}

/// How to get an image that is missing.
fn build_hint(image: &str) -> String {
    let (repository, tag) = split_reference(image);
    let version = tag.trim_start_matches('v');
    if repository == "gauntlet/envoy" {
        format!("build it with `gauntlet envoy image {version}`")
    } else {
        format!(
            "build Gauntlet's own image with `gauntlet envoy image {}` and use `image: gauntlet/envoy:{}`, or load `{image}` into the engine (`docker load`)",
            if version.contains('.') { version } else { "1.40.0" },
            if version.contains('.') { version } else { "1.40.0" },
        )
    }
}

/// Follows the engine's `wait` for the container's exit; the receiver says `None` while it
/// runs. Exit codes above 128 are the engine's way of saying "killed by signal code − 128".
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

fn exit_info(code: Option<i64>, requested: bool) -> ExitInfo {
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

// === impl EnvoyContainer ===

impl EnvoyContainer {
    /// Waits for the admin API's `LIVE`, failing at once if the container exits first.
    async fn wait_ready(
        &mut self,
        cfg: &LaunchConfig,
        started: Instant,
    ) -> Result<(), DockerError> {
        self.pid = self.host_pid().await.unwrap_or(0);
        let deadline = started + cfg.ready_timeout;
        let mut stage = String::from("it wrote no admin address");
        let address = cfg.admin_address_path();
        let outcome = tokio::select! {
            biased;
            status = self.exited() => Err(Some(status)),
            admin = tokio::time::timeout_at(deadline, wait_live(&address, &mut stage)) => {
                admin.map_err(|_| None)
            }
        };
        // The log arrives through the engine's log stream; give it a moment to catch up.
        let log_path = self.log_path.clone();
        let log_tail = || async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            read_log_tail(&log_path, LOG_TAIL_LINES)
        };
        match outcome {
            Ok(admin) => {
                self.ready_after = started.elapsed();
                self.admin = admin;
                tracing::info!(container = %self.name, admin = %self.admin.addr(), ready_after = ?self.ready_after, "Envoy container is live");
                Ok(())
            }
            Err(Some(status)) => Err(EnvoyError::ExitedEarly {
                status,
                log_tail: log_tail().await,
            }
            .into()),
            Err(None) => Err(EnvoyError::NotReady {
                waited: cfg.ready_timeout,
                stage,
                log_tail: log_tail().await,
            }
            .into()),
        }
    }

    /// The host pid of the container's main process (Envoy), from the engine.
    async fn host_pid(&self) -> Option<u32> {
        let inspect =
            tokio::time::timeout(API_TIMEOUT, self.docker.inspect_container(&self.id, None))
                .await
                .ok()?
                .ok()?;
        u32::try_from(inspect.state?.pid?).ok().filter(|p| *p > 0)
    }

    /// Envoy's pid as this machine sees it (0 if the engine did not say).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The container's full id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container's name (`gauntlet-envoy-<pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The image it runs.
    pub fn image(&self) -> &str {
        &self.image
    }

    pub fn admin(&self) -> &AdminClient {
        &self.admin
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn log_tail(&self, lines: usize) -> String {
        read_log_tail(&self.log_path, lines)
    }

    /// Time from the start request to `/ready` saying `LIVE`.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// Resolves as soon as the container exits.
    pub fn exited(&self) -> impl std::future::Future<Output = ExitInfo> + Send + 'static {
        let mut exit = self.exit.clone();
        async move {
            let info = exit
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|i| i.clone());
            info.unwrap_or_else(|| exit_info(None, true))
        }
    }

    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.clone()
    }

    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.exit.borrow().clone()
    }

    /// Sends a signal to Envoy through the engine (in the background; errors are logged).
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
                tracing::warn!(container = %docker::short(&id), %signal, "could not signal Envoy: {e}");
            }
        });
    }

    /// Changes the CPU limit of the running container (the engine rewrites its CFS quota at
    /// once), so a sweep over limits reuses one Envoy.
    pub async fn set_cpus(&self, cpus: f64) -> Result<(), DockerError> {
        let action = format!("setting the CPU limit of {} to {cpus}", self.name);
        let body = testcontainers::bollard::models::ContainerUpdateBody {
            nano_cpus: Some((cpus * 1e9).round() as i64),
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

    /// Stops Envoy (SIGTERM, `grace`, SIGKILL) and removes the container; bounded in time.
    pub async fn stop(mut self, grace: Duration) -> Result<ExitInfo, DockerError> {
        if self.exit_info().is_none() {
            self.requested.store(true, Ordering::SeqCst);
            let secs = i32::try_from(grace.as_secs().max(1)).unwrap_or(i32::MAX);
            let options = StopContainerOptionsBuilder::new().t(secs).build();
            let stop = self.docker.stop_container(&self.id, Some(options));
            match tokio::time::timeout(grace + API_TIMEOUT, stop).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(container = %self.name, "stopping Envoy: {e}"),
                Err(_) => {
                    tracing::warn!(container = %self.name, "the engine did not stop Envoy in time")
                }
            }
        }
        let info = tokio::time::timeout(Duration::from_secs(2), self.exited())
            .await
            .unwrap_or_else(|_| exit_info(None, true));
        self.remove().await;
        Ok(info)
    }

    /// Removes the container (testcontainers' `rm`, else a forced remove), bounded in time.
    async fn remove(&mut self) {
        if let Some(container) = self.container.take() {
            match tokio::time::timeout(API_TIMEOUT, container.rm()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(container = %self.name, "removing: {e}"),
                Err(_) => tracing::warn!(container = %self.name, "removing timed out"),
            }
        }
        // Idempotent: succeeds when the container is already gone.
        if let Err(e) = docker::force_remove(&self.docker, &self.id).await {
            tracing::warn!("{e}");
        } else {
            unregister(&self.id);
        }
    }
}

impl Drop for EnvoyContainer {
    fn drop(&mut self) {
        // The ContainerAsync removes the container when it drops (blocking this thread on
        // the engine call); this only keeps the registry right.
        if self.container.is_some() {
            tracing::debug!(container = %self.name, "Envoy container dropped while running; removing it");
        }
        unregister(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag() {
        let s = |r: &str| split_reference(r);
        assert_eq!(
            s("gauntlet/envoy:1.40.0"),
            ("gauntlet/envoy".into(), "1.40.0".into())
        );
        assert_eq!(
            s("envoyproxy/envoy"),
            ("envoyproxy/envoy".into(), "latest".into())
        );
        assert_eq!(
            s("localhost:5000/envoy:v1"),
            ("localhost:5000/envoy".into(), "v1".into())
        );
        assert_eq!(
            s("localhost:5000/envoy"),
            ("localhost:5000/envoy".into(), "latest".into())
        );
    }

    #[test]
    fn hints_name_the_build_command() {
        assert_eq!(
            build_hint("gauntlet/envoy:1.39.3"),
            "build it with `gauntlet envoy image 1.39.3`"
        );
        assert!(build_hint("envoyproxy/envoy:v1.40.0").contains("gauntlet envoy image 1.40.0"));
    }

    #[test]
    fn engine_exit_codes_read_as_signals() {
        assert_eq!(exit_info(Some(137), false).signal, Some(9));
        assert_eq!(exit_info(Some(0), true).code, Some(0));
        assert_eq!(exit_info(Some(1), false).code, Some(1));
        assert_eq!(exit_info(None, true).code, None);
    }

    #[test]
    fn limits_in_engine_units() {
        let spec = EnvoyImage {
            image: "gauntlet/envoy:1.40.0".into(),
            cpus: Some(0.25),
            memory: Some(256 << 20),
        };
        let l = Limits::from(&spec);
        assert_eq!(l.nano_cpus, Some(250_000_000));
        assert_eq!(l.memory, Some(268_435_456));
    }
}
