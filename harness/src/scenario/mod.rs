//! Scenario files: parse, validate, and resolve into the model everything else takes.
//!
//! Text goes through three passes:
//! 1. `locate`: yaml-rust2's event parser records where every key and value is, and rejects
//!    syntax errors, duplicate keys, deep nesting and alias bombs;
//! 2. `decode`: serde reads the raw structs (`raw`, `raw_policy`), rejecting unknown fields
//!    and wrong types;
//! 3. `validate` (with `upstream`, `behavior`, `route`, `route_policy`, `retry`,
//!    `fault`, `cluster_policy`, `hosts`, `timeline`, `events`, `gates`): raw → [`model`], checking units,
//!    limits, names and references, and collecting every error it finds.
//!
//! Policies are folded (`fold`): a route or cluster definition is folded onto nothing, a
//! timeline event's `set:` onto the policy as earlier events left it, by the same code.
//!
//! Architecture invariant: a [`Scenario`] only exists validated; nothing downstream checks
//! it again, and nothing here knows about Envoy config or xDS.
//!
//! # Format
//!
//! The benchmark phase, with defaults; unknown fields are errors everywhere:
//!
//! ```yaml
//! name: checkout-bench          # required; 1..64 of [A-Za-z0-9._-], no `..`
//! phase: benchmark              # or single-service, integration (see below)
//! envoy:                        # optional
//!   version: "1.40.0"           # or `binary: /path/to/envoy`; neither: default resolution
//!   concurrency: 1              # 1..=64
//!   log_level: warn             # trace|debug|info|warning|warn|error|critical|off
//!   listen_port: 10000          # optional; default: a free port
//!   image: gauntlet/envoy:1.40.0  # optional: Envoy in a container (see Containers below)
//! mocks: { image: gauntlet/mock:0.1.0 }   # optional: every mock endpoint in a container
//!                               # (see Mocks in containers below); default: in process
//! upstreams:                    # required; names 1..64 of [A-Za-z0-9_-], file order kept
//!   backend:                    # `backend:` alone (null) takes every default
//!     endpoints: 1              # 1..=64
//!     protocol: http1           # http1 | http2 | grpc (see gRPC below)
//!     latency: 0                # 5ms | {fixed: 5ms} | {uniform: [1ms, 5ms]}
//!                               # | {p50: 5ms, p99: 40ms} | "1ms..5ms" | "p50=5ms,p99=40ms"
//!     responses: { 200: 100% }  # 200..=599; must add up to 100% (±0.01%); gRPC
//!                               # upstreams: { ok: 70%, unavailable: 30% }
//!     body: 0                   # bytes: 512, 1KiB, 4KB; at most 64MiB
//!     chaos:                    # optional; shares of requests; hang + reset <= 100%
//!       hang: 0%                # read, never answered
//!       reset: 0%               # read, then the connection is reset
//!       close: 0%               # of answered requests: the response closes the connection
//!       slow_body: { chunk_bytes: 100, interval: 50ms }   # both required; default none
//!     connect_timeout: 1s
//! routes:                       # default: one route `prefix: /` to the first upstream
//!   - name: route-0             # default route-<index>; unique
//!     match:                    # default { prefix: / }
//!       prefix: /               # or path: /exact
//!       headers: { end-user: jason, x-canary: { prefix: v2 }, x-debug: present, x-skip: absent }
//!                               # a string is an exact value; `{ exact: present }` the word
//!     cluster: backend          # or weighted: { backend: 90, canary: 10 }
//!     timeout: 2s               # optional: Envoy's 15s; whole request, retries included
//!     idle_timeout: 30s         # optional
//!     retries:                  # optional
//!       on: [5xx, reset]        # required unless attempts is 0; or "5xx,reset". Envoy's
//!                               # x-envoy-retry-on and x-envoy-retry-grpc-on values
//!       attempts: 1             # Envoy num_retries: retries after the first try; 0..=100
//!       per_try_timeout: 250ms  # optional
//!       per_try_idle_timeout: 1s   # optional
//!       backoff: { base: 25ms, max: 250ms }   # optional; max defaults to 10 × base, >= base
//!       retriable_status_codes: [503]   # needs `retriable-status-codes` in `on`, and back
//!       avoid_previous_hosts: false
//!       host_selection_attempts: 3      # only with avoid_previous_hosts (default 3 then)
//!     mirror: { cluster: shadow, percent: 100% }   # or a list; not the route's own cluster
//!     fault:                    # a delay, an abort or both
//!       delay: { fixed: 50ms, percent: 100% }
//!       abort: { status: 503, percent: 100% }      # or grpc_status: 1..=16
//!       headers: { end-user: jason }                # only matching requests are faulted
//!     rate_limit: { requests_per_second: 100 }      # or { max_tokens, tokens_per_fill
//!                               # (= max_tokens), fill_interval (1s, >= 50ms) }; status: 429
//! clusters:                     # optional; keyed by upstream name
//!   backend:
//!     circuit_breakers: { max_connections: 100, max_pending_requests: 50, max_requests: 200,
//!                         max_retries: 3, track_remaining: false,
//!                         retry_budget: { percent: 20%, min_retry_concurrency: 3 } }
//!                               # each optional (Envoy's defaults); connections and requests
//!                               # >= 1; not max_retries and retry_budget together
//!     outlier_detection: { consecutive_5xx: 5, consecutive_gateway_failure: 5, interval: 1s,
//!                          base_ejection_time: 30s, max_ejection_percent: 50 }   # each optional
//!     lb_policy: round_robin    # least_request | random | ring_hash
//!     health_check: { path: /healthz, interval: 1s, timeout: 500ms, unhealthy_threshold: 2,
//!                     healthy_threshold: 1 }      # defaults as shown
//!     max_requests_per_connection: 1000           # optional
//! load:                         # required
//!   protocol: http1             # http1 | http2 | grpc (see gRPC below)
//!   rate: 2000/s                # or 2000, 2k/s, 1.5M/s; or `concurrency: 32`; exactly one
//!   connections: 16             # closed loop: = concurrency (http1), min(concurrency, 16) (http2)
//!   duration: 60s               # required; > 0, at most 24h
//!   warmup: 1s
//!   timeout: 10s
//!   workers: 1                  # 1..=64
//!   request: { method: GET, path: /, headers: {}, body: 0 }
//!   streams: 100                # http2 | grpc: most streams in flight per connection
//!   grpc: { method: gauntlet.mock.v1.Mock/Call, deadline: 50ms }   # grpc only; see gRPC
//! baseline: true
//! timeline:                     # sorted by `at` (stable); `at` < warmup + duration
//!   - at: 10s
//!     name: event-0             # default event-<index in the file>; unique
//!     route: main               # index or name; `set:` any route field but `name`
//!     set: { retries: { attempts: 0 }, mirror: null }
//!   - at: 20s
//!     cluster: backend          # `set:` any field of `clusters.<name>`
//!     set: { circuit_breakers: { max_connections: 10 } }
//!   - at: 30s
//!     upstream: backend         # `endpoints: [0]` optional (default: all)
//!     set: { responses: { 503: 100% }, chaos: { hang: 10% } }   # behaviour fields
//!   - { at: 40s, upstream: backend, endpoints: [1, 2], down: true }   # or `up: true`
//!   - { at: 50s, upstream: backend, scale: 5 }   # endpoints Envoy is given, 1..=64
//! gates:                        # optional; see `crate::gates` for the grammar
//!   - latency.p99 < 50ms
//!   - errors.rate < 1% after event-0 + 2s       # event names must exist
//! ```
//!
//! # Single-service phase
//!
//! `phase: single-service` tests one service with its sidecars, its dependencies mocked:
//!
//! ```text
//! load ─► ingress Envoy ─► service ─► egress Envoy ─► upstreams (mocks)
//! ```
//!
//! ```yaml
//! phase: single-service
//! service:                      # required in this phase, refused in the others
//!   name: checkout              # default `service`; its log is service-<name>.log
//!   command: [gauntlet-mock, --listen, "127.0.0.1:${PORT}",
//!             --call, "inventory=${INVENTORY_URL}/items"]   # argv, never a shell
//!   env: { LOG_LEVEL: warn }    # added to Gauntlet's environment
//!   cwd: ./service              # relative to the scenario file; default its directory
//!   port: 8080                  # optional; default a free port
//!   health: /healthz            # polled until it answers 2xx
//!   startup_timeout: 10s        # at most 5m
//! ```
//!
//! Gauntlet sets `PORT` (the service's port) and, for each upstream, `<NAME>_URL` =
//! `http://127.0.0.1:<port>` of the egress listener to it (the name upper-cased, every
//! character other than a letter or digit made `_`: `user-db` → `USER_DB_URL`). `${PORT}`
//! and `${<NAME>_URL}` in `command` and `env` values are replaced by those values; any other
//! `${…}` is an error (nothing is run through a shell). A program without a `/` is looked for
//! next to the `gauntlet` executable first (where `gauntlet-mock` is installed), then on
//! `PATH`; a relative path with a `/` is taken from `cwd`.
//!
//! Instead of `command`, the service may be a container of an image (exactly one of the two):
//!
//! ```yaml
//! service:
//!   name: checkout
//!   image: gauntlet/mock:0.1.0  # any local or pullable image; build Gauntlet's mock image
//!                               # with `gauntlet envoy mock-image`
//!   args: [--listen, "127.0.0.1:${PORT}", --call, "inventory=${INVENTORY_URL}/items"]
//!                               # the container's command (its entrypoint's arguments),
//!                               # expanded like `command`; default the image's own
//!   env: { LOG_LEVEL: warn }    # set in the container, beside PORT and <NAME>_URL
//!   cpus: 0.5                   # CPU limit in cores or `500m`; only with `image`
//!   memory: 128Mi               # memory limit with a unit; only with `image`
//! ```
//!
//! The container shares the host's network, so `127.0.0.1:${PORT}` and the `<NAME>_URL`
//! addresses mean the same inside as out; `port`, `health` and `startup_timeout` work as for
//! a command (the health check polls from the host), `cwd` does not apply. Its output goes to
//! `service-<name>.log`, and the container is removed when the run ends, however it ends.
//! The same fields make a program entry of `services:` in the integration phase a container.
//!
//! `routes:` are the **egress** routes: each applies on the egress listener of the upstream
//! it names, with its retries, timeouts, faults and rate limit, and `clusters:` policies
//! apply to the upstreams as in the benchmark phase; an upstream no route names gets a
//! catch-all route. The load's path goes to the service, so no route has to match it. The
//! timeline changes the egress sidecar and the mocks. The baseline step sends the load to
//! the service directly (its calls still go through the egress sidecar), so the difference
//! between the steps is what the ingress hop adds. Gates on `envoy.*` read the egress
//! sidecar's counters for the step. A service that exits during a step fails the run.
//!
//! # Integration phase
//!
//! `phase: integration` wires services together, each behind its own sidecar Envoy (one per
//! service, with an inbound listener and an outbound listener per callee: the Istio shape,
//! and half the Envoys of an ingress/egress pair per service on a small machine):
//!
//! ```yaml
//! phase: integration
//! services:                     # required in this phase; the first is the entry
//!   bff:
//!     mock:                     # a built-in fan-out service
//!       calls:                  # each names another service or an upstream
//!         - { service: inventory, path: /items }
//!         - { service: reviews, path: /reviews }
//!       mode: parallel          # or sequential (stops at the first failed call)
//!       latency: 1ms            # its own work, as an upstream's `latency`
//!       failure_status: 502     # answered when a call failed; default 502
//!   inventory:
//!     command: [./inventory, --port, "${PORT}", --db, "${DB_URL}"]   # a program: the
//!     health: /healthz          # fields of `service:` (env, cwd, port, startup_timeout)
//! upstreams:                    # the leaves, plain mocks
//!   db: {}
//!   reviews: {}
//! ```
//!
//! The load goes to the first service's sidecar (the baseline to the service directly).
//! A call from `S` to `C` leaves through `S`'s sidecar listener `out_<C>`; to a service it
//! arrives through `C`'s sidecar inbound listener, to an upstream it goes to the mock. A
//! `command:` service gets `PORT` and a `<NAME>_URL` for every other service and upstream.
//! `routes:` naming an upstream apply on every outbound listener to it, `clusters:` to its
//! cluster. Services may not call each other in a cycle, and a service may not share a
//! name with an upstream. Timeline events of every kind apply: a `route:` or `cluster:`
//! event is pushed to the sidecars whose outbound listeners lead to that upstream (each
//! push waits for their ACK), an `upstream:` event changes the mock. The result's `graph`
//! has an edge per hop with the caller's sidecar's counters, the callee's own count, and
//! p50/p99 from Envoy's histograms, all over the measured part of the step (warmup and
//! baseline excluded; the percentiles are exact to within one of Envoy's histogram bins).
//!
//! # Comparing phases
//!
//! `compare_with: runs/checkout-single/result.json` (a stored run's `result.json` or its
//! directory, relative to the scenario file) in a single-service or integration scenario
//! puts that run's per-hop figures beside this run's in the result (`graph.compared`) and
//! the reports: each hop is paired with the stored hop between the same services, else with
//! the only stored hop into the same service (the single-service `load → checkout` against
//! the integration `bff → checkout`), with the p99 and error-rate differences. The stored
//! run is read before anything starts; one without hops (a benchmark) is an error.
//!
//! # Several phases: `phases:`
//!
//! One file can hold the phases of a rollout, run in file order by `gauntlet run`:
//!
//! ```yaml
//! name: checkout-rollout        # required; the plan's run directory
//! phases:                       # 2 to 8 entries; nothing else at the top level
//!   - phase: single-service     # required in each entry
//!     name: checkout-single     # optional; default `<name>-<phase>`; unique
//!     service: { command: [./checkout, --port, "${PORT}"] }
//!     upstreams: { inventory: {} }
//!     load: { rate: 200/s, duration: 5s }
//!   - phase: integration
//!     services: { checkout: { command: [./checkout, --port, "${PORT}"] } }
//!     upstreams: { inventory: {} }
//!     load: { rate: 200/s, duration: 5s }
//! ```
//!
//! Each entry is a whole scenario: every field of a one-phase file, validated the same way,
//! and errors name the field from the top of the file (`phases[1].service.command`). Any
//! other top-level field is an error that says to move it into the phases, and
//! `compare_with:` is refused in a phase: the comparison is automatic. Each phase runs in
//! its own directory, `<run dir>/01-<phase name>/`, `02-…`, as a run of its own (its
//! `result.json` and reports); a phase with hops gets the latest earlier phase with hops put
//! beside it, as `compare_with:` would. The top directory gets `plan.json` (schema
//! `gauntlet.plan/v1`: each phase's name, kind, verdict, gates and directory, and every
//! later phase's hops beside every earlier phase's), `plan.md` and `plan.html`. A phase
//! that fails or is interrupted stops the run: the phases after it are recorded as
//! `skipped`. The exit code is the worst phase's; `--junit` gets one test suite per phase.
//! `gauntlet validate` checks every phase; `gauntlet report <run dir>` renders the plan.
//!
//! # Timeline semantics
//!
//! An event has exactly one of `route`, `cluster` and `upstream`; an upstream event exactly
//! one of `set`, `down`/`up` and `scale`. Events are applied in time order, and each `set:`
//! is folded onto the state as the events before it (in time, not in the file) left it:
//! a field not given keeps its value, nested policies are folded field by field
//! (`retries: { attempts: 0 }` changes only the attempts), and `null` or `none` removes a
//! field (`retries: null`, `fault: none`, `circuit_breakers: { max_retries: null }`).
//! Lists are replaced whole (`on`, `retriable_status_codes`, `match.headers`; Istio's
//! `retryOn` replaces the codes too). `mirror:` replaces the mirrors: a single mapping keeps
//! the `percent` of the mirror to the same cluster when it gives none, and without `cluster`
//! changes the only mirror. Setting `cluster` or `weighted` replaces the target. In a
//! definition, `null` is the same as leaving the field out.
//!
//! Each endpoint keeps its own behaviour. An upstream event over several endpoints keeps a
//! field it does not give only if those endpoints agree on it at that point (otherwise it is
//! an error: give the field, or list `endpoints:`). Endpoint indices are checked against the
//! endpoint count at that point (after `scale`); endpoints added by `scale` behave as the
//! upstream last did as a whole.
//!
//! # Istio spellings
//!
//! Accepted beside the native fields and mapped one to one; writing both spellings of one
//! field is an error. Istio durations (`2s`, `0.5s`, `5m`) read as ours.
//!
//! | Istio (VirtualService `http[]`, DestinationRule `trafficPolicy`) | native |
//! |---|---|
//! | `timeout` | `timeout` |
//! | `retries.attempts` | `retries.attempts` (= Envoy `num_retries`) |
//! | `retries.perTryTimeout` | `retries.per_try_timeout` |
//! | `retries.retryOn: "5xx,reset,503"` | `retries.on: [5xx, reset]`; a status code adds `retriable-status-codes` and the code to `retriable_status_codes` |
//! | `fault.delay.fixedDelay` | `fault.delay.fixed` |
//! | `fault.delay.percentage.value: 12.5` | `fault.delay.percent: 12.5%` |
//! | `fault.abort.httpStatus` | `fault.abort.status` |
//! | `fault.abort.grpcStatus: UNAVAILABLE` (or a number) | `fault.abort.grpc_status: 14` |
//! | `fault.abort.percentage.value` | `fault.abort.percent` |
//! | `mirror.host` | `mirror.cluster` (an upstream name) |
//! | `mirrorPercentage.value` (route level) | `mirror.percent` (one mirror only) |
//! | `outlierDetection` | `outlier_detection` |
//! | `outlierDetection.consecutive5xxErrors` | `outlier_detection.consecutive_5xx` |
//! | `outlierDetection.consecutiveGatewayErrors` | `outlier_detection.consecutive_gateway_failure` |
//! | `outlierDetection.interval` | `outlier_detection.interval` |
//! | `outlierDetection.baseEjectionTime` | `outlier_detection.base_ejection_time` |
//! | `outlierDetection.maxEjectionPercent` | `outlier_detection.max_ejection_percent` |
//! | `connectionPool.tcp.maxConnections` | `circuit_breakers.max_connections` |
//! | `connectionPool.http.http1MaxPendingRequests` | `circuit_breakers.max_pending_requests` |
//! | `connectionPool.http.http2MaxRequests` | `circuit_breakers.max_requests` |
//! | `connectionPool.http.maxRetries` | `circuit_breakers.max_retries` |
//! | `connectionPool.http.maxRequestsPerConnection` | `max_requests_per_connection` |
//! | `loadBalancer.simple: ROUND_ROBIN \| LEAST_REQUEST \| LEAST_CONN \| RANDOM` | `lb_policy: round_robin \| least_request \| least_request \| random` |
//! | `loadBalancer.consistentHash: {}` | `lb_policy: ring_hash` |
//!
//! Istio reads `0` as "unset" in the counts above (`consecutive5xxErrors`, `maxRetries`, …):
//! `0` in an Istio spelling is refused, so that a number means the same in both. Istio's
//! defaults are not ours: `retries` without `retryOn` is an error (Istio would retry on
//! `connect-failure,refused-stream,unavailable,cancelled,503`), and `attempts` defaults to
//! Envoy's 1, not Istio's 2. Hash keys under `consistentHash` are not supported.
//!
//! # Limits
//!
//! A scenario file is untrusted input: values past these ceilings are refused as errors
//! (each one is a typo more often than an intent). `gauntlet run` and `gauntlet validate`
//! take `--limit NAME=VALUE` (repeatable) to raise or lower one, e.g.
//! `--limit max_rate=2M/s --limit max_duration=48h`; an unknown name or a bad value is an
//! error (exit 2) that lists the names.
//!
//! | limit | default | what |
//! |---|---|---|
//! | `max_file_bytes` | 1MiB | size of the scenario file |
//! | `max_rate` | 1M/s | open-loop `load.rate` |
//! | `max_connections` | 10000 | `load.connections` |
//! | `max_concurrency` | 10000 | closed-loop `load.concurrency` |
//! | `max_body_bytes` | 64MiB | request and response bodies |
//! | `max_duration` | 24h | `load.duration`, and every other duration (timeouts, delays) |
//! | `max_endpoints` | 64 | endpoints per upstream, `scale:` included |
//! | `max_upstreams` | 256 | upstreams |
//! | `max_routes` | 1000 | routes |
//! | `max_timeline_events` | 10000 | timeline events |
//! | `max_workers` | 64 | `load.workers` |
//! | `max_envoy_concurrency` | 64 | `envoy.concurrency` |
//! | `max_sweep_points` | 100 | points of a `sweep:` |
//!
//! Values are written as in the scenario: rates `500000`, `500k/s`, `1.5M/s`; durations
//! `90m`, `48h`; sizes `128MiB`; counts as whole numbers.

