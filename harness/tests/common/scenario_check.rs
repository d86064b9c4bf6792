//! Shared by the scenario parser tests (`scenario_errors.rs`, `scenario_models.rs`,
//! `service_image_errors.rs`): the fixtures, a valid base scenario, and the check that a
//! bad file's first error has the expected position, field and message, and a hint.
//!
//! Included with `#[path = "common/scenario_check.rs"] mod scenario_check;`, so the other
//! tests do not compile it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gauntlet::scenario::{self, ScenarioError};

/// `tests/scenarios/good` or `tests/scenarios/bad`.
pub fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(kind)
}

/// `L:C field: message` (with `-` for what is unknown), the form expectations are written in.
pub fn summary(e: &ScenarioError) -> String {
    let pos = match (e.line, e.column) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        _ => "-".to_string(),
    };
    let field = e.field.as_deref().unwrap_or("-");
    format!("{pos} {field}: {}", e.message)
}

/// Parses `yaml` and checks that the first error matches `expected`, written as
/// `L:C field: fragment`: position and field exactly, the message containing the fragment.
/// Every error must also carry a hint.
pub fn check(yaml: &str, expected: &str) {
    let err = match scenario::parse(yaml, Path::new("x.yaml")) {
        Ok(s) => panic!("expected `{expected}`, but it parsed: {s:#?}\n--- input:\n{yaml}"),
        Err(e) => e,
    };
    let (head, fragment) = expected.split_once(": ").unwrap_or((expected, ""));
    let got = summary(&err);
    let ok = got.starts_with(&format!("{head}: ")) && err.message.contains(fragment);
    assert!(
        ok,
        "expected `{expected}`\n     got `{got}`\n--- full error:\n{err}\n--- input:\n{yaml}"
    );
    for e in err.all() {
        let hint = e.hint.as_deref().unwrap_or("");
        assert!(!hint.is_empty(), "no hint in `{}`", summary(e));
    }
}

/// A valid scenario; cases edit it with `replace` or add sections with [`with`].
pub const BASE: &str = "name: bench
upstreams:
  backend: { endpoints: 2 }
  canary: {}
load: { rate: 100/s, duration: 10s }
";

/// [`BASE`] with top-level sections appended.
pub fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}
