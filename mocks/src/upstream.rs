//! A named group of mock endpoints, the stand-in for one Envoy cluster's hosts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::counters::UpstreamCounts;
use crate::endpoint::{EndpointId, EndpointState, Prepared};
use crate::server::serve_until;
use crate::{Behavior, MockError, ServeOptions};

/// Pending connections a listener queues, as `tokio::net::TcpListener::bind` does.
const BACKLOG: u32 = 1024;

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
///
/// Every method takes `&self`, so the harness can drive the timeline (behaviour swaps,
/// endpoints down and up, growth) through a shared reference. The handle's own lock guards
/// the list of endpoints only; requests never touch it.
#[derive(Debug)]
pub struct UpstreamHandle {
    name: String,
    bind_ip: IpAddr,
    inner: Mutex<Inner>,
    // Serialises the changes that wait (`set_up`, `scale_to`), so that one endpoint is never
    // being stopped and re-bound at once. The `inner` lock is never held across an await.
    changes: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Inner {
    /// Every endpoint ever started, by index; none is ever removed.
    endpoints: Vec<Endpoint>,
    /// How many of them, from the first, the upstream counts as its members.
    active: usize,
    /// The behaviour new endpoints start with: the config's, then the last one set for all.
    behavior: Arc<Prepared>,
}

impl Inner {
    fn active_addrs(&self) -> Vec<SocketAddr> {
        self.endpoints
            .iter()
            .take(self.active)
            .map(|e| e.addr)
            .collect()
    }
}

#[derive(Debug)]
struct Endpoint {
    state: Arc<EndpointState>,
    addr: SocketAddr,
    /// The server on `addr`; `None` while the endpoint is down.
    server: Option<Server>,
}

/// A running server. Dropping `stop` stops it with the default grace period.
#[derive(Debug)]
struct Server {
    /// Sends the grace period to stop with: zero to drop the connections at once.
    stop: oneshot::Sender<Duration>,
    task: JoinHandle<Result<(), MockError>>,
}

/// Binds every endpoint of `config` on a free port and starts serving.
pub async fn start_upstream(config: UpstreamConfig) -> Result<UpstreamHandle, MockError> {
    if config.endpoints == 0 {
        return Err(MockError::InvalidConfig(format!(
            "upstream {:?} needs at least one endpoint",
            config.name
        )));
    }
    let handle = UpstreamHandle {
        name: config.name,
        bind_ip: config.bind_ip,
        inner: Mutex::new(Inner {
            endpoints: Vec::with_capacity(config.endpoints as usize),
            active: 0,
            behavior: Arc::new(Prepared::new(config.behavior)?),
        }),
        changes: tokio::sync::Mutex::new(()),
    };
    handle.grow(&mut handle.inner(), config.endpoints)?;
    Ok(handle)
}

impl UpstreamHandle {
    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where each endpoint ever started listens, by index, active or not, up or down.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.inner().endpoints.iter().map(|e| e.addr).collect()
    }

    /// The addresses of the active endpoints: the first `n` after [`scale_to(n)`], all of
    /// them before. These are the members the harness announces to Envoy.
    ///
    /// [`scale_to(n)`]: UpstreamHandle::scale_to
    pub fn active_addrs(&self) -> Vec<SocketAddr> {
        let inner = self.inner();
        inner.active_addrs()
    }

    /// The state of endpoint `index`, for callers that want its live counters.
    pub fn endpoint(&self, index: u32) -> Option<Arc<EndpointState>> {
        self.inner()
            .endpoints
            .get(index as usize)
            .map(|e| Arc::clone(&e.state))
    }

    /// Whether endpoint `index` is up (listening); `None` if there is no such endpoint.
    pub fn is_up(&self, index: u32) -> Option<bool> {
        self.inner()
            .endpoints
            .get(index as usize)
            .map(|e| e.server.is_some())
    }