// `ScenarioError` carries its whole context (file, position, field, hint, further errors)
// in plain fields for callers to read; it is built once per failed load, so its size
// does not matter and boxing it would only make it clumsier to use.
#![allow(clippy::result_large_err)]

mod behavior;
mod check;
mod cluster_policy;
mod container;
mod decode;
mod error;
mod events;
mod fault;
mod fold;
mod gates;
mod grpc;
mod grpc_message;
mod headers;
mod hosts;
mod integration;
mod limit_flags;
mod limits;
mod load_spec;
mod locate;
mod mocks;
pub mod model;
mod patch;
mod path;
mod plan;
mod raw;
mod raw_policy;
mod retry;
mod route;
mod route_policy;
mod service;
pub mod sizing;
mod timeline;
mod upstream;
mod validate;

use std::io::Read;
use std::path::Path;

pub use error::ScenarioError;
pub use grpc::{timeout_header as grpc_timeout_header, GrpcCall, MOCK_METHOD as GRPC_MOCK_METHOD};
pub use integration::{CallSpec, MockService, ServiceKind, ServiceNode};
pub use limit_flags::LimitError;
pub use limits::Limits;
pub use model::*;
pub use plan::{Plan, ScenarioFile, MAX_PHASES};
pub use service::{service_vars, ServiceImage, ServiceRun, ServiceSpec, PORT_VAR};
pub use sizing::{CapacitySpec, FindMaxSpec, SizingSpec, Slo, Sweep};

