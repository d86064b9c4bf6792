//! The mock upstreams as containers (`mocks:` in the scenario): one `gauntlet-mock`
//! container per endpoint (`mock_endpoint`), on the host network, driven through its
//! control API. Counts come from `GET /__gauntlet/stats`, plus what the containers an
//! endpoint had before a `down` counted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures::future::join_all;
use gauntlet_mocks::{Behavior, EndpointCounts, UpstreamCounts};
use tokio::sync::{watch, Mutex};

use super::mock_control::MockControl;
use super::mock_endpoint::{
    add, control, send_behavior, take_down, ContainerMockError, Endpoint, Launch,
};
use crate::container::RunningContainer;
use crate::scenario::{MockContainers, Upstream};

/// How long a mock may take to drain when the run ends (it stops on SIGTERM at once and
/// gives in-flight requests a second).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Every upstream's containers. Each upstream has its own lock, held while it changes (a
/// timeline event), so reads of other upstreams go on meanwhile.
pub(super) struct ContainerFleet {
    launch: Launch,
    upstreams: BTreeMap<String, Mutex<UpstreamSet>>,
    /// The first unexpected exit of a mock, in words; `None` while all run as asked.
    crashed: watch::Receiver<Option<String>>,
    report: watch::Sender<Option<String>>,
}

/// One upstream: every endpoint ever started, by index. Which of them Envoy is given is
/// the timeline's business (`config::Live`); the fleet keeps them all running.
struct UpstreamSet {
    name: String,
    endpoints: Vec<Endpoint>,
    /// What new endpoints start with: the scenario's, then the last one set for all.
    behavior: Behavior,
}

impl UpstreamSet {
    /// Fails, changing nothing, when an index is past the endpoints started so far.
    fn check(&self, indices: &[u32]) -> Result<(), ContainerMockError> {
        let count = self.endpoints.len() as u32;
        match indices.iter().find(|&&i| i >= count) {
            Some(&index) => Err(ContainerMockError::NoSuchEndpoint {
                upstream: self.name.clone(),
                index,
                count,
            }),
            None => Ok(()),
        }
    }
}

