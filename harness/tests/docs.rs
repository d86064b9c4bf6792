//! The user-facing reference in `docs/` is the module documentation of the scenario parser
//! and the gate language, extracted; this test keeps them from drifting apart. Regenerate
//! with `GAUNTLET_BLESS=1 cargo test -p gauntlet --test docs`.

use std::path::Path;

fn module_docs(path: &str) -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(doc: &str, title: &str, sources: &[&str]) {
    let mut expected = format!(
        "# {title}\n\n<!-- Generated from the module docs of {}; edit those, then run\n     GAUNTLET_BLESS=1 cargo test -p gauntlet --test docs -->\n",
        sources.join(" and ")
    );
    for s in sources {
        expected.push('\n');
        expected.push_str(&module_docs(s));
        expected.push('\n');
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(doc);
    if std::env::var_os("GAUNTLET_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{doc} is out of date; run GAUNTLET_BLESS=1 cargo test -p gauntlet --test docs"
    );
}

#[test]
fn scenario_reference_matches_the_parser_docs() {
    check(
        "docs/scenario-format.md",
        "Scenario file reference",
        &[
            "src/scenario/mod.rs",
            "src/scenario/sizing.rs",
            "src/scenario/container.rs",
            "src/scenario/mocks.rs",
            "src/scenario/grpc.rs",
        ],
    );
}

#[test]
fn gate_reference_matches_the_gate_docs() {
    check("docs/gates.md", "Gate reference", &["src/gates/mod.rs"]);
}
