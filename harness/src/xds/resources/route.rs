//! Route configurations: one catch-all virtual host per listener, its routes with their
//! [`RoutePolicy`], and a deterministic encoding for them.

use std::collections::{BTreeMap, HashMap};

use envoy_types::pb::envoy::config::route::v3::{
    header_matcher, retry_policy, route, route_action, route_match, weighted_cluster,
    HeaderMatcher, RetryPolicy as PbRetryPolicy, Route, RouteAction, RouteConfiguration,
    RouteMatch, VirtualHost, WeightedCluster,
};
use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use envoy_types::pb::envoy::r#type::matcher::v3::{string_matcher, StringMatcher};
use envoy_types::pb::google::protobuf::{Any, UInt32Value};
use envoy_types::util::pack_any;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::{Message, Name};

use super::filters::per_route_configs;
use super::{proto_duration, runtime_percent, u32_value};
use crate::policy::{HeaderMatch, HeaderValueMatch, Mirror, RetryPolicy, RoutePolicy};
use crate::xds::model::{ListenerSpec, RouteMatchSpec, RouteSpec, TargetSpec};

/// The retry host predicate that steers a retry away from the hosts already tried.
const PREVIOUS_HOSTS: &str = "envoy.retry_host_predicates.previous_hosts";

/// Field numbers from `envoy/config/route/v3/route.proto` and `route_components.proto`,
/// for the fields [`pack`] writes by hand. Protobuf field numbers never change.
const ROUTE_CONFIGURATION_VIRTUAL_HOSTS: u32 = 2;
const ROUTE_CONFIGURATION_TYPED_PER_FILTER_CONFIG: u32 = 16;
const VIRTUAL_HOST_ROUTES: u32 = 3;
const VIRTUAL_HOST_TYPED_PER_FILTER_CONFIG: u32 = 15;
const ROUTE_TYPED_PER_FILTER_CONFIG: u32 = 13;

