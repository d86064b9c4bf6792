//! The ADS gRPC server (a thin tonic layer over `state`) and [`XdsControl`], the handle the
//! rest of Gauntlet uses to set configs and wait for Envoy to apply them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use envoy_types::pb::envoy::config::core::v3::ControlPlane;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

use super::log::{NackEvent, PushLogEntry, PushReport, Version};
use super::model::EnvoyConfig;
use super::resources;
use super::state::{self, Outgoing, StreamId, XdsState};
use super::XdsError;

/// How Gauntlet names itself to Envoy (`control_plane.identifier` in responses).
const CONTROL_PLANE_ID: &str = concat!("gauntlet/", env!("CARGO_PKG_VERSION"));

/// Serves ADS on `listener` until `shutdown` completes, then closes every stream.
///
/// The caller binds the listener (127.0.0.1:0 in tests) and keeps `control` to drive it.
pub async fn run(
    listener: TcpListener,
    control: XdsControl,
    shutdown: impl Future<Output = ()>,
) -> Result<(), XdsError> {
    let stop = CancellationToken::new();
    let service = AggregatedDiscoveryServiceServer::new(AdsService {
        control,
        stop: stop.clone(),
    });
    // Pushes are small writes whose latency we measure: do not let Nagle hold them back.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let signal = async move {
        shutdown.await;
        // Open ADS streams never end on their own; end them so graceful shutdown can finish.
        stop.cancel();
    };
    Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, signal)
        .await?;
    Ok(())
}

/// A cheap-to-clone handle on the control plane: set configs, wait for ACKs, read the log.
#[derive(Clone)]
pub struct XdsControl {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Mutex<Shared>,
    /// Bumped after every change of state, so waiters re-check.
    changed: watch::Sender<u64>,
    nacks: broadcast::Sender<NackEvent>,
    next_stream: AtomicU64,
    clock: Box<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

/// The state and the streams' senders under one lock, so responses leave in the order the
/// state machine produced them.
struct Shared {
    state: XdsState,
    senders: HashMap<StreamId, ResponseTx>,
}

type ResponseTx = mpsc::UnboundedSender<Result<DiscoveryResponse, Status>>;

impl Default for XdsControl {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for XdsControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdsControl").finish_non_exhaustive()
    }
}

impl XdsControl {
    /// A control plane with no snapshots, timestamping with the wall clock.
    pub fn new() -> Self {
        Self::with_clock(Utc::now)
    }

    /// A control plane timestamping with `clock` (the push log's sent/ACK times).
    pub fn with_clock(clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        let (changed, _) = watch::channel(0);
        // NACKs are rare; a subscriber that lags this far has stopped listening anyway.
        let (nacks, _) = broadcast::channel(64);
        Self {
            inner: Arc::new(Inner {
                shared: Mutex::new(Shared {
                    state: XdsState::default(),
                    senders: HashMap::new(),
                }),
                changed,
                nacks,
                next_stream: AtomicU64::new(1),
                clock: Box::new(clock),
            }),
        }
    }

    /// Makes `config` the snapshot of `node`, pushes what changed to its connected Envoys
    /// (or to the next one that connects) and returns the snapshot's version.
    pub fn set_config(&self, node: &str, config: &EnvoyConfig) -> Result<Version, XdsError> {
        let resources = resources::build(config)?;
        let now = self.now();
        let mut shared = self.lock();
        let (version, out) = shared.state.set_snapshot(node, resources, now);
        tracing::debug!(node, %version, pushes = out.len(), "xds snapshot set");
        shared.deliver(out);
        drop(shared);
        self.notify();
        Ok(version)
    }

