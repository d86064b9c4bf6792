//! A service as a child process: its argv spawned (never through a shell) in its own
//! process group with a parent-death SIGKILL, stdout and stderr appended to its log.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use super::{ServiceError, ServiceLaunch};
use crate::envoy::spawn::spawn_child;
use crate::envoy::supervise::Supervised;

/// Spawns `argv` in `cwd` with the launch's environment added to Gauntlet's, supervised.
pub(super) async fn spawn(
    cfg: &ServiceLaunch,
    argv: &[String],
    cwd: &Path,
) -> Result<Supervised, ServiceError> {
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
    let program = resolve_program(&argv[0], cwd);
    let mut command = Command::new(&program);
    command
        .args(&argv[1..])
        .envs(&cfg.env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .kill_on_drop(true);
    let spawn_error = |error: std::io::Error| ServiceError::Spawn {
        name: cfg.name.clone(),
        program: program.display().to_string(),
        hint: spawn_hint(&argv[0], &error),
        error,
    };
    let child = spawn_child(command).await.map_err(spawn_error)?;
    Supervised::start(child).map_err(spawn_error)
}

/// The stand-in service ships with Gauntlet but is a binary of its own, which
/// `cargo run -p gauntlet` does not build.
fn spawn_hint(program: &str, error: &std::io::Error) -> String {
    if program == "gauntlet-mock" && error.kind() == std::io::ErrorKind::NotFound {
        "\n  hint: build it beside `gauntlet` with `cargo build --release -p gauntlet-mocks` \
         (or put a `gauntlet-mock` on PATH)"
            .to_string()
    } else {
        String::new()
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
