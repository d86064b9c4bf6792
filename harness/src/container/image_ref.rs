//! Image references: split into repository and tag, and made present in the engine (local,
//! else pulled where a registry answers), with an error that says how to build Gauntlet's
//! own images when neither works.

use std::time::Duration;

use futures::StreamExt;
use testcontainers::bollard::query_parameters::CreateImageOptionsBuilder;
use testcontainers::bollard::Docker;

use super::docker::{self, DockerError};

/// How long pulling an image that is not local may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(120);

/// `repository[:tag]` → (repository, tag), `latest` when no tag is given.
pub fn split_reference(image: &str) -> (String, String) {
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (
            image[..last_slash + i].to_string(),
            image[last_slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// Checks that the image is in the engine, pulling it if a registry answers; the error
/// says how to build Gauntlet's own image instead.
pub async fn ensure_local(docker: &Docker, image: &str) -> Result<(), DockerError> {
    let local = docker::bounded("inspecting an image", async {
        Ok(docker.inspect_image(image).await.is_ok())
    })
    .await?;
    if local {
        return Ok(());
    }
    let (repository, tag) = split_reference(image);
    let options = CreateImageOptionsBuilder::new()
        .from_image(&repository)
        .tag(&tag)
        .build();
    let pull = async {
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    let detail = match tokio::time::timeout(PULL_TIMEOUT, pull).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e,
        Err(_) => format!("the pull took longer than {PULL_TIMEOUT:?}"),
    };
    Err(DockerError::MissingImage {
        image: image.to_string(),
        detail,
        hint: build_hint(image),
    })
}

/// How to get an image that is missing.
pub(crate) fn build_hint(image: &str) -> String {
    let (repository, tag) = split_reference(image);
    let version = tag.trim_start_matches('v');
    match repository.as_str() {
        "gauntlet/envoy" => format!("build it with `gauntlet envoy image {version}`"),
        "gauntlet/mock" => "build it with `gauntlet envoy mock-image`".to_string(),
        // Another Envoy image: Gauntlet's own is the one that needs no registry.
        r if r.ends_with("envoy") => {
            let version = if version.contains('.') {
                version
            } else {
                "1.40.0"
            };
            format!(
                "build Gauntlet's own image with `gauntlet envoy image {version}` and use \
                 `image: gauntlet/envoy:{version}`, or load `{image}` into the engine (`docker load`)"
            )
        }
        _ => format!(
            "build `{image}` in the engine or load it there (`docker load`); Gauntlet's own \
             images are built with `gauntlet envoy image <version>` (Envoy) and \
             `gauntlet envoy mock-image` (gauntlet-mock)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag() {
        let s = |r: &str| split_reference(r);
        assert_eq!(
            s("gauntlet/envoy:1.40.0"),
            ("gauntlet/envoy".into(), "1.40.0".into())
        );
        assert_eq!(
            s("envoyproxy/envoy"),
            ("envoyproxy/envoy".into(), "latest".into())
        );
        assert_eq!(
            s("localhost:5000/envoy:v1"),
            ("localhost:5000/envoy".into(), "v1".into())
        );
        assert_eq!(
            s("localhost:5000/envoy"),
            ("localhost:5000/envoy".into(), "latest".into())
        );
    }

    #[test]
    fn hints_name_the_build_command() {
        assert_eq!(
            build_hint("gauntlet/envoy:1.39.3"),
            "build it with `gauntlet envoy image 1.39.3`"
        );
        assert!(build_hint("envoyproxy/envoy:v1.40.0").contains("gauntlet envoy image 1.40.0"));
        assert!(build_hint("gauntlet/mock:0.1.0").contains("gauntlet envoy mock-image"));
        assert!(build_hint("shop/checkout:2").contains("load it there (`docker load`)"));
    }
}
