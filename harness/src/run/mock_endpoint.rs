//! One mock endpoint as a container of the `gauntlet-mock` image: starting it, finding its
//! port, sending its behaviour, taking it down, and reading its log.
//!
//! Ports: each mock is started with `--listen` on a port from `ports::free_loopback_port`,
//! below the kernel's ephemeral range, and prints `listening on <addr>` as its first line,
//! which is read back from its log (`mock-<upstream>-<index>.log` in the run directory) as
//! the proof that it bound. An endpoint brought back `up` binds the port it had (the mock's
//! listener sets `SO_REUSEADDR`, as the in-process endpoints do); since that port is outside
//! the ephemeral range, no outgoing connection of the load can have taken it meanwhile,
//! which a port the kernel chose (`:0`) would not promise.
//!
//! The behaviour is `PUT` whole through the control API and compared with what the mock
//! answers it serves, so an image that cannot express part of it fails the start instead of
//! serving something else. An endpoint taken `down` gets SIGTERM, closes its port and drops
//! its connections at once (`--grace 0s`), as in process, and writes its final counts,
//! which are kept for the container that brings it back `up`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_mocks::{Behavior, EndpointCounts, UpstreamCounts};
use nix::sys::signal::Signal;
use tokio::sync::watch;

use super::mock_control::{ControlError, MockControl};
use crate::container::{self, ContainerSpec, DockerError, RunningContainer};
use crate::scenario::MockContainers;

/// How long a started mock may take to say where it listens.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a mock taken down may take to stop (it drops its connections at once).
const DOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the engine's log stream may lag behind what a mock wrote.
const LOG_CATCH_UP: Duration = Duration::from_secs(2);
/// How a stopped mock's final counts start in its log (`gauntlet-mock` writes them).
const FINAL_STATS: &str = "final stats: ";
/// Lines of a mock's log quoted in errors.
const LOG_TAIL_LINES: usize = 15;

/// What went wrong with one mock container, naming the upstream and endpoint.
#[derive(Debug, thiserror::Error)]
pub(super) enum ContainerMockError {
    // The cause is part of the message (not a `source`), so an error chain prints it once.
    #[error("mock `{upstream}` endpoint {index}: {error}")]
    Container {
        upstream: String,
        index: u32,
        error: Box<DockerError>,
    },
    #[error("mock `{upstream}` endpoint {index}: {error}")]
    Control {
        upstream: String,
        index: u32,
        error: Box<ControlError>,
    },
    #[error(
        "mock `{upstream}` endpoint {index} ({log}): {detail}\n  last lines of its log:\n{tail}"
    )]
    NotListening {
        upstream: String,
        index: u32,
        log: String,
        detail: String,
        tail: String,
    },
    #[error("mock `{upstream}` has no endpoint {index} (it has {count})")]
    NoSuchEndpoint {
        upstream: String,
        index: u32,
        count: u32,
    },
    #[error(
        "mock `{upstream}` endpoint {index} serves another behaviour than the one sent \
         (sent {sent}, it serves {served}): its image is older than this Gauntlet; rebuild \
         it with `gauntlet envoy mock-image`"
    )]
    Mismatch {
        upstream: String,
        index: u32,
        sent: String,
        served: String,
    },
}

/// Where each mock container runs, and how.
#[derive(Debug, Clone)]
pub(super) struct Launch {
    pub image: MockContainers,
    pub run_dir: PathBuf,
}

