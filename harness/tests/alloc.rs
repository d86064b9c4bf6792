//! Hot-path hygiene: allocations counted by a global allocator (`dhat`, safe to install),
//! compared between a run of about 1,000 requests and one of about 10,000. Whatever does not
//! grow with the request count (start-up, threads, one window per second) cancels out; what
//! is left, divided by the extra requests, is the allocations per request.
//!
//! - The load generator's HTTP/1.1 loop (open and closed loop) against a raw in-test server
//!   that allocates nothing per request: the difference is the generator's alone.
//! - The mock server against a blocking client thread that allocates nothing per request,
//!   next to a bare hyper server on the same connection builder with the same response
//!   headers: the mock's own share is the difference between the two.
//!
//! One test at a time: the counters are process-wide.

#[allow(dead_code)]
#[path = "load/servers.rs"]
mod servers;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gauntlet::load::{self, LoadPlan, Mode, Protocol, RequestTemplate};
use gauntlet_mocks::{Behavior, EndpointId, EndpointState};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

static SERIAL: Mutex<()> = Mutex::new(());

/// Allocations the load generator may make per request: a window flush or a timer-wheel
/// growth lands in one run and not the other, never one per request.
const LOAD_PER_REQUEST_LIMIT: f64 = 0.01;
/// What the mock may add per request on top of hyper with the same response headers.
const MOCK_EXTRA_PER_REQUEST_LIMIT: f64 = 0.05;

const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Allocations per request between a small and a large run: `(large - small) / (extra
/// requests)`, with both runs' figures for the message.
fn per_request(small: (u64, u64), large: (u64, u64)) -> (f64, String) {
    let (allocs, requests) = (
        large.0 as f64 - small.0 as f64,
        large.1 as f64 - small.1 as f64,
    );
    let text = format!(
        "{} allocations for {} requests, {} for {} requests",
        small.0, small.1, large.0, large.1
    );
    (allocs / requests, text)
}

fn plan(target: SocketAddr, mode: Mode, duration: Duration) -> LoadPlan {
    LoadPlan {
        targets: vec![target],
        protocol: Protocol::Http1,
        mode,
        connections: 4,
        duration,
        warmup: Duration::ZERO,
        request: RequestTemplate {
            method: "GET".into(),
            path: "/".into(),
            authority: "test.local".into(),
            headers: Vec::new(),
            body: Bytes::new(),
        },
        timeout: Duration::from_secs(2),
        workers: 1,
        start_at: None,
        streams: None,
        grpc_deadline: None,
    }
}

/// Runs `plan` and returns (allocations during the run, responses).
fn load_run(rt: &tokio::runtime::Runtime, plan: LoadPlan) -> (u64, u64) {
    rt.block_on(async {
        let before = blocks();
        let outcome = load::run(plan, CancellationToken::new(), None)
            .await
            .expect("a valid plan");
        let after = blocks();
        let responses = outcome.responses.total();
        assert!(
            outcome.failures.total() == 0,
            "no failures against the raw server"
        );
        (after - before, responses)
    })
}

#[test]
fn load_loop_does_not_allocate_per_request() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = runtime();
    let target = rt.block_on(servers::raw_server(OK_RESPONSE, false));
    let second = Duration::from_secs(1);
    // Open loop: same length, ten times the rate, so the per-second work is the same.
    let small = load_run(&rt, plan(target, Mode::Open { rate: 1_000.0 }, second));
    let large = load_run(&rt, plan(target, Mode::Open { rate: 10_000.0 }, second));
    let (open, text) = per_request(small, large);
    eprintln!("open loop: {open:.5} allocations per request ({text})");
    assert!(large.1 > 3 * small.1, "the large run sends more: {text}");
    assert!(
        open < LOAD_PER_REQUEST_LIMIT,
        "open loop allocates per request: {text}"
    );

    // Closed loop: the request count follows the length, so one window more in the long run.
    let closed = Mode::Closed { concurrency: 4 };
    let small = load_run(&rt, plan(target, closed, Duration::from_millis(300)));
    let large = load_run(&rt, plan(target, closed, Duration::from_millis(1_500)));
    let (closed, text) = per_request(small, large);
    eprintln!("closed loop: {closed:.5} allocations per request ({text})");
    assert!(large.1 > small.1, "the long run sends more: {text}");
    assert!(
        closed < LOAD_PER_REQUEST_LIMIT,
        "closed loop allocates per request: {text}"
    );
}

/// Sends `n` keep-alive GETs on one connection, one at a time, reading each response head
/// (the servers here answer with an empty body) into a fixed buffer.
fn drive(addr: SocketAddr, n: u64) -> u64 {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let request = b"GET / HTTP/1.1\r\nhost: test.local\r\n\r\n";
    let mut buf = [0u8; 4096];
    let before = blocks();
    for _ in 0..n {
        stream.write_all(request).expect("write");
        let mut have = 0;
        while !buf[..have].windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buf[have..]).expect("read");
            assert!(read > 0, "the server closed the connection");
            have += read;
        }
    }
    blocks() - before
}

/// Allocations of 1,000 and of 10,000 requests to a server started by `start`.
fn server_runs(start: impl FnOnce(tokio::net::TcpListener)) -> f64 {
    let rt = runtime();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let _guard = rt.enter();
    start(listener);
    // A first connection warms what is made once (connection state, buffers reaching size).
    drive(addr, 200);
    let small = (drive(addr, 1_000), 1_000);
    let large = (drive(addr, 10_000), 10_000);
    let (per, text) = per_request(small, large);
    eprintln!("  {per:.3} allocations per request ({text})");
    per
}

#[test]
fn mock_adds_no_allocation_per_request_to_hyper() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _profiler = dhat::Profiler::builder().testing().build();
    eprintln!("gauntlet-mock (HTTP/1.1, 200, empty body):");
    let mock = server_runs(|listener| {
        let id = EndpointId {
            upstream: "alloc".into(),
            index: 0,
        };
        let state = Arc::new(EndpointState::new(id, Behavior::default()).expect("behaviour"));
        tokio::spawn(gauntlet_mocks::serve(
            listener,
            state,
            std::future::pending(),
        ));
    });
    eprintln!("bare hyper, same builder and response headers:");
    let hyper = server_runs(|listener| {
        tokio::spawn(bare_hyper(listener));
    });
    assert!(
        mock - hyper < MOCK_EXTRA_PER_REQUEST_LIMIT,
        "the mock allocates {mock:.3} per request, hyper alone {hyper:.3}"
    );
}

/// hyper with the mock's connection builder, answering 200 with the same three headers the
/// mock sends, built from static values: the floor of what a hyper server allocates.
async fn bare_hyper(listener: tokio::net::TcpListener) {
    use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let service = hyper::service::service_fn(|_request| async {
        let mut response = http::Response::new(http_body_util::Empty::<Bytes>::new());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(
            HeaderName::from_static("x-gauntlet-upstream"),
            HeaderValue::from_static("alloc"),
        );
        headers.insert(
            HeaderName::from_static("x-gauntlet-endpoint"),
            HeaderValue::from_static("0"),
        );
        Ok::<_, std::convert::Infallible>(response)
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().pipeline_flush(true);
    let builder = Arc::new(builder);
    while let Ok((stream, _)) = listener.accept().await {
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
