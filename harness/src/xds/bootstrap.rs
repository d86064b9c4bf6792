//! The bootstrap Envoy starts with: who it is, where its admin listens, and ADS to us.
//!
//! Written as a binary `Bootstrap` proto (Envoy picks the format from the `.pb` extension),
//! so the bootstrap and the resources come from the same typed definitions.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use envoy_types::pb::envoy::config::bootstrap::v3::{bootstrap, Admin, Bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{cluster, Cluster};
use envoy_types::pb::envoy::config::core::v3::{
    api_config_source, grpc_service, ApiConfigSource, ApiVersion, GrpcService, Node,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    lb_endpoint, ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use prost::Message;

use super::resources::{ads_config_source, http2_protocol_options, proto_duration, socket_address};
use super::XdsError;

/// Name of the static cluster that points Envoy at Gauntlet's ADS server.
pub const XDS_CLUSTER: &str = "gauntlet_xds";

/// What the bootstrap of one Envoy says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapSpec {
    /// The node id: the key under which `XdsControl` keeps this Envoy's snapshot.
    pub node_id: String,
    /// The node's cluster (Envoy requires one; it labels the node in its stats and logs).
    pub node_cluster: String,
    /// Where Gauntlet's ADS server listens.
    pub xds_address: SocketAddr,
    /// Where Envoy's admin listens; must be loopback. Port 0 lets Envoy pick (read it back
    /// with `--admin-address-path`).
    pub admin_address: SocketAddr,
    /// Flush stats on each admin `/stats` read (`stats_flush_on_admin`) instead of every
    /// 5 s: a read then makes Envoy merge its workers' histograms, so the histograms the
    /// admin API shows are at most one read old (the hops of the phases snapshot them).
    pub stats_flush_on_admin: bool,
}

impl BootstrapSpec {
    /// A node `node_id` in cluster `gauntlet`, ADS at `xds_address`, admin on 127.0.0.1:0.
    pub fn new(node_id: impl Into<String>, xds_address: SocketAddr) -> Self {
        Self {
            node_id: node_id.into(),
            node_cluster: "gauntlet".to_owned(),
            xds_address,
            admin_address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            stats_flush_on_admin: false,
        }
    }
}

/// The encoded `Bootstrap` proto, to be written to a file ending in `.pb`.
pub fn bootstrap_bytes(spec: &BootstrapSpec) -> Result<Vec<u8>, XdsError> {
    Ok(bootstrap(spec)?.encode_to_vec())
}

/// A human-readable rendering of the same bootstrap, for the run directory.
///
/// It is the proto's own `Debug` output with default-valued fields left out and the packed
/// protocol options decoded (shown after the bootstrap, their `Any` emptied in place), so it
/// cannot drift from what Envoy actually gets.
pub fn bootstrap_text(spec: &BootstrapSpec) -> Result<String, XdsError> {
    let mut proto = bootstrap(spec)?;
    let mut decoded = Vec::new();
    for cluster in proto
        .static_resources
        .iter_mut()
        .flat_map(|s| s.clusters.iter_mut())
    {
        for (key, any) in cluster.typed_extension_protocol_options.iter_mut() {
            // The bytes would print one per line; show the decoded message instead.
            if let Ok(options) = HttpProtocolOptions::decode(any.value.as_slice()) {
                decoded.push(format!(
                    "# cluster {} typed_extension_protocol_options[{key}]:\n{}",
                    cluster.name,
                    prune_defaults(&format!("{options:#?}"))
                ));
                any.value.clear();
            }
        }
    }
    let mut text = format!(
        "# Envoy bootstrap for node {:?} (written as bootstrap.pb)\n{}\n",
        spec.node_id,
        prune_defaults(&format!("{proto:#?}"))
    );
    for d in decoded {
        text.push_str(&d);
        text.push('\n');
    }
    Ok(text)
}

