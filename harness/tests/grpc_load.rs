//! The gRPC load generator against a gRPC mock, no Envoy: statuses the client reads agree
//! with what the mock sent, one by one; the open loop's stream cap bounds the calls in
//! flight; the client's own deadline ends a call as `DEADLINE_EXCEEDED`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gauntlet::load::{self, LoadOutcome, LoadPlan, Mode, Protocol, RequestTemplate};
use gauntlet_mocks::{Behavior, EndpointId, EndpointState, GrpcStatusMix, Latency};
use tokio_util::sync::CancellationToken;

async fn mock(behavior: Behavior) -> (SocketAddr, Arc<EndpointState>) {
    let id = EndpointId {
        upstream: "grpc".into(),
        index: 0,
    };
    let state = Arc::new(EndpointState::new(id, behavior).expect("valid behaviour"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::clone(&state);
    tokio::spawn(gauntlet_mocks::serve(
        listener,
        served,
        std::future::pending::<()>(),
    ));
    (addr, state)
}

fn plan(target: SocketAddr, mode: Mode, duration_ms: u64) -> LoadPlan {
    LoadPlan {
        targets: vec![target],
        protocol: Protocol::Grpc,
        mode,
        connections: 1,
        duration: Duration::from_millis(duration_ms),
        warmup: Duration::ZERO,
        request: RequestTemplate {
            method: "POST".into(),
            path: "/gauntlet.mock.v1.Mock/Call".into(),
            authority: "test.local".into(),
            headers: Vec::new(),
            body: Bytes::from_static(b"\x0a\x02hi"),
        },
        timeout: Duration::from_secs(2),
        workers: 1,
        start_at: None,
        streams: None,
        grpc_deadline: None,
    }
}

async fn run(plan: LoadPlan) -> LoadOutcome {
    load::run(plan, CancellationToken::new(), None)
        .await
        .expect("a valid plan")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_read_by_the_client_are_the_ones_the_mock_sent() {
    let (addr, state) = mock(Behavior {
        grpc: Some(GrpcStatusMix(vec![(0, 0.6), (14, 0.3), (8, 0.1)])),
        body_bytes: 300,
        ..Behavior::default()
    })
    .await;
    let o = run(plan(addr, Mode::Closed { concurrency: 8 }, 1000)).await;
    let counts = state.counters.snapshot();
    assert!(o.failures.total() == 0, "{:?}", o.failures);
    // Warmup is zero and every call ended, so both sides saw the same calls.
    assert_eq!(o.responses.total(), counts.requests);
    for code in [0u8, 14, 8] {
        assert_eq!(
            o.responses.get(u16::from(code)),
            counts.by_grpc_status.get(&code).copied().unwrap_or(0),
            "code {code}: client {:?} vs mock {:?}",
            o.responses,
            counts.by_grpc_status
        );
    }
    assert!(o.responses.get(14) > 0 && o.responses.get(8) > 0);
    assert_eq!(
        counts.by_status.get(&200),
        Some(&counts.requests),
        "HTTP 200 always"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_keeps_at_most_streams_calls_in_flight() {
    // 100 ms a call and 4 streams on the one connection: at most 40 calls a second,
    // whatever the 200/s schedule asks; without the cap (100 streams) all 200 would fit.
    let (addr, _) = mock(Behavior {
        grpc: Some(GrpcStatusMix::always(0)),
        latency: Latency::Fixed(Duration::from_millis(100)),
        ..Behavior::default()
    })
    .await;
    let mut capped = plan(addr, Mode::Open { rate: 200.0 }, 1500);
    capped.streams = Some(4);
    let o = run(capped).await;
    assert!(o.achieved_rps < 45.0, "{} calls/s", o.achieved_rps);
    assert!(o.achieved_rps > 20.0, "{} calls/s", o.achieved_rps);
    assert!(o.saturation.connections_busy > 0.5, "{:?}", o.saturation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_gives_up_at_the_deadline() {
    let (addr, _) = mock(Behavior {
        grpc: Some(GrpcStatusMix::always(0)),
        latency: Latency::Fixed(Duration::from_secs(1)),
        ..Behavior::default()
    })
    .await;
    let mut p = plan(addr, Mode::Closed { concurrency: 4 }, 500);
    p.grpc_deadline = Some(Duration::from_millis(40));
    let o = run(p).await;
    let n = o.responses.get(4);
    assert!(n >= 8, "{:?}", o.responses);
    assert_eq!(n, o.responses.total(), "{:?}", o.responses);
    // Deadline plus the client's grace (10%, at least 5 ms): far below the service's 1 s.
    let p50_ms = o.corrected.value_at_quantile(0.5) as f64 / 1000.0;
    assert!((40.0..200.0).contains(&p50_ms), "p50 {p50_ms} ms");
}
