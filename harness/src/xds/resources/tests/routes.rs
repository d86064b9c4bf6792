//! Route policies: header matches, timeouts, retries, mirrors, per-route faults and rate
//! limits, the listener's filters, and the deterministic encoding of routes.

use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3::{
    header_matcher::HeaderMatchSpecifier, retry_policy, route, HeaderMatcher, Route, RouteAction,
    RouteConfiguration,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::fault_delay;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{fault_abort, HttpFault};
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as PbLocalRateLimit;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_filter;
use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use envoy_types::pb::envoy::r#type::v3::fractional_percent::DenominatorType;
use envoy_types::pb::envoy::r#type::v3::FractionalPercent;

use super::{decode, hcm, one};
use crate::policy::*;
use crate::xds::model::*;
use crate::xds::resources::route::{pack, route_config};
use crate::xds::resources::{build, fractional_percent, ResourceType};

fn header(name: &str, value: HeaderValueMatch) -> HeaderMatch {
    HeaderMatch {
        name: name.into(),
        value,
    }
}

fn retries() -> RetryPolicy {
    RetryPolicy {
        retry_on: vec!["5xx".into(), "reset".into(), "unavailable".into()],
        num_retries: 2,
        per_try_timeout: Some(Duration::from_millis(250)),
        per_try_idle_timeout: Some(Duration::from_millis(100)),
        backoff: Some(Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(80),
        }),
        retriable_status_codes: vec![409, 503],
        avoid_previous_hosts: true,
        host_selection_attempts: 4,
    }
}

fn fault() -> FaultPolicy {
    FaultPolicy {
        delay: Some(FaultDelay {
            fixed: Duration::from_millis(150),
            percent: 12.5,
        }),
        abort: Some(FaultAbort {
            kind: AbortKind::Http(503),
            percent: 50.0,
        }),
        headers: vec![header("x-chaos", HeaderValueMatch::Exact("on".into()))],
    }
}

fn rate_limit() -> LocalRateLimit {
    LocalRateLimit {
        max_tokens: 5,
        tokens_per_fill: 2,
        fill_interval: Duration::from_millis(500),
        status: 503,
    }
}

/// One listener with one route carrying `headers` and `policy`.
fn config(headers: Vec<HeaderMatch>, policy: RoutePolicy) -> EnvoyConfig {
    let mut l = ListenerSpec::new("ingress", "127.0.0.1:10000".parse().unwrap());
    l.routes = vec![RouteSpec {
        headers,
        policy,
        ..RouteSpec::prefix("r", "/", "backend")
    }];
    EnvoyConfig {
        listeners: vec![l],
        clusters: vec![
            ClusterSpec::new("backend", vec!["127.0.0.1:8001".parse().unwrap()]),
            ClusterSpec::new("shadow", vec!["127.0.0.1:8002".parse().unwrap()]),
        ],
    }
}

fn built_route(config: &EnvoyConfig) -> Route {
    let r = build(config).unwrap();
    let rc: RouteConfiguration = one(&r, ResourceType::Route, "ingress_routes");
    rc.virtual_hosts[0].routes[0].clone()
}

fn action(route: &Route) -> RouteAction {
    let Some(route::Action::Route(action)) = &route.action else {
        panic!("{route:?}");
    };
    action.clone()
}

fn policy_with(f: impl FnOnce(&mut RoutePolicy)) -> RoutePolicy {
    let mut p = RoutePolicy::default();
    f(&mut p);
    p
}

#[test]
fn header_matches_use_string_match_present_and_inverted_present() {
    let headers = vec![
        header("x-exact", HeaderValueMatch::Exact("v1".into())),
        header("x-prefix", HeaderValueMatch::Prefix("pre".into())),
        header("x-present", HeaderValueMatch::Present),
        header("x-absent", HeaderValueMatch::Absent),
    ];
    let route = built_route(&config(headers, RoutePolicy::default()));
    let got: Vec<(String, Option<HeaderMatchSpecifier>, bool)> = route
        .r#match
        .unwrap()
        .headers
        .into_iter()
        .map(|h: HeaderMatcher| (h.name, h.header_match_specifier, h.invert_match))
        .collect();
    let string = |p| {
        Some(HeaderMatchSpecifier::StringMatch(
            envoy_types::pb::envoy::r#type::matcher::v3::StringMatcher {
                match_pattern: Some(p),
                ignore_case: false,
            },
        ))
    };
    assert_eq!(
        got,
        [
            (
                "x-exact".into(),
                string(MatchPattern::Exact("v1".into())),
                false
            ),
            (
                "x-prefix".into(),
                string(MatchPattern::Prefix("pre".into())),
                false
            ),
            (
                "x-present".into(),
                Some(HeaderMatchSpecifier::PresentMatch(true)),
                false
            ),
            (
                "x-absent".into(),
                Some(HeaderMatchSpecifier::PresentMatch(true)),
                true
            ),
        ]
    );
}

