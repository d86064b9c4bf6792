//! The scenario parser at its boundary: every bad file fails with the right position, field
//! and message; every good file parses to the expected model.
//!
//! Bad fixtures live in `tests/scenarios/bad/`, each starting with a header line
//! `# expect: LINE:COLUMN FIELD: FRAGMENT` (`-` for an unknown position or no field).
//! Good fixtures live in `tests/scenarios/good/`, each next to a `.json` snapshot of its
//! model; `GAUNTLET_BLESS=1 cargo test --test scenario_models` rewrites the snapshots (the
//! good fixtures are checked in `scenario_models.rs`).

#[path = "common/scenario_check.rs"]
mod scenario_check;

use std::fs;
use std::path::{Path, PathBuf};

use gauntlet::scenario::{self, Limits, LoadMode};
use scenario_check::{check, fixtures, summary, with, BASE};

#[test]
fn bad_fixtures() {
    let mut files: Vec<PathBuf> = fs::read_dir(fixtures("bad"))
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "only {} bad fixtures", files.len());
    for file in files {
        let text = fs::read_to_string(&file).expect("fixture");
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: no `# expect:` header", file.display()));
        println!("{}: {expected}", file.display());
        check(&text, expected);
    }
}

#[test]
fn inline_cases() {
    let deep = format!("a: {}", "[".repeat(100));
    let huge = format!("name: bench\n# {}\n", "x".repeat(1 << 20));
    let junk: String = (0u8..=255).map(char::from).collect();
    let cases: Vec<(String, &str)> = vec![
        // Not a scenario at all.
        ("".into(), "- -: the scenario file is empty"),
        ("~\n".into(), "- -: the scenario file is empty"),
        ("just words\n".into(), "1:1 -: the top level must be a mapping"),
        (deep, "1:67 -: nested more than 64 levels deep"),
        (huge, "- -: the file is larger than 1048576 bytes"),
        (junk, "1:1 -: the file contains the character U+0000"),
        ("name: *nope\n".into(), "1:7 -: YAML syntax error: while parsing node, found unknown anchor"),
        ("name: bench\n\tupstreams: {}\n".into(), "1:7 -: YAML syntax error: while scanning a plain scalar, found a tab"),
        // Top level.
        ("upstreams: { b: {} }\nload: { rate: 1, duration: 1s }\n".into(), "1:1 -: missing `name`"),
        ("name: bench\nload: { rate: 1, duration: 1s }\n".into(), "1:1 -: missing `upstreams`"),
        ("name: bench\nupstreams: { b: {} }\n".into(), "1:1 -: missing `load`"),
        (BASE.replace("bench", "\"..\""), "1:7 name: name `..` contains `..`"),
        (BASE.replace("bench", &"a".repeat(65)), "1:7 name: is 65 characters long"),
        (BASE.replace("bench", "\"a\\u0007b\""), "1:7 name: contains the control character"),
        (BASE.replace("bench", "a b"), "1:7 name: name `a b` contains ` `"),
        (with("baseline: \"yes\"\n"), "6:11 baseline: expected `true` or `false`"),
        (with("phase: benchmrk\n"), "6:8 phase: `benchmrk` is not one of"),
        (
            "name:\nupstreams: { b: {} }\nload: { rate: 1, duration: 1s }\n".into(),
            "1:1 name: `name` is empty",
        ),
        (
            BASE.replace("canary: {}", "canary: 5"),
            "4:11 upstreams.canary: expected a mapping",
        ),
        (
            BASE.replace("endpoints: 2", "endpoints: 99999999999999999999"),
            "3:25 upstreams.backend.endpoints: `99999999999999999999` is too large",
        ),
        // Envoy.
        (with("envoy: { version: latest }\n"), "6:19 envoy.version: `latest` is not an Envoy release version"),
        (with("envoy: { log_level: warnng }\n"), "6:21 envoy.log_level: `warnng` is not one of"),
        (with("envoy: { concurrency: 0 }\n"), "6:23 envoy.concurrency: concurrency must be at least 1"),
        (with("envoy: { listen_port: 70000 }\n"), "6:23 envoy.listen_port: listen_port of 70000 is over the limit of 65535"),
        (with("envoy: { image: Envoy:Latest }\n"), "6:17 envoy.image: `Envoy:Latest` is not an image reference"),
        (with("envoy: { image: \"gauntlet/envoy:1.40.0\", cpus: 0 }\n"), "6:48 envoy.cpus: cpus must be more than 0"),
        (with("envoy: { image: \"gauntlet/envoy:1.40.0\", memory: 1Mi }\n"), "6:50 envoy.memory: under the engine's minimum"),
        // Upstreams.
        ("name: bench\nupstreams: {}\nload: { rate: 1, duration: 1s }\n".into(), "2:12 upstreams: no upstreams are declared"),
        (BASE.replace("endpoints: 2", "endpoints: 0"), "3:25 upstreams.backend.endpoints: endpoints must be at least 1"),
        (BASE.replace("endpoints: 2", "endpoints: 65"), "3:25 upstreams.backend.endpoints: endpoints of 65 is over the limit of 64"),
        (BASE.replace("endpoints: 2", "protocol: http3"), "3:24 upstreams.backend.protocol: `http3` is not one of"),
        (BASE.replace("endpoints: 2", "responses: {}"), "3:25 upstreams.backend.responses: no status codes given"),
        (BASE.replace("endpoints: 2", "responses: { 200: 50%, \"200\": 50% }"), "3:37 upstreams.backend.responses.200: duplicate key `200`"),
        (BASE.replace("endpoints: 2", "responses: { 100: 100% }"), "3:27 upstreams.backend.responses.100: `100` is not a final HTTP status code"),
        (BASE.replace("endpoints: 2", "latency: { fixed: 5ms, uniform: [1ms, 2ms] }"), "3:23 upstreams.backend.latency: `fixed` must be the only key"),
        (BASE.replace("endpoints: 2", "latency: { uniform: [5ms, 1ms] }"), "3:34 upstreams.backend.latency.uniform: the minimum is larger than the maximum"),
        (BASE.replace("endpoints: 2", "latency: { p50: 5ms, q99: 1ms }"), "3:35 upstreams.backend.latency.q99: `q99` is not a latency key"),
        (BASE.replace("endpoints: 2", "latency: [5ms]"), "3:23 upstreams.backend.latency: expected a duration or a mapping"),
        (BASE.replace("endpoints: 2", "connect_timeout: 0"), "3:31 upstreams.backend.connect_timeout: must be more than 0"),
        (BASE.replace("endpoints: 2", "body: lots"), "3:20 upstreams.backend.body: `lots` is not a size"),
        (BASE.replace("canary: {}", "canary.v2: {}"), "4:3 upstreams.canary.v2: upstream name `canary.v2` contains `.`"),
        // Routes.
        (with("routes: []\n"), "6:9 routes: no routes are given"),
        (with("routes: [{ match: { prefix: /, path: / }, cluster: backend }]\n"), "6:19 routes[0].match: `prefix` and `path` are both set"),
        (with("routes: [{ match: { path: health }, cluster: backend }]\n"), "6:27 routes[0].match.path: path `health` does not start with `/`"),
        (with("routes: [{ match: { prefix: \"/a b\" }, cluster: backend }]\n"), "6:29 routes[0].match.prefix: contains whitespace"),
        (with("routes: [{ cluster: backend, weighted: { canary: 1 } }]\n"), "6:40 routes[0].weighted: `cluster` and `weighted` are both set"),
        (with("routes: [{ weighted: { backend: 0, canary: 1 } }]\n"), "6:33 routes[0].weighted.backend: weight 0 is not a positive whole number"),
        (with("routes: [{ match: { prefix: / } }]\n"), "6:10 routes[0]: no `cluster` or `weighted` given"),
        (with("routes: [{ cluster: backend, timeout: 0 }]\n"), "6:39 routes[0].timeout: must be more than 0"),
        (with("routes: [{ name: route-1, cluster: backend }, { cluster: canary }]\n"), "6:47 routes[1]: route name `route-1` is already used by routes[0]"),
        // Load.
        (BASE.replace("rate: 100/s", "rate: fast"), "5:15 load.rate: `fast` is not a rate"),
        (BASE.replace("rate: 100/s", "concurrency: 0"), "5:22 load.concurrency: concurrency must be at least 1"),
        (BASE.replace("rate: 100/s", "concurrency: 20000"), "5:22 load.concurrency: concurrency of 20000 is over the limit of 10000"),
        (BASE.replace("rate: 100/s", "rate: 1/s, connections: 20000"), "5:33 load.connections: connections of 20000 is over the limit of 10000"),
        (BASE.replace("duration: 10s", "duration: 25h"), "5:32 load.duration: `25h` is longer than the limit of 24h"),
        (BASE.replace("duration: 10s", "duration: 1s, warmup: -1s"), "5:44 load.warmup: `-1s` is negative"),
        (BASE.replace("duration: 10s", "duration: 1s, workers: 100"), "5:45 load.workers: workers of 100 is over the limit of 64"),
        (BASE.replace("duration: 10s", "duration: 1s, protocol: h2"), "5:46 load.protocol: `h2` is not one of"),
        (with("load: { rate: 1, duration: 1s }\n"), "6:1 load: duplicate key `load`"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { method: get }"), "5:55 load.request.method: method `get` is not upper case"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { method: \"GE T\" }"), "5:55 load.request.method: `GE T` is not an HTTP method"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { headers: { Content-Length: 5 } }"), "5:58 load.request.headers.Content-Length: header `Content-Length` is set by the load client"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { headers: { x-a: 1, X-A: 2 } }"), "5:66 load.request.headers.X-A: header `X-A` is given twice"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { body: 65MiB }"), "5:53 load.request.body: `65MiB` is larger than the limit of 64MiB"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { path: \"/caf\u{e9}\" }"), "5:53 load.request.path: contains non-ASCII characters"),
        // Timeline.
        (with("timeline: [{ at: 1s, set: { latency: 1ms } }]\n"), "6:12 timeline[0]: no `route`, `cluster` or `upstream` given"),
        (with("timeline: [{ at: 1s, route: 0, upstream: backend, set: { latency: 1ms } }]\n"), "6:42 timeline[0].upstream: `route` and `upstream` are both set"),
        (with("timeline: [{ upstream: backend, set: { latency: 1ms } }]\n"), "6:12 timeline[0]: missing `at`"),
        (with("timeline: [{ at: 1s, route: 3, set: { cluster: canary } }]\n"), "6:29 timeline[0].route: route `3` is not defined"),
        (with("timeline: [{ at: 1s, route: main, set: { cluster: canary } }]\n"), "6:29 timeline[0].route: route `main` is not defined"),
        (with("timeline: [{ at: 1s, route: 0 }]\n"), "6:12 timeline[0]: missing `set`"),
        (with("timeline: [{ at: 1s, upstream: backend, set: {} }]\n"), "6:46 timeline[0].set: nothing to set"),
        (with("timeline: [{ at: 1s, upstream: backend, set: { cluster: canary } }]\n"), "6:48 timeline[0].set.cluster: `cluster` applies to route events"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [], set: { body: 1 } }]\n"), "6:52 timeline[0].endpoints: no endpoints listed"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [1, 1], set: { body: 1 } }]\n"), "6:56 timeline[0].endpoints[1]: endpoint 1 is listed twice"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [-1], set: { body: 1 } }]\n"), "6:53 timeline[0].endpoints[0]: endpoint index -1 is out of range"),
        (with("timeline: [{ at: 1s, route: 0, endpoints: [0], set: { cluster: canary } }]\n"), "6:43 timeline[0].endpoints: `endpoints` applies to upstream events"),
        (with("timeline: [{ at: 1s, name: \"\", upstream: backend, set: { body: 1 } }]\n"), "6:28 timeline[0].name: event name `` is empty"),
    ];
    for (yaml, expected) in cases {
        check(&yaml, expected);
    }
}

