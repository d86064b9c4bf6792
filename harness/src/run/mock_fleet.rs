//! The mock upstreams of a run, wherever they run: inside Gauntlet (the default) or as
//! `gauntlet-mock` containers (`mocks:` in the scenario, `mock_containers`). The
//! orchestrator, the steps and the timeline take a [`MockFleet`] and ask it for the same
//! few things either way: the endpoints' addresses, a behaviour swap, endpoints down and
//! up, a new size, the counts, a reset, a crash watch, and the stop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use gauntlet_mocks::{
    start_upstream, Behavior, MockError, UpstreamConfig, UpstreamCounts, UpstreamHandle,
};

use super::mock_containers::ContainerFleet;
use super::mock_endpoint::ContainerMockError;
use crate::scenario::Scenario;

/// Why a fleet operation failed, naming the mock.
#[derive(Debug, thiserror::Error)]
pub(super) enum FleetError {
    #[error("upstream `{0}` is not running")]
    NoSuchUpstream(String),
    #[error("mock upstream `{upstream}`: {error}")]
    InProcess { upstream: String, error: MockError },
    #[error(transparent)]
    Container(#[from] ContainerMockError),
    /// `mocks:` asks for containers, whose logs need a run directory the caller did not give.
    #[error("the mocks run in containers (`mocks:`), which need a run directory for their logs")]
    NoRunDir,
}

/// The running mock upstreams.
pub(super) enum MockFleet {
    /// In this process, one server per endpoint (`gauntlet_mocks::start_upstream`).
    InProcess(BTreeMap<String, UpstreamHandle>),
    /// One container per endpoint.
    Containers(ContainerFleet),
}

impl Default for MockFleet {
    /// No mock yet: what a world holds before its mocks start.
    fn default() -> Self {
        Self::InProcess(BTreeMap::new())
    }
}

impl MockFleet {
    /// Starts every upstream of the scenario: as containers when it has `mocks:` (their
    /// logs go to `run_dir`), else in process. Returns the endpoints' addresses.
    pub async fn start(scenario: &Scenario, run_dir: Option<&Path>) -> Result<Self, FleetError> {
        match (&scenario.mocks, run_dir) {
            (Some(image), Some(dir)) => Ok(Self::Containers(
                ContainerFleet::start(image, dir, &scenario.upstreams).await?,
            )),
            // Never quietly in process when containers were asked for: that would measure
            // something other than the scenario says.
            (Some(_), None) => Err(FleetError::NoRunDir),
            (None, _) => {
                let mut handles = BTreeMap::new();
                for u in &scenario.upstreams {
                    let config = UpstreamConfig::new(&u.name, u.endpoints, u.behavior.clone());
                    let handle = start_upstream(config)
                        .await
                        .map_err(|source| in_process(&u.name, source))?;
                    handles.insert(u.name.clone(), handle);
                }
                Ok(Self::InProcess(handles))
            }
        }
    }

