//! Oracles shared by the fuzz targets: what a parse result must satisfy beyond "did not
//! panic". A failed check panics, and libFuzzer records the input as a crash: every such
//! panic is a finding, either in the parser or in the promise a check writes down. The four
//! findings reported so far are fixed, so no allowance lets any wrong answer through.
//!
//! The promises come from the docs of `gauntlet::scenario` (the format and the model's
//! "a `Scenario` only exists validated") and of `gauntlet::gates` (the grammar, and
//! `GateSyntaxError::column` being a 1-based character column).

use std::path::Path;

use gauntlet::gates;
use gauntlet::scenario::{self, Scenario, ScenarioError};

mod errors;
mod gate;
mod model;
mod routes;
pub mod structured;

pub use errors::{check_scenario_error, yaml_lines};
pub use gate::{check_gate, check_gate_error};
pub use model::check_scenario;

/// The name every fuzzed scenario is parsed under.
pub const SOURCE: &str = "fuzz.yaml";

/// Parses `text` as a scenario and checks whichever result comes back.
pub fn scenario(text: &str) {
    let first = scenario::parse(text, Path::new(SOURCE));
    match &first {
        Ok(s) => check_scenario(s, text),
        Err(e) => check_scenario_error(e, text),
    }
    // The same text gives the same answer: no hash-map order leaks into which errors are
    // reported, in what order, or into the model.
    let again = scenario::parse(text, Path::new(SOURCE));
    assert_eq!(
        shown(&first),
        shown(&again),
        "two parses of the same text differ"
    );
}

fn shown(r: &Result<Scenario, ScenarioError>) -> String {
    match r {
        Ok(s) => format!("{s:?}"),
        Err(e) => format!("{e:?}"),
    }
}

/// Parses `text` as a gate and checks whichever result comes back.
pub fn gate(text: &str) {
    match gates::parse(text) {
        Ok(g) => check_gate(&g, text),
        Err(e) => check_gate_error(&e, text),
    }
}