use check::Ctx;
use locate::Locator;

/// Reads and validates the scenario file at `path` with the default [`Limits`].
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, &Limits::default())
}

/// Reads and validates the scenario file at `path` with the given limits.
pub fn load_with(path: &Path, limits: &Limits) -> Result<Scenario, ScenarioError> {
    let text = read(path, limits)?;
    parse_with(&text, path, limits)
}

/// The file's text: at most `limits.max_file_bytes`, UTF-8.
fn read(path: &Path, limits: &Limits) -> Result<String, ScenarioError> {
    let cannot = |e: std::io::Error| {
        ScenarioError::file(path, format!("cannot read the scenario file: {e}"))
            .hint("check that the path is right and the file is readable")
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let cap = limits.max_file_bytes;
    let mut bytes = Vec::new();
    // Read one byte past the cap to tell "at the cap" from "over it" without reading a
    // huge (or endless, like /dev/zero) file to the end.
    file.take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() > cap {
        return Err(too_large(path, cap));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |p| p + 1);
        let line = valid.matches('\n').count() + 1;
        let column = valid[line_start..].chars().count() + 1;
        let message = format!("the file is not UTF-8 text (bad byte at offset {at})");
        ScenarioError::at(path, error::Pos::new(line, column), None, message)
            .hint("save the scenario as UTF-8 YAML")
    })
}

