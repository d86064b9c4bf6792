//! Containers as Gauntlet runs them, whatever they hold (Envoy, a service under test, a
//! mock): one [`ContainerSpec`] says what to run, [`start`] runs it through testcontainers
//! and hands back a [`RunningContainer`].
//!
//! Every container shares the host's network, so a program inside binds 127.0.0.1 and
//! reaches Gauntlet's servers there exactly as a child process would: ports, URLs and the
//! `127.0.0.0/8`-only rule mean the same inside and out. Its output (stdout and stderr) is
//! appended to [`ContainerSpec::log_path`]; the engine's `wait` reports its exit at once.
//!
//! A container is always removed: by [`RunningContainer::stop`] or
//! [`RunningContainer::remove`] (explicit and bounded, since testcontainers' drop only blocks
//! its thread), by its drop otherwise, by [`remove_live_blocking`] when a second Ctrl-C exits
//! at once, and, for a Gauntlet killed with SIGKILL, by the next [`start`]
//! ([`docker::remove_orphans`], through the `org.gauntlet.pid` label).
//!
//! - [`docker`]: the engine connection, the labels and names that mark Gauntlet's
//!   containers, the errors.
//! - [`image_ref`]: image references, and making an image present ([`ensure_local`]).
//! - `running`: [`start`] and [`RunningContainer`].
//!
//! What is specific to one program (Envoy's bootstrap and admin readiness, a service's
//! health probe) stays with that program: `envoy::container`, `service`.

pub mod docker;
pub mod image_ref;
mod running;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use docker::DockerError;
pub use image_ref::{ensure_local, split_reference};
pub use running::{remove_live_blocking, start, RunningContainer};

/// What to run in one container. Build it with [`ContainerSpec::new`] and set the fields
/// that matter; the rest keep the image's own defaults.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// `repository[:tag]`, e.g. `gauntlet/mock:0.1.0`. Used when local, else pulled; a
    /// missing image is an error that says how to build Gauntlet's own.
    pub image: String,
    /// What the container is, in its name: `envoy`, `svc-checkout`, `mock-pricing`. The
    /// name is `gauntlet-<role>-<gauntlet pid>-<serial>`; characters a container name may
    /// not hold become `-`.
    pub role: String,
    /// The command given to the image's entrypoint (Docker's `CMD`); empty keeps the image's
    /// own. For Gauntlet's images the entrypoint is the program, so this is its arguments.
    pub cmd: Vec<String>,
    /// Environment variables set inside, on top of the image's.
    pub env: BTreeMap<String, String>,
    /// Host paths bind-mounted into the container.
    pub mounts: Vec<BindMount>,
    /// CPU limit in cores (the engine's `NanoCpus`); `None`: no limit.
    pub cpus: Option<f64>,
    /// Memory limit in bytes, swap included (a hard limit, like a pod's); `None`: no limit.
    pub memory: Option<u64>,
    /// Where the container's stdout and stderr are appended (created if missing).
    pub log_path: PathBuf,
    /// The run directory, recorded in the `org.gauntlet.run-dir` label.
    pub run_dir: PathBuf,
    /// Labels added to Gauntlet's own (managed, pid, run directory, role).
    pub labels: BTreeMap<String, String>,
    /// How long the engine may take to create and start the container (not the program's
    /// own readiness, which the caller checks).
    pub start_timeout: Duration,
}

/// A host path mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// The path on this machine.
    pub host: PathBuf,
    /// Where it appears inside.
    pub inside: PathBuf,
}

impl BindMount {
    /// The path mounted at the same path inside, so a file name means the same on both sides.
    pub fn same_path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            host: path.clone(),
            inside: path,
        }
    }
}

impl ContainerSpec {
    /// A container of `image` named after `role`, logging to `log_path`, with the image's
    /// own command and no limits.
    pub fn new(
        image: impl Into<String>,
        role: impl Into<String>,
        run_dir: impl Into<PathBuf>,
        log_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            image: image.into(),
            role: role.into(),
            cmd: Vec::new(),
            env: BTreeMap::new(),
            mounts: Vec::new(),
            cpus: None,
            memory: None,
            log_path: log_path.into(),
            run_dir: run_dir.into(),
            labels: BTreeMap::new(),
            start_timeout: Duration::from_secs(60),
        }
    }
}

/// CPU and memory limits as the engine takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub nano_cpus: Option<i64>,
    pub memory: Option<i64>,
}

impl Limits {
    pub(crate) fn new(cpus: Option<f64>, memory: Option<u64>) -> Self {
        Self {
            nano_cpus: cpus.map(nano_cpus),
            memory: memory.and_then(|m| i64::try_from(m).ok()),
        }
    }

    pub(crate) fn apply(&self, hc: &mut testcontainers::bollard::models::HostConfig) {
        hc.nano_cpus = self.nano_cpus;
        hc.memory = self.memory;
        // No swap beyond the memory limit: a sidecar's limit is a hard one.
        hc.memory_swap = self.memory;
    }
}

/// Cores → the engine's billionths of a CPU.
pub(crate) fn nano_cpus(cpus: f64) -> i64 {
    (cpus * 1e9).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_engine_units() {
        let l = Limits::new(Some(0.25), Some(256 << 20));
        assert_eq!(l.nano_cpus, Some(250_000_000));
        assert_eq!(l.memory, Some(268_435_456));
        assert_eq!(Limits::new(None, None).nano_cpus, None);
    }
}
