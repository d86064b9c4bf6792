//! What a validated route promises: targets and mirrors that exist, shares and statuses in
//! range, and policies that Envoy accepts.

use std::collections::HashSet;
use std::time::Duration;

use gauntlet::policy::{AbortKind, HeaderValueMatch, RoutePolicy};
use gauntlet::scenario::{Route, RouteMatch, RouteTarget};

pub(crate) fn check_route(r: &Route, upstreams: &HashSet<&str>) {
    let who = &r.name;
    assert!(!r.name.is_empty(), "empty route name");
    match &r.matcher {
        RouteMatch::Prefix(p) | RouteMatch::Path(p) => {
            assert!(p.starts_with('/'), "route {who:?}: path {p:?}")
        }
    }
    let own: Vec<&str> = match &r.target {
        RouteTarget::Cluster(c) => vec![c.as_str()],
        RouteTarget::Weighted(w) => {
            assert!(!w.is_empty(), "route {who:?}: no weighted clusters");
            let total: u64 = w.iter().map(|(_, n)| u64::from(*n)).sum();
            assert!(
                total <= u64::from(u32::MAX),
                "route {who:?}: weights sum to {total}"
            );
            let mut seen = HashSet::new();
            for (c, n) in w {
                assert!(*n > 0, "route {who:?}: weight 0 for {c:?}");
                assert!(seen.insert(c.as_str()), "route {who:?}: {c:?} twice");
            }
            w.iter().map(|(c, _)| c.as_str()).collect()
        }
    };
    for c in &own {
        assert!(
            upstreams.contains(c),
            "route {who:?}: target {c:?} is no upstream"
        );
    }
    for h in &r.headers {
        assert!(!h.name.is_empty(), "route {who:?}: empty header name");
        assert_eq!(
            h.name,
            h.name.to_ascii_lowercase(),
            "route {who:?}: header case"
        );
        if let HeaderValueMatch::Exact(v) | HeaderValueMatch::Prefix(v) = &h.value {
            assert!(
                !v.chars().any(|c| c == '\r' || c == '\n'),
                "route {who:?}: header value {v:?}"
            );
        }
    }
    check_route_policy(&r.policy, who, &own, upstreams);
}

pub(crate) fn percent_ok(p: f64) -> bool {
    p.is_finite() && (0.0..=100.0).contains(&p)
}

fn check_route_policy(p: &RoutePolicy, who: &str, own: &[&str], upstreams: &HashSet<&str>) {
    if let Some(t) = p.timeout {
        assert!(t > Duration::ZERO, "route {who:?}: timeout 0");
    }
    if let Some(r) = &p.retries {
        if r.num_retries > 0 {
            assert!(
                !r.retry_on.is_empty(),
                "route {who:?}: retries without `on`"
            );
        }
        assert!(
            r.num_retries <= 100,
            "route {who:?}: {} retries",
            r.num_retries
        );
        if let Some(b) = &r.backoff {
            assert!(b.base > Duration::ZERO, "route {who:?}: backoff base 0");
            assert!(b.max >= b.base, "route {who:?}: backoff max < base");
        }
        if let Some(t) = r.per_try_timeout {
            assert!(t > Duration::ZERO, "route {who:?}: per_try_timeout 0");
        }
        for c in &r.retriable_status_codes {
            assert!(
                (200..=599).contains(c),
                "route {who:?}: retriable status {c}"
            );
        }
    }
    let mut mirrored = HashSet::new();
    for m in &p.mirrors {
        assert!(
            upstreams.contains(m.cluster.as_str()),
            "route {who:?}: mirror to {:?} is no upstream",
            m.cluster
        );
        assert!(
            !own.contains(&m.cluster.as_str()),
            "route {who:?}: mirrors to its own cluster {:?}",
            m.cluster
        );
        assert!(
            mirrored.insert(m.cluster.as_str()),
            "route {who:?}: mirror twice"
        );
        assert!(
            percent_ok(m.percent),
            "route {who:?}: mirror percent {}",
            m.percent
        );
    }
    if let Some(f) = &p.fault {
        assert!(
            f.delay.is_some() || f.abort.is_some(),
            "route {who:?}: a fault that does nothing"
        );
        if let Some(d) = &f.delay {
            assert!(
                percent_ok(d.percent),
                "route {who:?}: delay percent {}",
                d.percent
            );
        }
        if let Some(a) = &f.abort {
            assert!(
                percent_ok(a.percent),
                "route {who:?}: abort percent {}",
                a.percent
            );
            match a.kind {
                AbortKind::Http(s) => {
                    assert!((200..=599).contains(&s), "route {who:?}: abort status {s}")
                }
                AbortKind::Grpc(s) => {
                    assert!(
                        (1..=16).contains(&s),
                        "route {who:?}: abort grpc status {s}"
                    )
                }
            }
        }
    }
    if let Some(rl) = &p.rate_limit {
        assert!(rl.max_tokens >= 1, "route {who:?}: max_tokens 0");
        assert!(rl.tokens_per_fill >= 1, "route {who:?}: tokens_per_fill 0");
        assert!(
            rl.fill_interval >= Duration::from_millis(50),
            "route {who:?}: fill_interval {:?}",
            rl.fill_interval
        );
        assert!(
            (400..=599).contains(&rl.status),
            "route {who:?}: rate-limit status {}",
            rl.status
        );
    }
}
