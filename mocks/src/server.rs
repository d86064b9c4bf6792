//! Serving one endpoint: accept loop, HTTP/1.1 and h2c on one port, graceful shutdown, and
//! the connection-level chaos (resets, GOAWAYs) that a request can ask of its connection.
//!
//! The per-request hot path is in `service`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::HeaderName;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::endpoint::EndpointState;
use crate::service::{ConnShared, EndpointService, Order};
use crate::MockError;

pub use crate::body::MockBody;

/// The header naming the upstream that answered.
pub const UPSTREAM_HEADER: HeaderName = HeaderName::from_static("x-gauntlet-upstream");
/// The header naming the endpoint index that answered.
pub const ENDPOINT_HEADER: HeaderName = HeaderName::from_static("x-gauntlet-endpoint");

/// How [`serve_with`] runs, beyond the listener and the behaviour.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Answer `/__gauntlet/…` control requests (stats, behaviour swap) on the same port,
    /// uncounted. Off for upstreams behind Envoy, where every path is traffic.
    pub control_api: bool,
    /// How long in-flight requests may take to finish after shutdown is signalled before
    /// their connections are dropped.
    pub grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            control_api: false,
            grace: Duration::from_secs(1),
        }
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish for up to one second and drops what is left.
///
/// The caller binds the listener (port 0 in tests) and owns the shutdown signal. Errors on
/// single connections are logged at debug level and never end the server.
pub async fn serve(
    listener: TcpListener,
    state: Arc<EndpointState>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MockError> {
    serve_with(listener, state, ServeOptions::default(), shutdown).await
}

/// [`serve`] with explicit [`ServeOptions`].
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<EndpointState>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MockError> {
    let grace = options.grace;
    let stop = async move {
        shutdown.await;
        grace
    };
    serve_until(listener, state, options.control_api, stop).await
}

/// Serves until `stop` completes with the grace period to give the connections still open:
/// zero drops them at once, as an endpoint going down does.
pub(crate) async fn serve_until(
    listener: TcpListener,
    state: Arc<EndpointState>,
    control_api: bool,
    stop: impl Future<Output = Duration>,
) -> Result<(), MockError> {
    let local = listener.local_addr()?;
    // Prior-knowledge h2c and HTTP/1.1 are told apart by the connection preface. No timer is
    // configured, so hyper arms no per-request header timeout: loopback load needs none.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().pipeline_flush(true);
    let builder = Arc::new(builder);
    // Connections watch this to start their graceful shutdown; dropping the sender (when
    // this future is dropped) has the same effect.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(stop);

    let grace = loop {
        tokio::select! {
            biased;
            grace = &mut stop => break grace,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::ZERO;
                    let task = connection(
                        stream,
                        peer,
                        Arc::clone(&builder),
                        Arc::clone(&state),
                        control_api,
                        stop_rx.clone(),
                    );
                    connections.spawn(task);
                }
                // A peer that gave up before we accepted is its own business.
                Err(error) if is_peer_error(&error) => {
                    debug!(%local, %error, "accept failed");
                }
                Err(error) => {
                    // Usually out of file descriptors: back off so the loop does not spin,
                    // and keep serving the connections already open.
                    backoff = (backoff * 2).clamp(Duration::from_millis(1), Duration::from_secs(1));
                    warn!(%local, %error, ?backoff, "accept failed");
                    tokio::select! {
                        biased;
                        grace = &mut stop => break grace,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            },
            // Reap finished connections so the set does not grow with the run.
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = joined {
                    warn!(%local, %error, "connection task failed");
                }
            }
        }
    };

    // Refuse new connections at once, then ask the open ones to finish (or, without a
    // grace period, drop them).
    drop(listener);
    if grace.is_zero() {
        connections.shutdown().await;
        return Ok(());
    }
    stop_tx.send_replace(());
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!(%local, open = connections.len(), "grace period over, dropping connections");
        connections.shutdown().await;
    }
    Ok(())
}

fn is_peer_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted
    )
}

/// Serves one accepted connection until it closes, or until shutdown and then gracefully,
/// or until a request orders a reset or a GOAWAY.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    builder: Arc<auto::Builder<TokioExecutor>>,
    state: Arc<EndpointState>,
    control_api: bool,
    mut stop: watch::Receiver<()>,
) {
    let _open = state.counters.connection();
    // Small responses must leave at once rather than wait for Nagle's algorithm.
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let (shared, mut orders) = ConnShared::new(Arc::clone(&state));
    let io = ConnIo {
        stream,
        shared: Arc::clone(&shared),
    };
    let service = EndpointService::new(shared, control_api);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            result = conn.as_mut() => break result,
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            Some(order) = orders.recv() => match order {
                // Dropping the connection drops the socket, which `ConnIo` resets.
                Order::Reset => {
                    debug!(%peer, "resetting the connection (chaos)");
                    return;
                }
                Order::GoAway => conn.as_mut().graceful_shutdown(),
            },
        }
    };
    if let Err(error) = result {
        debug!(%peer, %error, "connection ended with an error");
    }
}

// === impl ConnIo ===

/// The socket of one connection as hyper sees it. It only passes reads and writes through;
/// it exists for its `Drop`, which turns the close into an RST when a request ordered one.
struct ConnIo {
    stream: TcpStream,
    shared: Arc<ConnShared>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.shared.reset_requested() {
            // With a zero linger the close discards unsent data and sends an RST; it never
            // blocks, unlike a positive linger.
            if let Err(error) = self.stream.set_zero_linger() {
                debug!(%error, "cannot set SO_LINGER 0; the connection closes normally");
            }
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
