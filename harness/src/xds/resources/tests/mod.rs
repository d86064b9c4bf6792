//! Translation tests: build from the model, decode the `Any`s, check what Envoy will read.
//! Plain routes, clusters and listeners here; policies in `routes` and `clusters`.

mod clusters;
mod routes;

use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{cluster, Cluster};
use envoy_types::pb::envoy::config::core::v3::{address, socket_address};
use envoy_types::pb::envoy::config::endpoint::v3::{lb_endpoint, ClusterLoadAssignment};
use envoy_types::pb::envoy::config::listener::v3::{filter, Listener};
use envoy_types::pb::envoy::config::route::v3::{
    route, route_action, route_match, RouteConfiguration,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    http_connection_manager, http_filter, HttpConnectionManager,
};
use envoy_types::pb::google::protobuf::Any;
use prost::{Message, Name};

use super::*;
use crate::policy::RoutePolicy;
use crate::xds::model::*;

fn config() -> EnvoyConfig {
    let mut listener = ListenerSpec::new("ingress", "127.0.0.1:10000".parse().unwrap());
    listener.routes = vec![
        RouteSpec {
            policy: RoutePolicy {
                timeout: Some(Duration::from_millis(1500)),
                ..RoutePolicy::default()
            },
            ..RouteSpec::prefix("api", "/api", "backend")
        },
        RouteSpec {
            name: "split".into(),
            matcher: RouteMatchSpec::Path("/exact".into()),
            target: TargetSpec::Weighted(vec![("backend".into(), 90), ("canary".into(), 10)]),
            ..RouteSpec::default()
        },
    ];
    EnvoyConfig {
        listeners: vec![listener],
        clusters: vec![
            ClusterSpec::new(
                "backend",
                vec![
                    "127.0.0.1:8001".parse().unwrap(),
                    "127.0.0.1:8002".parse().unwrap(),
                ],
            ),
            ClusterSpec {
                http2: true,
                connect_timeout: Duration::from_millis(250),
                ..ClusterSpec::new("canary", vec!["[::1]:8003".parse().unwrap()])
            },
        ],
    }
}

/// The HttpConnectionManager of listener `name`.
fn hcm(r: &Resources, name: &str) -> HttpConnectionManager {
    let l: Listener = one(r, ResourceType::Listener, name);
    let Some(filter::ConfigType::TypedConfig(any)) = &l.filter_chains[0].filters[0].config_type
    else {
        panic!("{l:?}");
    };
    decode(any)
}

fn decode<M: Message + Name + Default>(any: &Any) -> M {
    assert_eq!(any.type_url, M::type_url());
    M::decode(any.value.as_slice()).unwrap()
}

fn one<M: Message + Name + Default>(r: &Resources, ty: ResourceType, name: &str) -> M {
    let any = r
        .of(ty)
        .get(name)
        .unwrap_or_else(|| panic!("no {ty} {name}"));
    assert_eq!(any.type_url, ty.type_url(), "type URL of {ty} {name}");
    decode(any)
}

#[test]
fn clusters_use_eds_over_ads_round_robin() {
    let r = build(&config()).unwrap();
    assert_eq!(r.of(ResourceType::Cluster).len(), 2);
    let c: Cluster = one(&r, ResourceType::Cluster, "backend");
    assert_eq!(
        c.cluster_discovery_type,
        Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32
        ))
    );
    let eds = c.eds_cluster_config.unwrap().eds_config.unwrap();
    assert_eq!(eds, ads_config_source());
    assert_eq!(c.lb_policy, cluster::LbPolicy::RoundRobin as i32);
    assert_eq!(c.connect_timeout.unwrap().seconds, 5);
    assert!(
        c.typed_extension_protocol_options.is_empty(),
        "backend is HTTP/1.1"
    );
}

#[test]
fn http2_clusters_carry_explicit_http2_options() {
    let r = build(&config()).unwrap();
    let c: Cluster = one(&r, ResourceType::Cluster, "canary");
    let (key, any) = http2_protocol_options();
    assert_eq!(c.typed_extension_protocol_options.get(&key), Some(&any));
    assert_eq!(
        key,
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    );
    let t = c.connect_timeout.unwrap();
    assert_eq!((t.seconds, t.nanos), (0, 250_000_000));
}

#[test]
fn load_assignments_list_every_endpoint() {
    let r = build(&config()).unwrap();
    let cla: ClusterLoadAssignment = one(&r, ResourceType::Endpoint, "backend");
    assert_eq!(cla.cluster_name, "backend");
    let ports: Vec<u32> = cla.endpoints[0]
        .lb_endpoints
        .iter()
        .map(|e| {
            let Some(lb_endpoint::HostIdentifier::Endpoint(ep)) = &e.host_identifier else {
                panic!("{e:?}");
            };
            let Some(address::Address::SocketAddress(sa)) = &ep.address.as_ref().unwrap().address
            else {
                panic!("{ep:?}");
            };
            assert_eq!(sa.address, "127.0.0.1");
            match sa.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p,
                _ => panic!("{sa:?}"),
            }
        })
        .collect();
    assert_eq!(ports, [8001, 8002]);
    let v6: ClusterLoadAssignment = one(&r, ResourceType::Endpoint, "canary");
    assert!(format!("{v6:?}").contains("\"::1\""), "{v6:?}");
}

