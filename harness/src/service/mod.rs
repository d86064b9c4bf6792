//! The service under test as a child process: started from its argv (never through a
//! shell), its output captured to `<run dir>/service-<name>.log`, its health polled against
//! a deadline, and stopped (SIGTERM, grace, SIGKILL) and reaped at teardown.
//!
//! A service is spawned the way Envoy is (`envoy::spawn`): in its own process group, with a
//! parent-death SIGKILL, so it dies with Gauntlet even when Gauntlet is SIGKILLed, and
//! supervised by the same reaper (`envoy::supervise`), which never signals a recycled pid.
//! A service that exits or never becomes healthy is killed before the error is returned,
//! so an error path never leaves it running.

mod expand;
mod probe;

use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::process::Command;

use crate::envoy::spawn::spawn_child;
use crate::envoy::supervise::Supervised;
use crate::envoy::ExitInfo;

pub use expand::{expand, ExpandError};
pub use probe::probe;

/// Lines of the service's log quoted in an error.
const LOG_TAIL_LINES: usize = 20;

/// How to start one service.
#[derive(Debug, Clone)]
pub struct ServiceLaunch {
    /// Name, for messages and the log file name.
    pub name: String,
    /// The program and its arguments, already expanded. A program without a `/` is looked
    /// for next to the running executable first, then on `PATH`.
    pub argv: Vec<String>,
    /// Environment added to Gauntlet's own (already expanded).
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Where the health check goes.
    pub addr: SocketAddr,
    /// Path polled until it answers 2xx.
    pub health: String,
    /// How long the service may take to become healthy.
    pub startup_timeout: Duration,
    /// Where its stdout and stderr go (appended).
    pub log_path: PathBuf,
}

/// Why a service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot start service `{name}` ({program}): {source}")]
    Spawn {
        name: String,
        program: String,
        source: std::io::Error,
    },
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

/// A running, healthy service. Dropping it kills the process; prefer [`ServiceProcess::stop`].
#[derive(Debug)]
pub struct ServiceProcess {
    name: String,
    child: Supervised,
    log_path: PathBuf,
    addr: SocketAddr,
    ready_after: Duration,
}

/// Starts the service and waits until its health path answers 2xx.
pub async fn start(cfg: &ServiceLaunch) -> Result<ServiceProcess, ServiceError> {
    let log_error = |source| ServiceError::Log {
        name: cfg.name.clone(),
        path: cfg.log_path.clone(),
        source,
    };
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.log_path)
        .map_err(log_error)?;
    let stdout = log.try_clone().map_err(log_error)?;
    let program = resolve_program(&cfg.argv[0], &cfg.cwd);
    let mut command = Command::new(&program);
    command
        .args(&cfg.argv[1..])
        .envs(&cfg.env)
        .current_dir(&cfg.cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .kill_on_drop(true);
    let spawn_error = |source| ServiceError::Spawn {
        name: cfg.name.clone(),
        program: program.display().to_string(),
        source,
    };
    let started = Instant::now();
    let child = spawn_child(command).await.map_err(spawn_error)?;
    let child = Supervised::start(child).map_err(spawn_error)?;
    tracing::debug!(pid = child.pid, argv = ?cfg.argv, "started service {}", cfg.name);
    let mut last = String::from("no answer yet");
    let outcome = tokio::select! {
        biased;
        status = child.exited() => Err(Some(status)),
        () = wait_healthy(cfg, &mut last) => Ok(()),
        () = tokio::time::sleep(cfg.startup_timeout) => Err(None),
    };
    let tail = || log_tail(&cfg.log_path, LOG_TAIL_LINES);
    match outcome {
        Ok(()) => Ok(ServiceProcess {
            name: cfg.name.clone(),
            child,
            log_path: cfg.log_path.clone(),
            addr: cfg.addr,
            ready_after: started.elapsed(),
        }),
        Err(Some(status)) => Err(ServiceError::ExitedEarly {
            name: cfg.name.clone(),
            status,
            log: cfg.log_path.clone(),
            tail: tail(),
        }),
        Err(None) => {
            // Reaped before the error is returned: nothing is left running.
            if let Err(e) = child.kill_and_wait().await {
                tracing::warn!("killing service {}: {e}", cfg.name);
            }
            Err(ServiceError::NotHealthy {
                name: cfg.name.clone(),
                waited: cfg.startup_timeout,
                addr: cfg.addr,
                health: cfg.health.clone(),
                last,
                log: cfg.log_path.clone(),
                tail: tail(),
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

/// A program without a `/` is looked for next to the running executable first (where
/// `gauntlet-mock` sits beside `gauntlet`; for a test binary in `target/*/deps`, one level
/// up), then left to `PATH`. A relative path with a `/` is taken from the working directory.
pub fn resolve_program(program: &str, cwd: &Path) -> PathBuf {
    if program.contains('/') {
        let path = Path::new(program);
        return if path.is_absolute() {
            path.to_path_buf()
        } else {
            cwd.join(path)
        };
    }
    let beside = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?.to_path_buf();
        let mut dirs = vec![dir.clone()];
        if dir.file_name().is_some_and(|n| n == "deps") {
            dirs.extend(dir.parent().map(Path::to_path_buf));
        }
        dirs.into_iter()
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    beside.unwrap_or_else(|| PathBuf::from(program))
}

impl ServiceProcess {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.pid
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

    /// Resolves when the process exits.
    pub fn exited(&self) -> impl Future<Output = ExitInfo> + Send + 'static {
        self.child.exited()
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is reaped.
    pub async fn stop(self, grace: Duration) -> ExitInfo {
        self.child.signal(Signal::SIGTERM);
        if let Ok(info) = tokio::time::timeout(grace, self.child.exited()).await {
            return info;
        }
        match self.child.kill_and_wait().await {
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

/// The last `lines` lines of a log (reading at most its last 64 KiB).
fn log_tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = fs::File::open(path)?;
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
