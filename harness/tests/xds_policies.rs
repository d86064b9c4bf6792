//! Resilience policies against a real Envoy, one at a time: retries, fault aborts and
//! delays, header-matched faults, local rate limits and live endpoint changes behave as
//! Envoy documents, counted by the stats that gates read. A config with every policy at once
//! is `xds_policy_config.rs`'s; the fixture is `xds/fixture.rs`.

#[path = "xds/fixture.rs"]
mod fixture;
#[path = "xds/policy.rs"]
mod policy;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gauntlet::policy::{
    AbortKind, ClusterPolicy, FaultAbort, FaultDelay, FaultPolicy, HeaderValueMatch, HealthCheck,
    LocalRateLimit, RetryPolicy, RoutePolicy,
};
use gauntlet::xds::{ClusterSpec, EnvoyConfig, ResourceType};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Instant;

use fixture::*;
use policy::*;

// === helpers ===

/// An HTTP/1.1 upstream that answers 503 to its first `failures` requests and 200 after,
/// and counts what it got.
async fn flaky(failures: u64) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let status = if n < failures { 503 } else { 200 };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header("x-upstream", "flaky")
                                .body(Full::new(Bytes::from_static(b"flaky")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// A counter's value, 0 when Envoy has not created it.
async fn counter(fx: &Fixture, name: &str) -> u64 {
    fx.envoy().stat(name).await.unwrap_or(0)
}

// === behaviour ===

#[tokio::test]
async fn a_retry_absorbs_an_upstream_503() {
    let (flaky, seen) = flaky(1).await;
    let listen = free_port();
    let mut fx = Fixture::new().await;
    fx.start_envoy("retry").await;
    let policy = RoutePolicy {
        retries: Some(RetryPolicy {
            retry_on: vec!["5xx".into()],
            num_retries: 2,
            per_try_timeout: None,
            per_try_idle_timeout: None,
            backoff: None,
            retriable_status_codes: vec![],
            avoid_previous_hosts: false,
            host_selection_attempts: 0,
        }),
        ..RoutePolicy::default()
    };
    let config = envoy_config(
        listen,
        vec![route("all", "/", "flaky", policy)],
        vec![ClusterSpec::new("flaky", vec![flaky])],
    );
    apply(&fx, &config).await;
    fx.envoy().wait_ready().await;

    let (status, upstream, _) = get(listen, "/").await.unwrap();
    assert_eq!((status, upstream.as_deref()), (200, Some("flaky")));
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one 503, one retry");
    assert_eq!(counter(&fx, "cluster.flaky.upstream_rq_retry").await, 1);
    assert_eq!(counter(&fx, "cluster.flaky.retry.upstream_rq_503").await, 1);
    assert_eq!(counter(&fx, "cluster.flaky.upstream_rq_200").await, 1);
    assert_eq!(counter(&fx, "cluster.flaky.upstream_rq_503").await, 0);
}

/// Starts Envoy with one listener whose only route sends `/` to cluster `a` (one upstream)
/// with `policy`; returns the listener's address and the config, for changes.
async fn single_route(
    fx: &mut Fixture,
    name: &str,
    policy: RoutePolicy,
) -> (SocketAddr, EnvoyConfig) {
    let a = upstream("a").await;
    let listen = free_port();
    fx.start_envoy(name).await;
    let config = envoy_config(
        listen,
        vec![route("all", "/", "a", policy)],
        vec![ClusterSpec::new("a", vec![a])],
    );
    apply(fx, &config).await;
    fx.envoy().wait_ready().await;
    (listen, config)
}

fn abort(kind: AbortKind, percent: f64) -> Option<FaultAbort> {
    Some(FaultAbort { kind, percent })
}

#[tokio::test]
async fn a_fault_abort_at_100_percent_answers_its_status_without_the_upstream() {
    let mut fx = Fixture::new().await;
    let policy = RoutePolicy {
        fault: Some(FaultPolicy {
            abort: abort(AbortKind::Http(418), 100.0),
            ..FaultPolicy::default()
        }),
        ..RoutePolicy::default()
    };
    let (listen, _) = single_route(&mut fx, "fault-abort", policy).await;
    for _ in 0..5 {
        let (status, upstream, _) = get(listen, "/").await.unwrap();
        assert_eq!((status, upstream), (418, None));
    }
    let aborts = format!("http.{PREFIX}.fault.aborts_injected");
    assert_eq!(counter(&fx, &aborts).await, 5);
    assert_eq!(counter(&fx, "cluster.a.upstream_rq_total").await, 0);
}

#[tokio::test]
async fn a_fault_delay_holds_requests_for_its_duration() {
    let mut fx = Fixture::new().await;
    let delay = Duration::from_millis(200);
    let policy = RoutePolicy {
        fault: Some(FaultPolicy {
            delay: Some(FaultDelay {
                fixed: delay,
                percent: 100.0,
            }),
            ..FaultPolicy::default()
        }),
        ..RoutePolicy::default()
    };
    let (listen, _) = single_route(&mut fx, "fault-delay", policy).await;
    let start = Instant::now();
    let (status, upstream, _) = get(listen, "/").await.unwrap();
    assert_eq!((status, upstream.as_deref()), (200, Some("a")));
    // Envoy arms its fault timer from the event loop's cached clock, so it can fire a
    // couple of milliseconds before the full delay of real time (seen: 198.5 ms of 200 ms).
    let floor = delay - Duration::from_millis(5);
    assert!(start.elapsed() >= floor, "{:?}", start.elapsed());
    let delays = format!("http.{PREFIX}.fault.delays_injected");
    assert_eq!(counter(&fx, &delays).await, 1);
}

#[tokio::test]
async fn a_header_matched_fault_hits_only_matching_requests() {
    let mut fx = Fixture::new().await;
    let policy = RoutePolicy {
        fault: Some(FaultPolicy {
            abort: abort(AbortKind::Http(503), 100.0),
            headers: vec![header("x-chaos", HeaderValueMatch::Exact("on".into()))],
            ..FaultPolicy::default()
        }),
        ..RoutePolicy::default()
    };
    let (listen, _) = single_route(&mut fx, "fault-header", policy).await;
    for _ in 0..3 {
        let (status, upstream, _) = get(listen, "/").await.unwrap();
        assert_eq!((status, upstream.as_deref()), (200, Some("a")));
        let (status, upstream, _) = request(listen, "/", &[("x-chaos", "on")]).await.unwrap();
        assert_eq!((status, upstream), (503, None));
        let (status, _, _) = request(listen, "/", &[("x-chaos", "off")]).await.unwrap();
        assert_eq!(status, 200);
    }
    let aborts = format!("http.{PREFIX}.fault.aborts_injected");
    assert_eq!(counter(&fx, &aborts).await, 3);
    assert_eq!(counter(&fx, "cluster.a.upstream_rq_200").await, 6);
}

#[tokio::test]
async fn a_rate_limit_of_1_rps_turns_a_burst_away_with_429() {
    let mut fx = Fixture::new().await;
    let policy = RoutePolicy {
        rate_limit: Some(LocalRateLimit {
            max_tokens: 1,
            tokens_per_fill: 1,
            fill_interval: Duration::from_secs(1),
            status: 429,
        }),
        ..RoutePolicy::default()
    };
    let (listen, mut config) = single_route(&mut fx, "rate-limit", policy).await;
    let start = Instant::now();
    let burst = futures::future::join_all((0..10).map(|_| get(listen, "/"))).await;
    let elapsed = start.elapsed();
    let statuses: Vec<u16> = burst.into_iter().map(|r| r.unwrap().0).collect();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    let passed = statuses.iter().filter(|s| **s == 200).count();
    // One token, plus one more if the burst straddled a refill.
    assert!(
        limited + passed == 10 && (1..=2).contains(&passed),
        "{statuses:?} in {elapsed:?}"
    );
    let envoy = fx.envoy();
    let stat = |name: &str| format!("http.{PREFIX}.http_local_rate_limit.{name}");
    let all = envoy.stats_containing("http_local_rate_limit").await;
    assert_eq!(
        counter(&fx, &stat("rate_limited")).await,
        limited as u64,
        "{all}"
    );
    assert_eq!(counter(&fx, &stat("ok")).await, passed as u64, "{all}");
    assert_eq!(
        counter(&fx, &stat("enforced")).await,
        limited as u64,
        "{all}"
    );
    eprintln!("rate limit stats:\n{all}");

    // Turning the limit off is a route push only, and it takes effect at once.
    config.listeners[0].routes[0].policy.rate_limit = None;
    assert_eq!(apply(&fx, &config).await, [ResourceType::Route]);
    let burst = futures::future::join_all((0..10).map(|_| get(listen, "/"))).await;
    assert!(
        burst.iter().all(|r| matches!(r, Ok((200, _, _)))),
        "{burst:?}"
    );
}

#[tokio::test]
async fn endpoint_lists_shrink_and_grow_live_with_health_checks_on() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let c = upstream("c").await;
    let listen = free_port();
    let mut fx = Fixture::new().await;
    fx.start_envoy("eds").await;
    let config = |endpoints: Vec<SocketAddr>| {
        envoy_config(
            listen,
            vec![route("all", "/", "pool", RoutePolicy::default())],
            vec![ClusterSpec {
                policy: ClusterPolicy {
                    health_check: Some(HealthCheck {
                        path: "/healthz".into(),
                        interval: Duration::from_millis(100),
                        timeout: Duration::from_millis(100),
                        unhealthy_threshold: 1,
                        healthy_threshold: 1,
                    }),
                    ..ClusterPolicy::default()
                },
                ..ClusterSpec::new("pool", endpoints)
            }],
        )
    };
    /// The set of upstreams 30 requests reach, once it equals `want` (within 5 s).
    async fn settles_on(listen: SocketAddr, want: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..30 {
                if let Ok((200, Some(u), _)) = get(listen, "/").await {
                    seen.insert(u);
                }
            }
            if seen.iter().map(String::as_str).eq(want.iter().copied()) {
                return;
            }
            assert!(Instant::now() < deadline, "want {want:?}, reached {seen:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    apply(&fx, &config(vec![a])).await;
    fx.envoy().wait_ready().await;
    settles_on(listen, &["a"]).await;

    // Grow: an EDS push only; the new hosts take traffic once their first check passes.
    assert_eq!(
        apply(&fx, &config(vec![a, b, c])).await,
        [ResourceType::Endpoint]
    );
    settles_on(listen, &["a", "b", "c"]).await;

    // Shrink: removed hosts leave at once although they still pass their health checks.
    assert_eq!(apply(&fx, &config(vec![c])).await, [ResourceType::Endpoint]);
    for _ in 0..20 {
        let (status, upstream, _) = get(listen, "/").await.unwrap();
        assert_eq!((status, upstream.as_deref()), (200, Some("c")));
    }
    assert_eq!(counter(&fx, "cluster.pool.membership_total").await, 1);
}