#[test]
fn timeouts_reach_the_route_action() {
    let p = policy_with(|p| {
        p.timeout = Some(Duration::from_millis(2500));
        p.idle_timeout = Some(Duration::from_secs(30));
    });
    let a = action(&built_route(&config(vec![], p)));
    let t = a.timeout.unwrap();
    assert_eq!((t.seconds, t.nanos), (2, 500_000_000));
    assert_eq!(a.idle_timeout.unwrap().seconds, 30);

    let a = action(&built_route(&config(vec![], RoutePolicy::default())));
    assert_eq!(
        (a.timeout, a.idle_timeout, a.retry_policy),
        (None, None, None)
    );
    assert!(a.request_mirror_policies.is_empty());
}

#[test]
fn retry_policy_maps_every_field() {
    let r = action(&built_route(&config(
        vec![],
        policy_with(|p| p.retries = Some(retries())),
    )))
    .retry_policy
    .unwrap();
    assert_eq!(
        r.retry_on, "5xx,reset,unavailable",
        "HTTP and gRPC in one list"
    );
    assert_eq!(r.num_retries.unwrap().value, 2);
    assert_eq!(r.per_try_timeout.unwrap().nanos, 250_000_000);
    assert_eq!(r.per_try_idle_timeout.unwrap().nanos, 100_000_000);
    let b = r.retry_back_off.unwrap();
    assert_eq!(
        (
            b.base_interval.unwrap().nanos,
            b.max_interval.unwrap().nanos
        ),
        (10_000_000, 80_000_000)
    );
    assert_eq!(r.retriable_status_codes, [409, 503]);
    assert_eq!(r.host_selection_retry_max_attempts, 4);
    let [predicate] = r.retry_host_predicate.as_slice() else {
        panic!("{:?}", r.retry_host_predicate);
    };
    assert_eq!(predicate.name, "envoy.retry_host_predicates.previous_hosts");
    let Some(retry_policy::retry_host_predicate::ConfigType::TypedConfig(any)) =
        &predicate.config_type
    else {
        panic!("{predicate:?}");
    };
    assert_eq!(
        decode::<PreviousHostsPredicate>(any),
        PreviousHostsPredicate {}
    );
}

#[test]
fn retries_without_previous_hosts_have_no_predicate_and_default_backoff() {
    let mut rp = retries();
    rp.avoid_previous_hosts = false;
    rp.backoff = None;
    let r = action(&built_route(&config(
        vec![],
        policy_with(|p| p.retries = Some(rp)),
    )))
    .retry_policy
    .unwrap();
    assert!(r.retry_host_predicate.is_empty());
    assert_eq!(r.host_selection_retry_max_attempts, 0);
    assert_eq!(r.retry_back_off, None, "Envoy's 25 ms / 250 ms");
}

#[test]
fn percentages_keep_their_precision() {
    let fp = |numerator, d: DenominatorType| FractionalPercent {
        numerator,
        denominator: d as i32,
    };
    for (percent, want) in [
        (100.0, fp(100, DenominatorType::Hundred)),
        (25.0, fp(25, DenominatorType::Hundred)),
        (0.0, fp(0, DenominatorType::Hundred)),
        (33.3, fp(3330, DenominatorType::TenThousand)),
        (12.5, fp(1250, DenominatorType::TenThousand)),
        (0.01, fp(1, DenominatorType::TenThousand)),
        (33.3333, fp(333_333, DenominatorType::Million)),
        (0.0001, fp(1, DenominatorType::Million)),
        (150.0, fp(100, DenominatorType::Hundred)),
        (-1.0, fp(0, DenominatorType::Hundred)),
    ] {
        assert_eq!(fractional_percent(percent), want, "{percent}%");
    }
}

#[test]
fn mirrors_name_the_cluster_and_a_runtime_fraction() {
    let p = policy_with(|p| {
        p.mirrors = vec![
            Mirror {
                cluster: "shadow".into(),
                percent: 33.3,
            },
            Mirror {
                cluster: "backend".into(),
                percent: 100.0,
            },
        ]
    });
    let mirrors = action(&built_route(&config(vec![], p))).request_mirror_policies;
    let got: Vec<_> = mirrors
        .iter()
        .map(|m| {
            let f = m.runtime_fraction.as_ref().unwrap();
            assert_eq!(f.runtime_key, "");
            (m.cluster.as_str(), f.default_value.unwrap())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("shadow", fractional_percent(33.3)),
            ("backend", fractional_percent(100.0))
        ]
    );
}

#[test]
fn per_route_fault_has_delay_abort_and_headers() {
    let route = built_route(&config(vec![], policy_with(|p| p.fault = Some(fault()))));
    assert_eq!(route.typed_per_filter_config.len(), 1);
    let f: HttpFault = decode(&route.typed_per_filter_config["envoy.filters.http.fault"]);
    let delay = f.delay.unwrap();
    assert_eq!(delay.percentage, Some(fractional_percent(12.5)));
    let Some(fault_delay::FaultDelaySecifier::FixedDelay(d)) = delay.fault_delay_secifier else {
        panic!("{delay:?}");
    };
    assert_eq!(d.nanos, 150_000_000);
    let abort = f.abort.unwrap();
    assert_eq!(abort.percentage, Some(fractional_percent(50.0)));
    assert_eq!(
        abort.error_type,
        Some(fault_abort::ErrorType::HttpStatus(503))
    );
    assert_eq!(f.headers.len(), 1);
    assert_eq!(f.headers[0].name, "x-chaos");

    let mut grpc = fault();
    grpc.delay = None;
    grpc.abort.as_mut().unwrap().kind = AbortKind::Grpc(14);
    let route = built_route(&config(vec![], policy_with(|p| p.fault = Some(grpc))));
    let f: HttpFault = decode(&route.typed_per_filter_config["envoy.filters.http.fault"]);
    assert_eq!(f.delay, None);
    assert_eq!(
        f.abort.unwrap().error_type,
        Some(fault_abort::ErrorType::GrpcStatus(14))
    );
}

