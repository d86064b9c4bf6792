//! The service under test, started one of two ways behind one handle ([`RunningService`]):
//!
//! - a child process from its argv (never through a shell), its output captured to
//!   `<run dir>/service-<name>.log`. It is spawned the way Envoy is (`envoy::spawn`): in its
//!   own process group, with a parent-death SIGKILL, so it dies with Gauntlet even when
//!   Gauntlet is SIGKILLed, and supervised by the same reaper (`envoy::supervise`), which
//!   never signals a recycled pid;
//! - a container of an image ([`crate::container`]), on the host network so `127.0.0.1:<PORT>`
//!   and the `<DEP>_URL` addresses mean the same inside, its output appended to the same
//!   log, removed on every path (error, teardown, drop, a second Ctrl-C's
//!   `remove_live_blocking`, the next launch after a SIGKILL).
//!
//! Either way its health is polled from the host against a deadline, and it is stopped
//! (SIGTERM, grace, SIGKILL) at teardown. A service that exits or never becomes healthy is
//! killed (a container removed) before the error is returned, so an error path never leaves
//! it running.

mod container;
mod expand;
mod handle;
mod probe;
mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::container::DockerError;
use crate::envoy::ExitInfo;
use crate::scenario::{ServiceRun, ServiceSpec};

pub use container::{ImageLaunch, SERVICE_LABEL};
pub use expand::{expand, ExpandError};
pub use handle::RunningService;
pub use probe::probe;
pub use process::resolve_program;

/// Lines of the service's log quoted in an error.
const LOG_TAIL_LINES: usize = 20;

/// How to start one service.
#[derive(Debug, Clone)]
pub struct ServiceLaunch {
    /// Name, for messages, the log file name and the container's name.
    pub name: String,
    /// A process or a container.
    pub launch: Launch,
    /// Environment: added to Gauntlet's own for a process, the container's for an image
    /// (already expanded).
    pub env: BTreeMap<String, String>,
    /// Where the health check goes.
    pub addr: SocketAddr,
    /// Path polled until it answers 2xx.
    pub health: String,
    /// How long the service may take to become healthy.
    pub startup_timeout: Duration,
    /// Where its stdout and stderr go (appended).
    pub log_path: PathBuf,
}

/// The two ways a service runs.
#[derive(Debug, Clone)]
pub enum Launch {
    /// A child process.
    Process {
        /// The program and its arguments, already expanded. A program without a `/` is
        /// looked for next to the running executable first, then on `PATH`.
        argv: Vec<String>,
        /// Working directory.
        cwd: PathBuf,
    },
    /// A container on the host network.
    Container(ImageLaunch),
}

impl ServiceLaunch {
    /// The launch of `spec` named `name` at `addr`, with Gauntlet's variables `vars`
    /// (`PORT`, `<DEP>_URL`) set in its environment and expanded in its command, args and
    /// env values; its log is `<run_dir>/service-<name>.log`.
    pub fn from_spec(
        spec: &ServiceSpec,
        name: &str,
        addr: SocketAddr,
        vars: &BTreeMap<String, String>,
        run_dir: &Path,
    ) -> Result<Self, ExpandError> {
        let expand_all = |list: &[String]| {
            list.iter()
                .map(|t| expand(t, vars))
                .collect::<Result<Vec<_>, _>>()
        };
        let launch = match &spec.run {
            ServiceRun::Command(argv) => Launch::Process {
                argv: expand_all(argv)?,
                cwd: spec.cwd.clone(),
            },
            ServiceRun::Image(image) => Launch::Container(ImageLaunch {
                image: image.image.clone(),
                args: expand_all(&image.args)?,
                cpus: image.cpus,
                memory: image.memory,
                run_dir: run_dir.to_path_buf(),
            }),
        };
        let mut env = vars.clone();
        for (k, v) in &spec.env {
            env.insert(k.clone(), expand(v, vars)?);
        }
        Ok(Self {
            name: name.to_string(),
            launch,
            env,
            addr,
            health: spec.health.clone(),
            startup_timeout: spec.startup_timeout,
            log_path: run_dir.join(format!("service-{name}.log")),
        })
    }