/// Policies, chaos, timeline events and gates: one case per check, most of them listed in
/// the brief of the policy work (the bad fixtures hold the rest).
#[test]
fn policy_cases() {
    let cases: Vec<(String, &str)> = vec![
        // Retries.
        (with("routes: [{ cluster: backend, retries: { on: [retriable-status-codes] } }]\n"), "6:45 routes[0].retries.on: `retriable-status-codes` is in `on` but no codes are given"),
        (with("routes: [{ cluster: backend, retries: { on: [5xx], retryOn: 5xx } }]\n"), "6:52 routes[0].retries.retryOn: `on` and `retryOn` are both set"),
        (with("routes: [{ cluster: backend, retries: { attempts: 3 } }]\n"), "6:39 routes[0].retries.on: no retry conditions: Envoy would never retry"),
        (with("routes: [{ cluster: backend, retries: { on: [5xx, 503] } }]\n"), "6:51 routes[0].retries.on[1]: `503` is a status code, not a retry condition"),
        (with("routes: [{ cluster: backend, retries: { on: [5xx, 5xx] } }]\n"), "6:51 routes[0].retries.on[1]: `5xx` is listed twice"),
        (with("routes: [{ cluster: backend, retries: { on: [5xx], host_selection_attempts: 3 } }]\n"), "6:52 routes[0].retries.host_selection_attempts: `host_selection_attempts` applies only with `avoid_previous_hosts: true`"),
        (with("routes: [{ cluster: backend, retries: { on: [5xx], attempts: 1000 } }]\n"), "6:62 routes[0].retries.attempts: attempts of 1000 is over the limit of 100"),
        (with("routes: [{ cluster: backend, retries: { on: [retriable-headers] } }]\n"), "6:46 routes[0].retries.on[0]: `retriable-headers` is not a retry condition"),
        (with("routes: [{ cluster: backend, retries: { retryOn: \"5xx,,reset\" } }]\n"), "6:50 routes[0].retries.retryOn: an empty retry condition"),
        (with("routes: [{ cluster: backend, retries: { on: [5xx], retires: 3 } }]\n"), "6:52 routes[0].retries.retires: unknown field `retires`; expected one of: on, retryOn, attempts, per_try_timeout, perTryTimeout, per_try_idle_timeout, backoff, retriable_status_codes, avoid_previous_hosts, host_selection_attempts"),
        // Mirrors.
        (with("routes: [{ weighted: { backend: 1, canary: 1 }, mirror: { cluster: canary } }]\n"), "6:57 routes[0].mirror: the route mirrors to `canary`, which it also sends its traffic to"),
        (with("routes: [{ cluster: backend, mirror: { cluster: shadow } }]\n"), "6:49 routes[0].mirror.cluster: cluster `shadow` is not defined"),
        (with("routes: [{ cluster: backend, mirror: { host: canary, cluster: canary } }]\n"), "6:40 routes[0].mirror.host: `cluster` and `host` are both set"),
        (with("routes: [{ cluster: backend, mirror: [{ cluster: canary }, { cluster: canary }] }]\n"), "6:60 routes[0].mirror[1]: `canary` is mirrored to twice"),
        (with("routes: [{ cluster: backend, mirror: { percent: 50% } }]\n"), "6:38 routes[0].mirror: missing `cluster`"),
        (with("routes: [{ cluster: backend, mirror: { cluster: canary, percent: 50% }, mirrorPercentage: { value: 10 } }]\n"), "6:73 routes[0].mirrorPercentage: `mirror.percent` and `mirrorPercentage` are both set"),
        (with("routes: [{ cluster: backend, mirror: { cluster: canary, percent: 50 } }]\n"), "6:66 routes[0].mirror.percent: `50` is not a percentage"),
        // Faults.
        (with("routes: [{ cluster: backend, fault: { abort: { status: 503, grpc_status: 14 } } }]\n"), "6:61 routes[0].fault.abort.grpc_status: `status` and `grpc_status` are both set"),
        (with("routes: [{ cluster: backend, fault: { abort: { status: 503, httpStatus: 503 } } }]\n"), "6:61 routes[0].fault.abort.httpStatus: `status` and `httpStatus` are both set"),
        (with("routes: [{ cluster: backend, fault: { abort: { grpcStatus: UNAVAILBLE } } }]\n"), "6:60 routes[0].fault.abort.grpcStatus: `UNAVAILBLE` is not a gRPC status code"),
        (with("routes: [{ cluster: backend, fault: { abort: { grpc_status: 0 } } }]\n"), "6:61 routes[0].fault.abort.grpc_status: gRPC status 0 is OK, not an error"),
        (with("routes: [{ cluster: backend, fault: { delay: { percent: 10% } } }]\n"), "6:46 routes[0].fault.delay: missing `fixed`"),
        (with("routes: [{ cluster: backend, fault: { delay: { fixed: 0 } } }]\n"), "6:55 routes[0].fault.delay.fixed: must be more than 0"),
        (with("routes: [{ cluster: backend, fault: { delay: { fixed: 1s, percentage: { value: 120 } } } }]\n"), "6:80 routes[0].fault.delay.percentage.value: 120 is outside 0 to 100"),
        (with("routes: [{ cluster: backend, fault: { delay: { fixed: 1s, percent: 1%, percentage: { value: 1 } } } }]\n"), "6:72 routes[0].fault.delay.percentage: `percent` and `percentage` are both set"),
        (with("routes: [{ cluster: backend, fault: {} }]\n"), "6:37 routes[0].fault: nothing in `fault`"),
        (with("routes: [{ cluster: backend, fault: { headers: { x-a: b } } }]\n"), "6:37 routes[0].fault: a fault needs a `delay` or an `abort`"),
        (with("routes: [{ cluster: backend, fault: { abort: { status: 503 }, headers: { \"x a\": b } } }]\n"), "6:74 routes[0].fault.headers.x a: `x a` is not a valid header name"),
        // Rate limits.
        (with("routes: [{ cluster: backend, rate_limit: { requests_per_second: 0 } }]\n"), "6:65 routes[0].rate_limit.requests_per_second: requests_per_second must be at least 1, not 0"),
        (with("routes: [{ cluster: backend, rate_limit: { requests_per_second: 10, max_tokens: 10 } }]\n"), "6:69 routes[0].rate_limit.max_tokens: `requests_per_second` and `max_tokens` are both set"),
        (with("routes: [{ cluster: backend, rate_limit: { max_tokens: 10, fill_interval: 10ms } }]\n"), "6:75 routes[0].rate_limit.fill_interval: `10ms` is shorter than Envoy's minimum of 50ms"),
        (with("routes: [{ cluster: backend, rate_limit: { max_tokens: 10, tokens_per_fill: 20 } }]\n"), "6:77 routes[0].rate_limit.tokens_per_fill: `tokens_per_fill` (20) is more than `max_tokens` (10)"),
        (with("routes: [{ cluster: backend, rate_limit: { requests_per_second: 10, status: 200 } }]\n"), "6:77 routes[0].rate_limit.status: status 200 is not in 400..=599"),
        (with("routes: [{ cluster: backend, rate_limit: {} }]\n"), "6:42 routes[0].rate_limit: missing `requests_per_second` or `max_tokens`"),
        // Header matches and timeouts.
        (with("routes: [{ match: { prefix: /, headers: { x-a: { prefix: \"\" } } }, cluster: backend }]\n"), "6:58 routes[0].match.headers.x-a.prefix: the prefix is empty"),
        (with("routes: [{ match: { prefix: /, headers: { x-a: { prefx: a } } }, cluster: backend }]\n"), "6:50 routes[0].match.headers.x-a.prefx: `prefx` is not `exact` or `prefix`"),
        (with("routes: [{ match: { prefix: /, headers: { x-a: 1, X-A: 2 } }, cluster: backend }]\n"), "6:51 routes[0].match.headers.X-A: header `X-A` is given twice"),
        (with("routes: [{ match: { prefix: /, headers: { x-a: } }, cluster: backend }]\n"), "6:46 routes[0].match.headers.x-a: expected a header value, found nothing"),
        (with("routes: [{ cluster: backend, idle_timeout: 0 }]\n"), "6:44 routes[0].idle_timeout: must be more than 0"),
        // Cluster policies.
        (with("clusters: { backend: { circuit_breakers: { max_requests: 0 } } }\n"), "6:58 clusters.backend.circuit_breakers.max_requests: max_requests must be at least 1, not 0"),
        (with("clusters: { backend: { circuit_breakers: { max_retries: 3, retry_budget: { percent: 20% } } } }\n"), "6:60 clusters.backend.circuit_breakers.retry_budget: `max_retries` and `retry_budget` are both set"),
        (with("clusters: { backend: { circuit_breakers: { retry_budget: { percent: 120% } } } }\n"), "6:69 clusters.backend.circuit_breakers.retry_budget.percent: `120%` is outside 0%..100%"),
        (with("clusters: { backend: { outlier_detection: { consecutive_5xx: 0 } } }\n"), "6:62 clusters.backend.outlier_detection.consecutive_5xx: consecutive_5xx must be at least 1, not 0"),
        (with("clusters: { backend: { outlier_detection: { max_ejection_percent: 150 } } }\n"), "6:67 clusters.backend.outlier_detection.max_ejection_percent: `150` is not a percentage from 0 to 100"),
        (with("clusters: { backend: { outlierDetection: { consecutive5xxErrors: 0 } } }\n"), "6:66 clusters.backend.outlierDetection.consecutive5xxErrors: consecutive5xxErrors must be at least 1, not 0"),
        (with("clusters: { backend: { outlier_detection: { consecutive_5xx: 3, consecutive5xxErrors: 3 } } }\n"), "6:65 clusters.backend.outlier_detection.consecutive5xxErrors: `consecutive_5xx` and `consecutive5xxErrors` are both set"),
        (with("clusters: { backend: { lb_policy: round_robbin } }\n"), "6:35 clusters.backend.lb_policy: `round_robbin` is not one of `round_robin`, `least_request`, `random`, `ring_hash`"),
        (with("clusters: { backend: { lb_policy: random, loadBalancer: { simple: RANDOM } } }\n"), "6:43 clusters.backend.loadBalancer: `lb_policy` and `loadBalancer` are both set"),
        (with("clusters: { backend: { loadBalancer: { simple: PASSTHROUGH } } }\n"), "6:48 clusters.backend.loadBalancer.simple: `PASSTHROUGH` is not a load balancer"),
        (with("clusters: { backend: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } } }\n"), "6:56 clusters.backend.loadBalancer.consistentHash: hash keys are not supported"),
        (with("clusters: { backend: { health_check: { interval: 0 } } }\n"), "6:50 clusters.backend.health_check.interval: must be more than 0"),
        (with("clusters: { backend: { health_check: { unhealthy_threshold: 0 } } }\n"), "6:61 clusters.backend.health_check.unhealthy_threshold: unhealthy_threshold must be at least 1, not 0"),
        (with("clusters: { backend: { health_check: { path: healthz } } }\n"), "6:46 clusters.backend.health_check.path: path `healthz` does not start with `/`"),
        (with("clusters: { backend: { max_requests_per_connection: 0 } }\n"), "6:53 clusters.backend.max_requests_per_connection: max_requests_per_connection must be at least 1, not 0"),
        (with("clusters: { backend: { circuit_breakers: { max_connections: 5 }, connectionPool: { tcp: { maxConnections: 5 } } } }\n"), "6:91 clusters.backend.connectionPool.tcp.maxConnections: `circuit_breakers.max_connections` and `connectionPool.tcp.maxConnections` are both set"),
        (with("clusters: { backend: { connectionPool: { http: { maxRetries: 0 } } } }\n"), "6:62 clusters.backend.connectionPool.http.maxRetries: maxRetries must be at least 1, not 0"),
        (with("clusters: { backend: { connectionPool: { http: { idleTimeout: 1s } } } }\n"), "6:50 clusters.backend.connectionPool.http.idleTimeout: unknown field `idleTimeout`; expected one of: http1MaxPendingRequests, http2MaxRequests, maxRetries, maxRequestsPerConnection"),
        (with("clusters: { backend: { circuit_breakers: { max_conections: 5 } } }\n"), "6:44 clusters.backend.circuit_breakers.max_conections: unknown field `max_conections`; expected one of: max_connections, max_pending_requests, max_requests, max_retries, track_remaining, retry_budget"),
        // Mock chaos.
        (BASE.replace("endpoints: 2", "endpoints: 2, chaos: { hang: 60%, reset: 50% }"), "3:35 upstreams.backend.chaos: `reset` (50%) and `hang` (60%) add up to more than 100%"),
        (BASE.replace("endpoints: 2", "endpoints: 2, chaos: { hang: 1.5 }"), "3:43 upstreams.backend.chaos.hang: `1.5` is not a percentage"),
        (BASE.replace("endpoints: 2", "endpoints: 2, chaos: { slow_body: { chunk_bytes: 0, interval: 1ms } }"), "3:63 upstreams.backend.chaos.slow_body.chunk_bytes: must be at least 1 byte"),
        (BASE.replace("endpoints: 2", "endpoints: 2, chaos: { slow_body: { interval: 1ms } }"), "3:48 upstreams.backend.chaos.slow_body: missing `chunk_bytes`"),
        (BASE.replace("endpoints: 2", "endpoints: 2, chaos: { hnag: 1% }"), "3:37 upstreams.backend.chaos.hnag: unknown field `hnag`; expected one of: hang, reset, close, slow_body"),
        // Timeline events, folded in time order.
        (with("timeline: [{ at: 1s, route: 0, cluster: backend, set: { timeout: 1s } }]\n"), "6:41 timeline[0].cluster: `route` and `cluster` are both set"),
        (with("timeline: [{ at: 1s, cluster: backend, set: { timeout: 1s } }]\n"), "6:47 timeline[0].set.timeout: `timeout` applies to route events"),
        (with("timeline: [{ at: 1s, route: 0, set: { circuit_breakers: {} } }]\n"), "6:39 timeline[0].set.circuit_breakers: `circuit_breakers` applies to cluster events"),
        (with("timeline: [{ at: 1s, cluster: nope, set: { lb_policy: random } }]\n"), "6:31 timeline[0].cluster: cluster `nope` is not defined"),
        (with("timeline: [{ at: 1s, cluster: backend, set: { lb_policy: randm } }]\n"), "6:58 timeline[0].set.lb_policy: `randm` is not one of `round_robin`, `least_request`, `random`, `ring_hash`"),
        (with("timeline: [{ at: 1s, upstream: backend, scale: 65 }]\n"), "6:48 timeline[0].scale: scale of 65 is over the limit of 64"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [0], scale: 3 }]\n"), "6:52 timeline[0].endpoints: `endpoints` does not apply to `scale`"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [5], down: true }]\n"), "6:53 timeline[0].endpoints[0]: endpoint index 5 is out of range"),
        (with("timeline: [{ at: 1s, upstream: backend, down: true, up: true }]\n"), "6:53 timeline[0].up: `down` and `up` are both set"),
        (with("timeline: [{ at: 1s, upstream: backend, down: true, set: { body: 1 } }]\n"), "6:41 timeline[0].down: `set` and `down` are both set"),
        (with("timeline: [{ at: 1s, upstream: backend }]\n"), "6:12 timeline[0]: missing `set`"),
        (with("timeline: [{ at: 1s, route: 0, down: true, set: { timeout: 1s } }]\n"), "6:38 timeline[0].down: `down` applies to upstream events"),
        (with("timeline: [{ at: 1s, route: 0, set: { name: other } }]\n"), "6:39 timeline[0].set.name: a route's name cannot change"),
        (with("timeline: [{ at: 1s, route: 0, set: { retries: { on: [5xx] } } }, { at: 2s, route: 0, set: { retries: { retriable_status_codes: [503] } } }]\n"), "6:105 timeline[1].set.retries.retriable_status_codes: `retriable_status_codes` needs `retriable-status-codes` in `on`"),
        (with("timeline: [{ at: 1s, route: 0, set: { mirror: { cluster: backend } } }]\n"), "6:47 timeline[0].set.mirror: the route mirrors to `backend`, which it also sends its traffic to"),
        (with("timeline: [{ at: 1s, route: 0, set: { mirror: { cluster: canary } } }, { at: 2s, route: 0, set: { cluster: canary } }]\n"), "6:97 timeline[1].set.mirror: the route mirrors to `canary`, which it also sends its traffic to"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [1], set: { latency: 1ms } }, { at: 2s, upstream: backend, set: { body: 1 } }]\n"), "6:116 timeline[1].set: endpoints 0 and 1 of `backend` differ in `latency` at this point, so it cannot be kept for both"),
        (with("timeline: [{ at: 2s, upstream: backend, endpoints: [1], scale: 1 }]\n"), "6:52 timeline[0].endpoints: `endpoints` does not apply to `scale`"),
        (with("timeline: [{ at: 1s, upstream: backend, scale: 1 }, { at: 2s, upstream: backend, endpoints: [1], down: true }]\n"), "6:94 timeline[1].endpoints[0]: endpoint index 1 is out of range"),
        (with("timeline: [{ at: 1s, name: a, upstream: backend, down: true }, { at: 2s, name: a, upstream: backend, up: true }]\n"), "6:80 timeline[1].name: event name `a` is already used by timeline[0]"),
        (with("timeline: [{ at: 1s, upstream: backend, set: { chaos: { reset: 60% } } }, { at: 2s, upstream: backend, set: { chaos: { hang: 50% } } }]\n"), "6:118 timeline[1].set.chaos: `reset` (60%) and `hang` (50%) add up to more than 100%"),
        (with("timeline: [{ at: 1s, upstream: backend, set: 5 }]\n"), "6:46 timeline[0].set: expected a mapping of the fields to change"),
        (with("timeline: [{ at: 1s, cluster: backend, set: { connectionPool: { tcp: { maxConnections: 0 } } } }]\n"), "6:88 timeline[0].set.connectionPool.tcp.maxConnections: maxConnections must be at least 1, not 0"),
        (with("timeline: [{ at: 1s, upstream: backend, down: yes }]\n"), "6:47 timeline[0].down: expected `true` or `false`, found string \"yes\""),
        // Gates.
        (with("gates: [latency.p99 < 50ms, latency.p99 <]\n"), "6:42 gates[1]: expected a threshold after `<`"),
        (with("gates:\n  - latency.p99 < 50ms\n  - \"latency.p999 <> 5ms\"\n"), "8:20 gates[1]: expected a threshold after `<`"),
        (with("gates:\n  - errors.rate < 1% after nothing-here\n"), "7:28 gates[0]: no timeline event is named `nothing-here`"),
        (with("gates:\n  - |\n    latency.p99 <\n"), "8:5 gates[0]: expected a threshold after `<`"),
        (with("gates: [5]\n"), "6:9 gates[0]: expected a gate expression, found a single value"),
    ];
    for (yaml, expected) in cases {
        check(&yaml, expected);
    }
}

