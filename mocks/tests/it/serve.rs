//! `serve` on a listener the test binds: latency, statuses, counters, protocols, bodies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mocks::Behavior;
use http::{Method, Version};
use tokio::time::Instant;

use crate::support::{assert_binomial, eventually, fixed, start, statuses, Client};

#[tokio::test]
async fn fixed_latency_is_observed() {
    let latency = Duration::from_millis(50);
    let server = start("slow", fixed(latency)).await;
    let mut client = Client::h1(server.addr).await;
    let mut elapsed = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(client.get("/").await.status, 200);
        elapsed.push(started.elapsed());
    }
    elapsed.sort();
    assert!(elapsed[0] >= latency, "never early: {elapsed:?}");
    // The fastest shows the server's own overhead; a loaded machine may stall a few others.
    assert!(
        elapsed[0] < latency + Duration::from_millis(25),
        "not far above: {elapsed:?}"
    );
    assert!(
        elapsed[5] < latency + Duration::from_millis(100),
        "median not far above: {elapsed:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn status_mix_and_counters_agree_with_the_client() {
    let body_bytes = 100;
    let server = start("mix", statuses(&[(200, 0.7), (503, 0.3)], body_bytes)).await;
    let n = 1000;
    let connections = 4;
    let mut seen = BTreeMap::<u16, u64>::new();
    let mut body_seen = 0;
    for _ in 0..connections {
        let mut client = Client::h1(server.addr).await;
        for _ in 0..n / connections {
            let answer = client.get("/").await;
            *seen.entry(answer.status).or_default() += 1;
            body_seen += answer.body.len() as u64;
            assert_eq!(answer.upstream, "mix");
            assert_eq!(answer.endpoint, "7");
        }
    }
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), [200, 503]);
    assert_binomial(seen[&200], n, 0.7, "200s");

    let counts = server.state.counters.snapshot();
    assert_eq!(counts.requests, n);
    assert_eq!(
        counts.by_status, seen,
        "server and client saw the same statuses"
    );
    assert_eq!(counts.bytes, body_seen);
    assert_eq!(body_seen, n * body_bytes as u64);
    assert_eq!(counts.connections, connections);
    server.stop().await;
}

#[tokio::test]
async fn h2c_serves_concurrent_streams_on_one_connection() {
    let server = start("h2", statuses(&[(200, 1.0)], 16)).await;
    let client = Client::h2(server.addr).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let mut stream = client.clone_h2();
        tasks.spawn(async move { stream.get("/h2").await });
    }
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.expect("task");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.version, Version::HTTP_2);
        assert_eq!(answer.body.len(), 16);
        assert_eq!(answer.upstream, "h2");
    }
    let counts = server.state.counters.snapshot();
    assert_eq!((counts.requests, counts.connections), (20, 1));
    server.stop().await;
}

#[tokio::test]
async fn request_bodies_are_read_and_the_connection_reused() {
    let server = start("posts", statuses(&[(201, 1.0)], 3)).await;
    let upload = Bytes::from(vec![7u8; 300_000]);
    for mut client in [Client::h1(server.addr).await, Client::h2(server.addr).await] {
        for _ in 0..3 {
            let answer = client.send(Method::POST, "/upload", upload.clone()).await;
            assert_eq!((answer.status, answer.body.len()), (201, 3));
        }
    }
    let counts = server.state.counters.snapshot();
    assert_eq!((counts.requests, counts.connections), (6, 2));
    server.stop().await;
}

#[tokio::test]
async fn head_and_no_content_send_no_body() {
    let server = start("empty", statuses(&[(200, 1.0)], 10)).await;
    let mut client = Client::h1(server.addr).await;
    let head = client.send(Method::HEAD, "/", Bytes::new()).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    server
        .state
        .set_behavior(statuses(&[(204, 1.0)], 10))
        .expect("swap");
    let none = client.get("/").await;
    assert_eq!((none.status, none.body.len()), (204, 0));
    // The connection survived both, so framing was right.
    server
        .state
        .set_behavior(statuses(&[(200, 1.0)], 10))
        .expect("swap");
    assert_eq!(client.get("/").await.body.len(), 10);
    let counts = server.state.counters.snapshot();
    assert_eq!(counts.bytes, 10, "only the last response carried a body");
    assert_eq!(counts.connections, 1);
    server.stop().await;
}

#[tokio::test]
async fn control_paths_are_plain_traffic_without_the_control_api() {
    let server = start("plain", Behavior::default()).await;
    let mut client = Client::h1(server.addr).await;
    let answer = client.get("/__gauntlet/stats").await;
    assert_eq!((answer.status, answer.upstream.as_str()), (200, "plain"));
    assert_eq!(server.state.counters.snapshot().requests, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_broken_connection_does_not_end_the_server() {
    use tokio::io::AsyncWriteExt;
    let server = start("sturdy", Behavior::default()).await;
    let mut garbage = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    garbage
        .write_all(b"NOT HTTP AT ALL\r\n\r\n")
        .await
        .expect("write");
    drop(garbage);
    let mut client = Client::h1(server.addr).await;
    assert_eq!(client.get("/").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let server = start("draining", fixed(Duration::from_millis(300))).await;
    let mut client = Client::h1(server.addr).await;
    let in_flight = tokio::spawn(async move { client.get("/").await });
    let state = Arc::clone(&server.state);
    assert!(
        eventually(Duration::from_secs(5), || state
            .counters
            .snapshot()
            .requests
            == 1)
        .await,
        "request arrived"
    );
    let addr = server.addr;
    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(in_flight.await.expect("task").status, 200);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn shutdown_drops_requests_past_the_grace_period() {
    let server = start("stuck", fixed(Duration::from_secs(30))).await;
    let mut client = Client::h1(server.addr).await;
    let in_flight =
        tokio::spawn(async move { client.try_send(Method::GET, "/", Bytes::new()).await });
    let state = Arc::clone(&server.state);
    assert!(
        eventually(Duration::from_secs(5), || state
            .counters
            .snapshot()
            .requests
            == 1)
        .await,
        "request arrived"
    );
    let started = Instant::now();
    server.stop().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "waited the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "then gave up: {took:?}");
    assert!(
        in_flight.await.expect("task").is_err(),
        "the request was cut"
    );
    assert_eq!(state.counters.active_connections(), 0);
}
