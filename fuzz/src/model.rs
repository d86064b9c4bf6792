//! What the model promises of a [`Scenario`]: the format's docs and "a `Scenario` only
//! exists validated" (`gauntlet::scenario`), written down as checks.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use gauntlet::scenario::{self, LoadMode, Scenario, TimelineAction};

use crate::gate::check_gate;
use crate::routes::{check_route, percent_ok};
use crate::SOURCE;

/// How far a status mix may stray from 1 (the mocks' own tolerance).
const MIX_TOLERANCE: f64 = 1e-6;

/// What the model promises of a [`Scenario`] (see `scenario::model` and the format docs).
pub fn check_scenario(s: &Scenario, text: &str) {
    let limits = scenario::Limits::default();
    assert!(text.len() <= limits.max_file_bytes);
    assert_eq!(s.source, Path::new(SOURCE));

    // name: 1..64 of [A-Za-z0-9._-], no `..`.
    assert!(
        (1..=64).contains(&s.name.len())
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !s.name.contains(".."),
        "bad scenario name {:?}",
        s.name
    );

    // envoy
    assert!((1..=limits.max_envoy_concurrency).contains(&s.envoy.concurrency));
    assert!(s.envoy.listen_port != Some(0), "listen_port 0");

    // upstreams: at least one, unique names, servable behaviours.
    assert!(!s.upstreams.is_empty(), "no upstreams");
    assert!(s.upstreams.len() <= limits.max_upstreams);
    let mut names = HashSet::new();
    for u in &s.upstreams {
        assert!(names.insert(u.name.as_str()), "upstream {:?} twice", u.name);
        assert!(
            (1..=64).contains(&u.name.len())
                && u.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')),
            "bad upstream name {:?}",
            u.name
        );
        assert!(
            (1..=limits.max_endpoints).contains(&u.endpoints),
            "upstream {:?}: {} endpoints",
            u.name,
            u.endpoints
        );
        check_behavior(&u.behavior, &u.name, &limits);
        assert!(
            u.connect_timeout > Duration::ZERO,
            "{:?}: connect_timeout 0",
            u.name
        );
        check_cluster_policy(&u.policy, &u.name);
    }

    // routes: at least one, unique names, targets that exist.
    assert!(!s.routes.is_empty(), "no routes");
    assert!(s.routes.len() <= limits.max_routes);
    let mut route_names = HashSet::new();
    for r in &s.routes {
        assert!(
            route_names.insert(r.name.as_str()),
            "route {:?} twice",
            r.name
        );
        check_route(r, &names);
    }
    assert!(
        s.routes
            .iter()
            .any(|r| r.matcher.matches(&s.load.request.path)),
        "no route matches the load's path {:?}",
        s.load.request.path
    );

    // load
    let l = &s.load;
    match l.mode {
        LoadMode::Open { rate } => assert!(
            rate.is_finite() && rate > 0.0 && rate <= limits.max_rate,
            "rate {rate}"
        ),
        LoadMode::Closed { concurrency } => assert!(
            (1..=limits.max_concurrency).contains(&concurrency),
            "concurrency {concurrency}"
        ),
    }
    assert!(
        (1..=limits.max_connections).contains(&l.connections),
        "connections {}",
        l.connections
    );
    assert!(
        l.duration > Duration::ZERO && l.duration <= limits.max_duration,
        "duration {:?}",
        l.duration
    );
    assert!(l.warmup <= limits.max_duration, "warmup {:?}", l.warmup);
    assert!(l.timeout > Duration::ZERO, "timeout {:?}", l.timeout);
    assert!(
        (1..=limits.max_workers).contains(&l.workers),
        "workers {}",
        l.workers
    );
    assert!(
        l.request.path.starts_with('/')
            && l.request.path.is_ascii()
            && !l
                .request
                .path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()),
        "request path {:?}",
        l.request.path
    );
    assert!(!l.request.method.is_empty(), "empty method");
    assert!(
        l.request.body_bytes as u64 <= limits.max_body_bytes,
        "request body {}",
        l.request.body_bytes
    );
    let mut seen = HashSet::new();
    for (name, value) in &l.request.headers {
        assert!(!name.is_empty(), "empty header name");
        assert!(
            seen.insert(name.to_ascii_lowercase()),
            "header {name:?} twice"
        );
        assert!(
            !value.chars().any(|c| c.is_control() && c != '\t'),
            "header {name:?} value {value:?} has a control character"
        );
    }

    // timeline: sorted, inside the run, unique labels, references that resolve.
    let run = l.warmup + l.duration;
    assert!(s.timeline.len() <= limits.max_timeline_events);
    let mut labels = HashSet::new();
    let mut endpoint_count: Vec<u32> = s.upstreams.iter().map(|u| u.endpoints).collect();
    for (i, ev) in s.timeline.iter().enumerate() {
        if i > 0 {
            assert!(
                s.timeline[i - 1].at <= ev.at,
                "timeline out of order at {i}"
            );
        }
        assert!(
            ev.at < run,
            "event {:?} at {:?} >= run {:?}",
            ev.label,
            ev.at,
            run
        );
        assert!(!ev.label.is_empty(), "empty event label");
        assert!(
            labels.insert(ev.label.as_str()),
            "label {:?} twice",
            ev.label
        );
        let upstream_index = |name: &str| {
            s.upstreams
                .iter()
                .position(|u| u.name == name)
                .unwrap_or_else(|| panic!("event {:?}: no upstream {name:?}", ev.label))
        };
        match &ev.action {
            TimelineAction::SetRoute { route, new } => {
                assert!(
                    *route < s.routes.len(),
                    "event {:?}: route {route}",
                    ev.label
                );
                assert_eq!(new.name, s.routes[*route].name, "event renamed a route");
                check_route(new, &names);
            }
            TimelineAction::SetCluster { cluster, policy } => {
                upstream_index(cluster);
                check_cluster_policy(policy, cluster);
            }
            TimelineAction::SetUpstream {
                upstream,
                endpoints,
                behavior,
            } => {
                let u = upstream_index(upstream);
                if let Some(eps) = endpoints {
                    assert!(!eps.is_empty(), "event {:?}: no endpoints", ev.label);
                    for e in eps {
                        assert!(
                            *e < endpoint_count[u],
                            "event {:?}: endpoint {e} of {}",
                            ev.label,
                            endpoint_count[u]
                        );
                    }
                }
                check_behavior(behavior, upstream, &limits);
            }
            TimelineAction::SetEndpointsUp {
                upstream,
                endpoints,
                ..
            } => {
                let u = upstream_index(upstream);
                for e in endpoints {
                    assert!(
                        *e < endpoint_count[u],
                        "event {:?}: endpoint {e} of {}",
                        ev.label,
                        endpoint_count[u]
                    );
                }
            }
            TimelineAction::SetEndpointCount { upstream, count } => {
                let u = upstream_index(upstream);
                assert!(
                    (1..=limits.max_endpoints).contains(count),
                    "event {:?}: scale to {count}",
                    ev.label
                );
                endpoint_count[u] = *count;
            }
        }
    }

    // gates: each one re-parses to itself, and the events it names exist.
    for g in &s.gates {
        check_gate(g, &g.text);
        for label in g.event_refs() {
            assert!(
                labels.contains(label),
                "gate {:?}: no event {label:?}",
                g.text
            );
        }
    }

    // The model serialises (it goes into the run's output as JSON).
    serde_json::to_string(s).expect("a valid scenario serialises");
}