impl Launch {
    /// Starts one endpoint's container (on `addr` when it comes back up), waits until it
    /// listens and sends it `behavior`; `report` hears of its exit unless one is asked for.
    /// On failure the container is removed.
    pub async fn start_endpoint(
        &self,
        report: &watch::Sender<Option<String>>,
        upstream: &str,
        index: u32,
        addr: Option<SocketAddr>,
        behavior: &Behavior,
    ) -> Result<Endpoint, ContainerMockError> {
        let spec = self.spec(upstream, index, addr);
        let log_start = std::fs::metadata(&spec.log_path).map_or(0, |m| m.len());
        let c = container::start(&spec)
            .await
            .map_err(|error| ContainerMockError::Container {
                upstream: upstream.to_string(),
                index,
                error: Box::new(error),
            })?;
        let ready = async {
            let addr = listening(&c, log_start, upstream, index).await?;
            send_behavior(upstream, index, addr, behavior).await?;
            Ok(addr)
        };
        match ready.await {
            Ok(addr) => {
                report_exit(report, &c, upstream, index);
                Ok(Endpoint {
                    addr,
                    behavior: behavior.clone(),
                    container: Some(c),
                    log_start,
                    carried: EndpointCounts::default(),
                })
            }
            Err(e) => {
                c.remove().await;
                Err(e)
            }
        }
    }

    /// The container of one endpoint: the mock's flags, limits and log file.
    fn spec(&self, upstream: &str, index: u32, addr: Option<SocketAddr>) -> ContainerSpec {
        let l = self;
        let log = l.run_dir.join(format!("mock-{upstream}-{index}.log"));
        let mut spec = ContainerSpec::new(
            l.image.image.clone(),
            format!("mock-{upstream}"),
            &l.run_dir,
            log,
        );
        let listen = addr
            .or_else(|| super::ports::free_loopback_port().ok())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        spec.cmd = vec![
            "--listen".into(),
            listen.to_string(),
            "--name".into(),
            upstream.to_string(),
            "--index".into(),
            index.to_string(),
            // Stopping drops what is in flight at once, as an in-process endpoint going
            // down does; the mock then writes its final counts.
            "--grace".into(),
            "0s".into(),
        ];
        if let Some(cpus) = l.image.cpus {
            // A worker per core it may use: more would only contend for the quota.
            let threads = cpus.ceil().max(1.0) as u32;
            spec.cmd.extend(["--threads".into(), threads.to_string()]);
        }
        // Warnings, and each behaviour the control API installs.
        spec.env.insert(
            "RUST_LOG".into(),
            "warn,gauntlet_mocks::control=info".into(),
        );
        // The log is a file: no colour codes.
        spec.env.insert("NO_COLOR".into(), "1".into());
        spec.cpus = l.image.cpus;
        spec.memory = l.image.memory;
        spec.labels
            .insert("org.gauntlet.mock.upstream".into(), upstream.to_string());
        spec.labels
            .insert("org.gauntlet.mock.endpoint".into(), index.to_string());
        spec.start_timeout = Duration::from_secs(30);
        spec
    }
}

/// Reports the container's exit unless it was asked for (a `down`, the teardown).
fn report_exit(
    report: &watch::Sender<Option<String>>,
    c: &RunningContainer,
    upstream: &str,
    index: u32,
) {
    let exited = c.exited();
    let report = report.clone();
    let (log, name) = (c.log_path().to_path_buf(), c.name().to_string());
    let what = format!("mock `{upstream}` endpoint {index}");
    tokio::spawn(async move {
        let info = exited.await;
        if info.requested {
            return;
        }
        // The engine's log stream lags the program a little.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let tail = crate::envoy::process::read_log_tail(&log, LOG_TAIL_LINES);
        let text = format!(
            "{what} (container {name}) exited: {info}\n  last lines of {}:\n{tail}",
            log.display()
        );
        report.send_if_modified(|slot| {
            let first = slot.is_none();
            if first {
                *slot = Some(text);
            }
            first
        });
    });
}

/// One endpoint of an upstream: where it listens and what it serves, its container while
/// it is up, and the counts of the containers it had before.
pub(super) struct Endpoint {
    pub addr: SocketAddr,
    pub behavior: Behavior,
    /// `None` while the endpoint is down.
    pub container: Option<RunningContainer>,
    /// Where the running container's part of the log starts (a restart appends).
    pub log_start: u64,
    /// Counts of the containers this endpoint had before (down, then up again).
    pub carried: EndpointCounts,
}