impl ContainerFleet {
    /// Starts a container per endpoint of every upstream, all at once, and sends each its
    /// behaviour. On any failure every container started is removed before this returns.
    pub async fn start(
        image: &MockContainers,
        run_dir: &Path,
        upstreams: &[Upstream],
    ) -> Result<Self, ContainerMockError> {
        let launch = Launch {
            image: image.clone(),
            run_dir: run_dir.to_path_buf(),
        };
        let (report, crashed) = watch::channel(None);
        let mut fleet = Self {
            launch,
            upstreams: BTreeMap::new(),
            crashed,
            report,
        };
        let wanted: Vec<(&Upstream, u32)> = upstreams
            .iter()
            .flat_map(|u| (0..u.endpoints).map(move |i| (u, i)))
            .collect();
        let started = join_all(wanted.iter().map(|(u, i)| {
            fleet
                .launch
                .start_endpoint(&fleet.report, &u.name, *i, None, &u.behavior)
        }))
        .await;
        let mut failure = None;
        for ((u, _), outcome) in wanted.iter().zip(started) {
            match outcome {
                Ok(endpoint) => fleet.set_of(u).endpoints.push(endpoint),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            fleet.stop().await;
            return Err(e);
        }
        Ok(fleet)
    }

    /// The upstream's set, created on first use (endpoints are started in index order).
    fn set_of(&mut self, u: &Upstream) -> &mut UpstreamSet {
        self.upstreams
            .entry(u.name.clone())
            .or_insert_with(|| {
                Mutex::new(UpstreamSet {
                    name: u.name.clone(),
                    endpoints: Vec::new(),
                    behavior: u.behavior.clone(),
                })
            })
            .get_mut()
    }

    /// Every upstream's endpoint addresses, by index.
    pub async fn addrs(&self) -> BTreeMap<String, Vec<SocketAddr>> {
        let mut out = BTreeMap::new();
        for (name, set) in &self.upstreams {
            let set = set.lock().await;
            out.insert(name.clone(), set.endpoints.iter().map(|e| e.addr).collect());
        }
        out
    }

    /// Whether the fleet has an upstream of this name.
    pub fn has(&self, upstream: &str) -> bool {
        self.upstreams.contains_key(upstream)
    }

    /// Sends `behavior` to the given endpoints (all, and every one started later, when
    /// `None`), side by side; endpoints that are down get it when they come back up.
    pub async fn set_behavior(
        &self,
        upstream: &str,
        endpoints: Option<&[u32]>,
        behavior: &Behavior,
    ) -> Result<(), ContainerMockError> {
        let Some(set) = self.upstreams.get(upstream) else {
            return Ok(());
        };
        let mut set = set.lock().await;
        set.check(endpoints.unwrap_or_default())?;
        let indices: Vec<u32> = match endpoints {
            Some(list) => list.to_vec(),
            None => {
                set.behavior = behavior.clone();
                (0..set.endpoints.len() as u32).collect()
            }
        };
        let name = set.name.clone();
        let sends = indices.iter().filter_map(|&i| {
            let e = set.endpoints.get(i as usize)?;
            e.container.as_ref()?;
            Some(send_behavior(&name, i, e.addr, behavior))
        });
        first_error(join_all(sends).await)?;
        for &i in &indices {
            if let Some(e) = set.endpoints.get_mut(i as usize) {
                e.behavior = behavior.clone();
            }
        }
        Ok(())
    }

    /// Takes endpoints down (their containers are removed, their counts kept) or brings
    /// them back up (a new container on the same port, with the same behaviour).
    pub async fn set_up(
        &self,
        upstream: &str,
        endpoints: &[u32],
        up: bool,
    ) -> Result<(), ContainerMockError> {
        let Some(set) = self.upstreams.get(upstream) else {
            return Ok(());
        };
        let mut set = set.lock().await;
        set.check(endpoints)?;
        let mut endpoints = endpoints.to_vec();
        endpoints.sort_unstable();
        endpoints.dedup();
        let name = set.name.clone();
        if !up {
            let downs = set
                .endpoints
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| endpoints.contains(&(*i as u32)))
                .map(|(i, e)| take_down(&name, i as u32, e));
            return first_error(join_all(downs).await);
        }
        let wanted: Vec<(u32, SocketAddr, Behavior)> = endpoints
            .iter()
            .filter_map(|&i| {
                let e = set.endpoints.get(i as usize)?;
                e.container
                    .is_none()
                    .then(|| (i, e.addr, e.behavior.clone()))
            })
            .collect();
        let started = join_all(wanted.iter().map(|(i, addr, b)| {
            self.launch
                .start_endpoint(&self.report, &name, *i, Some(*addr), b)
        }))
        .await;
        // As in process: when one cannot come up, none does.
        let new = all_or_none(started).await?;
        for ((i, _, _), new) in wanted.iter().zip(new) {
            if let Some(e) = set.endpoints.get_mut(*i as usize) {
                e.container = new.container;
                e.log_start = new.log_start;
            }
        }
        Ok(())
    }

    /// Sets the upstream's size to `n` endpoints, starting containers for the new ones;
    /// shrinking only changes membership (the containers keep serving late requests).
    /// Returns the members' addresses.
    pub async fn scale_to(
        &self,
        upstream: &str,
        n: u32,
    ) -> Result<Vec<SocketAddr>, ContainerMockError> {
        let Some(set) = self.upstreams.get(upstream) else {
            return Ok(Vec::new());
        };
        let mut set = set.lock().await;
        let first = set.endpoints.len() as u32;
        let behavior = set.behavior.clone();
        let name = set.name.clone();
        let started = join_all((first..n).map(|i| {
            self.launch
                .start_endpoint(&self.report, &name, i, None, &behavior)
        }))
        .await;
        // As in process: when one cannot start, none is added and the upstream stays as it
        // was.
        let new = all_or_none(started).await?;
        set.endpoints.extend(new);
        Ok(set
            .endpoints
            .iter()
            .take(n as usize)
            .map(|e| e.addr)
            .collect())
    }