#[test]
fn listener_has_hcm_with_rds_over_ads_and_a_typed_router() {
    let r = build(&config()).unwrap();
    let l: Listener = one(&r, ResourceType::Listener, "ingress");
    assert_eq!(
        l.address.unwrap(),
        socket_address("127.0.0.1:10000".parse().unwrap())
    );
    let f = &l.filter_chains[0].filters[0];
    assert_eq!(f.name, "envoy.filters.network.http_connection_manager");
    let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else {
        panic!("{f:?}");
    };
    let hcm: HttpConnectionManager = decode(any);
    assert_eq!(hcm.stat_prefix, "ingress");
    assert!(!hcm.generate_request_id.unwrap().value);
    let Some(http_connection_manager::RouteSpecifier::Rds(rds)) = hcm.route_specifier else {
        panic!("not RDS");
    };
    assert_eq!(rds.route_config_name, "ingress_routes");
    assert_eq!(rds.config_source.unwrap(), ads_config_source());
    let filters: Vec<_> = hcm.http_filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        filters,
        [
            "envoy.filters.http.grpc_stats",
            "envoy.filters.http.local_ratelimit",
            "envoy.filters.http.fault",
            "envoy.filters.http.router"
        ]
    );
    let Some(http_filter::ConfigType::TypedConfig(router)) = &hcm.http_filters[3].config_type
    else {
        panic!("router without typed_config is NACKed by Envoy");
    };
    let router: Router = decode(router);
    assert!(router.dynamic_stats.unwrap().value);
}

#[test]
fn benchmark_knobs_reach_hcm_and_router() {
    let mut c = config();
    c.listeners[0].generate_request_id = true;
    c.listeners[0].dynamic_stats = false;
    let r = build(&c).unwrap();
    let l: Listener = one(&r, ResourceType::Listener, "ingress");
    let Some(filter::ConfigType::TypedConfig(any)) = &l.filter_chains[0].filters[0].config_type
    else {
        panic!();
    };
    let hcm: HttpConnectionManager = decode(any);
    assert!(hcm.generate_request_id.unwrap().value);
    let Some(http_filter::ConfigType::TypedConfig(router)) = &hcm.http_filters[3].config_type
    else {
        panic!();
    };
    assert!(!decode::<Router>(router).dynamic_stats.unwrap().value);
}

#[test]
fn route_config_has_one_catch_all_virtual_host_in_route_order() {
    let r = build(&config()).unwrap();
    let rc: RouteConfiguration = one(&r, ResourceType::Route, "ingress_routes");
    assert_eq!(rc.virtual_hosts.len(), 1);
    let vh = &rc.virtual_hosts[0];
    assert_eq!(vh.domains, ["*"]);
    let names: Vec<_> = vh.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["api", "split"]);

    let api = &vh.routes[0];
    assert_eq!(
        api.r#match.as_ref().unwrap().path_specifier,
        Some(route_match::PathSpecifier::Prefix("/api".into()))
    );
    let Some(route::Action::Route(action)) = &api.action else {
        panic!()
    };
    assert_eq!(
        action.cluster_specifier,
        Some(route_action::ClusterSpecifier::Cluster("backend".into()))
    );
    let t = action.timeout.unwrap();
    assert_eq!((t.seconds, t.nanos), (1, 500_000_000));

    let split = &vh.routes[1];
    assert_eq!(
        split.r#match.as_ref().unwrap().path_specifier,
        Some(route_match::PathSpecifier::Path("/exact".into()))
    );
    let Some(route::Action::Route(action)) = &split.action else {
        panic!()
    };
    assert_eq!(action.timeout, None, "no timeout keeps Envoy's default");
    let Some(route_action::ClusterSpecifier::WeightedClusters(w)) = &action.cluster_specifier
    else {
        panic!("{action:?}")
    };
    let split: Vec<_> = w
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.weight.unwrap().value))
        .collect();
    assert_eq!(split, [("backend", 90), ("canary", 10)]);
}

#[test]
fn duplicate_names_are_rejected_before_envoy_sees_them() {
    let mut c = config();
    c.clusters.push(ClusterSpec::new("backend", vec![]));
    let err = build(&c).unwrap_err();
    assert!(err.to_string().contains("\"backend\""), "{err}");

    let mut c = config();
    let mut second = ListenerSpec::new("other", "127.0.0.1:10001".parse().unwrap());
    second.route_config_name = "ingress_routes".into();
    c.listeners.push(second);
    let err = build(&c).unwrap_err();
    assert!(err.to_string().contains("ingress_routes"), "{err}");
}

#[test]
fn same_config_builds_identical_bytes() {
    // Change detection compares encoded resources: the encoding must be deterministic.
    assert_eq!(build(&config()).unwrap(), build(&config()).unwrap());
}

#[test]
fn empty_config_builds_no_resources() {
    let r = build(&EnvoyConfig::default()).unwrap();
    assert!(ResourceType::ALL.iter().all(|t| r.of(*t).is_empty()));
}
