//! One side of a compare: which Envoy it runs, resolved (and installed if needed) before
//! the first run, so a missing version fails the compare at once rather than midway.
//!
//! A side is an enum so that other ways to provide Envoy (a container image) are one more
//! variant with its own `resolve` and `apply`.

use std::path::PathBuf;

use crate::envoy::{self, EnvoyError};
use crate::run::RunOptions;
use crate::scenario::DEFAULT_ENVOY_VERSION;

/// What the user asked a side to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideSpec {
    /// A released version: `ENVOY_BIN`/`PATH` if they report it, else the managed install.
    Version(String),
    /// This binary, as is.
    Binary(PathBuf),
    /// Envoy in a container of this local (or pullable) image, with the scenario's limits.
    Image(String),
}

/// A side ready to run.
#[derive(Debug, Clone)]
pub struct ResolvedSide {
    pub spec: SideSpec,
    /// What reports call it, e.g. `envoy 1.39.3`.
    pub label: String,
    /// The binary every run of this side uses.
    pub binary: PathBuf,
    /// The version the binary reports.
    pub version: String,
}

impl SideSpec {
    /// The side in words.
    pub fn label(&self) -> String {
        match self {
            SideSpec::Version(v) => format!("envoy {v}"),
            SideSpec::Binary(p) => format!("binary {}", p.display()),
            SideSpec::Image(i) => format!("image {i}"),
        }
    }

    /// Finds (and if needed installs) the side's Envoy.
    pub async fn resolve(&self) -> Result<ResolvedSide, EnvoyError> {
        if let SideSpec::Image(image) = self {
            // The image holds Envoy; a missing one fails the first run with how to build it.
            let (_, tag) = envoy::container::split_reference(image);
            return Ok(ResolvedSide {
                spec: self.clone(),
                label: self.label(),
                binary: envoy::image::ENVOY_PATH.into(),
                version: tag.trim_start_matches('v').to_string(),
            });
        }
        let request = match self {
            SideSpec::Version(v) => envoy::Request::Version(v.clone()),
            SideSpec::Binary(p) => envoy::Request::Binary(p.clone()),
            SideSpec::Image(_) => unreachable!("handled above"),
        };
        let resolved = envoy::install::which(&request, DEFAULT_ENVOY_VERSION).await?;
        Ok(ResolvedSide {
            spec: self.clone(),
            label: self.label(),
            binary: resolved.path,
            version: resolved.version,
        })
    }
}

impl ResolvedSide {
    /// The side in words, with the version its binary reports when the label lacks it.
    pub fn describe(&self) -> String {
        if self.label.contains(&self.version) {
            self.label.clone()
        } else {
            format!("{}, Envoy {}", self.label, self.version)
        }
    }

    /// Points a run at this side's Envoy.
    pub fn apply(&self, opts: &mut RunOptions) {
        match &self.spec {
            SideSpec::Image(image) => {
                opts.envoy_bin = None;
                opts.envoy_image = Some(image.clone());
            }
            _ => opts.envoy_bin = Some(self.binary.clone()),
        }
    }
}
