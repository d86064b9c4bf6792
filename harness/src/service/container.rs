//! A service as a container of its image, on the host network: `127.0.0.1:<PORT>` and the
//! `<DEP>_URL` addresses mean the same inside as out, and the health probe polls it from the
//! host. Its output is appended to the service's log.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{ServiceError, ServiceLaunch};
use crate::container::{self, ContainerSpec, RunningContainer};

/// Label naming the service a container holds.
pub const SERVICE_LABEL: &str = "org.gauntlet.service";

/// What the container of one service is made of.
#[derive(Debug, Clone)]
pub struct ImageLaunch {
    /// `repository[:tag]`.
    pub image: String,
    /// The container's command (the entrypoint's arguments), already expanded; empty: the
    /// image's own.
    pub args: Vec<String>,
    /// CPU limit in cores.
    pub cpus: Option<f64>,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// The run directory, for the container's labels.
    pub run_dir: PathBuf,
}

/// Starts the service's container (named `gauntlet-svc-<name>-…`); the caller checks health.
pub(super) async fn spawn(
    cfg: &ServiceLaunch,
    run: &ImageLaunch,
) -> Result<RunningContainer, ServiceError> {
    let spec = container_spec(cfg, run);
    container::start(&spec)
        .await
        .map_err(|error| ServiceError::Container {
            name: cfg.name.clone(),
            error,
        })
}

fn container_spec(cfg: &ServiceLaunch, run: &ImageLaunch) -> ContainerSpec {
    let mut spec = ContainerSpec::new(
        &run.image,
        format!("svc-{}", cfg.name),
        &run.run_dir,
        &cfg.log_path,
    );
    spec.cmd = run.args.clone();
    spec.env = cfg.env.clone();
    spec.cpus = run.cpus;
    spec.memory = run.memory;
    spec.labels = BTreeMap::from([(SERVICE_LABEL.to_string(), cfg.name.clone())]);
    spec
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;
    use crate::service::Launch;

    #[test]
    fn the_container_gets_the_args_env_limits_and_log() {
        let cfg = ServiceLaunch {
            name: "checkout".into(),
            launch: Launch::Process {
                argv: vec!["unused".into()],
                cwd: PathBuf::from("."),
            },
            env: BTreeMap::from([("PORT".to_string(), "8080".to_string())]),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            health: "/healthz".into(),
            startup_timeout: Duration::from_secs(1),
            log_path: PathBuf::from("/run/service-checkout.log"),
        };
        let args = vec!["--listen".to_string(), "127.0.0.1:8080".to_string()];
        let run = ImageLaunch {
            image: "gauntlet/mock:0.1.0".into(),
            args: args.clone(),
            cpus: Some(0.5),
            memory: Some(64 << 20),
            run_dir: PathBuf::from("/run"),
        };
        let spec = container_spec(&cfg, &run);
        assert_eq!(spec.role, "svc-checkout");
        assert_eq!(spec.cmd, args);
        assert_eq!(spec.env["PORT"], "8080");
        assert_eq!((spec.cpus, spec.memory), (Some(0.5), Some(64 << 20)));
        assert_eq!(spec.log_path, PathBuf::from("/run/service-checkout.log"));
        assert_eq!(spec.labels[SERVICE_LABEL], "checkout");
    }
}