/// Validates scenario `text`; `source` names it in errors and in [`Scenario::source`].
pub fn parse(text: &str, source: &Path) -> Result<Scenario, ScenarioError> {
    parse_with(text, source, &Limits::default())
}

/// Validates scenario `text` with the given limits.
pub fn parse_with(text: &str, source: &Path, limits: &Limits) -> Result<Scenario, ScenarioError> {
    parse_unclamped(text, source, limits).map_err(|e| e.clamped_to(text))
}

fn parse_unclamped(text: &str, source: &Path, limits: &Limits) -> Result<Scenario, ScenarioError> {
    let loc = scan(text, source, limits)?;
    if plan::has_phases(&loc) {
        return Err(plan::not_one(source, &loc));
    }
    one(text, source, limits, &loc)
}

/// Reads and validates the scenario file at `path`, one phase or several (`phases:`).
pub fn load_file_with(path: &Path, limits: &Limits) -> Result<ScenarioFile, ScenarioError> {
    let text = read(path, limits)?;
    parse_file_with(&text, path, limits)
}

/// Validates scenario `text` of one phase or several; `source` names it in errors.
pub fn parse_file_with(
    text: &str,
    source: &Path,
    limits: &Limits,
) -> Result<ScenarioFile, ScenarioError> {
    let parsed = scan(text, source, limits).and_then(|loc| {
        if plan::has_phases(&loc) {
            plan::parse(text, source, limits, &loc).map(ScenarioFile::Phases)
        } else {
            one(text, source, limits, &loc).map(|s| ScenarioFile::One(Box::new(s)))
        }
    });
    parsed.map_err(|e| e.clamped_to(text))
}

