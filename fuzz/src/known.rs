//! Allowances for findings already reported (README.md, "Findings"): each says exactly
//! which wrong answer it lets through, so a long run looks for new bugs instead of stopping
//! on a known one. Once a finding is fixed, its allowance goes.

use gauntlet::gates::{self, Gate};
use gauntlet::scenario::ScenarioError;

/// Whether findings already reported (see README.md, "Findings") fail the check too. Off
/// by default so that a long run looks for new bugs instead of stopping on a known one;
/// `GAUNTLET_FUZZ_STRICT=1` turns it on (and once a finding is fixed, its allowance below
/// should go).
pub(crate) fn strict() -> bool {
    std::env::var_os("GAUNTLET_FUZZ_STRICT").is_some()
}

/// Finding 1: a position taken from yaml-rust2's end-of-stream mark in a file that does not
/// end with a line break lies past the end of the text: the line after the last one,
/// column 1 (a syntax error at the end, `{` or `a: [`; a top level that is only a tag, `!a`),
/// or, on the last line, a column counted in bytes rather than characters (`:\n>\n ré`).
pub(crate) fn known_eof_line(one: &ScenarioError, text: &str, lines: &[&str]) -> bool {
    let past_last_line = one.line == Some(lines.len() + 1) && one.column == Some(1);
    let past_last_column = one.line == Some(lines.len())
        && one
            .column
            .is_some_and(|c| c > lines[lines.len() - 1].chars().count() + 1);
    !strict() && !text.ends_with(['\n', '\r']) && (past_last_line || past_last_column)
}

/// Finding 3: the check for control characters counts lines by `\n` only, where YAML (and
/// yaml-rust2, for every other error) also ends a line at a lone `\r`: in `a: b\rc: \x01`
/// the character is reported at 1:9 instead of 2:4.
pub(crate) fn known_lone_cr(one: &ScenarioError, text: &str) -> bool {
    !strict()
        && one.message.starts_with("the file contains the character")
        && text.replace("\r\n", "\n").contains('\r')
}

/// Finding 4: serde_yaml (libyaml, YAML 1.1) ends lines at NEL, LS and PS (U+0085,
/// U+2028, U+2029) too, yaml-rust2 (YAML 1.2) does not, and the control-character check
/// lets them through: `upstreams: { "\u{85}": 1 }` passes the first pass, then fails in
/// serde_yaml with libyaml's raw message at libyaml's line 2, column 2, of a one-line file.
pub(crate) fn known_unicode_break(text: &str) -> bool {
    !strict() && text.contains(['\u{85}', '\u{2028}', '\u{2029}'])
}

/// Finding 2: an `rps` threshold is not checked for being finite (`rps > 1e999rps` reads
/// as infinity, where `requests > 1e999` is refused).
pub(crate) fn known_infinite_rps(g: &Gate) -> bool {
    !strict() && g.metric.metric.unit() == gates::Unit::Rps
}