    /// Waits until every type of `version` is ACKed by the Envoy(s) of `node` (content from a
    /// later version counts too: it replaced this one). Resolves at once if already applied.
    ///
    /// Fails with [`XdsError::Nack`] (Envoy's message) as soon as Envoy rejects part of it, and
    /// with [`XdsError::Timeout`] if it is not applied within `timeout`.
    pub async fn wait_applied(
        &self,
        node: &str,
        version: Version,
        timeout: Duration,
    ) -> Result<PushReport, XdsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changed = self.inner.changed.subscribe();
        loop {
            // Mark seen before checking, so a change between the check and the wait wakes us.
            changed.borrow_and_update();
            if let Some(report) = self.lock().state.applied(node, version)? {
                return Ok(report);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => continue,
                // The sender lives in `inner`, which we hold: it cannot close. Treat it as
                // the timeout it would otherwise become.
                Ok(Err(_)) | Err(_) => {
                    return Err(XdsError::Timeout {
                        node: node.to_owned(),
                        version,
                        waited: timeout,
                    })
                }
            }
        }
    }

    /// Every push so far, in the order sent, with Envoy's answers.
    pub fn push_log(&self) -> Vec<PushLogEntry> {
        self.lock().state.log().to_vec()
    }

    /// NACKs from now on, for a run that must stop with Envoy's message.
    pub fn subscribe_nacks(&self) -> broadcast::Receiver<NackEvent> {
        self.inner.nacks.subscribe()
    }

    /// How many ADS streams `node` has open now.
    pub fn connected_streams(&self, node: &str) -> usize {
        self.lock().state.stream_count(node)
    }

    fn now(&self) -> DateTime<Utc> {
        (self.inner.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The state is consistent between calls (no call panics halfway through by design);
        // a poisoned lock only means a panic elsewhere, so keep serving.
        self.inner
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Reads one stream's requests until it ends or the server stops.
    async fn serve_stream(
        self,
        id: StreamId,
        mut inbound: Streaming<DiscoveryRequest>,
        tx: ResponseTx,
        stop: CancellationToken,
    ) {
        let mut tx = Some(tx);
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => break,
                next = inbound.message() => next,
            };
            let req = match next {
                Ok(Some(req)) => req,
                Ok(None) => break,
                Err(status) => {
                    tracing::debug!(stream = id, %status, "ads stream failed");
                    break;
                }
            };
            if let Some(tx) = tx.take() {
                let Some(node) = req
                    .node
                    .as_ref()
                    .map(|n| n.id.clone())
                    .filter(|n| !n.is_empty())
                else {
                    let _ = tx.send(Err(Status::invalid_argument(
                        "the first DiscoveryRequest must carry node.id",
                    )));
                    return;
                };
                tracing::debug!(stream = id, node, "ads stream opened");
                let mut shared = self.lock();
                shared.state.open_stream(id, &node);
                shared.senders.insert(id, tx);
            }
            self.on_request(id, req);
        }
        let mut shared = self.lock();
        shared.state.close_stream(id);
        // Dropping the sender ends the response stream.
        shared.senders.remove(&id);
        drop(shared);
        self.notify();
    }

    fn on_request(&self, id: StreamId, req: DiscoveryRequest) {
        let req = state::Request {
            type_url: req.type_url,
            version_info: req.version_info,
            response_nonce: req.response_nonce,
            resource_names: req.resource_names,
            error_detail: req.error_detail.map(|s| s.message),
        };
        let now = self.now();
        let mut shared = self.lock();
        let reaction = shared.state.on_request(id, &req, now);
        shared.deliver(reaction.responses);
        drop(shared);
        if let Some(nack) = reaction.nack {
            tracing::warn!(node = nack.node, r#type = %nack.resource_type,
                version = %nack.version, message = nack.message, "Envoy rejected a push");
            // No subscribers is fine: nobody is watching this run for NACKs.
            let _ = self.inner.nacks.send(nack);
        }
        self.notify();
    }
}

impl Shared {
    fn deliver(&self, out: Vec<Outgoing>) {
        for o in out {
            let Some(tx) = self.senders.get(&o.stream) else {
                continue;
            };
            let response = DiscoveryResponse {
                version_info: o.version.to_string(),
                resources: o.resources,
                type_url: o.resource_type.type_url().to_owned(),
                nonce: o.nonce,
                // Shows in Envoy's config dump, so a reader knows who pushed the config.
                control_plane: Some(ControlPlane {
                    identifier: CONTROL_PLANE_ID.to_owned(),
                }),
                ..Default::default()
            };
            // A closed stream is being cleaned up by its reader; nothing to do here.
            let _ = tx.send(Ok(response));
        }
    }
}

// === impl AdsService ===

struct AdsService {
    control: XdsControl,
    stop: CancellationToken,
}

type DeltaStream = Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsService {
    type StreamAggregatedResourcesStream =
        UnboundedReceiverStream<Result<DiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let id = self
            .control
            .inner
            .next_stream
            .fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(self.control.clone().serve_stream(
            id,
            request.into_inner(),
            tx,
            self.stop.clone(),
        ));
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "Gauntlet serves State-of-the-World ADS only",
        ))
    }
}
