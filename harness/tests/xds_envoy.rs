//! The xDS control plane against a real Envoy: initial config, live push, NACK, and a push
//! made before Envoy connects. Each test starts its own ADS server, upstreams and Envoy
//! (the fixture is `xds/fixture.rs`).

#[path = "xds/fixture.rs"]
mod fixture;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gauntlet::xds::{EnvoyConfig, ResourceType, TargetSpec, XdsError};
use tokio::time::Instant;

use fixture::*;

#[tokio::test]
async fn initial_snapshot_is_acked_and_routes_traffic_then_a_live_push_moves_it() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let listen = free_port();
    let mut fx = Fixture::new().await;
    fx.start_envoy("live-push").await;

    // (a) Initial snapshot: every type ACKed, traffic reaches a.
    let v1 = fx
        .control
        .set_config(NODE, &config(listen, &[("a", a)], to("a")))
        .unwrap();
    let r1 = fx
        .control
        .wait_applied(NODE, v1, APPLY_TIMEOUT)
        .await
        .unwrap();
    let mut acked: Vec<ResourceType> = r1.pushes.iter().map(|p| p.resource_type).collect();
    acked.dedup();
    assert_eq!(acked, ResourceType::ALL, "{:#?}", r1.pushes);
    assert!(r1
        .pushes
        .iter()
        .all(|p| p.acked_at.is_some() && p.error_detail.is_none()));
    fx.envoy().wait_ready().await;
    reaches(listen, "a").await;
    // dynamic_stats is on by default: the per-code counters gates read exist.
    assert!(
        fx.envoy()
            .stat("cluster.a.upstream_rq_200")
            .await
            .unwrap_or(0)
            >= 1
    );

    // (b) Live push to a second cluster, with traffic flowing: ACKed, logged with its
    // latency, and no request fails on the way (the route waits for b to be warm).
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let answer = get(listen, "/").await.map(|r| (r.0, r.1));
                seen.push((Instant::now(), answer));
            }
            seen
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cfg2 = config(listen, &[("a", a), ("b", b)], to("b"));
    let set_at = Instant::now();
    let v2 = fx.control.set_config(NODE, &cfg2).unwrap();
    let r2 = fx
        .control
        .wait_applied(NODE, v2, APPLY_TIMEOUT)
        .await
        .unwrap();
    let applied = set_at.elapsed();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = traffic.await.unwrap();
    let failed: Vec<_> = seen
        .iter()
        .filter(|(_, r)| !matches!(r, Ok((200, _))))
        .collect();
    assert!(
        failed.is_empty(),
        "requests failed during the push: {failed:?}"
    );
    let first_b = seen
        .iter()
        .find(|(_, r)| matches!(r, Ok((200, Some(u))) if u == "b"))
        .map(|(t, _)| t.duration_since(set_at))
        .expect("traffic reached b");

    let changed: Vec<ResourceType> = r2.pushes.iter().map(|p| p.resource_type).collect();
    assert!(changed.contains(&ResourceType::Cluster) && changed.contains(&ResourceType::Route));
    assert!(
        !changed.contains(&ResourceType::Listener),
        "listener did not change"
    );
    for p in &r2.pushes {
        assert!(p.ack_latency.is_some(), "{p:?}");
    }
    let log = fx.control.push_log();
    let route_push = log
        .iter()
        .find(|e| e.version == v2 && e.resource_type == ResourceType::Route)
        .unwrap();
    let per_push: Vec<_> = r2
        .pushes
        .iter()
        .map(|p| (p.resource_type, p.ack_latency))
        .collect();
    eprintln!(
        "push v2: set→applied {:?} (test clock {applied:?}); first response from b after \
         {first_b:?}; {} requests, none failed; route push→ACK {:?}; pushes {per_push:?}",
        r2.latency(),
        seen.len(),
        route_push.ack_latency.unwrap(),
    );
    // Applied means visible: from now on every request reaches b.
    for _ in 0..20 {
        let (status, upstream, _) = get(listen, "/").await.unwrap();
        assert_eq!((status, upstream.as_deref()), (200, Some("b")));
    }

    // A route-only change goes out alone and at once (clusters are already warm).
    let v3 = fx
        .control
        .set_config(NODE, &config(listen, &[("a", a), ("b", b)], to("a")))
        .unwrap();
    let r3 = fx
        .control
        .wait_applied(NODE, v3, APPLY_TIMEOUT)
        .await
        .unwrap();
    let types: Vec<ResourceType> = r3.pushes.iter().map(|p| p.resource_type).collect();
    assert_eq!(types, [ResourceType::Route]);
    eprintln!(
        "push v3 (route only): set→applied {:?}, push→ACK {:?}",
        r3.latency(),
        r3.pushes[0].ack_latency.unwrap()
    );
    let (status, upstream, _) = get(listen, "/").await.unwrap();
    assert_eq!((status, upstream.as_deref()), (200, Some("a")));
}