/// The listener's route table: one virtual host for every domain, routes in match order.
/// Pack it with [`pack`], not `pack_any`.
pub(super) fn route_config(spec: &ListenerSpec) -> RouteConfiguration {
    RouteConfiguration {
        name: spec.route_config_name.clone(),
        virtual_hosts: vec![VirtualHost {
            name: spec.name.clone(),
            domains: vec!["*".to_owned()],
            routes: spec
                .routes
                .iter()
                .map(|r| route(r, &spec.stat_prefix, spec.grpc_timeouts))
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// One route of a listener whose HCM has `hcm_prefix` (the rate limit's stats use it).
fn route(spec: &RouteSpec, hcm_prefix: &str, grpc_timeouts: bool) -> Route {
    let path_specifier = match &spec.matcher {
        RouteMatchSpec::Prefix(p) => route_match::PathSpecifier::Prefix(p.clone()),
        RouteMatchSpec::Path(p) => route_match::PathSpecifier::Path(p.clone()),
    };
    Route {
        name: spec.name.clone(),
        r#match: Some(RouteMatch {
            path_specifier: Some(path_specifier),
            headers: spec.headers.iter().map(header_matcher).collect(),
            ..Default::default()
        }),
        action: Some(route::Action::Route(route_action(
            &spec.target,
            &spec.policy,
            grpc_timeouts,
        ))),
        typed_per_filter_config: per_route_configs(&spec.policy, hcm_prefix)
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

fn route_action(target: &TargetSpec, policy: &RoutePolicy, grpc_timeouts: bool) -> RouteAction {
    let cluster_specifier = match target {
        TargetSpec::Cluster(name) => route_action::ClusterSpecifier::Cluster(name.clone()),
        TargetSpec::Weighted(split) => {
            route_action::ClusterSpecifier::WeightedClusters(WeightedCluster {
                clusters: split
                    .iter()
                    .map(|(name, weight)| weighted_cluster::ClusterWeight {
                        name: name.clone(),
                        weight: Some(UInt32Value { value: *weight }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        }
    };
    RouteAction {
        cluster_specifier: Some(cluster_specifier),
        timeout: policy.timeout.map(proto_duration),
        idle_timeout: policy.idle_timeout.map(proto_duration),
        retry_policy: policy.retries.as_ref().map(retry),
        request_mirror_policies: policy.mirrors.iter().map(mirror).collect(),
        max_stream_duration: grpc_timeouts.then(|| grpc_max_stream_duration(policy)),
        ..Default::default()
    }
}

/// Honour `grpc-timeout`. With `max_stream_duration` set Envoy ignores the route `timeout`
/// (its "new timeouts"), so the route timeout becomes the stream's limit and the cap on
/// `grpc-timeout`: a call ends at its deadline or at the route timeout, whichever comes
/// first. No route timeout: Envoy's default 15 s for calls without a deadline, and no cap
/// (0) on the deadline; a zero route timeout leaves only the deadline.
fn grpc_max_stream_duration(policy: &RoutePolicy) -> route_action::MaxStreamDuration {
    use std::time::Duration;
    let (limit, cap) = match policy.timeout {
        None => (Some(Duration::from_secs(15)), Duration::ZERO),
        Some(t) if t.is_zero() => (None, Duration::ZERO),
        Some(t) => (Some(t), t),
    };
    route_action::MaxStreamDuration {
        max_stream_duration: limit.map(proto_duration),
        grpc_timeout_header_max: Some(proto_duration(cap)),
        ..Default::default()
    }
}

/// `retry_on` is one comma-separated list, HTTP and gRPC conditions alike.
fn retry(r: &RetryPolicy) -> PbRetryPolicy {
    let (retry_host_predicate, host_selection_retry_max_attempts) = if r.avoid_previous_hosts {
        let predicate = retry_policy::RetryHostPredicate {
            name: PREVIOUS_HOSTS.to_owned(),
            config_type: Some(retry_policy::retry_host_predicate::ConfigType::TypedConfig(
                pack_any(PreviousHostsPredicate {}),
            )),
        };
        (vec![predicate], i64::from(r.host_selection_attempts))
    } else {
        (Vec::new(), 0)
    };
    PbRetryPolicy {
        retry_on: r.retry_on.join(","),
        num_retries: Some(u32_value(r.num_retries)),
        per_try_timeout: r.per_try_timeout.map(proto_duration),
        per_try_idle_timeout: r.per_try_idle_timeout.map(proto_duration),
        retry_back_off: r.backoff.map(|b| retry_policy::RetryBackOff {
            base_interval: Some(proto_duration(b.base)),
            max_interval: Some(proto_duration(b.max)),
        }),
        retriable_status_codes: r
            .retriable_status_codes
            .iter()
            .map(|c| u32::from(*c))
            .collect(),
        retry_host_predicate,
        host_selection_retry_max_attempts,
        ..Default::default()
    }
}

fn mirror(m: &Mirror) -> route_action::RequestMirrorPolicy {
    route_action::RequestMirrorPolicy {
        cluster: m.cluster.clone(),
        runtime_fraction: Some(runtime_percent(m.percent)),
        ..Default::default()
    }
}

/// A request header condition, for route matches and fault filters alike.
pub(super) fn header_matcher(h: &HeaderMatch) -> HeaderMatcher {
    let string_match = |pattern| {
        header_matcher::HeaderMatchSpecifier::StringMatch(StringMatcher {
            match_pattern: Some(pattern),
            ignore_case: false,
        })
    };
    let (specifier, invert_match) = match &h.value {
        HeaderValueMatch::Exact(v) => (
            string_match(string_matcher::MatchPattern::Exact(v.clone())),
            false,
        ),
        HeaderValueMatch::Prefix(v) => (
            string_match(string_matcher::MatchPattern::Prefix(v.clone())),
            false,
        ),
        HeaderValueMatch::Present => (
            header_matcher::HeaderMatchSpecifier::PresentMatch(true),
            false,
        ),
        // Absent is "present", inverted: explicit, and independent of how a given Envoy
        // version reads `present_match: false`.
        HeaderValueMatch::Absent => (
            header_matcher::HeaderMatchSpecifier::PresentMatch(true),
            true,
        ),
    };
    HeaderMatcher {
        name: h.name.clone(),
        header_match_specifier: Some(specifier),
        invert_match,
        ..Default::default()
    }
}

// === deterministic encoding ===

/// Packs a route configuration so that equal configurations give equal bytes.
///
/// prost writes a map field in its `HashMap`'s iteration order, which differs between two
/// maps with the same entries; change detection compares encoded bytes, so a route with two
/// per-filter configs (a fault and a rate limit) would look changed on every snapshot and
/// be pushed again. Here the `typed_per_filter_config` maps are cut out and appended in key
/// order (protobuf readers accept fields in any order), and the messages that contain them
/// are written around them.
pub(super) fn pack(mut config: RouteConfiguration) -> Any {
    let virtual_hosts = std::mem::take(&mut config.virtual_hosts);
    let config_filters = std::mem::take(&mut config.typed_per_filter_config);
    let mut buf = config.encode_to_vec();
    put_sorted_map(
        ROUTE_CONFIGURATION_TYPED_PER_FILTER_CONFIG,
        config_filters,
        &mut buf,
    );
    for mut vhost in virtual_hosts {
        let routes = std::mem::take(&mut vhost.routes);
        let vhost_filters = std::mem::take(&mut vhost.typed_per_filter_config);
        let mut vhost_buf = vhost.encode_to_vec();
        put_sorted_map(
            VIRTUAL_HOST_TYPED_PER_FILTER_CONFIG,
            vhost_filters,
            &mut vhost_buf,
        );
        for mut route in routes {
            let route_filters = std::mem::take(&mut route.typed_per_filter_config);
            let mut route_buf = route.encode_to_vec();
            put_sorted_map(ROUTE_TYPED_PER_FILTER_CONFIG, route_filters, &mut route_buf);
            put_length_delimited(VIRTUAL_HOST_ROUTES, &route_buf, &mut vhost_buf);
        }
        put_length_delimited(ROUTE_CONFIGURATION_VIRTUAL_HOSTS, &vhost_buf, &mut buf);
    }
    Any {
        type_url: RouteConfiguration::type_url(),
        value: buf,
    }
}

/// Writes a `map<string, Any>` field: one entry message (key = 1, value = 2) per pair.
fn put_sorted_map(tag: u32, map: HashMap<String, Any>, buf: &mut Vec<u8>) {
    let sorted: BTreeMap<String, Any> = map.into_iter().collect();
    for (key, value) in sorted {
        let mut entry = Vec::new();
        prost::encoding::string::encode(1, &key, &mut entry);
        prost::encoding::message::encode(2, &value, &mut entry);
        put_length_delimited(tag, &entry, buf);
    }
}

fn put_length_delimited(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

#[cfg(test)]
mod grpc_timeout_tests {
    use std::time::Duration;

    use super::*;

    fn secs(d: &Option<envoy_types::pb::google::protobuf::Duration>) -> Option<f64> {
        d.as_ref()
            .map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9)
    }

    #[test]
    fn grpc_timeouts_only_for_grpc_listeners_and_capped_by_the_route_timeout() {
        let target = TargetSpec::Cluster("b".into());
        let policy = |timeout| RoutePolicy {
            timeout,
            ..RoutePolicy::default()
        };
        // HTTP load keeps Envoy's legacy route timeout: no max_stream_duration at all.
        let plain = route_action(&target, &policy(Some(Duration::from_secs(2))), false);
        assert!(plain.max_stream_duration.is_none());
        let cases = [
            (None, Some(15.0), Some(0.0)),
            (Some(Duration::from_millis(2500)), Some(2.5), Some(2.5)),
            (Some(Duration::ZERO), None, Some(0.0)),
        ];
        for (timeout, limit, cap) in cases {
            let action = route_action(&target, &policy(timeout), true);
            let m = action.max_stream_duration.expect("set for gRPC");
            assert_eq!(secs(&m.max_stream_duration), limit, "{timeout:?}");
            assert_eq!(secs(&m.grpc_timeout_header_max), cap, "{timeout:?}");
        }
    }
}
