//! Resilience policies against a real Envoy: a config with every policy at once is ACKed
//! and shows in `/config_dump`, and retries, fault aborts and delays, header-matched faults,
//! local rate limits and live endpoint changes behave as Envoy documents, counted by the
//! stats that gates read. Reuses the fixture of `xds_envoy.rs` (its own tests run there).

#[path = "xds_envoy.rs"]
#[allow(dead_code)]
mod xds_envoy;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gauntlet::policy::{
    AbortKind, Backoff, CircuitBreakers, ClusterPolicy, FaultAbort, FaultDelay, FaultPolicy,
    HeaderMatch, HeaderValueMatch, HealthCheck, LbPolicy, LocalRateLimit, Mirror, OutlierDetection,
    RetryBudget, RetryPolicy, RoutePolicy,
};
use gauntlet::xds::{ClusterSpec, EnvoyConfig, ListenerSpec, ResourceType, RouteSpec};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::time::Instant;

use xds_envoy::{free_port, get, request, upstream, Fixture, APPLY_TIMEOUT, NODE};

/// The HCM stat prefix of every listener here: Envoy's HTTP stats read `http.ingress.*`.
const PREFIX: &str = "ingress";

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

/// One listener on `listen` with `routes`, over `clusters`.
fn envoy_config(
    listen: SocketAddr,
    routes: Vec<RouteSpec>,
    clusters: Vec<ClusterSpec>,
) -> EnvoyConfig {
    let mut l = ListenerSpec::new("ingress", listen);
    l.stat_prefix = PREFIX.to_owned();
    l.routes = routes;
    EnvoyConfig {
        listeners: vec![l],
        clusters,
    }
}

/// A route for everything under `prefix` to `cluster`, with `policy`.
fn route(name: &str, prefix: &str, cluster: &str, policy: RoutePolicy) -> RouteSpec {
    RouteSpec {
        policy,
        ..RouteSpec::prefix(name, prefix, cluster)
    }
}

fn header(name: &str, value: HeaderValueMatch) -> HeaderMatch {
    HeaderMatch {
        name: name.to_owned(),
        value,
    }
}

/// Sets `config` and waits until Envoy has ACKed all of it; panics with Envoy's message on
/// a NACK. Returns the types that were pushed.
async fn apply(fx: &Fixture, config: &EnvoyConfig) -> Vec<ResourceType> {
    let v = fx.control.set_config(NODE, config).unwrap();
    let report = fx
        .control
        .wait_applied(NODE, v, APPLY_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut types: Vec<ResourceType> = report.pushes.iter().map(|p| p.resource_type).collect();
    types.dedup();
    types
}

/// A counter's value, 0 when Envoy has not created it.
async fn counter(fx: &Fixture, name: &str) -> u64 {
    fx.envoy().stat(name).await.unwrap_or(0)
}

/// Every value under `key` anywhere in `json`.
fn find<'a>(json: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    match json {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    out.push(v);
                }
                out.extend(find(v, key));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| out.extend(find(v, key))),
        _ => {}
    }
    out
}

// === every policy at once ===

fn every_route_policy() -> RoutePolicy {
    RoutePolicy {
        timeout: Some(Duration::from_secs(3)),
        idle_timeout: Some(Duration::from_secs(30)),
        retries: Some(RetryPolicy {
            retry_on: ["5xx", "reset", "retriable-status-codes", "unavailable"]
                .map(String::from)
                .to_vec(),
            num_retries: 7,
            per_try_timeout: Some(Duration::from_millis(900)),
            per_try_idle_timeout: Some(Duration::from_millis(800)),
            backoff: Some(Backoff {
                base: Duration::from_millis(10),
                max: Duration::from_millis(100),
            }),
            retriable_status_codes: vec![409, 429],
            avoid_previous_hosts: true,
            host_selection_attempts: 3,
        }),
        mirrors: vec![Mirror {
            cluster: "shadow".into(),
            percent: 33.3,
        }],
        // Configured but at 0%: the filter is in play and traffic still passes.
        fault: Some(FaultPolicy {
            delay: Some(FaultDelay {
                fixed: Duration::from_millis(5),
                percent: 0.0,
            }),
            abort: Some(FaultAbort {
                kind: AbortKind::Grpc(14),
                percent: 0.0,
            }),
            headers: vec![header("x-chaos", HeaderValueMatch::Prefix("on".into()))],
        }),
        rate_limit: Some(LocalRateLimit {
            max_tokens: 1000,
            tokens_per_fill: 1000,
            fill_interval: Duration::from_secs(1),
            status: 429,
        }),
    }
}

fn every_cluster_policy() -> ClusterPolicy {
    ClusterPolicy {
        circuit_breakers: Some(CircuitBreakers {
            max_connections: Some(11),
            max_pending_requests: Some(12),
            max_requests: Some(13),
            max_retries: Some(14),
            track_remaining: true,
            retry_budget: Some(RetryBudget {
                budget_percent: 25.0,
                min_retry_concurrency: 4,
            }),
        }),
        outlier_detection: Some(OutlierDetection {
            consecutive_5xx: Some(5),
            consecutive_gateway_failure: Some(3),
            interval: Some(Duration::from_millis(500)),
            base_ejection_time: Some(Duration::from_secs(2)),
            max_ejection_percent: Some(50),
        }),
        lb_policy: LbPolicy::LeastRequest,
        health_check: Some(HealthCheck {
            path: "/healthz".into(),
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(100),
            unhealthy_threshold: 2,
            healthy_threshold: 1,
        }),
        max_requests_per_connection: Some(100),
    }
}

