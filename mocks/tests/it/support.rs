//! A minimal HTTP client over hyper's connection API, a raw TCP exchange for what hyper
//! hides (resets, EOF), and helpers the scenarios share.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mocks::{serve, Behavior, EndpointId, EndpointState, Latency, MockError, StatusMix};
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server on a free loopback port, stopped when `stop` is sent or dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<EndpointState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), MockError>>,
}

/// Serves `behavior` as endpoint 7 of upstream `name`.
pub async fn start(name: &str, behavior: Behavior) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let id = EndpointId {
        upstream: name.into(),
        index: 7,
    };
    let state = Arc::new(EndpointState::new(id, behavior).expect("state"));
    let (stop, stopped) = oneshot::channel::<()>();
    let signal = async {
        let _ = stopped.await;
    };
    let task = tokio::spawn(serve(listener, Arc::clone(&state), signal));
    Running {
        addr,
        state,
        stop,
        task,
    }
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("serve stops within the grace period");
        result.expect("task").expect("serve");
    }
}

/// What the client saw of one response.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub version: Version,
    pub body: Bytes,
    pub upstream: String,
    pub endpoint: String,
    /// The response carried `connection: close`.
    pub close: bool,
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

    /// A GET that also reports when each body frame arrived, counted from the request.
    pub async fn get_frames(&mut self, path: &str) -> (Answer, Vec<Duration>) {
        let started = tokio::time::Instant::now();
        let response = self
            .request(Method::GET, path, Bytes::new())
            .await
            .expect("request");
        let mut answer = answer_head(&response);
        let mut body = response.into_body();
        let mut frames = Vec::new();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("frame").into_data() {
                frames.push(started.elapsed());
                bytes.extend_from_slice(&data);
            }
        }
        answer.body = Bytes::from(bytes);
        (answer, frames)
    }

    pub async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Answer, hyper::Error> {
        let response = self.request(method, path, body).await?;
        let mut answer = answer_head(&response);
        answer.body = response.into_body().collect().await?.to_bytes();
        Ok(answer)
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper::Error> {
        Ok(match self {
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
        })
    }
}

/// The status, version and gauntlet headers of a response, with an empty body.
fn answer_head(response: &http::Response<hyper::body::Incoming>) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
            .unwrap_or_default()
    };
    Answer {
        status: response.status().as_u16(),
        version: response.version(),
        body: Bytes::new(),
        upstream: header("x-gauntlet-upstream"),
        endpoint: header("x-gauntlet-endpoint"),
        close: header("connection").eq_ignore_ascii_case("close"),
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
        ..Behavior::default()
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

/// [`eventually`] for a condition that needs to await.
pub async fn eventually_async<F: std::future::Future<Output = bool>>(
    within: Duration,
    mut condition: impl FnMut() -> F,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    condition().await
}

/// Polls until connecting to `addr` is refused, or `within` passes.
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

/// True when `error` was caused by a connection reset (`ECONNRESET`).
pub fn is_reset(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionReset {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

/// How a raw exchange ended.
#[derive(Debug)]
pub enum RawEnd {
    /// The server closed the connection normally (FIN).
    Eof,
    /// The server reset the connection.
    Reset,
    /// Nothing more came within the time allowed; the connection is still open.
    TimedOut,
}

/// Writes `request` on a fresh connection and reads until EOF, reset or `within` passes:
/// what hyper's client would hide.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], within: Duration) -> (Vec<u8>, RawEnd) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write the request");
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (received, RawEnd::TimedOut),
            Ok(Ok(0)) => return (received, RawEnd::Eof),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (received, RawEnd::Reset)
            }
            Ok(Err(e)) => panic!("unexpected read error: {e}"),
        }
    }
}

/// An HTTP/1.1 GET of `/` that keeps the connection open.
pub const RAW_GET: &[u8] = b"GET / HTTP/1.1\r\nhost: mock\r\n\r\n";

/// A client socket that remembers whether any read or write failed with `ECONNRESET`, which
/// an HTTP/2 client may report only as a broken pipe (depending on which of its reads and
/// writes meets the RST first).
pub struct ResetWatch {
    stream: TcpStream,
    pub saw_reset: Arc<std::sync::atomic::AtomicBool>,
}

impl ResetWatch {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            saw_reset: Arc::default(),
        }
    }

    fn note<T>(&self, result: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if let Poll::Ready(Err(e)) = &result {
            if e.kind() == std::io::ErrorKind::ConnectionReset {
                self.saw_reset
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        result
    }
}

impl tokio::io::AsyncRead for ResetWatch {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        this.note(result)
    }
}

impl tokio::io::AsyncWrite for ResetWatch {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.note(result)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_flush(cx);
        this.note(result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.note(result)
    }
}