/// The first pass over the text: size, YAML syntax and positions, a mapping at the top.
fn scan(text: &str, source: &Path, limits: &Limits) -> Result<Locator, ScenarioError> {
    if text.len() > limits.max_file_bytes {
        return Err(too_large(source, limits.max_file_bytes));
    }
    let loc = Locator::scan(text, source)?;
    match loc.root() {
        None => {
            return Err(ScenarioError::file(source, "the scenario file is empty")
                .hint("start with `name: my-bench`, then `upstreams:` and `load:`"));
        }
        Some(locate::RootKind::Mapping) => {}
        Some(locate::RootKind::Other(pos)) => {
            return Err(ScenarioError::at(
                source,
                pos,
                None,
                "the top level must be a mapping of scenario fields",
            )
            .hint("start with `name: my-bench`, then `upstreams:`, `load:` and so on"));
        }
    }
    Ok(loc)
}

/// Validates a one-phase file.
fn one(
    text: &str,
    source: &Path,
    limits: &Limits,
    loc: &Locator,
) -> Result<Scenario, ScenarioError> {
    let raw: raw::RawScenario = decode::decode(text, source, loc)?;
    let mut ctx = Ctx::new(source, text, loc, limits);
    let scenario = validate::scenario(&mut ctx, &raw, source);
    match (scenario, ScenarioError::combine(ctx.errors)) {
        (_, Some(e)) => Err(e),
        (Some(s), None) => Ok(s),
        // Every failing check records an error; this is a backstop, not a path.
        (None, None) => Err(ScenarioError::file(source, "the scenario is invalid")),
    }
}

fn too_large(file: &Path, cap: usize) -> ScenarioError {
    ScenarioError::file(file, format!("the file is larger than {} bytes", cap))
        .hint("a scenario is a few hundred lines at most; check that this is the right file")
}

#[cfg(test)]
mod tests;
