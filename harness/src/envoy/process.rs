//! Running Envoy as a child process: launch, readiness, crash detection, orderly stop.
//!
//! A supervisor task owns the child (see `supervise.rs`); [`EnvoyProcess`] is its handle.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::Instant;

use super::install::tail_lines;
use super::spawn::spawn_child;
use super::supervise::Supervised;
use super::{AdminClient, EnvoyError};

/// Lines of `envoy.log` quoted in errors.
const LOG_TAIL_LINES: usize = 30;

/// How to run one Envoy: plain data; see [`LaunchConfig::new`] for the defaults.
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    /// The Envoy binary (see [`super::install`]).
    pub binary: PathBuf,
    /// The bootstrap file written by the `xds` module (`.yaml`, `.json` or `.pb`).
    pub bootstrap_path: PathBuf,
    /// Directory for `envoy.log` and `admin-address`; created if missing.
    pub run_dir: PathBuf,
    /// Worker threads (`--concurrency`).
    pub concurrency: u32,
    /// `--log-level`: trace, debug, info, warning, error, critical or off.
    pub log_level: String,
    /// How long Envoy may take to become `LIVE` (including waiting for its xDS server).
    pub ready_timeout: Duration,
    /// More arguments, appended after Gauntlet's own.
    pub extra_args: Vec<OsString>,
}

impl LaunchConfig {
    /// A config with one worker, log level `info`, and a 10 s readiness deadline.
    pub fn new(
        binary: impl Into<PathBuf>,
        bootstrap_path: impl Into<PathBuf>,
        run_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            binary: binary.into(),
            bootstrap_path: bootstrap_path.into(),
            run_dir: run_dir.into(),
            concurrency: 1,
            log_level: "info".into(),
            ready_timeout: Duration::from_secs(10),
            extra_args: Vec::new(),
        }
    }

    /// Where Envoy's stdout and stderr go (appended).
    pub fn log_path(&self) -> PathBuf {
        self.run_dir.join("envoy.log")
    }

    /// Where Envoy writes its admin address.
    pub fn admin_address_path(&self) -> PathBuf {
        self.run_dir.join("admin-address")
    }

    /// Envoy's command line (without the binary).
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["-c".into(), self.bootstrap_path.clone().into()];
        // Hot restart off: no shared memory, so any number of Envoys can run side by side.
        args.push("--disable-hot-restart".into());
        args.extend(["--concurrency".into(), self.concurrency.to_string().into()]);
        args.extend(["--log-level".into(), self.log_level.clone().into()]);
        args.extend([
            "--admin-address-path".into(),
            self.admin_address_path().into(),
        ]);
        // Short drains: a run's LDS changes and shutdown should not wait for Envoy's defaults.
        args.extend(["--drain-time-s".into(), "1".into()]);
        args.extend(["--parent-shutdown-time-s".into(), "2".into()]);
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// How Envoy ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExitInfo {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal killed it.
    pub signal: Option<i32>,
    /// Whether Gauntlet asked it to stop (SIGTERM, SIGINT, SIGQUIT or SIGKILL through the
    /// handle); false means it crashed or was killed from outside.
    pub requested: bool,
}

impl ExitInfo {
    pub(crate) fn new(status: io::Result<ExitStatus>, requested: bool) -> Self {
        let status = status.ok();
        Self {
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            requested,
        }
    }

    /// Resolves with the exit `watch` reports (at once if it already has); independent of
    /// whoever handed out the watch, so it can be raced against a load run with `select!`.
    /// A watch closed without a report means its sender (a child's supervisor, a
    /// container's waiter) was dropped with its runtime, and the child with it
    /// (kill_on_drop, the container removed): a stop Gauntlet asked for.
    pub(crate) async fn reported(mut watch: watch::Receiver<Option<ExitInfo>>) -> ExitInfo {
        let info = watch
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|i| i.clone());
        info.unwrap_or(ExitInfo {
            code: None,
            signal: None,
            requested: true,
        })
    }

    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}")?,
            (None, Some(n)) => match Signal::try_from(n) {
                Ok(signal) => write!(f, "killed by {signal}")?,
                Err(_) => write!(f, "killed by signal {n}")?,
            },
            (None, None) => write!(f, "exit status unknown")?,
        }
        if self.requested {
            write!(f, ", as asked")?;
        }
        Ok(())
    }
}

/// A running Envoy whose admin API said `LIVE`. Dropping it kills Envoy; prefer
/// [`EnvoyProcess::stop`].
#[derive(Debug)]
pub struct EnvoyProcess {
    child: Supervised,
    admin: AdminClient,
    log_path: PathBuf,
    ready_after: Duration,
}