    /// Every upstream's counts: each endpoint's own since the last reset, its earlier
    /// containers' included.
    pub async fn counts(&self) -> Result<BTreeMap<String, UpstreamCounts>, ContainerMockError> {
        let mut out = BTreeMap::new();
        for (name, set) in &self.upstreams {
            let set = set.lock().await;
            let reads = set.endpoints.iter().enumerate().map(|(i, e)| async move {
                let mut counts = e.carried.clone();
                if e.container.is_some() {
                    let live = MockControl::new(e.addr)
                        .counts()
                        .await
                        .map_err(|source| control(name, i as u32, source))?;
                    add(&mut counts, &live);
                }
                Ok::<_, ContainerMockError>(counts)
            });
            let endpoints: Result<Vec<_>, _> = join_all(reads).await.into_iter().collect();
            // An endpoint that cannot be read (its container died) leaves its upstream's
            // counts unknown, so that upstream is left out rather than undercounted; the
            // other upstreams keep theirs.
            match endpoints {
                Ok(e) => {
                    out.insert(
                        name.clone(),
                        UpstreamCounts::from_endpoints(name.clone(), e),
                    );
                }
                Err(e) => tracing::warn!("the counts of mock `{name}` are unknown: {e}"),
            }
        }
        Ok(out)
    }

    /// Zeroes every endpoint's counters, e.g. before a step.
    pub async fn reset(&self) -> Result<(), ContainerMockError> {
        for (name, set) in &self.upstreams {
            let mut set = set.lock().await;
            let resets = set
                .endpoints
                .iter_mut()
                .enumerate()
                .map(|(i, e)| async move {
                    e.carried = EndpointCounts::default();
                    match &e.container {
                        Some(_) => MockControl::new(e.addr)
                            .reset()
                            .await
                            .map_err(|source| control(name, i as u32, source)),
                        None => Ok(()),
                    }
                });
            first_error(join_all(resets).await)?;
        }
        Ok(())
    }

    /// Resolves with a description when a mock container exits without being asked to.
    pub async fn crashed(&self) -> String {
        let mut crashed = self.crashed.clone();
        let what = crashed
            .wait_for(Option::is_some)
            .await
            .map(|what| what.clone().unwrap_or_default());
        match what {
            Ok(what) => what,
            // The fleet is gone, so nothing can crash any more.
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops and removes every container, side by side; bounded in time.
    pub async fn stop(self) {
        let mut containers = Vec::new();
        for (_, set) in self.upstreams {
            for e in set.into_inner().endpoints {
                containers.extend(e.container);
            }
        }
        join_all(containers.into_iter().map(|c| c.stop(STOP_GRACE))).await;
    }
}

/// Every endpoint that started, or, when one did not, the first error, after the containers
/// of those that did are removed.
async fn all_or_none(
    started: Vec<Result<Endpoint, ContainerMockError>>,
) -> Result<Vec<Endpoint>, ContainerMockError> {
    let (new, failed): (Vec<_>, Vec<_>) = started.into_iter().partition(Result::is_ok);
    if let Some(Err(e)) = failed.into_iter().next() {
        let containers = new.into_iter().filter_map(|n| n.ok()?.container);
        join_all(containers.map(RunningContainer::remove)).await;
        return Err(e);
    }
    Ok(new.into_iter().flatten().collect())
}

fn first_error(outcomes: Vec<Result<(), ContainerMockError>>) -> Result<(), ContainerMockError> {
    outcomes.into_iter().collect()
}
