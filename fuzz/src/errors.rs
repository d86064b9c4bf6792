//! What every scenario error must satisfy: it renders, names the file, and points inside
//! the text.

use std::path::Path;

use gauntlet::scenario::ScenarioError;

use crate::SOURCE;

/// The lines of `text` as a YAML parser counts them: `\n`, `\r\n` and a lone `\r` each end
/// a line, and the text after the last break (possibly empty) is a line too.
pub fn yaml_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push(&text[start..]);
    lines
}

/// Every error carried must render to something, name the file, and point inside the text.
pub fn check_scenario_error(e: &ScenarioError, text: &str) {
    let shown = e.to_string();
    assert!(!shown.trim().is_empty(), "empty Display for {e:?}");
    assert!(
        e.more.len() < 20,
        "{} further errors: more than the cap of 20 in all",
        e.more.len()
    );
    let lines = yaml_lines(text);
    for one in e.all() {
        assert!(!one.message.trim().is_empty(), "empty message in {one:?}");
        assert_eq!(one.file, Path::new(SOURCE), "wrong file in {one:?}");
        if let Some(h) = &one.hint {
            assert!(!h.trim().is_empty(), "blank hint in {one:?}");
        }
        if let Some(f) = &one.field {
            assert!(!f.is_empty(), "empty field in {one:?}");
        }
        assert!(
            one.column.is_none() || one.line.is_some(),
            "a column without a line in {one:?}"
        );
        if let Some(line) = one.line {
            assert!(
                (1..=lines.len()).contains(&line),
                "line {line} outside 1..={} in {one:?}",
                lines.len()
            );
            if let Some(column) = one.column {
                let width = lines[line - 1].chars().count();
                assert!(
                    (1..=width + 1).contains(&column),
                    "column {column} outside 1..={} of line {line} in {one:?}",
                    width + 1
                );
            }
        }
        assert!(
            !one.more.iter().any(|m| !m.more.is_empty()) || std::ptr::eq(one, e),
            "nested further errors in {one:?}"
        );
    }
}