/// Waits for the mock's `listening on <addr>` line (written after `log_start` in its log),
/// failing early when the container exits first.
async fn listening(
    c: &RunningContainer,
    log_start: u64,
    upstream: &str,
    index: u32,
) -> Result<SocketAddr, ContainerMockError> {
    let not_listening = |detail: String, tail: String| ContainerMockError::NotListening {
        upstream: upstream.to_string(),
        index,
        log: c.log_path().display().to_string(),
        detail,
        tail,
    };
    let poll = async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if let Some(addr) = listen_line(c.log_path(), log_start) {
                return addr;
            }
        }
    };
    tokio::select! {
        addr = tokio::time::timeout(LISTEN_TIMEOUT, poll) => match addr {
            Ok(addr) => Ok(addr),
            Err(_) => Err(not_listening(
                format!("did not say where it listens within {LISTEN_TIMEOUT:?}"),
                c.settled_log_tail(LOG_TAIL_LINES).await,
            )),
        },
        info = c.exited() => {
            // 2 is a usage error: an image built from an older `gauntlet-mock` lacks a flag.
            let hint = if info.code == Some(2) {
                "; if its log names an unknown argument, the image is older than this \
                 Gauntlet: rebuild it with `gauntlet envoy mock-image`"
            } else {
                ""
            };
            Err(not_listening(
                format!("exited before listening: {info}{hint}"),
                c.settled_log_tail(LOG_TAIL_LINES).await,
            ))
        }
    }
}

/// The address of the first `listening on <addr>` line after `from` in the log at `path`.
fn listen_line(path: &Path, from: u64) -> Option<SocketAddr> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(bytes.get(from as usize..)?);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("listening on "))
        .and_then(|a| a.trim().parse().ok())
}

/// PUTs `behavior` and checks the mock serves exactly it.
pub(super) async fn send_behavior(
    upstream: &str,
    index: u32,
    addr: SocketAddr,
    behavior: &Behavior,
) -> Result<(), ContainerMockError> {
    let served = MockControl::new(addr)
        .set_behavior(behavior)
        .await
        .map_err(|source| control(upstream, index, source))?;
    if served == *behavior {
        return Ok(());
    }
    let json = |b: &Behavior| serde_json::to_string(b).unwrap_or_default();
    Err(ContainerMockError::Mismatch {
        upstream: upstream.to_string(),
        index,
        sent: json(behavior),
        served: json(&served),
    })
}

/// Takes the endpoint down: SIGTERM makes the mock close its port and drop its
/// connections at once, then write its final counts, which are kept; the container is then
/// removed. Already down: nothing to do.
pub(super) async fn take_down(
    upstream: &str,
    index: u32,
    e: &mut Endpoint,
) -> Result<(), ContainerMockError> {
    let Some(c) = e.container.take() else {
        return Ok(());
    };
    // Requests may still arrive until the mock stops: these counts are only a fallback.
    let before = MockControl::new(e.addr).counts().await;
    c.signal(Signal::SIGTERM);
    let _ = tokio::time::timeout(DOWN_TIMEOUT, c.exited()).await;
    let last = final_counts(c.log_path(), e.log_start, LOG_CATCH_UP).await;
    c.remove().await;
    let counts = match (last, before) {
        (Some(last), _) => last,
        (None, Ok(before)) => {
            tracing::warn!(
                upstream,
                index,
                "the mock wrote no final counts; keeping those read just before it stopped"
            );
            before
        }
        (None, Err(error)) => return Err(control(upstream, index, error)),
    };
    add(&mut e.carried, &counts);
    Ok(())
}

