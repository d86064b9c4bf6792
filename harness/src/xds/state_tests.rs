//! The ADS state machine, driven like Envoy drives it, with an injected clock.

use chrono::TimeZone;

use super::*;
use crate::xds::model::{ClusterSpec, EnvoyConfig, ListenerSpec, RouteSpec};
use crate::xds::resources::build;

use ResourceType::{Cluster as C, Endpoint as E, Listener as L, Route as R};

const NODE: &str = "envoy-0";

/// Milliseconds after a fixed instant.
fn at(ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(ms)
}

/// One listener routing `/` to `target`, over the given clusters (one endpoint each).
fn snapshot(clusters: &[&str], target: &str) -> Resources {
    build(&snapshot_config(clusters, target)).unwrap()
}

/// The config [`snapshot`] builds.
fn snapshot_config(clusters: &[&str], target: &str) -> EnvoyConfig {
    let mut listener = ListenerSpec::new("ingress", "127.0.0.1:10000".parse().unwrap());
    listener.routes = vec![RouteSpec::prefix("all", "/", target)];
    let clusters = clusters
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let port = 8000 + u16::try_from(i).unwrap();
            ClusterSpec::new(*name, vec![([127, 0, 0, 1], port).into()])
        })
        .collect();
    EnvoyConfig {
        listeners: vec![listener],
        clusters,
    }
}

fn request(ty: ResourceType, nonce: &str, names: &[&str]) -> Request {
    Request {
        type_url: ty.type_url().to_owned(),
        version_info: String::new(),
        response_nonce: nonce.to_owned(),
        resource_names: names.iter().map(|n| n.to_string()).collect(),
        error_detail: None,
    }
}

/// Envoy's ACK of `out`, keeping `names` subscribed.
fn ack(out: &Outgoing, names: &[&str]) -> Request {
    Request {
        version_info: out.version.to_string(),
        ..request(out.resource_type, &out.nonce, names)
    }
}

/// Envoy's NACK of `out`: it keeps the version before it.
fn nack(out: &Outgoing, names: &[&str], message: &str) -> Request {
    Request {
        version_info: (out.version.0 - 1).to_string(),
        error_detail: Some(message.to_owned()),
        ..request(out.resource_type, &out.nonce, names)
    }
}

fn types(out: &[Outgoing]) -> Vec<ResourceType> {
    out.iter().map(|o| o.resource_type).collect()
}

/// Names of the resources in a response, decoded just far enough to read the name: field 1
/// of Cluster, Listener and RouteConfiguration, and `cluster_name` (also field 1) of
/// ClusterLoadAssignment, is a short length-delimited string right at the start.
fn names(o: &Outgoing) -> Vec<String> {
    o.resources
        .iter()
        .map(|a| {
            assert_eq!(a.value[0], 0x0a, "name is field 1");
            let len = usize::from(a.value[1]);
            String::from_utf8(a.value[2..2 + len].to_vec()).unwrap()
        })
        .collect()
}

/// Plays Envoy's start-up on a fresh stream against whatever snapshot is set, ACKing
/// everything, and returns every response it received in order.
fn envoy_starts(st: &mut XdsState, stream: StreamId, t: i64) -> Vec<Outgoing> {
    st.open_stream(stream, NODE);
    let mut seen = Vec::new();
    let cds = st.on_request(stream, &request(C, "", &[]), at(t)).responses;
    assert_eq!(types(&cds), [C]);
    // Envoy subscribes EDS for the clusters it got, then ACKs CDS.
    let clusters: Vec<String> = names(&cds[0]);
    let cl: Vec<&str> = clusters.iter().map(String::as_str).collect();
    let eds = st
        .on_request(stream, &request(E, "", &cl), at(t + 1))
        .responses;
    assert_eq!(types(&eds), [E]);
    assert!(st
        .on_request(stream, &ack(&cds[0], &[]), at(t + 2))
        .responses
        .is_empty());
    assert!(st
        .on_request(stream, &ack(&eds[0], &cl), at(t + 3))
        .responses
        .is_empty());
    // Only after clusters are warm does Envoy start LDS, then RDS for the listener's name.
    let lds = st
        .on_request(stream, &request(L, "", &[]), at(t + 4))
        .responses;
    assert_eq!(types(&lds), [L]);
    let rds = st
        .on_request(stream, &request(R, "", &["ingress_routes"]), at(t + 5))
        .responses;
    assert_eq!(types(&rds), [R]);
    assert!(st
        .on_request(stream, &ack(&lds[0], &[]), at(t + 6))
        .responses
        .is_empty());
    assert!(st
        .on_request(stream, &ack(&rds[0], &["ingress_routes"]), at(t + 7))
        .responses
        .is_empty());
    seen.extend(cds);
    seen.extend(eds);
    seen.extend(lds);
    seen.extend(rds);
    seen
}