#[tokio::test]
async fn invalid_route_is_nacked_with_envoys_message_and_old_config_keeps_serving() {
    let a = upstream("a").await;
    let listen = free_port();
    let mut fx = Fixture::new().await;
    fx.start_envoy("nack").await;
    let mut nacks = fx.control.subscribe_nacks();

    let v1 = fx
        .control
        .set_config(NODE, &config(listen, &[("a", a)], to("a")))
        .unwrap();
    fx.control
        .wait_applied(NODE, v1, APPLY_TIMEOUT)
        .await
        .unwrap();
    reaches(listen, "a").await;

    // Weights summing to zero pass proto validation but Envoy's route table rejects them.
    let bad = config(
        listen,
        &[("a", a)],
        TargetSpec::Weighted(vec![("a".into(), 0)]),
    );
    let v2 = fx.control.set_config(NODE, &bad).unwrap();
    let err = fx
        .control
        .wait_applied(NODE, v2, APPLY_TIMEOUT)
        .await
        .unwrap_err();
    let XdsError::Nack {
        resource_type,
        version,
        message,
        ..
    } = &err
    else {
        panic!("expected a NACK, got {err}");
    };
    eprintln!("NACK: {err}");
    assert_eq!(
        (*resource_type, version.as_str()),
        (ResourceType::Route, "2")
    );
    assert!(message.to_lowercase().contains("weight"), "{message}");

    let event = tokio::time::timeout(Duration::from_secs(1), nacks.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.message, *message);
    let entry = fx
        .control
        .push_log()
        .into_iter()
        .find(|e| e.nonce == event.nonce)
        .unwrap();
    assert!(entry.nacked_at.is_some() && entry.acked_at.is_none());
    assert_eq!(entry.error_detail.as_deref(), Some(message.as_str()));

    // Envoy keeps its last good routes.
    for _ in 0..5 {
        let (status, upstream, _) = get(listen, "/").await.unwrap();
        assert_eq!((status, upstream.as_deref()), (200, Some("a")));
    }
    assert!(
        fx.envoy()
            .stat("http.ingress.rds.ingress_routes.update_rejected")
            .await
            >= Some(1)
    );

    // Fixing the config recovers.
    let v3 = fx
        .control
        .set_config(NODE, &config(listen, &[("a", a)], to("a")))
        .unwrap();
    fx.control
        .wait_applied(NODE, v3, APPLY_TIMEOUT)
        .await
        .unwrap();
}

#[tokio::test]
async fn push_before_envoy_connects_is_delivered_on_connect() {
    let a = upstream("a").await;
    let listen = free_port();
    let mut fx = Fixture::new().await;
    let v1 = fx
        .control
        .set_config(NODE, &config(listen, &[("a", a)], to("a")))
        .unwrap();
    assert_eq!(fx.control.connected_streams(NODE), 0);

    fx.start_envoy("before-connect").await;
    let report = fx
        .control
        .wait_applied(NODE, v1, APPLY_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(fx.control.connected_streams(NODE), 1);
    assert!(report.applied_at >= report.set_at);
    fx.envoy().wait_ready().await;
    reaches(listen, "a").await;

    // Shutting down ends the open ADS stream instead of waiting for Envoy to hang up.
    fx.stop_xds().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fx.control.connected_streams(NODE) > 0 {
        assert!(
            Instant::now() < deadline,
            "stream still open after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn without_dynamic_stats_envoy_drops_the_per_code_counters() {
    // Why `dynamic_stats` defaults to on: with it off, the counters resilience gates read
    // (`upstream_rq_<code>`) do not exist, though `upstream_rq_total` still does.
    let a = upstream("a").await;
    let listen = free_port();
    let mut fx = Fixture::new().await;
    fx.start_envoy("no-dynamic-stats").await;
    let mut cfg = config(listen, &[("a", a)], to("a"));
    cfg.listeners[0].dynamic_stats = false;
    let v1 = fx.control.set_config(NODE, &cfg).unwrap();
    fx.control
        .wait_applied(NODE, v1, APPLY_TIMEOUT)
        .await
        .unwrap();
    reaches(listen, "a").await;
    let envoy = fx.envoy();
    assert!(envoy.stat("cluster.a.upstream_rq_total").await >= Some(1));
    assert_eq!(envoy.stat("cluster.a.upstream_rq_200").await, None);
}

#[tokio::test]
async fn an_envoy_that_never_connects_times_out() {
    let fx = Fixture::new().await;
    let v1 = fx
        .control
        .set_config(NODE, &EnvoyConfig::default())
        .unwrap();
    let err = fx
        .control
        .wait_applied(NODE, v1, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, XdsError::Timeout { .. }), "{err}");
}