    /// Swaps the behaviour of the given endpoints (`None`: all, and every endpoint
    /// [`scale_to`](UpstreamHandle::scale_to) starts later) while they run. Requests already
    /// waiting finish with the old behaviour; connections stay open. Nothing changes if the
    /// behaviour is invalid or an index is out of range.
    pub fn set_behavior(
        &self,
        endpoints: Option<&[u32]>,
        behavior: Behavior,
    ) -> Result<(), MockError> {
        let mut inner = self.inner();
        self.check_indices(&inner, endpoints.unwrap_or_default())?;
        let prepared = Arc::new(Prepared::new(behavior)?);
        match endpoints {
            None => {
                inner
                    .endpoints
                    .iter()
                    .for_each(|e| e.state.set_prepared(Arc::clone(&prepared)));
                inner.behavior = prepared;
            }
            Some(indices) => indices
                .iter()
                .filter_map(|&i| inner.endpoints.get(i as usize))
                .for_each(|e| e.state.set_prepared(Arc::clone(&prepared))),
        }
        Ok(())
    }

    /// Takes endpoints down or brings them back up; endpoints already so are left alone.
    ///
    /// Down: the endpoint closes its listening socket, so connecting is refused
    /// (`ECONNREFUSED`), and drops its open connections with whatever was in flight. Returns
    /// once that is done. Up: the endpoint listens again on the same address (with
    /// `SO_REUSEADDR`, so connections of its past in `TIME_WAIT` do not block it), with the
    /// behaviour and counters it had. If another socket took the port meanwhile, this fails
    /// with [`MockError::Bind`] and no endpoint comes up. An index out of range fails before
    /// anything changes.
    pub async fn set_up(&self, endpoints: &[u32], up: bool) -> Result<(), MockError> {
        let _change = self.changes.lock().await;
        let mut indices = endpoints.to_vec();
        indices.sort_unstable();
        indices.dedup();
        if up {
            let mut inner = self.inner();
            self.check_indices(&inner, &indices)?;
            // Bind everything before serving anything, so a failure leaves all as it was.
            let mut bound = Vec::new();
            for &index in &indices {
                if let Some(endpoint) = inner.endpoints.get(index as usize) {
                    if endpoint.server.is_none() {
                        bound.push((index, bind(endpoint.addr)?));
                    }
                }
            }
            for (index, listener) in bound {
                if let Some(endpoint) = inner.endpoints.get_mut(index as usize) {
                    endpoint.server = Some(spawn_server(listener, Arc::clone(&endpoint.state)));
                }
            }
            return Ok(());
        }
        let stopping: Vec<(u32, Server)> = {
            let mut inner = self.inner();
            self.check_indices(&inner, &indices)?;
            indices
                .iter()
                .filter_map(|&i| {
                    let endpoint = inner.endpoints.get_mut(i as usize)?;
                    endpoint.server.take().map(|server| (i, server))
                })
                .collect()
        };
        // Signal all first, so the endpoints go down together. A failed send means the
        // server has stopped already, which is what we want.
        let tasks: Vec<_> = stopping
            .into_iter()
            .map(|(index, server)| {
                let _ = server.stop.send(Duration::ZERO);
                (index, server.task)
            })
            .collect();
        for (index, task) in tasks {
            self.joined(index, task.await);
        }
        Ok(())
    }

    /// Sets the upstream's size to `n` endpoints and returns their addresses (what
    /// [`active_addrs`](UpstreamHandle::active_addrs) returns from then on). Being active is
    /// membership only: an active endpoint may be down, an inactive one still serves.
    ///
    /// Growing past every endpoint started so far starts new ones on new ports, with the
    /// behaviour last set for all endpoints (or the config's); growing back over endpoints
    /// shrunk away reuses them. Shrinking only changes which addresses are active: the
    /// endpoints keep running, so requests in flight finish and a late request is still
    /// answered while Envoy learns of the change. If a new endpoint cannot bind, none is
    /// started and the upstream stays as it was.
    pub async fn scale_to(&self, n: u32) -> Result<Vec<SocketAddr>, MockError> {
        let _change = self.changes.lock().await;
        let mut inner = self.inner();
        if n as usize > inner.endpoints.len() {
            self.grow(&mut inner, n)?;
        }
        inner.active = n as usize;
        Ok(inner.active_addrs())
    }

    /// A snapshot of every endpoint's counters with the totals, active or not.
    pub fn counts(&self) -> UpstreamCounts {
        let endpoints = self
            .inner()
            .endpoints
            .iter()
            .map(|e| e.state.counters.snapshot())
            .collect();
        UpstreamCounts::from_endpoints(self.name.clone(), endpoints)
    }

