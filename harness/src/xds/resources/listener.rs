//! Listeners: one HttpConnectionManager each, routes over RDS, the fixed filter chain.

use envoy_types::pb::envoy::config::listener::v3::{filter, Filter, FilterChain, Listener};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    http_connection_manager, HttpConnectionManager, Rds,
};
use envoy_types::pb::google::protobuf::BoolValue;
use envoy_types::util::pack_any;

use super::filters::http_filters;
use super::{ads_config_source, socket_address};
use crate::xds::model::ListenerSpec;

/// Well-known name Envoy looks the HCM's typed config up by.
const HCM_FILTER: &str = "envoy.filters.network.http_connection_manager";

/// The listener depends on no policy: policies live in routes and clusters, so a policy
/// change never re-creates the listener (which would reach only new connections).
pub(super) fn listener(spec: &ListenerSpec) -> Listener {
    let hcm = HttpConnectionManager {
        stat_prefix: spec.stat_prefix.clone(),
        generate_request_id: Some(BoolValue {
            value: spec.generate_request_id,
        }),
        route_specifier: Some(http_connection_manager::RouteSpecifier::Rds(Rds {
            config_source: Some(ads_config_source()),
            route_config_name: spec.route_config_name.clone(),
        })),
        http_filters: http_filters(&spec.stat_prefix, spec.dynamic_stats),
        ..Default::default()
    };
    Listener {
        name: spec.name.clone(),
        address: Some(socket_address(spec.address)),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: HCM_FILTER.to_owned(),
                config_type: Some(filter::ConfigType::TypedConfig(pack_any(hcm))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}
