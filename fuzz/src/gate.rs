//! What a gate promises: columns inside the text; finite numbers, a well-formed window, and
//! the same gate again from its own text.

use gauntlet::gates::{self, Gate, GateSyntaxError, Scope, Threshold};

/// Columns are 1-based characters, at most one past the end; the message says something.
pub fn check_gate_error(e: &GateSyntaxError, text: &str) {
    let chars = text.chars().count();
    assert!(
        (1..=chars + 1).contains(&e.column),
        "column {} outside 1..={} for {text:?}: {e:?}",
        e.column,
        chars + 1
    );
    assert!(!e.message.trim().is_empty(), "empty message for {text:?}");
    assert!(
        !e.to_string().trim().is_empty(),
        "empty Display for {text:?}"
    );
}

/// A parsed gate keeps its text, has finite numbers, a well-formed window, and parses the
/// same from its own text.
pub fn check_gate(g: &Gate, text: &str) {
    assert_eq!(g.text, text.trim(), "gate text");
    match &g.threshold {
        Threshold::Value(v) => assert!(
            v.is_finite(),
            "threshold {v} in {text:?}"
        ),
        Threshold::ShareOf { fraction, of } => {
            assert!(fraction.is_finite(), "fraction {fraction} in {text:?}");
            assert_eq!(
                of.metric.unit(),
                g.metric.metric.unit(),
                "units in {text:?}"
            );
        }
    }
    match &g.scope {
        Scope::WholeStep => {}
        Scope::During { from_s, to_s } => assert!(
            from_s.is_finite() && to_s.is_finite() && *from_s >= 0.0 && from_s < to_s,
            "window [{from_s}, {to_s}] in {text:?}"
        ),
        Scope::After { label, offset_s } => {
            assert!(!label.is_empty(), "empty label in {text:?}");
            assert!(
                offset_s.is_finite() && *offset_s >= 0.0,
                "offset {offset_s} in {text:?}"
            );
        }
        Scope::Before { label } => assert!(!label.is_empty(), "empty label in {text:?}"),
    }
    let again = gates::parse(&g.text)
        .unwrap_or_else(|e| panic!("{:?} parsed, its text does not: {e:?}", g.text));
    assert_eq!(&again, g, "re-parsing {:?}", g.text);
}