#[test]
fn snapshot_set_before_envoy_connects_is_sent_on_connect_and_applied() {
    let mut st = XdsState::default();
    let (v1, out) = st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    assert_eq!(v1, Version(1));
    assert!(out.is_empty(), "nobody connected yet");
    assert_eq!(st.applied(NODE, v1).unwrap(), None);

    let sent = envoy_starts(&mut st, 1, 100);
    assert!(sent.iter().all(|o| o.version == v1));
    let report = st.applied(NODE, v1).unwrap().expect("applied");
    assert_eq!(report.set_at, at(0));
    assert_eq!(report.applied_at, at(107));
    assert_eq!(types_of(&report.pushes), [C, E, L, R]);
    assert!(report.pushes.iter().all(|p| p.acked_at.is_some()));
}

fn types_of(log: &[PushLogEntry]) -> Vec<ResourceType> {
    log.iter().map(|e| e.resource_type).collect()
}

#[test]
fn first_request_without_snapshot_waits_for_one() {
    let mut st = XdsState::default();
    st.open_stream(1, NODE);
    assert!(st
        .on_request(1, &request(C, "", &[]), at(0))
        .responses
        .is_empty());
    let (_, out) = st.set_snapshot(NODE, snapshot(&["a"], "a"), at(5));
    assert_eq!(types(&out), [C], "only what Envoy subscribed to");
    assert_eq!(st.log()[0].sent_at, at(5));
}

#[test]
fn live_push_sends_only_changed_types_in_make_before_break_order() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    envoy_starts(&mut st, 1, 0);

    // Route-only change: clusters are warm already, so the route goes out at once.
    let (v2, out) = st.set_snapshot(NODE, snapshot(&["a"], "a2"), at(100));
    assert_eq!(types(&out), [R]);
    assert_eq!(out[0].version, v2);

    // New cluster plus a route to it: clusters first (EDS is resent too, its type version
    // moved); the route waits until Envoy has the cluster and its endpoints, or it would
    // answer 503 "no cluster".
    let (v3, out) = st.set_snapshot(NODE, snapshot(&["a", "b"], "b"), at(200));
    assert_eq!(types(&out), [C, E], "listener unchanged, route held back");
    let (cds, eds) = (&out[0], &out[1]);
    assert_eq!(names(cds), ["a", "b"]);
    assert_eq!(names(eds), ["a"], "Envoy has not asked for b yet");
    assert!(st
        .on_request(1, &ack(cds, &[]), at(201))
        .responses
        .is_empty());
    // Envoy ACKs the EDS push naming b too: b's endpoints go out, the route still waits.
    let out = st.on_request(1, &ack(eds, &["a", "b"]), at(202)).responses;
    assert_eq!(types(&out), [E]);
    assert_eq!(names(&out[0]), ["a", "b"]);
    let out = st
        .on_request(1, &ack(&out[0], &["a", "b"]), at(203))
        .responses;
    assert_eq!(types(&out), [R], "route released once b is warm");
    assert_eq!(out[0].version, v3);
    assert_eq!(st.applied(NODE, v3).unwrap(), None);
    st.on_request(1, &ack(&out[0], &["ingress_routes"]), at(205));
    let report = st.applied(NODE, v3).unwrap().unwrap();
    assert_eq!(report.latency(), std::time::Duration::from_millis(5));
    assert_eq!(types_of(&report.pushes), [C, E, E, R]);
    assert!(
        st.applied(NODE, v2).unwrap().is_some(),
        "older versions count as applied"
    );
}

#[test]
fn cluster_change_is_answered_when_envoy_asks_again_for_the_same_endpoints() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    let seen = envoy_starts(&mut st, 1, 0);
    let eds = seen.iter().find(|o| o.resource_type == E).unwrap();

    // A cluster policy changes: the cluster alone is pushed.
    let mut changed = snapshot_config(&["a"], "a");
    changed.clusters[0].policy.max_requests_per_connection = Some(1);
    let changed = build(&changed).unwrap();
    let (v2, out) = st.set_snapshot(NODE, changed, at(100));
    assert_eq!(types(&out), [C]);

    // Envoy re-creates the cluster, whose new EDS watch asks again quoting the nonce it
    // already ACKed, with the same names. It waits for an answer (15 s otherwise).
    let again = st.on_request(1, &ack(eds, &["a"]), at(101)).responses;
    assert_eq!(types(&again), [E]);
    assert_eq!(names(&again[0]), ["a"]);
    assert_eq!(again[0].version, eds.version, "same content, same version");
    // Its ACK is an ordinary first answer: nothing more is sent.
    let after = st.on_request(1, &ack(&again[0], &["a"]), at(102)).responses;
    assert!(after.is_empty());
    st.on_request(1, &ack(&out[0], &[]), at(103));
    assert!(st.applied(NODE, v2).unwrap().is_some());
}

