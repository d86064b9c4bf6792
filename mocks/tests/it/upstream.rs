//! Upstreams as the harness drives them: several endpoints, live behaviour swaps, counts,
//! shutdown and drop.

use std::time::Duration;

use gauntlet_mocks::{start_upstream, Behavior, MockError, UpstreamConfig};
use tokio::time::Instant;

use crate::support::{connect_refused_within, fixed, statuses, Client};

#[tokio::test]
async fn endpoints_answer_with_their_identity() {
    let upstream = start_upstream(UpstreamConfig::new("backend", 3, Behavior::default()))
        .await
        .expect("start");
    let addrs = upstream.addrs();
    assert_eq!(addrs.len(), 3);
    for (index, &addr) in addrs.iter().enumerate() {
        assert!(addr.ip().is_loopback());
        let mut client = Client::h1(addr).await;
        for _ in 0..=index {
            let answer = client.get("/").await;
            assert_eq!(answer.upstream, "backend");
            assert_eq!(answer.endpoint, index.to_string());
        }
    }
    let counts = upstream.counts();
    assert_eq!(counts.name, "backend");
    assert_eq!(counts.requests, 6);
    assert_eq!(counts.by_status, [(200, 6)].into());
    let per_endpoint: Vec<u64> = counts.endpoints.iter().map(|e| e.requests).collect();
    assert_eq!(per_endpoint, [1, 2, 3]);

    upstream.reset_counts();
    assert_eq!(upstream.counts().requests, 0);
    upstream.shutdown().await;
}

#[tokio::test]
async fn set_behavior_takes_effect_on_a_live_connection() {
    let upstream = start_upstream(UpstreamConfig::new("chaos", 2, Behavior::default()))
        .await
        .expect("start");
    let addrs = upstream.addrs();
    let mut first = Client::h1(addrs[0]).await;
    let mut second = Client::h1(addrs[1]).await;
    assert_eq!(first.get("/").await.status, 200);
    assert_eq!(second.get("/").await.status, 200);

    // Only endpoint 1 breaks; the same connections see the change.
    upstream
        .set_behavior(Some(&[1]), statuses(&[(503, 1.0)], 5))
        .expect("swap");
    assert_eq!(first.get("/").await.status, 200);
    let broken = second.get("/").await;
    assert_eq!((broken.status, broken.body.len()), (503, 5));

    // All endpoints.
    upstream
        .set_behavior(None, statuses(&[(429, 1.0)], 0))
        .expect("swap");
    assert_eq!(first.get("/").await.status, 429);
    assert_eq!(second.get("/").await.status, 429);

    let counts = upstream.counts();
    assert_eq!(counts.by_status, [(200, 3), (429, 2), (503, 1)].into());
    assert!(
        counts.endpoints.iter().all(|e| e.connections == 1),
        "{counts:?}"
    );
    upstream.shutdown().await;
}

#[tokio::test]
async fn bad_swaps_change_nothing() {
    let upstream = start_upstream(UpstreamConfig::new("strict", 2, Behavior::default()))
        .await
        .expect("start");
    let bad_index = upstream.set_behavior(Some(&[0, 2]), statuses(&[(503, 1.0)], 0));
    assert!(
        matches!(
            bad_index,
            Err(MockError::NoSuchEndpoint {
                index: 2,
                count: 2,
                ..
            })
        ),
        "{bad_index:?}"
    );
    let bad_mix = upstream.set_behavior(None, statuses(&[(503, 0.5)], 0));
    assert!(
        matches!(bad_mix, Err(MockError::InvalidBehavior(_))),
        "{bad_mix:?}"
    );
    let mut client = Client::h1(upstream.addrs()[0]).await;
    assert_eq!(
        client.get("/").await.status,
        200,
        "endpoint 0 kept its behaviour"
    );
    upstream.shutdown().await;
}

#[tokio::test]
async fn bad_configs_are_refused() {
    let none = start_upstream(UpstreamConfig::new("empty", 0, Behavior::default())).await;
    assert!(matches!(none, Err(MockError::InvalidConfig(_))));
    let named = start_upstream(UpstreamConfig::new("has space", 1, Behavior::default())).await;
    assert!(matches!(named, Err(MockError::InvalidName { .. })));
    let behaved = start_upstream(UpstreamConfig::new("x", 1, statuses(&[], 0))).await;
    assert!(matches!(behaved, Err(MockError::InvalidBehavior(_))));
}

#[tokio::test]
async fn shutdown_completes_and_closes_every_port() {
    let upstream = start_upstream(UpstreamConfig::new(
        "closing",
        3,
        fixed(Duration::from_millis(200)),
    ))
    .await
    .expect("start");
    let addrs = upstream.addrs();
    let mut client = Client::h1(addrs[0]).await;
    let in_flight = tokio::spawn(async move { client.get("/").await });
    let state = upstream.endpoint(0).expect("endpoint 0").clone();
    assert!(
        crate::support::eventually(Duration::from_secs(5), || state
            .counters
            .snapshot()
            .requests
            == 1)
        .await
    );
    let started = Instant::now();
    upstream.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        in_flight.await.expect("task").status,
        200,
        "in flight finished"
    );
    for addr in addrs {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} closed"
        );
    }
}

#[tokio::test]
async fn dropping_the_handle_stops_the_servers() {
    let upstream = start_upstream(UpstreamConfig::new("dropped", 2, Behavior::default()))
        .await
        .expect("start");
    let addrs = upstream.addrs();
    let mut client = Client::h1(addrs[1]).await;
    assert_eq!(client.get("/").await.status, 200);
    drop(upstream);
    for addr in addrs {
        assert!(
            connect_refused_within(addr, Duration::from_secs(3)).await,
            "{addr} still accepts after drop"
        );
    }
}
