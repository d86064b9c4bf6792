//! Scenario files: parse, validate, and resolve into the model everything else takes.
//!
//! Text goes through three passes:
//! 1. `locate`: yaml-rust2's event parser records where every key and value is, and rejects
//!    syntax errors, duplicate keys, deep nesting and alias bombs;
//! 2. `decode`: serde reads the raw structs (`raw`), rejecting unknown fields and wrong types;
//! 3. `validate` (with `upstream`, `route`, `timeline`): raw → [`model`], checking units,
//!    limits, names and references, and collecting every error it finds.
//!
//! Architecture invariant: a [`Scenario`] only exists validated; nothing downstream checks
//! it again, and nothing here knows about Envoy config or xDS.
//!
//! The format (benchmark phase), with defaults; unknown fields are errors everywhere:
//!
//! ```yaml
//! name: checkout-bench          # required; 1..64 of [A-Za-z0-9._-], no `..`
//! phase: benchmark              # single-service | integration: "not supported yet"
//! envoy:                        # optional
//!   version: "1.40.0"           # or `binary: /path/to/envoy`; neither: default resolution
//!   concurrency: 1              # 1..=64
//!   log_level: warn             # trace|debug|info|warning|warn|error|critical|off
//!   listen_port: 10000          # optional; default: a free port
//! upstreams:                    # required; names 1..64 of [A-Za-z0-9_-], file order kept
//!   backend:                    # `backend:` alone (null) takes every default
//!     endpoints: 1              # 1..=64
//!     protocol: http1           # http1 | http2
//!     latency: 0                # 5ms | {fixed: 5ms} | {uniform: [1ms, 5ms]}
//!                               # | {p50: 5ms, p99: 40ms} | "1ms..5ms" | "p50=5ms,p99=40ms"
//!     responses: { 200: 100% }  # 200..=599; must add up to 100% (±0.01%)
//!     body: 0                   # bytes: 512, 1KiB, 4KB; at most 64MiB
//!     connect_timeout: 1s
//! routes:                       # default: one route `prefix: /` to the first upstream
//!   - name: route-0             # default route-<index>; unique
//!     match: { prefix: / }      # or { path: /exact }; default { prefix: / }
//!     cluster: backend          # or weighted: { backend: 90, canary: 10 }
//!     timeout: 2s               # optional (Envoy's default)
//! load:                         # required
//!   protocol: http1
//!   rate: 2000/s                # or 2000, 2k/s, 1.5M/s; or `concurrency: 32`; exactly one
//!   connections: 16             # closed loop: = concurrency (http1), min(concurrency, 16) (http2)
//!   duration: 60s               # required; > 0, at most 24h
//!   warmup: 1s
//!   timeout: 10s
//!   workers: 1                  # 1..=64
//!   request: { method: GET, path: /, headers: {}, body: 0 }
//! baseline: true
//! timeline:                     # sorted by `at` (stable); `at` < warmup + duration
//!   - at: 10s
//!     name: event-0             # default event-<index in the file>
//!     route: 0                  # index or name; `set: { cluster | weighted }`
//!     set: { cluster: canary }
//!   - at: 20s
//!     upstream: backend         # `endpoints: [0]` optional;
//!     set: { responses: { 503: 100% } }   # `latency`, `responses`, `body`; others kept
//! ```

// `ScenarioError` carries its whole context (file, position, field, hint, further errors)
// in plain fields for callers to read; it is built once per failed load, so its size
// does not matter and boxing it would only make it clumsier to use.
#![allow(clippy::result_large_err)]

mod check;
mod decode;
mod error;
mod limits;
mod locate;
pub mod model;
mod path;
mod raw;
mod route;
mod timeline;
mod upstream;
mod validate;

use std::io::Read;
use std::path::Path;

pub use error::ScenarioError;
pub use limits::Limits;
pub use model::*;

use check::Ctx;
use locate::Locator;

/// Reads and validates the scenario file at `path` with the default [`Limits`].
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, &Limits::default())
}

/// Reads and validates the scenario file at `path` with the given limits.
pub fn load_with(path: &Path, limits: &Limits) -> Result<Scenario, ScenarioError> {
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
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |p| p + 1);
        let line = valid.matches('\n').count() + 1;
        let column = valid[line_start..].chars().count() + 1;
        let message = format!("the file is not UTF-8 text (bad byte at offset {at})");
        ScenarioError::at(path, error::Pos::new(line, column), None, message)
            .hint("save the scenario as UTF-8 YAML")
    })?;
    parse_with(&text, path, limits)
}

/// Validates scenario `text`; `source` names it in errors and in [`Scenario::source`].
pub fn parse(text: &str, source: &Path) -> Result<Scenario, ScenarioError> {
    parse_with(text, source, &Limits::default())
}

/// Validates scenario `text` with the given limits.
pub fn parse_with(text: &str, source: &Path, limits: &Limits) -> Result<Scenario, ScenarioError> {
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
    let raw = decode::decode(text, source, &loc)?;
    let mut ctx = Ctx {
        file: source,
        loc: &loc,
        limits,
        errors: Vec::new(),
    };
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
