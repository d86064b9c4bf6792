//! Endpoints going down and coming back up on the same port, and upstreams growing and
//! shrinking while they run.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mocks::{start_upstream, Behavior, MockError, UpstreamConfig, UpstreamHandle};
use http::Method;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::{eventually, fixed, statuses, Client};

async fn upstream(name: &str, endpoints: u32) -> UpstreamHandle {
    start_upstream(UpstreamConfig::new(name, endpoints, Behavior::default()))
        .await
        .expect("start")
}

async fn refused(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect(addr).await,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[tokio::test]
async fn down_refuses_connections_and_up_serves_again_on_the_same_port() {
    let upstream = upstream("flappy", 2).await;
    let addrs = upstream.addrs();
    let mut client = Client::h1(addrs[0]).await;
    assert_eq!(client.get("/").await.status, 200);

    // A request in flight on the endpoint that goes down is cut, not waited for.
    upstream
        .set_behavior(Some(&[0]), fixed(Duration::from_secs(30)))
        .expect("swap");
    let in_flight =
        tokio::spawn(async move { client.try_send(Method::GET, "/", Bytes::new()).await });
    let state = upstream.endpoint(0).expect("endpoint 0");
    assert!(
        eventually(Duration::from_secs(5), || state
            .counters
            .snapshot()
            .requests
            == 2)
        .await
    );
    let started = Instant::now();
    upstream.set_up(&[0], false).await.expect("down");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(refused(addrs[0]).await, "connect is refused while down");
    assert_eq!(upstream.is_up(0), Some(false));
    assert!(
        in_flight.await.expect("task").is_err(),
        "open connections dropped"
    );
    assert_eq!(state.counters.active_connections(), 0);
    upstream
        .set_up(&[0], false)
        .await
        .expect("down twice is fine");

    // The other endpoint never noticed.
    assert_eq!(upstream.is_up(1), Some(true));
    let mut other = Client::h1(addrs[1]).await;
    assert_eq!(other.get("/").await.endpoint, "1");

    // Up again on the same port, although the dropped connection left TIME_WAIT behind.
    upstream
        .set_behavior(Some(&[0]), Behavior::default())
        .expect("swap");
    upstream.set_up(&[0, 0], true).await.expect("up");
    assert_eq!(upstream.is_up(0), Some(true));
    assert_eq!(upstream.addrs(), addrs, "same addresses");
    let mut client = Client::h1(addrs[0]).await;
    let answer = client.get("/").await;
    assert_eq!((answer.status, answer.endpoint.as_str()), (200, "0"));
    upstream
        .set_up(&[0, 1], true)
        .await
        .expect("up twice is fine");
    assert_eq!(client.get("/").await.status, 200, "and changes nothing");

    let counts = upstream.counts();
    assert_eq!(
        counts.endpoints[0].requests, 4,
        "counters survive going down"
    );
    assert_eq!(counts.endpoints[0].connections, 2);

    let bad = upstream.set_up(&[1, 2], false).await;
    assert!(
        matches!(bad, Err(MockError::NoSuchEndpoint { index: 2, .. })),
        "{bad:?}"
    );
    assert_eq!(upstream.is_up(1), Some(true), "a bad index changes nothing");
    upstream.shutdown().await;
    assert!(refused(addrs[0]).await && refused(addrs[1]).await);
}

#[tokio::test]
async fn up_fails_when_the_port_was_taken_meanwhile() {
    let upstream = upstream("squatted", 2).await;
    let addr = upstream.addrs()[1];
    upstream.set_up(&[1], false).await.expect("down");
    let squatter = std::net::TcpListener::bind(addr).expect("take the port");
    let taken = upstream.set_up(&[0, 1], true).await;
    assert!(
        matches!(&taken, Err(MockError::Bind { addr: a, .. }) if *a == addr),
        "{taken:?}"
    );
    assert_eq!(upstream.is_up(1), Some(false));
    drop(squatter);
    upstream.set_up(&[1], true).await.expect("up once free");
    let mut client = Client::h1(addr).await;
    assert_eq!(client.get("/").await.endpoint, "1");
    upstream.shutdown().await;
}

#[tokio::test]
async fn scale_to_starts_endpoints_and_shrinking_only_reports_fewer() {
    let upstream = upstream("elastic", 2).await;
    let first = upstream.addrs();
    upstream
        .set_behavior(None, statuses(&[(503, 1.0)], 3))
        .expect("swap all");

    let grown = upstream.scale_to(4).await.expect("grow");
    assert_eq!(grown.len(), 4);
    assert_eq!(grown[..2], first[..], "existing endpoints keep their ports");
    assert_eq!(upstream.active_addrs(), grown);
    for (index, &addr) in grown.iter().enumerate() {
        let answer = Client::h1(addr).await.get("/").await;
        assert_eq!(
            (answer.status, answer.body.len(), answer.endpoint),
            (503, 3, index.to_string()),
            "new endpoints start with the upstream's current behaviour"
        );
    }

    // New endpoints take the behaviour last set for all, not an override of one.
    upstream
        .set_behavior(Some(&[0]), Behavior::default())
        .expect("swap one");
    let grown = upstream.scale_to(5).await.expect("grow");
    assert_eq!(Client::h1(grown[4]).await.get("/").await.status, 503);

    // Shrinking reports fewer but stops nothing.
    let shrunk = upstream.scale_to(1).await.expect("shrink");
    assert_eq!(shrunk, first[..1]);
    assert_eq!(upstream.active_addrs(), shrunk);
    assert_eq!(
        upstream.addrs(),
        grown,
        "every endpoint started is still listed"
    );
    let late = Client::h1(grown[3]).await.get("/").await;
    assert_eq!((late.status, late.endpoint.as_str()), (503, "3"));

    // Growing back reuses the endpoints still running.
    assert_eq!(upstream.scale_to(3).await.expect("regrow"), grown[..3]);
    assert_eq!(upstream.addrs().len(), 5);
    assert!(upstream.scale_to(0).await.expect("none").is_empty());

    // Started endpoints are endpoints like the first ones.
    upstream.set_up(&[4], false).await.expect("down");
    assert!(TcpStream::connect(grown[4]).await.is_err());
    let counts = upstream.counts();
    assert_eq!(counts.endpoints.len(), 5);
    assert_eq!(counts.requests, 6);
    upstream.shutdown().await;
    for addr in grown {
        assert!(TcpStream::connect(addr).await.is_err(), "{addr} closed");
    }
}