#[test]
fn identical_snapshot_is_applied_immediately_and_pushes_nothing() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    envoy_starts(&mut st, 1, 0);
    let (v2, out) = st.set_snapshot(NODE, snapshot(&["a"], "a"), at(50));
    assert!(out.is_empty());
    let report = st.applied(NODE, v2).unwrap().unwrap();
    assert_eq!(report.latency(), std::time::Duration::ZERO);
    assert!(report.pushes.is_empty());
}

#[test]
fn stale_nonce_is_ignored() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    envoy_starts(&mut st, 1, 0);
    let (_, first) = st.set_snapshot(NODE, snapshot(&["a"], "x"), at(10));
    let (v3, second) = st.set_snapshot(NODE, snapshot(&["a"], "y"), at(11));
    // Envoy's ACK of the superseded push arrives late: it must not count for v3.
    let r = st.on_request(1, &ack(&first[0], &["ingress_routes"]), at(12));
    assert!(r.responses.is_empty() && r.nack.is_none());
    assert_eq!(st.applied(NODE, v3).unwrap(), None);
    let superseded = st.log().iter().find(|e| e.nonce == first[0].nonce).unwrap();
    assert!(superseded.superseded && superseded.acked_at.is_none());
    st.on_request(1, &ack(&second[0], &["ingress_routes"]), at(13));
    assert!(st.applied(NODE, v3).unwrap().is_some());
}

#[test]
fn nack_is_recorded_reported_and_not_resent() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    envoy_starts(&mut st, 1, 0);
    let (v2, out) = st.set_snapshot(NODE, snapshot(&["a"], "bad"), at(100));
    let msg = "Sum of weights in the weighted_cluster must be greater than 0.";
    let r = st.on_request(1, &nack(&out[0], &["ingress_routes"], msg), at(103));
    assert!(
        r.responses.is_empty(),
        "a NACK must not trigger the same push again"
    );
    let event = r.nack.unwrap();
    assert_eq!((event.resource_type, event.version), (R, v2));
    assert_eq!(event.message, msg);
    assert_eq!(event.kept_version, "1");

    let entry = st.log().last().unwrap();
    assert_eq!(entry.nacked_at, Some(at(103)));
    assert_eq!(entry.error_detail.as_deref(), Some(msg));
    assert_eq!(entry.ack_latency, Some(std::time::Duration::from_millis(3)));
    match st.applied(NODE, v2) {
        Err(XdsError::Nack {
            resource_type,
            version,
            message,
            ..
        }) => {
            assert_eq!(
                (resource_type, version.as_str(), message.as_str()),
                (R, "2", msg)
            );
        }
        other => panic!("{other:?}"),
    }
    // Envoy keeps asking with the same names: still nothing, and no second event.
    let again = st.on_request(1, &nack(&out[0], &["ingress_routes"], msg), at(104));
    assert!(again.responses.is_empty() && again.nack.is_none());
    assert_eq!(st.log().last().unwrap().nacked_at, Some(at(103)));

    // A fixed snapshot is pushed and clears the NACK once ACKed.
    let (v3, out) = st.set_snapshot(NODE, snapshot(&["a"], "a"), at(200));
    assert_eq!(types(&out), [R]);
    st.on_request(1, &ack(&out[0], &["ingress_routes"]), at(201));
    assert!(st.applied(NODE, v3).unwrap().is_some());
}

#[test]
fn nack_of_clusters_holds_back_listeners_and_routes() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    envoy_starts(&mut st, 1, 0);
    let (v2, out) = st.set_snapshot(NODE, snapshot(&["a", "b"], "b"), at(10));
    assert_eq!(types(&out), [C, E]);
    let r = st.on_request(1, &nack(&out[0], &[], "bad cluster"), at(11));
    assert!(
        r.responses.is_empty(),
        "never route to a cluster Envoy rejected"
    );
    assert!(matches!(
        st.applied(NODE, v2),
        Err(XdsError::Nack {
            resource_type: C,
            ..
        })
    ));
}

