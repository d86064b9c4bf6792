//! A scenario built from fuzzer-chosen fields and written as YAML, so that the validator
//! (not the YAML scanner) gets most of the inputs: every value is picked from a pool of
//! plausible spellings, edge cases and mistakes, or is an arbitrary string.

mod pools;
mod write;

use arbitrary::Arbitrary;

/// A value from a pool of raw YAML snippets, or an arbitrary string written quoted.
#[derive(Debug, Arbitrary)]
pub enum V {
    Pick(u8),
    Text(String),
}

impl V {
    fn show(&self, pool: &[&str]) -> String {
        match self {
            V::Pick(i) => pool[usize::from(*i) % pool.len()].to_string(),
            V::Text(s) => quote(s),
        }
    }
}

/// A YAML double-quoted scalar (JSON's escapes are YAML's).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A whole scenario.
#[derive(Debug, Arbitrary)]
pub struct Spec {
    name: Option<V>,
    phase: Option<V>,
    envoy: Option<Envoy>,
    upstreams: Vec<(V, Option<Upstream>)>,
    routes: Option<Vec<Route>>,
    clusters: Vec<(V, Option<Cluster>)>,
    load: Option<Load>,
    baseline: Option<V>,
    timeline: Vec<Event>,
    gates: Vec<V>,
    /// An extra top-level key, to exercise unknown-field errors.
    extra: Option<(String, V)>,
}

#[derive(Debug, Arbitrary)]
struct Envoy {
    version: Option<V>,
    binary: Option<V>,
    concurrency: Option<V>,
    log_level: Option<V>,
    listen_port: Option<V>,
}

#[derive(Debug, Arbitrary)]
struct Upstream {
    endpoints: Option<V>,
    protocol: Option<bool>,
    behavior: Behavior,
    connect_timeout: Option<V>,
}

#[derive(Debug, Arbitrary)]
struct Behavior {
    latency: Option<V>,
    responses: Option<Vec<(V, V)>>,
    body: Option<V>,
    chaos: Option<Option<Chaos>>,
}

#[derive(Debug, Arbitrary)]
struct Chaos {
    hang: Option<V>,
    reset: Option<V>,
    close: Option<V>,
    slow_body: Option<Option<(Option<V>, Option<V>)>>,
}

#[derive(Debug, Arbitrary)]
struct Route {
    name: Option<V>,
    matcher: Option<Matcher>,
    target: Option<Target>,
    timeout: Option<Option<V>>,
    idle_timeout: Option<Option<V>>,
    retries: Option<Option<Retries>>,
    mirror: Option<Option<Vec<Mirror>>>,
    mirror_percentage: Option<V>,
    fault: Option<Option<Fault>>,
    rate_limit: Option<Option<RateLimit>>,
}

/// `match:`: `path` (exact) or `prefix`, and header conditions.
#[derive(Debug, Arbitrary)]
struct Matcher {
    exact: bool,
    path: V,
    headers: Vec<(V, V)>,
}

#[derive(Debug, Arbitrary)]
struct Mirror {
    cluster: Option<V>,
    percent: Option<V>,
}

#[derive(Debug, Arbitrary)]
enum Target {
    Cluster(V),
    Weighted(Vec<(V, V)>),
    Both(V, Vec<(V, V)>),
}

#[derive(Debug, Arbitrary)]
struct Retries {
    on: Option<V>,
    retry_on_istio: Option<V>,
    attempts: Option<V>,
    per_try_timeout: Option<V>,
    per_try_timeout_istio: Option<V>,
    backoff: Option<(Option<V>, Option<V>)>,
    codes: Option<Vec<V>>,
    avoid_previous_hosts: Option<V>,
    host_selection_attempts: Option<V>,
}

#[derive(Debug, Arbitrary)]
struct Fault {
    delay: Option<Delay>,
    abort: Option<Abort>,
    headers: Option<Vec<(V, V)>>,
}

/// `fault.delay`, natively or in Istio's spelling.
#[derive(Debug, Arbitrary)]
struct Delay {
    fixed: Option<V>,
    percent: Option<V>,
    istio: bool,
}

/// `fault.abort`, natively or in Istio's spelling.
#[derive(Debug, Arbitrary)]
struct Abort {
    status: Option<V>,
    grpc: Option<V>,
    percent: Option<V>,
    istio: bool,
}

#[derive(Debug, Arbitrary)]
struct RateLimit {
    rps: Option<V>,
    max_tokens: Option<V>,
    tokens_per_fill: Option<V>,
    fill_interval: Option<V>,
    status: Option<V>,
}

#[derive(Debug, Arbitrary)]
struct Cluster {
    circuit_breakers: Option<Option<Vec<(u8, V)>>>,
    outlier: Option<Option<Vec<(u8, V)>>>,
    lb: Option<(bool, V)>,
    health_check: Option<Option<Vec<(u8, V)>>>,
    max_requests_per_connection: Option<V>,
    connection_pool: Option<Vec<(u8, V)>>,
}

#[derive(Debug, Arbitrary)]
struct Load {
    protocol: Option<bool>,
    rate: Option<V>,
    concurrency: Option<V>,
    connections: Option<V>,
    duration: Option<V>,
    warmup: Option<V>,
    timeout: Option<V>,
    workers: Option<V>,
    request: Option<Request>,
}

#[derive(Debug, Arbitrary)]
struct Request {
    method: Option<V>,
    path: Option<V>,
    headers: Vec<(V, V)>,
    body: Option<V>,
}

#[derive(Debug, Arbitrary)]
struct Event {
    at: Option<V>,
    name: Option<V>,
    what: EventKind,
}

#[derive(Debug, Arbitrary)]
enum EventKind {
    Route(V, Box<Route>),
    Cluster(V, Box<Cluster>),
    UpstreamSet(V, Option<Vec<V>>, Behavior),
    UpstreamUp(V, Option<Vec<V>>, bool, bool),
    UpstreamScale(V, V),
    Empty,
}
