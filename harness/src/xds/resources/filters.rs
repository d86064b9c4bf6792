//! The HTTP filter chain every listener gets, and the per-route configs of its filters.
//!
//! The chain is fixed: gRPC stats → local rate limit → fault → router. The gRPC stats
//! filter counts gRPC calls by final `grpc-status` under `cluster.<name>.grpc.` (`0`, `14`,
//! `success`, `failure`, `total`; one set per cluster, not per method, so a client cannot
//! grow the stats) and passes anything else by. The next two do nothing unless a
//! route configures them (`typed_per_filter_config`), so turning a fault or a rate limit on
//! or off is a route (RDS) change, applied to open connections at once, never a listener
//! (LDS) change, which would reach only new connections.
//!
//! The rate limiter comes first so that it stands for the proxy's admission control: a
//! request it turns away is answered at once, and only admitted requests meet the faults,
//! which stand for a broken upstream behind the proxy.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    fault_delay, FaultDelay as PbFaultDelay,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    fault_abort, FaultAbort as PbFaultAbort, HttpFault,
};
use envoy_types::pb::envoy::extensions::filters::http::grpc_stats::v3::{
    filter_config::PerMethodStatSpecifier, FilterConfig as GrpcStats,
};
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as PbLocalRateLimit;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    http_filter, HttpFilter,
};
use envoy_types::pb::envoy::r#type::v3::{HttpStatus, TokenBucket};
use envoy_types::pb::google::protobuf::{Any, BoolValue};
use envoy_types::util::pack_any;

use super::route::header_matcher;
use super::{fractional_percent, proto_duration, runtime_percent, u32_value};
use crate::policy::{AbortKind, FaultPolicy, LocalRateLimit, RoutePolicy};

/// Well-known extension names Envoy looks the filters (and their per-route configs) up by.
const FAULT_FILTER: &str = "envoy.filters.http.fault";
const GRPC_STATS_FILTER: &str = "envoy.filters.http.grpc_stats";
const RATE_LIMIT_FILTER: &str = "envoy.filters.http.local_ratelimit";
const ROUTER_FILTER: &str = "envoy.filters.http.router";

/// The local rate limit filter's `stat_prefix` for a listener whose HCM counts under
/// `http.<hcm_prefix>.`, at listener and route level alike.
///
/// Envoy creates the counters of a route's rate limit config in the root scope, as
/// `<stat_prefix>.http_local_rate_limit.<name>`, not under the HCM's prefix; naming the
/// prefix after the HCM puts them beside the listener's other HTTP stats:
/// `http.<hcm_prefix>.http_local_rate_limit.rate_limited` (and `.ok`, `.enabled`, `.enforced`).
fn rate_limit_stat_prefix(hcm_prefix: &str) -> String {
    format!("http.{hcm_prefix}")
}

/// The HTTP filters of a listener whose HCM has `hcm_prefix`, in order.
pub(super) fn http_filters(hcm_prefix: &str, dynamic_stats: bool) -> Vec<HttpFilter> {
    // No token bucket: the filter lets everything through until a route brings its own.
    let rate_limit = PbLocalRateLimit {
        stat_prefix: rate_limit_stat_prefix(hcm_prefix),
        ..Default::default()
    };
    // No delay and no abort: nothing is faulted until a route overrides this.
    let fault = HttpFault::default();
    let router = Router {
        dynamic_stats: Some(BoolValue {
            value: dynamic_stats,
        }),
        ..Default::default()
    };
    // First, so it also sees the answers the filters after it make themselves.
    let grpc_stats = GrpcStats {
        per_method_stat_specifier: Some(PerMethodStatSpecifier::StatsForAllMethods(BoolValue {
            value: false,
        })),
        ..Default::default()
    };
    vec![
        typed_filter(GRPC_STATS_FILTER, pack_any(grpc_stats)),
        typed_filter(RATE_LIMIT_FILTER, pack_any(rate_limit)),
        typed_filter(FAULT_FILTER, pack_any(fault)),
        // Envoy NACKs a router without a typed config (no implementation for type URL '').
        typed_filter(ROUTER_FILTER, pack_any(router)),
    ]
}

fn typed_filter(name: &str, config: Any) -> HttpFilter {
    HttpFilter {
        name: name.to_owned(),
        config_type: Some(http_filter::ConfigType::TypedConfig(config)),
        ..Default::default()
    }
}

/// A route's `typed_per_filter_config` (filter name → its config for this route) on a
/// listener whose HCM has `hcm_prefix`.
pub(super) fn per_route_configs(policy: &RoutePolicy, hcm_prefix: &str) -> BTreeMap<String, Any> {
    let mut out = BTreeMap::new();
    if let Some(limit) = &policy.rate_limit {
        out.insert(
            RATE_LIMIT_FILTER.to_owned(),
            pack_any(rate_limit(limit, hcm_prefix)),
        );
    }
    if let Some(f) = &policy.fault {
        out.insert(FAULT_FILTER.to_owned(), pack_any(fault(f)));
    }
    out
}

/// One token bucket for the route, shared by Envoy's workers, enabled and enforced for
/// every request (the listener-level filter has neither).
fn rate_limit(limit: &LocalRateLimit, hcm_prefix: &str) -> PbLocalRateLimit {
    PbLocalRateLimit {
        stat_prefix: rate_limit_stat_prefix(hcm_prefix),
        status: Some(HttpStatus {
            code: i32::from(limit.status),
        }),
        token_bucket: Some(TokenBucket {
            max_tokens: limit.max_tokens,
            tokens_per_fill: Some(u32_value(limit.tokens_per_fill)),
            fill_interval: Some(proto_duration(limit.fill_interval)),
        }),
        filter_enabled: Some(runtime_percent(100.0)),
        filter_enforced: Some(runtime_percent(100.0)),
        local_rate_limit_per_downstream_connection: false,
        ..Default::default()
    }
}

/// A route's fault config; it replaces the listener-level (empty) one for this route.
fn fault(f: &FaultPolicy) -> HttpFault {
    HttpFault {
        delay: f.delay.as_ref().map(|d| PbFaultDelay {
            percentage: Some(fractional_percent(d.percent)),
            fault_delay_secifier: Some(fault_delay::FaultDelaySecifier::FixedDelay(
                proto_duration(d.fixed),
            )),
        }),
        abort: f.abort.as_ref().map(|a| PbFaultAbort {
            percentage: Some(fractional_percent(a.percent)),
            error_type: Some(match a.kind {
                AbortKind::Http(status) => fault_abort::ErrorType::HttpStatus(u32::from(status)),
                AbortKind::Grpc(code) => fault_abort::ErrorType::GrpcStatus(code),
            }),
            ..Default::default()
        }),
        headers: f.headers.iter().map(header_matcher).collect(),
        ..Default::default()
    }
}
