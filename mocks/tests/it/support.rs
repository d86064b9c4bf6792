//! A minimal HTTP client over hyper's connection API, and helpers the scenarios share.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mocks::{Behavior, Latency, StatusMix};
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// What the client saw of one response.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub version: Version,
    pub body: Bytes,
    pub upstream: String,
    pub endpoint: String,
}

/// One HTTP/1.1 or h2c connection.
pub enum Client {
    H1(http1::SendRequest<Full<Bytes>>, SocketAddr),
    H2(http2::SendRequest<Full<Bytes>>, SocketAddr),
}

impl Client {
    pub async fn h1(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("http1 handshake");
        tokio::spawn(conn);
        Self::H1(sender, addr)
    }

    pub async fn h2(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("http2 handshake");
        tokio::spawn(conn);
        Self::H2(sender, addr)
    }

    /// A second handle on the same h2 connection, for concurrent streams.
    pub fn clone_h2(&self) -> Self {
        match self {
            Self::H2(sender, addr) => Self::H2(sender.clone(), *addr),
            Self::H1(..) => panic!("HTTP/1 connections carry one request at a time"),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, Bytes::new()).await
    }

    pub async fn send(&mut self, method: Method, path: &str, body: Bytes) -> Answer {
        self.try_send(method, path, body).await.expect("request")
    }

    pub async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Answer, hyper::Error> {
        let response = match self {
            Self::H1(sender, addr) => {
                sender.ready().await?;
                let request = Request::builder()
                    .method(method)
                    .uri(path)
                    .header(http::header::HOST, addr.to_string())
                    .body(Full::new(body))
                    .expect("request");
                sender.send_request(request).await?
            }
            Self::H2(sender, addr) => {
                sender.ready().await?;
                let request = Request::builder()
                    .method(method)
                    .uri(format!("http://{addr}{path}"))
                    .body(Full::new(body))
                    .expect("request");
                sender.send_request(request).await?
            }
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("ascii header").to_string())
                .unwrap_or_default()
        };
        let (status, version) = (response.status().as_u16(), response.version());
        let (upstream, endpoint) = (header("x-gauntlet-upstream"), header("x-gauntlet-endpoint"));
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            version,
            body,
            upstream,
            endpoint,
        })
    }
}

pub fn fixed(latency: Duration) -> Behavior {
    Behavior {
        latency: Latency::Fixed(latency),
        ..Behavior::default()
    }
}

pub fn statuses(mix: &[(u16, f64)], body_bytes: usize) -> Behavior {
    Behavior {
        latency: Latency::Zero,
        statuses: StatusMix(mix.to_vec()),
        body_bytes,
    }
}

/// Polls `condition` until it holds or `within` passes; never a blind sleep.
pub async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    condition()
}

/// Like [`eventually`] for a condition that needs to await.
pub async fn connect_refused_within(addr: SocketAddr, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks `count` of `n` against a binomial(n, p) within 4.5 standard deviations, which a
/// correct server misses about once in 150,000 runs.
pub fn assert_binomial(count: u64, n: u64, p: f64, what: &str) {
    let expected = n as f64 * p;
    let tolerance = 4.5 * (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (count as f64 - expected).abs() <= tolerance,
        "{what}: {count} of {n}, expected {expected} ± {tolerance:.1}"
    );
}