    /// Zeroes every endpoint's counters, e.g. after a warm-up.
    pub fn reset_counts(&self) {
        self.inner()
            .endpoints
            .iter()
            .for_each(|e| e.state.counters.reset());
    }

    /// Stops accepting on every endpoint, lets in-flight requests finish within the grace
    /// period, and returns when every endpoint has stopped.
    pub async fn shutdown(self) {
        let servers: Vec<(u32, Server)> = self
            .inner()
            .endpoints
            .iter_mut()
            .zip(0..)
            .filter_map(|(e, i)| e.server.take().map(|s| (i, s)))
            .collect();
        let grace = ServeOptions::default().grace;
        // Signal all first, so the endpoints drain side by side.
        let tasks: Vec<_> = servers
            .into_iter()
            .map(|(index, server)| {
                let _ = server.stop.send(grace);
                (index, server.task)
            })
            .collect();
        for (index, task) in tasks {
            self.joined(index, task.await);
        }
    }

    // === impl helpers ===

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; should it ever, the list is still sound.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_indices(&self, inner: &Inner, indices: &[u32]) -> Result<(), MockError> {
        let count = inner.endpoints.len();
        match indices.iter().find(|&&i| i as usize >= count) {
            Some(&index) => Err(MockError::NoSuchEndpoint {
                upstream: self.name.clone(),
                index,
                count: count as u32,
            }),
            None => Ok(()),
        }
    }

    /// Starts endpoints until there are `count`, all active. Binds every new one before
    /// serving any, so a failure starts none.
    fn grow(&self, inner: &mut Inner, count: u32) -> Result<(), MockError> {
        let first = inner.endpoints.len() as u32;
        let mut bound = Vec::with_capacity(count.saturating_sub(first) as usize);
        for index in first..count {
            let id = EndpointId {
                upstream: self.name.clone(),
                index,
            };
            let state = Arc::new(EndpointState::with_prepared(
                id,
                Arc::clone(&inner.behavior),
            )?);
            let listener = bind(SocketAddr::new(self.bind_ip, 0))?;
            let addr = listener.local_addr()?;
            bound.push((listener, addr, state));
        }
        for (listener, addr, state) in bound {
            let server = Some(spawn_server(listener, Arc::clone(&state)));
            inner.endpoints.push(Endpoint {
                state,
                addr,
                server,
            });
        }
        inner.active = inner.endpoints.len();
        Ok(())
    }

    fn joined(&self, index: u32, joined: Result<Result<(), MockError>, tokio::task::JoinError>) {
        let name = &self.name;
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                warn!(upstream = %name, index, %error, "endpoint stopped with an error")
            }
            Err(error) => warn!(upstream = %name, index, %error, "endpoint task failed"),
        }
    }
}

/// A listening socket on `addr` with `SO_REUSEADDR`, so that an endpoint coming back up can
/// take its port again while connections of its past linger in `TIME_WAIT`.
fn bind(addr: SocketAddr) -> Result<TcpListener, MockError> {
    let error = |source| MockError::Bind { addr, source };
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(error)?;
    // On Windows the option means something else (taking a port in use); tokio leaves it
    // off there as well.
    #[cfg(unix)]
    socket.set_reuseaddr(true).map_err(error)?;
    socket.bind(addr).map_err(error)?;
    socket.listen(BACKLOG).map_err(error)
}

/// Serves `state` on `listener` in a task until told to stop, or until the handle is dropped
/// (then with the default grace period).
fn spawn_server(listener: TcpListener, state: Arc<EndpointState>) -> Server {
    let (stop, stopped) = oneshot::channel();
    let signal = async move { stopped.await.unwrap_or(ServeOptions::default().grace) };
    let task = tokio::spawn(serve_until(listener, state, false, signal));
    Server { stop, task }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>(_: &T) {}

    /// The harness drives these from spawned tasks, so their futures must be `Send`.
    #[tokio::test]
    async fn changes_can_run_in_spawned_tasks() {
        let handle = start_upstream(UpstreamConfig::default()).await.unwrap();
        send(&handle.set_up(&[0], true));
        send(&handle.scale_to(1));
        let handle = Arc::new(handle);
        let remote = Arc::clone(&handle);
        let addrs = tokio::spawn(async move { remote.scale_to(2).await })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(addrs, handle.addrs());
    }
}
