//! Resilience policies against a real Envoy, all at once: a config with every route and
//! cluster policy is ACKed, shows in `/config_dump` as set, and a change to one pushes only
//! its resource type. The behaviour of each policy is `xds_policies.rs`'s.

#[path = "xds/fixture.rs"]
mod fixture;
#[path = "xds/policy.rs"]
mod policy;

use std::time::Duration;

use gauntlet::policy::{
    AbortKind, Backoff, CircuitBreakers, ClusterPolicy, FaultAbort, FaultDelay, FaultPolicy,
    HeaderValueMatch, HealthCheck, LbPolicy, LocalRateLimit, Mirror, OutlierDetection, RetryBudget,
    RetryPolicy, RoutePolicy,
};
use gauntlet::xds::{ClusterSpec, ResourceType};
use serde_json::Value;
use tokio::time::Instant;

use fixture::*;
use policy::*;

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
