//! Bugs found by fuzzing (`fuzz/`; fuzz/README.md, "Findings", has the details), each as the
//! behaviour the parsers promise. A test stays `#[ignore]`d until its fix lands; the fix
//! removes the `ignore` (and the matching allowance in fuzz/src/lib.rs). Run them all with
//! `cargo test -p gauntlet --test fuzz_regressions -- --include-ignored`.
//!
//! The committed fuzz corpus is replayed here too, on the stable toolchain: whatever the
//! fuzzer kept as interesting must still parse without a panic.

use std::path::{Path, PathBuf};

use gauntlet::{gates, scenario};

/// Parses `text` as a scenario, expecting an error, and returns its (line, column).
fn error_position(text: &str) -> (Option<usize>, Option<usize>) {
    match scenario::parse(text, Path::new("fuzz.yaml")) {
        Ok(_) => panic!("{text:?} should not parse"),
        Err(e) => (e.line, e.column),
    }
}

/// Finding 1 (fuzz/artifacts-found/scenario_parse-1-*): in a file that does not end with a
/// line break, a position taken from the YAML parser's end-of-stream mark lies past the
/// end of the text: the line after the last one, column 1, or on the last line a column
/// counted in bytes (`:\n>\n ré` gives 3:5 on a 3-character line). An editor cannot go
/// there; the end of the last line (or where the offending node starts) is the place.
#[test]
fn an_error_at_the_end_of_a_file_without_a_final_newline_is_inside_the_file() {
    for text in ["{", "a: [", "name: b\nload: {", "!a", ":\n>\n r\u{e9}"] {
        let lines: Vec<&str> = text.split('\n').collect();
        let (line, column) = error_position(text);
        let line = line.unwrap_or_else(|| panic!("{text:?}: no line"));
        assert!(
            line <= lines.len(),
            "{text:?}: line {line} of {}",
            lines.len()
        );
        let width = lines[line - 1].chars().count();
        assert!(
            column.is_some_and(|c| (1..=width + 1).contains(&c)),
            "{text:?}: column {column:?} of line {line} ({width} characters)"
        );
    }
}

/// With the final newline the same errors are on the (empty) line after it, which exists.
#[test]
fn an_error_at_the_end_of_a_file_with_a_final_newline_is_on_the_empty_last_line() {
    for text in ["{\n", "a: [\n", "name: b\nload: {\n"] {
        let lines = text.split('\n').count();
        let (line, _) = error_position(text);
        assert!(
            line.is_some_and(|l| l <= lines),
            "{text:?}: line {line:?} of {lines}"
        );
    }
}

/// Finding 2 (fuzz/artifacts-found/gate_parse-2-infinite-rps): an `rps` threshold is not
/// checked for being finite, so `rps > 1e999rps` parses with an infinite threshold (and
/// `rps < 1e999rps` always passes), where `requests > 1e999` is refused.
#[test]
fn an_rps_threshold_must_be_a_finite_number() {
    for text in ["rps > 1e999rps", "rps < -1e999rps"] {
        match gates::parse(text) {
            Ok(g) => panic!("{text:?} parsed with threshold {:?}", g.threshold),
            Err(e) => assert_eq!(e.column, 7, "{text:?}: {e:?}"),
        }
    }
    // A plain number that large is already refused, at the same column.
    assert_eq!(gates::parse("rps > 1e999").unwrap_err().column, 7);
}

/// Finding 3 (fuzz/artifacts-found/scenario_parse-3-lone-cr-column): the control-character
/// check counts lines by `\n` only, while YAML (and the YAML parser's own positions) also
/// ends a line at a lone `\r`, so the position disagrees with every other error's.
#[test]
fn a_control_character_after_a_lone_cr_is_on_the_next_line() {
    assert_eq!(error_position("a: b\rc: \u{1}"), (Some(2), Some(4)));
    assert_eq!(error_position("\r\0"), (Some(2), Some(1)));
    // The YAML parser already counts a lone `\r` as a line break.
    assert_eq!(error_position("a: b\rc: [\n").0, Some(3));
}

/// Finding 4 (fuzz/artifacts-found/scenario_parse-4-nel-line-break): serde_yaml (YAML 1.1)
/// ends lines at NEL, LS and PS, yaml-rust2 (YAML 1.2) does not, and the control-character
/// check lets them through. So a file the first pass accepts can fail in serde_yaml with
/// libyaml's raw message, at libyaml's line count: here line 2 of a one-line file.
#[test]
fn nel_ls_and_ps_do_not_move_errors_to_other_lines() {
    for text in [
        "upstreams: { \"\u{85}\": 1 }",
        "upstreams: { \"\u{2028}\": 1 }",
        "upstreams: { \"\u{2029}\": 1 }",
    ] {
        let e = scenario::parse(text, Path::new("fuzz.yaml")).unwrap_err();
        for one in e.all() {
            assert_eq!(one.line, Some(1), "{text:?}: {one}");
            assert!(
                one.column.is_some_and(|c| c <= text.chars().count() + 1),
                "{text:?}: {one}"
            );
            assert!(!one.message.contains(" at line "), "{text:?}: {one}");
        }
    }
}

/// Every committed corpus input (fuzz/corpus/<target>/) still parses without a panic.
#[test]
fn the_fuzz_corpus_parses_without_panicking() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    if !root.join("corpus").is_dir() {
        // A checkout without the fuzz crate (it is not a workspace member) has nothing to
        // replay; with it, an empty corpus is an error below.
        eprintln!("no fuzz corpus under {}: skipped", root.display());
        return;
    }
    let mut seen = 0;
    for (target, parse) in [
        ("scenario_parse", parse_scenario as fn(&str)),
        ("gate_parse", parse_gate as fn(&str)),
    ] {
        for dir in [
            root.join("corpus").join(target),
            root.join("artifacts-found"),
        ] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("corpus entry").path();
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                if dir.ends_with("artifacts-found") && !name.starts_with(target) {
                    continue;
                }
                let bytes = std::fs::read(&path).expect("corpus file");
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    parse(text);
                    seen += 1;
                }
            }
        }
    }
    assert!(seen > 0, "no corpus under {}", root.display());
}

fn parse_scenario(text: &str) {
    if let Err(e) = scenario::parse(text, Path::new("fuzz.yaml")) {
        assert!(!e.to_string().is_empty());
    }
}

fn parse_gate(text: &str) {
    if let Err(e) = gates::parse(text) {
        assert!(!e.message.is_empty());
    }
}