#[test]
fn per_route_rate_limit_has_a_bucket_enabled_and_enforced_for_all() {
    let route = built_route(&config(
        vec![],
        policy_with(|p| p.rate_limit = Some(rate_limit())),
    ));
    let l: PbLocalRateLimit =
        decode(&route.typed_per_filter_config["envoy.filters.http.local_ratelimit"]);
    assert_eq!(
        l.stat_prefix, "http.ingress",
        "counts as http.ingress.http_local_rate_limit.*"
    );
    let b = l.token_bucket.unwrap();
    assert_eq!(
        (
            b.max_tokens,
            b.tokens_per_fill.unwrap().value,
            b.fill_interval.unwrap().nanos
        ),
        (5, 2, 500_000_000)
    );
    assert_eq!(l.status.unwrap().code, 503);
    for share in [l.filter_enabled.unwrap(), l.filter_enforced.unwrap()] {
        assert_eq!(share.default_value, Some(fractional_percent(100.0)));
    }
    assert!(
        !l.local_rate_limit_per_downstream_connection,
        "one bucket per Envoy"
    );
}

#[test]
fn listener_filters_are_inactive_until_a_route_configures_them() {
    let r = build(&config(vec![], RoutePolicy::default())).unwrap();
    let hcm = hcm(&r, "ingress");
    let typed = |i: usize| {
        let Some(http_filter::ConfigType::TypedConfig(any)) = &hcm.http_filters[i].config_type
        else {
            panic!("{:?}", hcm.http_filters[i]);
        };
        any.clone()
    };
    let limit: PbLocalRateLimit = decode(&typed(1));
    assert_eq!(limit.stat_prefix, "http.ingress");
    assert_eq!(limit.token_bucket, None, "no bucket: everything passes");
    assert_eq!(decode::<HttpFault>(&typed(2)), HttpFault::default());
    let route = built_route(&config(vec![], RoutePolicy::default()));
    assert!(route.typed_per_filter_config.is_empty());
}

#[test]
fn route_policies_never_change_the_listener() {
    let plain = build(&config(vec![], RoutePolicy::default())).unwrap();
    let every = RoutePolicy {
        timeout: Some(Duration::from_secs(1)),
        idle_timeout: Some(Duration::from_secs(1)),
        retries: Some(retries()),
        mirrors: vec![Mirror {
            cluster: "shadow".into(),
            percent: 10.0,
        }],
        fault: Some(fault()),
        rate_limit: Some(rate_limit()),
    };
    let policed = build(&config(vec![header("x", HeaderValueMatch::Present)], every)).unwrap();
    assert_eq!(
        plain.of(ResourceType::Listener),
        policed.of(ResourceType::Listener),
        "a policy change must be an RDS push, not LDS"
    );
    assert_ne!(
        plain.of(ResourceType::Route),
        policed.of(ResourceType::Route)
    );
}

#[test]
fn routes_with_two_filter_configs_encode_identically_every_time() {
    let c = config(
        vec![],
        policy_with(|p| {
            p.fault = Some(fault());
            p.rate_limit = Some(rate_limit());
        }),
    );
    // Each build has fresh HashMaps with fresh random seeds: 50 tries see both orders.
    let first = build(&c).unwrap();
    for _ in 0..50 {
        assert_eq!(build(&c).unwrap(), first);
    }
    let route = built_route(&c);
    assert_eq!(route.typed_per_filter_config.len(), 2);
}

#[test]
fn deterministic_packing_decodes_to_the_same_message() {
    let mut l = ListenerSpec::new("ingress", "127.0.0.1:10000".parse().unwrap());
    l.routes = vec![
        RouteSpec {
            headers: vec![header("x-a", HeaderValueMatch::Present)],
            policy: policy_with(|p| {
                p.fault = Some(fault());
                p.rate_limit = Some(rate_limit());
                p.retries = Some(retries());
            }),
            ..RouteSpec::prefix("first", "/a", "backend")
        },
        RouteSpec::prefix("plain", "/", "backend"),
    ];
    let mut proto = route_config(&l);
    // Maps at every level the packer handles, not just the route's.
    let any = proto.virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.fault"]
        .clone();
    proto.virtual_hosts[0]
        .typed_per_filter_config
        .insert("vh".into(), any.clone());
    proto.typed_per_filter_config.insert("rc".into(), any);
    let packed = pack(proto.clone());
    assert_eq!(decode::<RouteConfiguration>(&packed), proto);
}
