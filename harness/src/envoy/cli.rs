//! Text answers for the `gauntlet envoy …` subcommands.

use std::fmt::Write as _;

use super::install::{self, Provisioner, Request, Source};
use super::EnvoyError;
use crate::scenario::DEFAULT_ENVOY_VERSION;

/// `gauntlet envoy install <version>`: installs (or checks) a managed Envoy.
pub async fn install(version: &str) -> Result<String, EnvoyError> {
    let installed = install::install(version).await?;
    Ok(format!(
        "Envoy {} is installed at {}",
        installed.version,
        installed.path.display()
    ))
}

/// `gauntlet envoy list`: the managed installs, one per line.
pub fn list() -> Result<String, EnvoyError> {
    let provisioner = Provisioner::from_env();
    let installed = provisioner.list()?;
    if installed.is_empty() {
        return Ok(format!(
            "no managed Envoy installs in {} (add one with `gauntlet envoy install {DEFAULT_ENVOY_VERSION}`)",
            provisioner.managed_root()?.display()
        ));
    }
    let mut text = String::new();
    for i in installed {
        let _ = writeln!(text, "{:<14} {}", i.version, i.path.display());
    }
    Ok(text.trim_end().to_owned())
}

/// `gauntlet envoy which [--version V]`: the binary a run would use, installing it if needed.
pub async fn which(version: Option<&str>) -> Result<String, EnvoyError> {
    let request = match version {
        Some(v) => Request::Version(v.to_owned()),
        None => Request::Default,
    };
    let resolved = install::which(&request, DEFAULT_ENVOY_VERSION).await?;
    let source = match resolved.source {
        Source::Explicit => "named explicitly",
        Source::EnvVar => "ENVOY_BIN",
        Source::Path => "PATH",
        Source::Managed => "managed install",
    };
    Ok(format!(
        "binary:  {}\nversion: {} ({})\nsource:  {source}",
        resolved.path.display(),
        resolved.version,
        resolved.full_version
    ))
}

/// `gauntlet envoy image <version>`: builds `gauntlet/envoy:<version>` in the local Docker
/// engine from the managed install (nothing to do when it is up to date).
pub async fn image(version: &str) -> Result<String, super::DockerError> {
    let image = super::image::envoy_image(version).await?;
    Ok(image_report(&image))
}

/// `gauntlet envoy mock-image [--binary PATH]`: builds `gauntlet/mock:<gauntlet version>`.
pub async fn mock_image(binary: Option<std::path::PathBuf>) -> Result<String, super::DockerError> {
    let image = super::image::mock_image(binary).await?;
    Ok(image_report(&image))
}

fn image_report(image: &super::image::Image) -> String {
    let what = if image.built { "built" } else { "up to date" };
    format!(
        "{} {what} ({} files, {:.1} MB, {:.1} s, id {})",
        image.tag,
        image.files,
        image.bytes as f64 / 1e6,
        image.took.as_secs_f64(),
        super::docker::short(image.id.trim_start_matches("sha256:"))
    )
}
