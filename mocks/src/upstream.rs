//! A named group of mock endpoints, the stand-in for one Envoy cluster's hosts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::counters::UpstreamCounts;
use crate::endpoint::{EndpointId, EndpointState, Prepared};
use crate::server::serve;
use crate::{Behavior, MockError};

/// What to start: plain data, so a scenario can build it and a report can print it.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// The upstream's name, sent back in `x-gauntlet-upstream`.
    pub name: String,
    /// How many endpoints, each on its own port.
    pub endpoints: u32,
    /// The behaviour every endpoint starts with.
    pub behavior: Behavior,
    /// The address to bind; loopback unless Envoy runs elsewhere.
    pub bind_ip: IpAddr,
}

impl UpstreamConfig {
    /// A config on 127.0.0.1.
    pub fn new(name: impl Into<String>, endpoints: u32, behavior: Behavior) -> Self {
        Self {
            name: name.into(),
            endpoints,
            behavior,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self::new("mock", 1, Behavior::default())
    }
}

/// A running upstream. Dropping it stops its endpoints (each lets in-flight requests finish
/// for a moment in the background); [`UpstreamHandle::shutdown`] does the same and waits.
#[derive(Debug)]
pub struct UpstreamHandle {
    name: String,
    endpoints: Vec<Arc<EndpointState>>,
    addrs: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<Result<(), MockError>>>,
    // Never sent on except at shutdown; its drop with the handle closes the channel, which
    // the servers take as the shutdown signal too.
    stop: watch::Sender<()>,
}

/// Binds every endpoint of `config` on a free port and starts serving.
pub async fn start_upstream(config: UpstreamConfig) -> Result<UpstreamHandle, MockError> {
    if config.endpoints == 0 {
        return Err(MockError::InvalidConfig(format!(
            "upstream {:?} needs at least one endpoint",
            config.name
        )));
    }
    let prepared = Arc::new(Prepared::new(config.behavior)?);
    // Bind everything before spawning anything, so a failure leaves nothing running.
    let mut bound = Vec::with_capacity(config.endpoints as usize);
    for index in 0..config.endpoints {
        let id = EndpointId {
            upstream: config.name.clone(),
            index,
        };
        let state = Arc::new(EndpointState::with_prepared(id, Arc::clone(&prepared))?);
        let addr = SocketAddr::new(config.bind_ip, 0);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MockError::Bind { addr, source })?;
        let local = listener.local_addr()?;
        bound.push((listener, local, state));
    }

    let (stop, _) = watch::channel(());
    let mut handle = UpstreamHandle {
        name: config.name,
        endpoints: Vec::with_capacity(bound.len()),
        addrs: Vec::with_capacity(bound.len()),
        tasks: Vec::with_capacity(bound.len()),
        stop,
    };
    for (listener, addr, state) in bound {
        let mut stopped = handle.stop.subscribe();
        let signal = async move {
            // Err means the handle was dropped, which is a stop as well.
            let _ = stopped.changed().await;
        };
        handle
            .tasks
            .push(tokio::spawn(serve(listener, Arc::clone(&state), signal)));
        handle.addrs.push(addr);
        handle.endpoints.push(state);
    }
    Ok(handle)
}

impl UpstreamHandle {
    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where each endpoint listens, by index.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// The state of endpoint `index`, for callers that want its live counters.
    pub fn endpoint(&self, index: u32) -> Option<&Arc<EndpointState>> {
        self.endpoints.get(index as usize)
    }

    /// Swaps the behaviour of the given endpoints (`None`: all) while they run. Requests
    /// already waiting finish with the old behaviour; connections stay open. Nothing changes
    /// if the behaviour is invalid or an index is out of range.
    pub fn set_behavior(
        &self,
        endpoints: Option<&[u32]>,
        behavior: Behavior,
    ) -> Result<(), MockError> {
        if let Some(&index) = endpoints
            .unwrap_or_default()
            .iter()
            .find(|&&i| i as usize >= self.endpoints.len())
        {
            return Err(MockError::NoSuchEndpoint {
                upstream: self.name.clone(),
                index,
                count: self.endpoints.len() as u32,
            });
        }
        let prepared = Arc::new(Prepared::new(behavior)?);
        match endpoints {
            None => self
                .endpoints
                .iter()
                .for_each(|e| e.set_prepared(Arc::clone(&prepared))),
            Some(indices) => indices
                .iter()
                .filter_map(|&i| self.endpoints.get(i as usize))
                .for_each(|e| e.set_prepared(Arc::clone(&prepared))),
        }
        Ok(())
    }

    /// A snapshot of every endpoint's counters with the totals.
    pub fn counts(&self) -> UpstreamCounts {
        let endpoints = self
            .endpoints
            .iter()
            .map(|e| e.counters.snapshot())
            .collect();
        UpstreamCounts::from_endpoints(self.name.clone(), endpoints)
    }

    /// Zeroes every endpoint's counters, e.g. after a warm-up.
    pub fn reset_counts(&self) {
        self.endpoints.iter().for_each(|e| e.counters.reset());
    }

    /// Stops accepting on every endpoint, lets in-flight requests finish within the grace
    /// period, and returns when every endpoint has stopped.
    pub async fn shutdown(self) {
        let Self {
            name, tasks, stop, ..
        } = self;
        stop.send_replace(());
        for task in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(upstream = %name, %error, "endpoint stopped with an error"),
                Err(error) => warn!(upstream = %name, %error, "endpoint task failed"),
            }
        }
    }
}