#[tokio::test]
async fn every_policy_at_once_is_acked_and_visible_in_config_dump() {
    let a = upstream("a").await;
    let shadow = upstream("shadow").await;
    let listen = free_port();
    let mut fx = Fixture::new().await;
    fx.start_envoy("every-policy").await;

    let mut all = route("all", "/", "backend", every_route_policy());
    all.headers = vec![
        header("x-tenant", HeaderValueMatch::Exact("t1".into())),
        header("x-trace", HeaderValueMatch::Present),
        header("x-debug", HeaderValueMatch::Absent),
    ];
    let mut config = envoy_config(
        listen,
        vec![all],
        vec![
            ClusterSpec {
                policy: every_cluster_policy(),
                ..ClusterSpec::new("backend", vec![a])
            },
            ClusterSpec {
                http2: true,
                policy: ClusterPolicy {
                    lb_policy: LbPolicy::RingHash,
                    max_requests_per_connection: Some(10),
                    ..ClusterPolicy::default()
                },
                ..ClusterSpec::new("shadow", vec![shadow])
            },
        ],
    );
    let types = apply(&fx, &config).await;
    assert_eq!(types, ResourceType::ALL);
    fx.envoy().wait_ready().await;

    // Traffic passes when the headers match, and only then.
    let tenant = [("x-tenant", "t1"), ("x-trace", "1")];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = request(listen, "/", &tenant).await.unwrap();
        if got.0 == 200 {
            assert_eq!(got.1.as_deref(), Some("a"));
            break;
        }
        // The first health check round may not have passed yet.
        assert!(Instant::now() < deadline, "never 200: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let with_debug = [("x-tenant", "t1"), ("x-trace", "1"), ("x-debug", "1")];
    assert_eq!(request(listen, "/", &with_debug).await.unwrap().0, 404);
    assert_eq!(
        request(listen, "/", &[("x-tenant", "t2")]).await.unwrap().0,
        404
    );

    // Envoy holds what we sent.
    let dump = fx.envoy().config_dump().await;
    let text =
        |key: &str| -> Vec<String> { find(&dump, key).iter().map(|v| v.to_string()).collect() };
    assert!(
        text("retry_on").contains(&"\"5xx,reset,retriable-status-codes,unavailable\"".into()),
        "{:?}",
        text("retry_on")
    );
    assert_eq!(text("num_retries"), ["7"]);
    assert_eq!(text("retriable_status_codes"), ["[409,429]"]);
    assert_eq!(text("host_selection_retry_max_attempts"), ["\"3\""]);
    let predicates = text("retry_host_predicate");
    assert!(
        predicates[0].contains("envoy.retry_host_predicates.previous_hosts"),
        "{predicates:?}"
    );
    let mirror = text("request_mirror_policies");
    assert!(
        mirror[0].contains("\"numerator\":3330") && mirror[0].contains("TEN_THOUSAND"),
        "{mirror:?}"
    );
    let thresholds = &find(&dump, "thresholds")[0][0];
    for (key, want) in [
        ("max_connections", 11),
        ("max_pending_requests", 12),
        ("max_requests", 13),
        ("max_retries", 14),
    ] {
        assert_eq!(thresholds[key], want, "{key} in {thresholds}");
    }
    assert_eq!(thresholds["retry_budget"]["budget_percent"]["value"], 25.0);
    assert_eq!(thresholds["track_remaining"], true);
    let outlier = &find(&dump, "outlier_detection")[0];
    assert_eq!(outlier["consecutive_gateway_failure"], 3);
    assert_eq!(outlier["enforcing_consecutive_gateway_failure"], 100);
    assert_eq!(text("lb_policy"), ["\"LEAST_REQUEST\"", "\"RING_HASH\""]);
    let hc = &find(&dump, "health_checks")[0][0];
    assert_eq!(hc["http_health_check"]["path"], "/healthz");
    assert_eq!(hc["no_traffic_interval"], "0.200s");
    assert_eq!(text("max_requests_per_connection"), ["100", "10"]);
    for filter in [
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.fault",
    ] {
        assert!(dump.to_string().contains(filter), "{filter} missing");
    }

    // A route policy change is an RDS push only; a cluster policy change a CDS push only.
    config.listeners[0].routes[0].policy.retries = None;
    assert_eq!(apply(&fx, &config).await, [ResourceType::Route]);
    config.clusters[0].policy.circuit_breakers = None;
    assert_eq!(apply(&fx, &config).await, [ResourceType::Cluster]);
    // Removing every route policy leaves the listener alone too.
    config.listeners[0].routes[0].policy = RoutePolicy::default();
    assert_eq!(apply(&fx, &config).await, [ResourceType::Route]);
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