/// Starts Envoy and waits until its admin API says `LIVE`.
///
/// Envoy's output is appended to `<run_dir>/envoy.log`. If Envoy exits first the error is
/// [`EnvoyError::ExitedEarly`], if the deadline passes [`EnvoyError::NotReady`]; both quote
/// the end of the log, and in both cases the process is gone when this returns.
pub async fn launch(cfg: LaunchConfig) -> Result<EnvoyProcess, EnvoyError> {
    fs::create_dir_all(&cfg.run_dir).map_err(EnvoyError::io(format!(
        "creating {}",
        cfg.run_dir.display()
    )))?;
    fs::metadata(&cfg.bootstrap_path).map_err(EnvoyError::io(format!(
        "reading the bootstrap {}",
        cfg.bootstrap_path.display()
    )))?;
    let address_path = cfg.admin_address_path();
    match fs::remove_file(&address_path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(EnvoyError::io(format!(
                "removing {}",
                address_path.display()
            ))(e))
        }
        _ => {}
    }
    let log_path = cfg.log_path();
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(EnvoyError::io(format!("opening {}", log_path.display())))?;
    let stdout = log
        .try_clone()
        .map_err(EnvoyError::io(format!("opening {}", log_path.display())))?;

    let mut command = Command::new(&cfg.binary);
    command
        .args(cfg.args())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .kill_on_drop(true);
    let started = Instant::now();
    let spawn_error = |source| EnvoyError::Spawn {
        binary: cfg.binary.clone(),
        source,
    };
    let child = spawn_child(command).await.map_err(spawn_error)?;
    let child = Supervised::start(child).map_err(spawn_error)?;
    tracing::debug!(pid = child.pid, args = ?cfg.args(), "started Envoy");

    let deadline = started + cfg.ready_timeout;
    let mut stage = String::from("it wrote no admin address");
    let outcome = tokio::select! {
        biased;
        status = child.exited() => Err(Some(status)),
        admin = tokio::time::timeout_at(deadline, wait_live(&address_path, &mut stage)) => {
            admin.map_err(|_| None)
        }
    };
    match outcome {
        Ok(admin) => {
            let ready_after = started.elapsed();
            tracing::info!(pid = child.pid, admin = %admin.addr(), ?ready_after, "Envoy is live");
            Ok(EnvoyProcess {
                child,
                admin,
                log_path,
                ready_after,
            })
        }
        Err(Some(status)) => Err(EnvoyError::ExitedEarly {
            status,
            log_tail: read_log_tail(&log_path, LOG_TAIL_LINES),
        }),
        Err(None) => {
            child.kill_and_wait().await?;
            Err(EnvoyError::NotReady {
                waited: cfg.ready_timeout,
                stage,
                log_tail: read_log_tail(&log_path, LOG_TAIL_LINES),
            })
        }
    }
}