    /// What runs, for messages: the program or the image.
    fn what(&self) -> String {
        match &self.launch {
            Launch::Process { argv, cwd } => resolve_program(&argv[0], cwd).display().to_string(),
            Launch::Container(c) => format!("image {}", c.image),
        }
    }
}

/// Why a service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    // The cause is in the message, not the error chain, so `{:#}` does not say it twice.
    #[error("cannot start service `{name}` ({program}): {error}{hint}")]
    Spawn {
        name: String,
        program: String,
        error: std::io::Error,
        /// What to do, with its leading newline; empty when there is nothing to add.
        hint: String,
    },
    #[error("cannot start service `{name}` in a container: {error}")]
    Container { name: String, error: DockerError },
    #[error("cannot open the log of service `{name}` at {path}: {source}")]
    Log {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "service `{name}` exited before it became healthy ({status}); last lines of {log}:\n{tail}"
    )]
    ExitedEarly {
        name: String,
        status: ExitInfo,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "service `{name}` did not become healthy within {waited:?} (GET http://{addr}{health}: \
         {last}); it was stopped. Last lines of {log}:\n{tail}"
    )]
    NotHealthy {
        name: String,
        waited: Duration,
        addr: SocketAddr,
        health: String,
        last: String,
        log: PathBuf,
        tail: String,
    },
}

/// Starts the service (a process or a container) and waits until its health path answers
/// 2xx. On an error nothing of it is left running.
pub async fn start(cfg: &ServiceLaunch) -> Result<RunningService, ServiceError> {
    let started = Instant::now();
    let service = match &cfg.launch {
        Launch::Process { argv, cwd } => RunningService::process(cfg, argv, cwd).await?,
        Launch::Container(image) => RunningService::container(cfg, image).await?,
    };
    tracing::debug!(pid = service.pid(), what = %cfg.what(), "started service {}", cfg.name);
    let mut last = String::from("no answer yet");
    let outcome = tokio::select! {
        biased;
        status = service.exited() => Err(Some(status)),
        () = wait_healthy(cfg, &mut last) => Ok(()),
        () = tokio::time::sleep(cfg.startup_timeout) => Err(None),
    };
    match outcome {
        Ok(()) => Ok(service.healthy_after(started.elapsed())),
        Err(Some(status)) => {
            let tail = service.settled_log_tail(LOG_TAIL_LINES).await;
            service.discard().await;
            Err(ServiceError::ExitedEarly {
                name: cfg.name.clone(),
                status,
                log: cfg.log_path.clone(),
                tail,
            })
        }
        Err(None) => {
            // Stopped before the error is returned: nothing is left running.
            let tail = service.settled_log_tail(LOG_TAIL_LINES).await;
            service.discard().await;
            Err(ServiceError::NotHealthy {
                name: cfg.name.clone(),
                waited: cfg.startup_timeout,
                addr: cfg.addr,
                health: cfg.health.clone(),
                last,
                log: cfg.log_path.clone(),
                tail,
            })
        }
    }
}

/// Polls the health path every 50 ms until it answers 2xx; `last` says what it got.
async fn wait_healthy(cfg: &ServiceLaunch, last: &mut String) {
    loop {
        match probe(cfg.addr, &cfg.health, Duration::from_secs(1)).await {
            Ok(status) if (200..300).contains(&status) => return,
            Ok(status) => *last = format!("status {status}"),
            Err(e) => *last = e,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last `lines` lines of a log (reading at most its last 64 KiB).
fn log_tail(path: &Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const MAX: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let all: Vec<&str> = text.lines().collect();
        let kept = &all[all.len().saturating_sub(lines)..];
        if kept.is_empty() {
            return Ok("  (no output)".to_string());
        }
        Ok(kept
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"))
    };
    read().unwrap_or_else(|e| format!("  (could not read {}: {e})", path.display()))
}

#[cfg(test)]
mod tests;
