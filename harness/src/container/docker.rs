//! The Docker engine as Gauntlet uses it: one way to connect, the labels and names that mark
//! what Gauntlet made (so a leftover check can find it), the clean-up of containers whose
//! Gauntlet died, and the errors, each saying what to do.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;

/// Label on every image and container Gauntlet makes.
pub const MANAGED_LABEL: &str = "org.gauntlet.managed";
/// Label holding the fingerprint of an image's files, so a rebuild can be skipped.
pub const CONTENT_LABEL: &str = "org.gauntlet.content";
/// Label holding the pid of the Gauntlet process that started a container.
pub const PID_LABEL: &str = "org.gauntlet.pid";
/// Prefix of every container name Gauntlet gives.
pub const NAME_PREFIX: &str = "gauntlet-";
/// Longest wait for one engine call that should be quick (inspect, kill, remove).
pub(crate) const API_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors from the Docker engine, from building images and from running containers.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No engine answered.
    #[error("no Docker engine answers ({detail}): start it, or point DOCKER_HOST at it")]
    Unreachable { detail: String },

    /// The image is not local and pulling it failed (no registry, or no such image).
    #[error("image `{image}` is not in the local Docker engine and could not be pulled ({detail}): {hint}")]
    MissingImage {
        image: String,
        detail: String,
        hint: String,
    },

    /// An engine call failed.
    #[error("{action}: {detail}")]
    Api { action: String, detail: String },

    /// An engine call took too long.
    #[error("{action}: no answer from the Docker engine after {waited:?}")]
    Timeout { action: String, waited: Duration },

    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },

    /// `ldd` could not list a binary's libraries.
    #[error("could not list the shared libraries of {} with `ldd` ({detail}): is it a dynamically linked program for this machine?", binary.display())]
    Ldd { binary: PathBuf, detail: String },

    /// The engine refused the build.
    #[error("building image `{tag}` failed: {detail}")]
    Build { tag: String, detail: String },

    /// A binary to put in an image was not found.
    #[error("{what} not found: {hint}")]
    NotFound { what: String, hint: String },

    /// The managed Envoy install an image is built from failed.
    #[error(transparent)]
    Envoy(#[from] crate::envoy::EnvoyError),
}

impl DockerError {
    pub(crate) fn api(
        action: impl Into<String>,
    ) -> impl FnOnce(testcontainers::bollard::errors::Error) -> Self {
        let action = action.into();
        move |e| Self::Api {
            action,
            detail: e.to_string(),
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// Connects to the engine (`DOCKER_HOST`, else the local socket), agrees on an API version
/// (the engine may be older than the client) and checks that it answers.
pub async fn connect() -> Result<Docker, DockerError> {
    let unreachable = |e: testcontainers::bollard::errors::Error| DockerError::Unreachable {
        detail: e.to_string(),
    };
    let docker = Docker::connect_with_defaults().map_err(unreachable)?;
    let docker = bounded("asking the Docker engine its API version", async {
        docker.negotiate_version().await.map_err(unreachable)
    })
    .await?;
    bounded("pinging the Docker engine", async {
        docker.ping().await.map_err(unreachable)
    })
    .await?;
    Ok(docker)
}

/// Runs an engine call with [`API_TIMEOUT`].
pub(crate) async fn bounded<T>(
    action: &str,
    call: impl std::future::Future<Output = Result<T, DockerError>>,
) -> Result<T, DockerError> {
    tokio::time::timeout(API_TIMEOUT, call)
        .await
        .map_err(|_| DockerError::Timeout {
            action: action.to_string(),
            waited: API_TIMEOUT,
        })?
}

/// The labels of a container started by this process.
pub(crate) fn container_labels(run_dir: &std::path::Path) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED_LABEL.to_string(), "true".to_string()),
        (PID_LABEL.to_string(), std::process::id().to_string()),
        (
            "org.gauntlet.run-dir".to_string(),
            run_dir.display().to_string(),
        ),
    ])
}

/// Removes the containers whose Gauntlet process is gone: one killed with SIGKILL (or
/// aborted by a second Ctrl-C) could not remove its own. Only containers with Gauntlet's
/// label, its name prefix and the pid label of a process that no longer exists are touched.
pub async fn remove_orphans(docker: &Docker) -> Result<Vec<String>, DockerError> {
    let filters = HashMap::from([("label", vec![MANAGED_LABEL])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let list = bounded("listing Gauntlet's containers", async {
        docker
            .list_containers(Some(options))
            .await
            .map_err(DockerError::api("listing Gauntlet's containers"))
    })
    .await?;
    let mut removed = Vec::new();
    for c in list {
        let named = c
            .names
            .iter()
            .flatten()
            .any(|n| n.trim_start_matches('/').starts_with(NAME_PREFIX));
        let owner = c
            .labels
            .as_ref()
            .and_then(|l| l.get(PID_LABEL))
            .and_then(|p| p.parse::<u32>().ok());
        let (Some(id), Some(pid), true) = (c.id, owner, named) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        force_remove(docker, &id).await?;
        removed.push(id);
    }
    Ok(removed)
}

/// Removes a container whatever its state (SIGKILL first if it runs).
pub(crate) async fn force_remove(docker: &Docker, id: &str) -> Result<(), DockerError> {
    let action = format!("removing container {}", short(id));
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    bounded(&action, async {
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // Already gone: what was asked for holds.
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }) => Ok(()),
            Err(e) => Err(DockerError::api(action.clone())(e)),
        }
    })
    .await
}

/// The first 12 characters of an id, as `docker ps` shows it.
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
