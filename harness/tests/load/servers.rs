//! Servers for the load tests: a hyper server (HTTP/1.1 and h2c) with a configurable delay,
//! and a raw TCP server that answers every request with fixed bytes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the test server answers.
#[derive(Clone, Copy, Default)]
pub struct Behavior {
    /// Every response waits this long.
    pub delay: Duration,
    /// Requests arriving in `[at, at + len)` after the server started wait until `at + len`.
    pub stall: Option<(Duration, Duration)>,
}

pub struct Server {
    pub addr: SocketAddr,
    /// Requests received.
    pub requests: Arc<AtomicU64>,
    /// Connections accepted.
    pub connections: Arc<AtomicU64>,
    /// Most requests in progress at once.
    pub max_in_flight: Arc<AtomicU64>,
}

/// A hyper server (HTTP/1.1 and h2c) answering 200 "ok" after the behaviour's delay.
pub async fn server(behavior: Behavior) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicU64::new(0));
    let (reqs, conns, max) = (requests.clone(), connections.clone(), max_in_flight.clone());
    let born = Instant::now();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            conns.fetch_add(1, Ordering::Relaxed);
            let (reqs, max, in_flight) = (reqs.clone(), max.clone(), in_flight.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    reqs.fetch_add(1, Ordering::Relaxed);
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    let in_flight = in_flight.clone();
                    async move {
                        let mut wait = behavior.delay;
                        if let Some((at, len)) = behavior.stall {
                            let age = born.elapsed();
                            if age >= at && age < at + len {
                                wait = wait.max(at + len - age);
                            }
                        }
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"ok",
                        ))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server {
        addr,
        requests,
        connections,
        max_in_flight,
    }
}

/// A raw TCP server that answers every request head with `response`, then closes when
/// `close_after` is set.
pub async fn raw_server(response: &'static [u8], close_after: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = 0;
                loop {
                    let Ok(n) = stream.read(&mut buf[have..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    have += n;
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                        if stream.write_all(response).await.is_err() || close_after {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}