    /// Where the mocks run, for the result and the log: `in-process` or `containers`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InProcess(_) => "in-process",
            Self::Containers(_) => "containers",
        }
    }

    /// Every upstream's endpoint addresses, by index.
    pub async fn addrs(&self) -> BTreeMap<String, Vec<SocketAddr>> {
        match self {
            Self::InProcess(m) => m.iter().map(|(n, h)| (n.clone(), h.addrs())).collect(),
            Self::Containers(c) => c.addrs().await,
        }
    }

    /// Swaps the behaviour of some endpoints of `upstream` (all when `None`).
    pub async fn set_behavior(
        &self,
        upstream: &str,
        endpoints: Option<&[u32]>,
        behavior: &Behavior,
    ) -> Result<(), FleetError> {
        match self {
            Self::InProcess(m) => handle(m, upstream)?
                .set_behavior(endpoints, behavior.clone())
                .map_err(|e| in_process(upstream, e)),
            Self::Containers(c) => {
                known(c, upstream)?;
                Ok(c.set_behavior(upstream, endpoints, behavior).await?)
            }
        }
    }

    /// Takes endpoints of `upstream` down (refusing connections) or brings them back up.
    pub async fn set_up(
        &self,
        upstream: &str,
        endpoints: &[u32],
        up: bool,
    ) -> Result<(), FleetError> {
        match self {
            Self::InProcess(m) => handle(m, upstream)?
                .set_up(endpoints, up)
                .await
                .map_err(|e| in_process(upstream, e)),
            Self::Containers(c) => {
                known(c, upstream)?;
                Ok(c.set_up(upstream, endpoints, up).await?)
            }
        }
    }

    /// Sets the size of `upstream` to `n` endpoints; the members' addresses.
    pub async fn scale_to(&self, upstream: &str, n: u32) -> Result<Vec<SocketAddr>, FleetError> {
        match self {
            Self::InProcess(m) => handle(m, upstream)?
                .scale_to(n)
                .await
                .map_err(|e| in_process(upstream, e)),
            Self::Containers(c) => {
                known(c, upstream)?;
                Ok(c.scale_to(upstream, n).await?)
            }
        }
    }

    /// Every upstream's own counts since the last reset, in the mocks' model.
    pub async fn counts(&self) -> Result<BTreeMap<String, UpstreamCounts>, FleetError> {
        match self {
            Self::InProcess(m) => Ok(m.iter().map(|(n, h)| (n.clone(), h.counts())).collect()),
            Self::Containers(c) => Ok(c.counts().await?),
        }
    }

    /// Zeroes every endpoint's counters.
    pub async fn reset(&self) -> Result<(), FleetError> {
        match self {
            Self::InProcess(m) => {
                m.values().for_each(UpstreamHandle::reset_counts);
                Ok(())
            }
            Self::Containers(c) => Ok(c.reset().await?),
        }
    }

    /// Resolves, with a description, when a mock stops without being asked to; never for
    /// mocks in process, which live as long as Gauntlet.
    pub async fn crashed(&self) -> String {
        match self {
            Self::InProcess(_) => std::future::pending().await,
            Self::Containers(c) => c.crashed().await,
        }
    }

    /// Stops every mock (in-flight requests get a moment) and removes every container.
    pub async fn stop(self) {
        match self {
            Self::InProcess(m) => {
                for (_, handle) in m {
                    handle.shutdown().await;
                }
            }
            Self::Containers(c) => c.stop().await,
        }
    }
}

fn handle<'m>(
    mocks: &'m BTreeMap<String, UpstreamHandle>,
    upstream: &str,
) -> Result<&'m UpstreamHandle, FleetError> {
    mocks
        .get(upstream)
        .ok_or_else(|| FleetError::NoSuchUpstream(upstream.to_string()))
}

fn known(fleet: &ContainerFleet, upstream: &str) -> Result<(), FleetError> {
    if fleet.has(upstream) {
        Ok(())
    } else {
        Err(FleetError::NoSuchUpstream(upstream.to_string()))
    }
}

fn in_process(upstream: &str, error: MockError) -> FleetError {
    FleetError::InProcess {
        upstream: upstream.to_string(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_fleet_answers_every_operation() {
        let yaml = "name: f\nupstreams:\n  a: { endpoints: 2 }\n  b: {}\n\
                    load: { rate: 10/s, duration: 1s }\n";
        let scenario = crate::scenario::parse(yaml, Path::new("f.yaml")).unwrap();
        // Without a run directory the mocks run here, whatever the scenario says.
        let fleet = MockFleet::start(&scenario, None).await.unwrap();
        assert_eq!(fleet.kind(), "in-process");
        let addrs = fleet.addrs().await;
        assert_eq!((addrs["a"].len(), addrs["b"].len()), (2, 1));
        let bodied = Behavior {
            body_bytes: 3,
            ..Behavior::default()
        };
        fleet.set_behavior("a", Some(&[1]), &bodied).await.unwrap();
        let e = fleet.set_behavior("c", None, &bodied).await.unwrap_err();
        assert_eq!(e.to_string(), "upstream `c` is not running");
        let e = fleet.set_up("a", &[5], false).await.unwrap_err();
        assert!(e.to_string().starts_with("mock upstream `a`: "), "{e}");
        assert_eq!(fleet.scale_to("b", 3).await.unwrap().len(), 3);
        let counts = fleet.counts().await.unwrap();
        assert_eq!(counts["b"].endpoints.len(), 3);
        assert_eq!(counts["a"].requests, 0);
        fleet.reset().await.unwrap();
        fleet.stop().await;
    }
}