fn check_behavior(b: &gauntlet_mocks::Behavior, who: &str, limits: &scenario::Limits) {
    if let Err(e) = b.validate() {
        panic!("{who}: behaviour the mocks refuse: {e}: {b:?}");
    }
    let sum: f64 = b.statuses.0.iter().map(|(_, w)| w).sum();
    assert!(
        (sum - 1.0).abs() <= MIX_TOLERANCE,
        "{who}: status mix sums to {sum}"
    );
    assert!(
        b.body_bytes as u64 <= limits.max_body_bytes,
        "{who}: body {}",
        b.body_bytes
    );
}

fn check_cluster_policy(p: &gauntlet::policy::ClusterPolicy, who: &str) {
    if let Some(cb) = &p.circuit_breakers {
        assert!(cb.max_connections != Some(0), "{who}: max_connections 0");
        assert!(cb.max_requests != Some(0), "{who}: max_requests 0");
        assert!(
            !(cb.max_retries.is_some() && cb.retry_budget.is_some()),
            "{who}: max_retries and retry_budget together"
        );
        if let Some(b) = &cb.retry_budget {
            assert!(
                percent_ok(b.budget_percent),
                "{who}: budget {}",
                b.budget_percent
            );
        }
    }
    if let Some(od) = &p.outlier_detection {
        if let Some(i) = od.interval {
            assert!(i > Duration::ZERO, "{who}: outlier interval 0");
        }
        if let Some(m) = od.max_ejection_percent {
            assert!(m <= 100, "{who}: max_ejection_percent {m}");
        }
    }
    if let Some(hc) = &p.health_check {
        assert!(
            hc.path.starts_with('/'),
            "{who}: health check path {:?}",
            hc.path
        );
        assert!(
            hc.interval > Duration::ZERO,
            "{who}: health check interval 0"
        );
        assert!(hc.timeout > Duration::ZERO, "{who}: health check timeout 0");
        assert!(hc.unhealthy_threshold >= 1 && hc.healthy_threshold >= 1);
    }
    assert!(
        p.max_requests_per_connection != Some(0),
        "{who}: max_requests_per_connection 0"
    );
}
