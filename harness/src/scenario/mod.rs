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
    file.take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() > cap {
        return Err(too_large(path, cap));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
        let column = at
            - bytes[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        ScenarioError {
            line: Some(line),
            column: Some(column),
            ..ScenarioError::file(
                path,
                format!("the file is not UTF-8 text (bad byte at offset {at})"),
            )
            .hint("save the scenario as UTF-8 YAML")
        }
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
