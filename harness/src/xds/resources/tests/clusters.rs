//! Cluster policies: circuit breakers, outlier detection, load balancing, health checks,
//! requests per connection, and endpoint lists.

use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{cluster, Cluster};
use envoy_types::pb::envoy::config::core::v3::{health_check, RoutingPriority};
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::{
    explicit_http_config::ProtocolConfig, UpstreamProtocolOptions,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use envoy_types::pb::envoy::r#type::v3::CodecClientType;
use prost::Name;

use super::{decode, one};
use crate::policy::*;
use crate::xds::model::*;
use crate::xds::resources::{build, ResourceType};

fn built(spec: ClusterSpec) -> Cluster {
    let name = spec.name.clone();
    let r = build(&EnvoyConfig {
        clusters: vec![spec],
        ..EnvoyConfig::default()
    })
    .unwrap();
    one(&r, ResourceType::Cluster, &name)
}

fn with_policy(policy: ClusterPolicy) -> Cluster {
    built(ClusterSpec {
        policy,
        ..ClusterSpec::new("c", vec!["127.0.0.1:8001".parse().unwrap()])
    })
}

fn health() -> HealthCheck {
    HealthCheck {
        path: "/healthz".into(),
        interval: Duration::from_millis(500),
        timeout: Duration::from_millis(200),
        unhealthy_threshold: 3,
        healthy_threshold: 2,
    }
}

#[test]
fn default_policy_adds_nothing_but_immediate_host_removal() {
    let c = with_policy(ClusterPolicy::default());
    assert_eq!(c.circuit_breakers, None);
    assert_eq!(c.outlier_detection, None);
    assert!(c.health_checks.is_empty());
    assert!(c.typed_extension_protocol_options.is_empty());
    assert_eq!(c.lb_policy, cluster::LbPolicy::RoundRobin as i32);
    assert!(c.ignore_health_on_host_removal);
}

#[test]
fn circuit_breakers_set_default_priority_thresholds() {
    let c = with_policy(ClusterPolicy {
        circuit_breakers: Some(CircuitBreakers {
            max_connections: Some(10),
            max_pending_requests: Some(20),
            max_requests: Some(30),
            max_retries: Some(4),
            track_remaining: true,
            retry_budget: Some(RetryBudget {
                budget_percent: 25.5,
                min_retry_concurrency: 2,
            }),
        }),
        ..ClusterPolicy::default()
    });
    let cb = c.circuit_breakers.unwrap();
    let [t] = cb.thresholds.as_slice() else {
        panic!("{cb:?}");
    };
    assert_eq!(t.priority, RoutingPriority::Default as i32);
    let v = |x: Option<envoy_types::pb::google::protobuf::UInt32Value>| x.map(|v| v.value);
    assert_eq!(
        (
            v(t.max_connections),
            v(t.max_pending_requests),
            v(t.max_requests),
            v(t.max_retries)
        ),
        (Some(10), Some(20), Some(30), Some(4))
    );
    assert!(t.track_remaining);
    let budget = t.retry_budget.unwrap();
    assert_eq!(budget.budget_percent.unwrap().value, 25.5);
    assert_eq!(budget.min_retry_concurrency.unwrap().value, 2);

    // Unset thresholds stay unset: Envoy's defaults (1024; 3 retries) apply.
    let c = with_policy(ClusterPolicy {
        circuit_breakers: Some(CircuitBreakers {
            max_requests: Some(1),
            ..CircuitBreakers::default()
        }),
        ..ClusterPolicy::default()
    });
    let t = c.circuit_breakers.unwrap().thresholds[0];
    assert_eq!(
        (t.max_connections, t.max_retries, t.retry_budget),
        (None, None, None)
    );
}

#[test]
fn outlier_detection_enforces_gateway_failures_when_asked_for() {
    let c = with_policy(ClusterPolicy {
        outlier_detection: Some(OutlierDetection {
            consecutive_5xx: Some(5),
            consecutive_gateway_failure: Some(2),
            interval: Some(Duration::from_millis(500)),
            base_ejection_time: Some(Duration::from_secs(3)),
            max_ejection_percent: Some(50),
        }),
        ..ClusterPolicy::default()
    });
    let od = c.outlier_detection.unwrap();
    assert_eq!(od.consecutive_5xx.unwrap().value, 5);
    assert_eq!(od.consecutive_gateway_failure.unwrap().value, 2);
    assert_eq!(od.enforcing_consecutive_gateway_failure.unwrap().value, 100);
    assert_eq!(od.interval.unwrap().nanos, 500_000_000);
    assert_eq!(od.base_ejection_time.unwrap().seconds, 3);
    assert_eq!(od.max_ejection_percent.unwrap().value, 50);
    assert_eq!(
        od.enforcing_consecutive_5xx, None,
        "Envoy's default is 100%"
    );

    let c = with_policy(ClusterPolicy {
        outlier_detection: Some(OutlierDetection {
            consecutive_5xx: Some(3),
            ..OutlierDetection::default()
        }),
        ..ClusterPolicy::default()
    });
    let od = c.outlier_detection.unwrap();
    assert_eq!(od.consecutive_gateway_failure, None);
    assert_eq!(od.enforcing_consecutive_gateway_failure, None);
    assert_eq!(od.interval, None);
}

#[test]
fn lb_policies_map_one_to_one() {
    for (policy, want) in [
        (LbPolicy::RoundRobin, cluster::LbPolicy::RoundRobin),
        (LbPolicy::LeastRequest, cluster::LbPolicy::LeastRequest),
        (LbPolicy::Random, cluster::LbPolicy::Random),
        (LbPolicy::RingHash, cluster::LbPolicy::RingHash),
    ] {
        let c = with_policy(ClusterPolicy {
            lb_policy: policy,
            ..ClusterPolicy::default()
        });
        assert_eq!(c.lb_policy, want as i32, "{policy:?}");
    }
}

#[test]
fn health_check_is_http_in_the_cluster_protocol_and_starts_at_once() {
    let c = with_policy(ClusterPolicy {
        health_check: Some(health()),
        ..ClusterPolicy::default()
    });
    let [hc] = c.health_checks.as_slice() else {
        panic!("{:?}", c.health_checks);
    };
    assert_eq!(hc.interval.unwrap().nanos, 500_000_000);
    assert_eq!(hc.no_traffic_interval, hc.interval, "not Envoy's 60 s");
    assert_eq!(hc.timeout.unwrap().nanos, 200_000_000);
    assert_eq!(hc.unhealthy_threshold.unwrap().value, 3);
    assert_eq!(hc.healthy_threshold.unwrap().value, 2);
    let Some(health_check::HealthChecker::HttpHealthCheck(http)) = &hc.health_checker else {
        panic!("{hc:?}");
    };
    assert_eq!(http.path, "/healthz");
    assert_eq!(http.codec_client_type, CodecClientType::Http1 as i32);

    let c = built(ClusterSpec {
        http2: true,
        policy: ClusterPolicy {
            health_check: Some(health()),
            ..ClusterPolicy::default()
        },
        ..ClusterSpec::new("h2", vec![])
    });
    let Some(health_check::HealthChecker::HttpHealthCheck(http)) =
        &c.health_checks[0].health_checker
    else {
        panic!();
    };
    assert_eq!(http.codec_client_type, CodecClientType::Http2 as i32);
}

/// The cluster's HttpProtocolOptions: (HTTP/2?, max requests per connection).
fn protocol(c: &Cluster) -> (bool, Option<u32>) {
    let any = &c.typed_extension_protocol_options[&HttpProtocolOptions::full_name()];
    let o: HttpProtocolOptions = decode(any);
    let Some(UpstreamProtocolOptions::ExplicitHttpConfig(explicit)) = o.upstream_protocol_options
    else {
        panic!("{o:?}");
    };
    let http2 = match explicit.protocol_config.unwrap() {
        ProtocolConfig::Http2ProtocolOptions(_) => true,
        ProtocolConfig::HttpProtocolOptions(_) => false,
        other => panic!("{other:?}"),
    };
    let max = o
        .common_http_protocol_options
        .and_then(|c| c.max_requests_per_connection)
        .map(|v| v.value);
    (http2, max)
}

#[test]
fn max_requests_per_connection_merges_with_the_protocol() {
    let capped = ClusterPolicy {
        max_requests_per_connection: Some(50),
        ..ClusterPolicy::default()
    };
    let c = with_policy(capped.clone());
    assert_eq!(c.typed_extension_protocol_options.len(), 1);
    assert_eq!(protocol(&c), (false, Some(50)), "HTTP/1.1 said explicitly");

    let c = built(ClusterSpec {
        http2: true,
        policy: capped,
        ..ClusterSpec::new("h2", vec![])
    });
    assert_eq!(c.typed_extension_protocol_options.len(), 1);
    assert_eq!(protocol(&c), (true, Some(50)));

    let c = built(ClusterSpec {
        http2: true,
        ..ClusterSpec::new("h2", vec![])
    });
    assert_eq!(protocol(&c), (true, None));
}

#[test]
fn endpoint_lists_shrink_and_grow_in_eds_only() {
    let spec = |ports: &[u16]| EnvoyConfig {
        clusters: vec![ClusterSpec {
            policy: ClusterPolicy {
                health_check: Some(health()),
                ..ClusterPolicy::default()
            },
            ..ClusterSpec::new(
                "c",
                ports.iter().map(|p| ([127, 0, 0, 1], *p).into()).collect(),
            )
        }],
        ..EnvoyConfig::default()
    };
    let three = build(&spec(&[8001, 8002, 8003])).unwrap();
    let one_left = build(&spec(&[8002])).unwrap();
    assert_eq!(
        three.of(ResourceType::Cluster),
        one_left.of(ResourceType::Cluster),
        "the cluster does not list endpoints"
    );
    let cla: ClusterLoadAssignment = one(&one_left, ResourceType::Endpoint, "c");
    assert_eq!(cla.endpoints[0].lb_endpoints.len(), 1);
    let cla: ClusterLoadAssignment = one(&three, ResourceType::Endpoint, "c");
    assert_eq!(cla.endpoints[0].lb_endpoints.len(), 3);
}