/// Waits for the admin address file, then for `/ready` to say `LIVE`; `stage` says how far
/// it got, for the error when the caller's deadline passes first.
pub(super) async fn wait_live(address_path: &Path, stage: &mut String) -> AdminClient {
    let addr = loop {
        if let Some(addr) = read_admin_address(address_path) {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let probe = AdminClient::new(addr).with_timeout(Duration::from_secs(1));
    *stage = format!("its admin API at {addr} never answered");
    loop {
        match probe.state().await {
            Ok(state) if state == "LIVE" => return AdminClient::new(addr),
            Ok(state) => *stage = format!("its admin /ready still said {state}"),
            Err(error) => *stage = format!("its admin /ready failed: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The address in Envoy's `--admin-address-path` file, once it is completely written.
fn read_admin_address(path: &Path) -> Option<SocketAddr> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The last `lines` lines of a log file (reading at most its last 64 KiB), leaving out the
/// list of compiled-in extensions Envoy logs at start-up, which would hide the error.
pub(crate) fn read_log_tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let read = || -> io::Result<String> {
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let kept: Vec<&str> = text.lines().filter(|l| !is_listing(l)).collect();
        Ok(tail_lines(&kept.join("\n"), lines))
    };
    read().unwrap_or_else(|e| format!("(could not read {}: {e})", path.display()))
}

/// Whether a log line is an indented listing line, like the start-up list of extensions:
/// `[time][thread][info][main] [source/server/server.cc:467]   envoy.filters.http: …`.
fn is_listing(line: &str) -> bool {
    let message = line
        .split_once("] ")
        .and_then(|(_, rest)| rest.split_once("] "))
        .map(|(_, message)| message);
    message.is_some_and(|m| m.starts_with("  "))
}

// === impl EnvoyProcess ===

impl EnvoyProcess {
    /// Envoy's process id.
    pub fn pid(&self) -> u32 {
        self.child.pid
    }

    /// The admin API's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.addr()
    }

    /// A client for the admin API.
    pub fn admin(&self) -> &AdminClient {
        &self.admin
    }

    /// Path of `envoy.log`.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of `envoy.log`.
    pub fn log_tail(&self, lines: usize) -> String {
        read_log_tail(&self.log_path, lines)
    }

    /// Time from spawn to `/ready` saying `LIVE`.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// Resolves as soon as Envoy exits (at once if it already has); independent of `self`,
    /// so it can be raced against a load run with `select!`.
    pub fn exited(&self) -> impl Future<Output = ExitInfo> + Send + 'static {
        self.child.exited()
    }

    /// A watch of the exit: `None` while Envoy runs.
    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.child.exit.clone()
    }

    /// How Envoy ended, if it has.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.child.exit.borrow().clone()
    }

    /// Sends a signal (e.g. SIGSTOP and SIGCONT to freeze Envoy); ignored once it has exited.
    pub fn signal(&self, signal: Signal) {
        self.child.signal(signal);
    }

    /// Stops Envoy: SIGTERM, up to `grace` for it to exit, then SIGKILL. Returns once the
    /// process is reaped.
    pub async fn stop(self, grace: Duration) -> Result<ExitInfo, EnvoyError> {
        if let Some(info) = self.exit_info() {
            return Ok(info);
        }
        self.child.signal(Signal::SIGTERM);
        match tokio::time::timeout(grace, self.exited()).await {
            Ok(info) => Ok(info),
            Err(_) => {
                tracing::warn!(
                    pid = self.pid(),
                    ?grace,
                    "Envoy ignored SIGTERM; killing it"
                );
                self.child.kill_and_wait().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tails_leave_out_listings() {
        let dir = std::env::temp_dir().join(format!("gauntlet-log-tail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("envoy.log");
        let listing = "[2026-11-22 00:11:00.098][4681][info][main] [source/server/server.cc:467]   envoy.string_matcher: envoy.string_matcher.lua";
        let error = "[2026-11-22 00:11:00.100][4681][critical][main] [source/server/server.cc:449] error `no such field: 'bogus_field'` initializing config";
        let lines = [
            "[2026-11-22 00:11:00.097][4681][info][main] [source/server/server.cc:434] statically linked extensions:",
            listing,
            listing,
            error,
            "  /tmp/bootstrap.yaml'",
            "[2026-11-22 00:11:00.100][4681][info][main] [source/server/server.cc:1159] exiting",
        ];
        fs::write(&log, lines.join("\n")).unwrap();
        let tail = read_log_tail(&log, 3);
        assert_eq!(tail, [error, lines[4], lines[5]].join("\n"));
        assert!(read_log_tail(&dir.join("missing"), 3).contains("could not read"));
        fs::remove_dir_all(&dir).unwrap();
        assert!(is_listing(listing) && !is_listing(error) && !is_listing(lines[4]));
    }

    #[test]
    fn exit_info_reads_well() {
        let info = |code, signal, requested| ExitInfo {
            code,
            signal,
            requested,
        };
        assert_eq!(
            info(Some(0), None, true).to_string(),
            "exit code 0, as asked"
        );
        assert_eq!(info(Some(1), None, false).to_string(), "exit code 1");
        assert_eq!(info(None, Some(9), false).to_string(), "killed by SIGKILL");
        assert_eq!(
            info(None, Some(15), true).to_string(),
            "killed by SIGTERM, as asked"
        );
        assert_eq!(info(None, None, false).to_string(), "exit status unknown");
        assert!(info(Some(0), None, false).success() && !info(Some(2), None, false).success());
    }

    #[test]
    fn command_line() {
        let mut cfg = LaunchConfig::new("/bin/envoy", "/run/bootstrap.pb", "/run");
        cfg.concurrency = 2;
        cfg.extra_args = vec!["--component-log-level".into(), "upstream:debug".into()];
        let args: Vec<String> = cfg
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        assert_eq!(
            args.join(" "),
            "-c /run/bootstrap.pb --disable-hot-restart --concurrency 2 --log-level info \
             --admin-address-path /run/admin-address --drain-time-s 1 --parent-shutdown-time-s 2 \
             --component-log-level upstream:debug"
        );
        assert_eq!(cfg.log_path(), Path::new("/run/envoy.log"));
    }
}