fn bootstrap(spec: &BootstrapSpec) -> Result<Bootstrap, XdsError> {
    if !spec.admin_address.ip().is_loopback() {
        // The admin API can stop Envoy and change its config: never expose it.
        return Err(XdsError::InvalidConfig(format!(
            "Envoy's admin address must be loopback, not {}",
            spec.admin_address
        )));
    }
    let (key, http2) = http2_protocol_options();
    let xds_cluster = Cluster {
        name: XDS_CLUSTER.to_owned(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        connect_timeout: Some(proto_duration(Duration::from_secs(1))),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: XDS_CLUSTER.to_owned(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: Some(socket_address(spec.xds_address)),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        // gRPC needs HTTP/2 to the control plane.
        typed_extension_protocol_options: [(key, http2)].into_iter().collect(),
        ..Default::default()
    };
    let ads = ApiConfigSource {
        api_type: api_config_source::ApiType::Grpc as i32,
        transport_api_version: ApiVersion::V3 as i32,
        grpc_services: vec![GrpcService {
            target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                grpc_service::EnvoyGrpc {
                    cluster_name: XDS_CLUSTER.to_owned(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }],
        ..Default::default()
    };
    Ok(Bootstrap {
        node: Some(Node {
            id: spec.node_id.clone(),
            cluster: spec.node_cluster.clone(),
            ..Default::default()
        }),
        static_resources: Some(bootstrap::StaticResources {
            clusters: vec![xds_cluster],
            ..Default::default()
        }),
        dynamic_resources: Some(bootstrap::DynamicResources {
            ads_config: Some(ads),
            cds_config: Some(ads_config_source()),
            lds_config: Some(ads_config_source()),
            ..Default::default()
        }),
        admin: Some(Admin {
            address: Some(socket_address(spec.admin_address)),
            ..Default::default()
        }),
        stats_flush: spec
            .stats_flush_on_admin
            .then_some(bootstrap::StatsFlush::StatsFlushOnAdmin(true)),
        ..Default::default()
    })
}

/// Drops the lines of a pretty `Debug` rendering that only state a default value.
fn prune_defaults(debug: &str) -> String {
    const DEFAULTS: [&str; 6] = ["\"\"", "0", "false", "None", "[]", "{}"];
    debug
        .lines()
        .filter(|line| {
            let Some((_, value)) = line.trim().split_once(": ") else {
                return true;
            };
            !DEFAULTS.contains(&value.trim_end_matches(','))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use prost::Name;

    use super::*;

    fn spec() -> BootstrapSpec {
        BootstrapSpec::new("envoy-0", "127.0.0.1:18000".parse().unwrap())
    }

    #[test]
    fn bootstrap_points_ads_at_the_xds_cluster_over_http2() {
        let bytes = bootstrap_bytes(&spec()).unwrap();
        let b = Bootstrap::decode(bytes.as_slice()).unwrap();
        assert_eq!(b.node.as_ref().unwrap().id, "envoy-0");
        let dynamic = b.dynamic_resources.unwrap();
        let ads = dynamic.ads_config.unwrap();
        assert_eq!(ads.api_type, api_config_source::ApiType::Grpc as i32);
        assert_eq!(ads.transport_api_version, ApiVersion::V3 as i32);
        let Some(grpc_service::TargetSpecifier::EnvoyGrpc(g)) =
            &ads.grpc_services[0].target_specifier
        else {
            panic!("not envoy_grpc: {ads:?}");
        };
        assert_eq!(g.cluster_name, XDS_CLUSTER);
        assert_eq!(dynamic.cds_config.unwrap(), ads_config_source());
        assert_eq!(dynamic.lds_config.unwrap(), ads_config_source());
        let xds = &b.static_resources.unwrap().clusters[0];
        assert_eq!(xds.name, XDS_CLUSTER);
        let any = &xds.typed_extension_protocol_options[&HttpProtocolOptions::full_name()];
        assert_eq!(*any, http2_protocol_options().1);
        let admin = b.admin.unwrap().address.unwrap();
        assert_eq!(admin, socket_address("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn stats_flush_on_admin_only_when_asked() {
        let decode = |s: &BootstrapSpec| Bootstrap::decode(bootstrap_bytes(s).unwrap().as_slice());
        assert_eq!(decode(&spec()).unwrap().stats_flush, None);
        let mut s = spec();
        s.stats_flush_on_admin = true;
        assert_eq!(
            decode(&s).unwrap().stats_flush,
            Some(bootstrap::StatsFlush::StatsFlushOnAdmin(true))
        );
    }

    #[test]
    fn admin_must_be_loopback() {
        let mut s = spec();
        s.admin_address = "0.0.0.0:9901".parse().unwrap();
        let err = bootstrap_bytes(&s).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    #[test]
    fn text_is_short_and_names_the_essentials() {
        let text = bootstrap_text(&spec()).unwrap();
        for needle in ["envoy-0", XDS_CLUSTER, "18000", "Http2ProtocolOptions"] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert!(!text.contains(": None,"), "defaults not pruned:\n{text}");
        assert!(text.lines().count() < 200, "{text}");
    }
}