#[test]
fn eds_and_rds_send_only_named_resources() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a", "b", "c"], "a"), at(0));
    st.open_stream(1, NODE);
    let out = st
        .on_request(1, &request(E, "", &["b", "zzz"]), at(1))
        .responses;
    assert_eq!(names(&out[0]), ["b"], "unknown names are skipped");
    // Dropping a name needs no response; adding one does.
    let out2 = st
        .on_request(1, &request(E, &out[0].nonce, &[]), at(2))
        .responses;
    assert!(out2.is_empty());
    let out3 = st
        .on_request(1, &request(E, &out[0].nonce, &["a", "c"]), at(3))
        .responses;
    assert_eq!(names(&out3[0]), ["a", "c"]);
    // The first answer measured the push; later requests quoting its nonce do not.
    let first = st.log().iter().find(|e| e.nonce == out[0].nonce).unwrap();
    assert_eq!(first.acked_at, Some(at(2)));
    assert_eq!(first.ack_latency, Some(std::time::Duration::from_millis(1)));
    // Nothing named exists: no empty answer.
    let out4 = st
        .on_request(1, &request(R, "", &["nope"]), at(4))
        .responses;
    assert!(out4.is_empty());
}

#[test]
fn lds_and_cds_are_wildcard_whatever_names_arrive() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a", "b"], "a"), at(0));
    st.open_stream(1, NODE);
    let out = st.on_request(1, &request(C, "", &["a"]), at(1)).responses;
    assert_eq!(names(&out[0]), ["a", "b"]);
}

#[test]
fn nonces_are_unique_across_streams_and_each_stream_gets_pushes() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    let mut all = envoy_starts(&mut st, 1, 0);
    all.extend(envoy_starts(&mut st, 2, 10));
    let (v2, out) = st.set_snapshot(NODE, snapshot(&["a"], "a2"), at(20));
    assert_eq!(out.iter().map(|o| o.stream).collect::<Vec<_>>(), [1, 2]);
    all.extend(out.iter().cloned());
    let mut nonces: Vec<&str> = all.iter().map(|o| o.nonce.as_str()).collect();
    nonces.sort_unstable();
    nonces.dedup();
    assert_eq!(nonces.len(), all.len());

    // Applied only when every open stream has it.
    st.on_request(1, &ack(&out[0], &["ingress_routes"]), at(21));
    assert_eq!(st.applied(NODE, v2).unwrap(), None);
    st.close_stream(2);
    st.on_request(1, &request(R, &out[0].nonce, &["ingress_routes"]), at(22));
    assert!(st.applied(NODE, v2).unwrap().is_some());
}

#[test]
fn reconnect_resends_current_config_on_the_new_stream() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    envoy_starts(&mut st, 1, 0);
    st.close_stream(1);
    assert_eq!(st.stream_count(NODE), 0);
    st.open_stream(2, NODE);
    // Envoy says what it has, with no nonce: a new stream starts from scratch.
    let req = Request {
        version_info: "1".into(),
        ..request(C, "", &[])
    };
    let out = st.on_request(2, &req, at(50)).responses;
    assert_eq!((types(&out), out[0].stream), (vec![C], 2));
}

#[test]
fn push_log_records_times_names_and_latency() {
    let mut st = XdsState::default();
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    envoy_starts(&mut st, 7, 1000);
    let log = st.log();
    assert_eq!(types_of(log), [C, E, L, R]);
    let cds = &log[0];
    assert_eq!(
        (cds.node.as_str(), cds.stream, cds.version),
        (NODE, 7, Version(1))
    );
    assert_eq!(cds.resource_names, ["a"]);
    assert_eq!((cds.sent_at, cds.acked_at), (at(1000), Some(at(1002))));
    assert_eq!(cds.ack_latency, Some(std::time::Duration::from_millis(2)));
    assert_eq!(log[3].resource_names, ["ingress_routes"]);
    let json = serde_json::to_value(&log[0]).unwrap();
    assert_eq!(json["type"], "cluster");
    assert_eq!(json["ack_latency_ms"], 2.0);
}

#[test]
fn unknown_types_streams_and_versions_are_handled() {
    let mut st = XdsState::default();
    assert!(matches!(
        st.applied(NODE, Version(1)),
        Err(XdsError::UnknownVersion { .. })
    ));
    st.set_snapshot(NODE, snapshot(&["a"], "a"), at(0));
    assert!(matches!(
        st.applied(NODE, Version(9)),
        Err(XdsError::UnknownVersion { .. })
    ));
    st.open_stream(1, NODE);
    let secret = Request {
        type_url: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret".into(),
        ..Request::default()
    };
    assert!(st.on_request(1, &secret, at(1)).responses.is_empty());
    assert!(st
        .on_request(99, &request(C, "", &[]), at(1))
        .responses
        .is_empty());
    // A nonce we never sent on this stream.
    assert!(st
        .on_request(1, &request(C, "42", &[]), at(1))
        .responses
        .is_empty());
}
