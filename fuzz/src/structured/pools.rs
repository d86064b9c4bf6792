//! The values a generated scenario picks from: valid spellings, edge cases at each limit,
//! and common mistakes, all written as raw YAML that is safe inside a flow collection.

pub(super) const NAMES: &[&str] = &[
    "bench",
    "checkout-bench",
    "a.b_c-d",
    "..",
    "x/y",
    "",
    "日本",
    "1",
];
pub(super) const UPSTREAMS: &[&str] = &[
    "backend", "canary", "shadow", "b", "c-1", "BACKEND", "x.y", "123",
];
pub(super) const DURATIONS: &[&str] = &[
    "0",
    "1ms",
    "50ms",
    "250ms",
    "1s",
    "2s",
    "5s",
    "10s",
    "30s",
    "60s",
    "1m30s",
    "1h",
    "24h",
    "25h",
    "-1s",
    "1.5s",
    "0.5s",
    "10",
    "1e9s",
    "100us",
    "1µs",
    "2sec",
    "null",
    "\"\"",
    "[1s]",
    "{fixed: 1s}",
    "48h",
    "999999999s",
    "0.0001ns",
    "5m",
];
pub(super) const PERCENTS: &[&str] = &[
    "0%", "1%", "10%", "33.3%", "33.34%", "50%", "99.99%", "100%", "100.001%", "150%", "-5%",
    "12.5", "0", "1e-7%", "NaN%", ".inf%", "50 %", "%", "1e2%", "0.004%",
];
pub(super) const COUNTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "16",
    "63",
    "64",
    "65",
    "100",
    "1000",
    "10001",
    "-1",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "1.5",
    "\"3\"",
    "null",
    "true",
];
pub(super) const STATUSES: &[&str] = &[
    "200", "201", "404", "429", "500", "503", "199", "600", "0", "5xx", "abc",
];
pub(super) const RATES: &[&str] = &[
    "2000/s", "1/s", "0.001/s", "2k/s", "1.5M/s", "1000000", "1000001", "0", "-5", "2000", "1e3/s",
    "1e400/s", "inf", ".nan", "NaN/s", "1 k/s", "k/s", "+1/s", "1e-320/s", "2K",
];
pub(super) const SIZES: &[&str] = &[
    "0", "512", "1KiB", "4KB", "1MiB", "64MiB", "65MiB", "1GB", "-1", "1.5k", "1TiB", "abc",
];
pub(super) const PATHS: &[&str] = &[
    "/", "/api", "/api/v1", "", "api", "/a b", "/é", "/x?y=1", "//", "/api/",
];
pub(super) const METHODS: &[&str] = &["GET", "POST", "get", "PUT", "BREW", "", "G E T", "PATCH"];
pub(super) const HEADER_NAMES: &[&str] = &[
    "x-user",
    "end-user",
    "X-Canary",
    "content-length",
    "bad name",
    "",
    "x:y",
];
pub(super) const HEADER_VALUES: &[&str] = &[
    "jason",
    "present",
    "absent",
    "{prefix: v2}",
    "{exact: present}",
    "{exact: a}",
    "\"a\\r\\nb\"",
    "{regex: x}",
    "1",
    "null",
    "\"\"",
];
pub(super) const LATENCIES: &[&str] = &[
    "0",
    "5ms",
    "{fixed: 5ms}",
    "{uniform: [1ms, 5ms]}",
    "{uniform: [5ms, 1ms]}",
    "{p50: 5ms, p99: 40ms}",
    "{p50: 40ms, p99: 5ms}",
    "\"1ms..5ms\"",
    "\"p50=5ms,p99=40ms\"",
    "{p100: 1s}",
    "{p0: 1ms}",
    "{p101: 1ms}",
    "25h",
    "{}",
    "[1ms]",
    "{uniform: [1ms]}",
];
pub(super) const RETRY_ON: &[&str] = &[
    "[5xx]",
    "[5xx, reset]",
    "\"5xx,reset\"",
    "[retriable-status-codes]",
    "[bogus]",
    "[]",
    "[gateway-error, connect-failure]",
    "[unavailable, cancelled]",
    "\"\"",
];
pub(super) const ISTIO_RETRY_ON: &[&str] = &[
    "\"5xx,reset,503\"",
    "\"503\"",
    "\"connect-failure\"",
    "\"\"",
    "\"999\"",
];
pub(super) const GRPC: &[&str] = &[
    "1",
    "14",
    "0",
    "17",
    "UNAVAILABLE",
    "unavailable",
    "OK",
    "-1",
];
pub(super) const LB: &[&str] = &[
    "round_robin",
    "least_request",
    "random",
    "ring_hash",
    "maglev",
    "ROUND_ROBIN",
];
pub(super) const ISTIO_LB: &[&str] = &[
    "{simple: ROUND_ROBIN}",
    "{simple: LEAST_CONN}",
    "{simple: RANDOM}",
    "{consistentHash: {}}",
    "{simple: PASSTHROUGH}",
    "{consistentHash: {httpHeaderName: x}}",
    "{}",
];
pub(super) const LOG_LEVELS: &[&str] = &["warn", "info", "trace", "off", "loud", "WARN"];
pub(super) const VERSIONS: &[&str] = &[
    "\"1.40.0\"",
    "1.40",
    "\"v1.31.2\"",
    "\"1.40\"",
    "\"latest\"",
    "\"11111.0.0\"",
];
pub(super) const PHASES: &[&str] = &["benchmark", "single-service", "integration", "bench"];
pub(super) const BOOLS: &[&str] = &["true", "false", "yes", "1", "null"];
pub(super) const GATES: &[&str] = &[
    "latency.p99 < 50ms",
    "errors.rate < 1%",
    "errors.rate < 1% after event-0 + 2s",
    "errors.rate < 1% before event-1",
    "errors.rate < 1% after nope",
    "status.503.rate <= 0.1% during [1s, 2s]",
    "rps >= 950 step baseline",
    "mocks.backend.requests >= 99% of mocks.shadow.requests",
    "latency.p99 <= 120% of baseline.latency.p99",
    "latency.p99 < 50",
    "envoy.cluster.backend.upstream_rq_retry > 0",
    "xds.ack_ms.max < 100ms",
    "{a: b}",
    "latency.p99: 50ms",
];