#[test]
fn display_in_full() {
    let text =
        fs::read_to_string(fixtures("bad").join("dangling_route_cluster.yaml")).expect("fixture");
    let err = scenario::parse(&text, Path::new("scenarios/x.yaml")).expect_err("dangling cluster");
    assert_eq!(
        err.to_string(),
        "scenarios/x.yaml:8:14: routes[0].cluster: cluster `bakend` is not defined\n  \
         hint: defined upstreams are: backend, shadow"
    );

    let text =
        fs::read_to_string(fixtures("bad").join("unknown_upstream_field.yaml")).expect("fixture");
    let err = scenario::parse(&text, Path::new("scenarios/x.yaml")).expect_err("typo");
    assert_eq!(
        err.to_string(),
        "scenarios/x.yaml:5:5: upstreams.backend.endpionts: unknown field `endpionts`; expected one of: \
         endpoints, protocol, latency, responses, body, chaos, connect_timeout\n  hint: did you mean `endpoints`?"
    );
}

#[test]
fn several_errors_are_reported_in_file_order() {
    let yaml = "name: bench
upstreams:
  backend: { endpoints: 0, responses: { 200: 90% } }
routes:
  - cluster: nowhere
load: { rate: -1, duration: 10s }
";
    let err = scenario::parse(yaml, Path::new("x.yaml")).expect_err("four errors");
    let all: Vec<String> = err.all().map(summary).collect();
    assert_eq!(
        all,
        [
            "3:25 upstreams.backend.endpoints: endpoints must be at least 1, not 0",
            "3:39 upstreams.backend.responses: percentages add up to 90%, not 100%",
            "5:14 routes[0].cluster: cluster `nowhere` is not defined",
            "6:15 load.rate: rate must be more than 0, not `-1`",
        ]
    );
    // Each further error is displayed as its own block.
    assert_eq!(err.to_string().matches("\n  hint: ").count(), 4);
}