/// The counts a stopped mock wrote last (`final stats: {json}` after `from` in its log),
/// waiting up to `wait` for the engine's log stream to catch up.
async fn final_counts(log: &Path, from: u64, wait: Duration) -> Option<EndpointCounts> {
    let read = || {
        let bytes = std::fs::read(log).ok()?;
        let text = String::from_utf8_lossy(bytes.get(from as usize..)?).into_owned();
        let json = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix(FINAL_STATS))
            .next_back()?
            .to_string();
        let counts: UpstreamCounts = serde_json::from_str(&json).ok()?;
        counts.endpoints.into_iter().next()
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(counts) = read() {
            return Some(counts);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) fn control(upstream: &str, index: u32, error: ControlError) -> ContainerMockError {
    ContainerMockError::Control {
        upstream: upstream.to_string(),
        index,
        error: Box::new(error),
    }
}

/// Adds `b`'s counts to `a`'s.
pub(super) fn add(a: &mut EndpointCounts, b: &EndpointCounts) {
    a.requests += b.requests;
    for (code, n) in &b.by_status {
        *a.by_status.entry(*code).or_insert(0) += n;
    }
    for (code, n) in &b.by_grpc_status {
        *a.by_grpc_status.entry(*code).or_insert(0) += n;
    }
    a.bytes += b.bytes;
    a.connections += b.connections;
    a.hung += b.hung;
    a.reset += b.reset;
    a.closed += b.closed;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_line_is_read_after_the_offset() {
        let dir = std::env::temp_dir().join(format!("gauntlet-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("mock-a-0.log");
        std::fs::write(
            &log,
            "listening on 127.0.0.1:4000\ngauntlet-mock: upstream a\n",
        )
        .unwrap();
        assert_eq!(
            listen_line(&log, 0),
            Some("127.0.0.1:4000".parse().unwrap())
        );
        let restarted = std::fs::metadata(&log).unwrap().len();
        assert_eq!(listen_line(&log, restarted), None);
        let mut text = std::fs::read_to_string(&log).unwrap();
        text.push_str("listening on 127.0.0.1:4000\n");
        std::fs::write(&log, text).unwrap();
        assert_eq!(
            listen_line(&log, restarted),
            Some("127.0.0.1:4000".parse().unwrap())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn final_counts_are_the_last_ones_after_the_offset() {
        let dir = std::env::temp_dir().join(format!("gauntlet-final-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("mock-a-1.log");
        let line = |n: u64| {
            let e = EndpointCounts {
                requests: n,
                ..Default::default()
            };
            let u = UpstreamCounts::from_endpoints("a", vec![e]);
            format!("{FINAL_STATS}{}\n", serde_json::to_string(&u).unwrap())
        };
        let first = format!("listening on 127.0.0.1:4000\n{}", line(3));
        std::fs::write(
            &log,
            format!("{first}listening on 127.0.0.1:4000\n{}", line(5)),
        )
        .unwrap();
        let requests = |c: Option<EndpointCounts>| c.map(|c| c.requests);
        assert_eq!(
            requests(final_counts(&log, 0, Duration::ZERO).await),
            Some(5)
        );
        let second = first.len() as u64;
        assert_eq!(
            requests(final_counts(&log, second, Duration::ZERO).await),
            Some(5)
        );
        std::fs::write(&log, "listening on 127.0.0.1:4000\n").unwrap();
        assert_eq!(requests(final_counts(&log, 0, Duration::ZERO).await), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn counts_add_up_field_by_field() {
        let one = EndpointCounts {
            requests: 3,
            by_status: [(200, 2), (503, 1)].into(),
            by_grpc_status: [(0, 1)].into(),
            bytes: 10,
            connections: 1,
            hung: 1,
            reset: 2,
            closed: 3,
        };
        let mut sum = one.clone();
        add(&mut sum, &one);
        assert_eq!(sum.requests, 6);
        assert_eq!(sum.by_status, [(200, 4), (503, 2)].into());
        assert_eq!(sum.by_grpc_status, [(0, 2)].into());
        assert_eq!((sum.bytes, sum.connections), (20, 2));
        assert_eq!((sum.hung, sum.reset, sum.closed), (2, 4, 6));
    }
}