pub(super) const BREAKER_FIELDS: &[(&str, &[&str])] = &[
    ("max_connections", COUNTS),
    ("max_pending_requests", COUNTS),
    ("max_requests", COUNTS),
    ("max_retries", COUNTS),
    ("track_remaining", BOOLS),
    (
        "retry_budget",
        &[
            "{ percent: 20%, min_retry_concurrency: 3 }",
            "{ percent: 150% }",
            "{}",
            "null",
        ],
    ),
];
pub(super) const OUTLIER_FIELDS: &[(&str, &[&str])] = &[
    ("consecutive_5xx", COUNTS),
    ("consecutive_gateway_failure", COUNTS),
    ("interval", DURATIONS),
    ("base_ejection_time", DURATIONS),
    (
        "max_ejection_percent",
        &["50", "0", "100", "101", "50%", "-1", "x"],
    ),
    ("consecutive5xxErrors", COUNTS),
    ("consecutiveGatewayErrors", COUNTS),
    ("baseEjectionTime", DURATIONS),
    ("maxEjectionPercent", COUNTS),
];
pub(super) const HEALTH_FIELDS: &[(&str, &[&str])] = &[
    ("path", PATHS),
    ("interval", DURATIONS),
    ("timeout", DURATIONS),
    ("unhealthy_threshold", COUNTS),
    ("healthy_threshold", COUNTS),
];
pub(super) const POOL_FIELDS: &[(&str, &[&str])] = &[
    (
        "tcp",
        &[
            "{ maxConnections: 10 }",
            "{ maxConnections: 0 }",
            "{}",
            "{ bogus: 1 }",
        ],
    ),
    (
        "http",
        &[
            "{ http1MaxPendingRequests: 5 }",
            "{ http2MaxRequests: 100, maxRetries: 3 }",
            "{ maxRequestsPerConnection: 1 }",
            "{ maxRetries: 0 }",
            "{}",
        ],
    ),
];

pub(super) const EVENT_AT: &[&str] = &[
    "0", "1s", "2s", "5s", "10s", "30s", "59s", "61s", "-1s", "1h", "abc",
];
pub(super) const EVENT_NAMES: &[&str] = &["event-0", "event-1", "shift", "shift", "", "a\\tb"];