#[test]
fn limits_can_be_raised() {
    let text = fs::read_to_string(fixtures("bad").join("rate_absurd.yaml")).expect("fixture");
    let limits = Limits {
        max_rate: 1e13,
        ..Limits::default()
    };
    let s = scenario::parse_with(&text, Path::new("x.yaml"), &limits).expect("raised limit");
    assert_eq!(s.load.mode, LoadMode::Open { rate: 1e12 });

    let small = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    let err = scenario::parse_with(BASE, Path::new("x.yaml"), &small).expect_err("too large");
    assert_eq!(summary(&err), "- -: the file is larger than 10 bytes");
}

#[test]
fn load_reports_unreadable_files() {
    let dir = std::env::temp_dir().join(format!("gauntlet-scenario-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");

    let missing = dir.join("missing.yaml");
    let err = scenario::load(&missing).expect_err("missing");
    assert_eq!(err.file, missing);
    assert!(err.to_string().starts_with(&format!(
        "{}: cannot read the scenario file",
        missing.display()
    )));

    let binary = dir.join("binary.yaml");
    fs::write(&binary, b"name: bench\nupstreams: \xff\xfe\n").expect("write");
    let err = scenario::load(&binary).expect_err("not UTF-8");
    assert_eq!(
        summary(&err),
        "2:12 -: the file is not UTF-8 text (bad byte at offset 23)"
    );

    let big = dir.join("big.yaml");
    fs::write(&big, vec![b'#'; (1 << 20) + 1]).expect("write");
    let err = scenario::load(&big).expect_err("too big");
    assert_eq!(summary(&err), "- -: the file is larger than 1048576 bytes");

    let err = scenario::load(&dir).expect_err("a directory");
    assert!(
        err.message.starts_with("cannot read the scenario file"),
        "{err}"
    );

    let good = dir.join("good.yaml");
    fs::write(&good, BASE).expect("write");
    let s = scenario::load(&good).expect("valid");
    assert_eq!(s.source, good);

    fs::remove_dir_all(&dir).expect("clean up");
}
