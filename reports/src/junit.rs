//! JUnit XML, for CI systems that show test reports: the run is one test suite, each gate
//! one test case, and a run that did not complete one more test case in error.
//!
//! Everything that comes from a scenario or from Envoy (names, gate texts, error messages)
//! is escaped, so the file stays well-formed whatever those contain.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::model::{GateResult, RunResult, RunStatus};

/// Renders the run as a JUnit `<testsuites>` document holding one `<testsuite>`.
pub fn render(result: &RunResult) -> String {
    let suite = run_suite(result);
    let mut out = String::new();
    open_document(
        &mut out,
        suite.tests,
        suite.failures,
        suite.errors,
        suite.secs,
    );
    out.push_str(&suite.xml);
    out.push_str("</testsuites>\n");
    out
}

/// One run's `<testsuite>` element and its counts, for a document of one run or of several
/// (a plan's phases).
pub(crate) struct RunSuite {
    pub xml: String,
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub secs: f64,
}

/// The `<testsuite>` element of one run: its properties, a case per gate, and an error case
/// when the run did not complete.
pub(crate) fn run_suite(result: &RunResult) -> RunSuite {
    let suite = format!("gauntlet.{}", result.name);
    let failures = result.gates.iter().filter(|g| !g.passed).count();
    let errors = usize::from(result.status != RunStatus::Completed);
    let tests = result.gates.len() + errors;
    let secs = (result.finished_at - result.started_at)
        .num_milliseconds()
        .max(0) as f64
        / 1000.0;
    let mut out = String::new();
    open_testsuite(
        &mut out,
        &SuiteHeader {
            suite: &suite,
            tests,
            failures,
            errors,
            secs,
            started_at: result.started_at,
            hostname: &result.machine.hostname,
        },
    );
    properties(&mut out, result);
    for gate in &result.gates {
        testcase(&mut out, &suite, gate);
    }
    if result.status != RunStatus::Completed {
        run_error(&mut out, &suite, result, secs);
    }
    out.push_str("  </testsuite>\n");
    RunSuite {
        xml: out,
        tests,
        failures,
        errors,
        secs,
    }
}

fn properties(out: &mut String, r: &RunResult) {
    let status = match r.status {
        RunStatus::Completed => "completed",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Failed => "failed",
    };
    let mut props = vec![
        ("status", status.to_string()),
        ("phase", r.phase.clone()),
        ("gauntlet.version", r.gauntlet_version.clone()),
    ];
    if let Some(e) = &r.envoy {
        props.push(("envoy.version", e.version.clone()));
    }
    out.push_str("    <properties>\n");
    for (name, value) in props {
        let _ = writeln!(
            out,
            r#"      <property name="{}" value="{}"/>"#,
            attr(name),
            attr(&value)
        );
    }
    out.push_str("    </properties>\n");
}

fn testcase(out: &mut String, suite: &str, g: &GateResult) {
    let _ = writeln!(
        out,
        r#"    <testcase classname="{}" name="{}" time="0.000">"#,
        attr(suite),
        attr(&g.gate)
    );
    if g.passed {
        let _ = writeln!(out, "      <system-out>{}</system-out>", text(&g.detail));
    } else {
        let measured = match g.measured {
            Some(m) => format!("measured {}", value(m, &g.unit)),
            None => "could not be measured".to_string(),
        };
        let threshold = match g.threshold {
            Some(t) => format!(", threshold {}", value(t, &g.unit)),
            None => String::new(),
        };
        let message = format!(
            "gate `{}` failed: {measured}{threshold} ({})",
            g.gate, g.window
        );
        let _ = writeln!(
            out,
            r#"      <failure message="{}" type="gate">{}</failure>"#,
            attr(&message),
            text(&g.detail)
        );
    }
    out.push_str("    </testcase>\n");
}

fn run_error(out: &mut String, suite: &str, r: &RunResult, secs: f64) {
    let (kind, default) = match r.status {
        RunStatus::Interrupted => ("interrupted", "stopped by a signal"),
        _ => ("failed", "no reason recorded"),
    };
    let why = r.error.as_deref().unwrap_or(default);
    let _ = writeln!(
        out,
        r#"    <testcase classname="{}" name="run" time="{secs:.3}">"#,
        attr(suite)
    );
    let _ = writeln!(
        out,
        r#"      <error message="{}" type="{kind}">{}</error>"#,
        attr(&format!("run {kind}: {why}")),
        text(why)
    );
    out.push_str("    </testcase>\n");
}

/// A value in its unit, as the gate results hold them (`ratio` shown as a percentage).
fn value(v: f64, unit: &str) -> String {
    match unit {
        "ratio" => format!("{}%", trim(v * 100.0)),
        "count" => trim(v),
        other => format!("{} {other}", trim(v)),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// What the opening of a JUnit document says about its one suite.
pub(crate) struct SuiteHeader<'a> {
    pub suite: &'a str,
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub secs: f64,
    pub started_at: DateTime<Utc>,
    pub hostname: &'a str,
}

/// Writes the XML declaration, `<testsuites>` and the opening `<testsuite>` tag; the
/// caller writes the properties and cases and closes both.
pub(crate) fn open_suite(out: &mut String, h: &SuiteHeader) {
    open_document(out, h.tests, h.failures, h.errors, h.secs);
    open_testsuite(out, h);
}

/// Writes the XML declaration and the opening `<testsuites>` tag with the totals.
pub(crate) fn open_document(
    out: &mut String,
    tests: usize,
    failures: usize,
    errors: usize,
    secs: f64,
) {
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="gauntlet" tests="{tests}" failures="{failures}" errors="{errors}" time="{secs:.3}">"#
    );
}

/// Writes the opening `<testsuite>` tag.
fn open_testsuite(out: &mut String, h: &SuiteHeader) {
    let (tests, failures, errors, secs) = (h.tests, h.failures, h.errors, h.secs);
    let _ = writeln!(
        out,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="{errors}" skipped="0" time="{secs:.3}" timestamp="{}" hostname="{}">"#,
        attr(h.suite),
        h.started_at.format("%Y-%m-%dT%H:%M:%S"),
        attr(h.hostname),
    );
}

/// Escaped for an attribute value: line breaks and tabs as character references, so a
/// parser gives them back instead of turning them into spaces.
pub(crate) fn attr(s: &str) -> String {
    escape(s, true)
}

/// Escaped for element content.
fn text(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' if !attribute => out.push(c),
            '\n' | '\t' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            // XML 1.0 cannot carry these at all, not even as references: spell them out.
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            // Allowed but discouraged: as references, so they stay visible.
            '\u{7f}'..='\u{9f}' => {
                let _ = write!(out, "&#x{:x};", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::Machine;

    const NASTY: &str = "<script>alert(\"x\" & 'y')</script>";

    fn gate(text: &str, passed: bool, measured: Option<f64>, unit: &str) -> GateResult {
        GateResult {
            gate: text.into(),
            passed,
            measured,
            threshold: Some(0.01),
            unit: unit.into(),
            window: "whole envoy step".into(),
            detail: format!("{text} = …: {}", if passed { "pass" } else { "FAIL" }),
        }
    }

    fn run(
        name: &str,
        status: RunStatus,
        error: Option<&str>,
        gates: Vec<GateResult>,
    ) -> RunResult {
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        RunResult {
            gauntlet_version: "0.1.0".into(),
            status,
            error: error.map(str::to_string),
            finished_at: at + chrono::Duration::milliseconds(12_345),
            machine: Machine {
                hostname: "ci & co".into(),
                ..Machine::default()
            },
            gates,
            ..RunResult::started(name, "benchmark", at)
        }
    }

    /// Parses the document (it must be well-formed) and returns its one test suite.
    fn suite<'a, 'i>(doc: &'a roxmltree::Document<'i>) -> roxmltree::Node<'a, 'i> {
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let suites: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        assert_eq!(suites.len(), 1);
        suites[0]
    }

    fn cases<'a, 'i>(s: roxmltree::Node<'a, 'i>) -> Vec<roxmltree::Node<'a, 'i>> {
        s.children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect()
    }

    #[test]
    fn one_testcase_per_gate_with_failures_named() {
        let xml = render(&run(
            "canary",
            RunStatus::Completed,
            None,
            vec![
                gate("latency.p99 < 50ms", true, Some(12.3), "ms"),
                gate("errors.rate < 1%", false, Some(0.0291), "ratio"),
                gate("envoy.x > 0", false, None, "count"),
            ],
        ));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let s = suite(&doc);
        assert_eq!(s.attribute("name"), Some("gauntlet.canary"));
        assert_eq!(s.attribute("tests"), Some("3"));
        assert_eq!(s.attribute("failures"), Some("2"));
        assert_eq!(s.attribute("errors"), Some("0"));
        assert_eq!(s.attribute("time"), Some("12.345"));
        assert_eq!(s.attribute("hostname"), Some("ci & co"));
        let cs = cases(s);
        assert_eq!(cs.len(), 3);
        assert_eq!(cs[0].attribute("classname"), Some("gauntlet.canary"));
        assert_eq!(cs[0].attribute("name"), Some("latency.p99 < 50ms"));
        assert!(cs[0].children().all(|n| !n.has_tag_name("failure")));
        let failure = cs[1]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("gate `errors.rate < 1%` failed: measured 2.91%, threshold 1% (whole envoy step)")
        );
        assert_eq!(failure.text(), Some("errors.rate < 1% = …: FAIL"));
        let failure = cs[2]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("gate `envoy.x > 0` failed: could not be measured, threshold 0.01 (whole envoy step)")
        );
    }

    #[test]
    fn markup_in_names_and_gates_is_escaped() {
        let text = format!("mocks.a.requests > 1 {NASTY}\nline two\ttab\r");
        let xml = render(&run(
            NASTY,
            RunStatus::Completed,
            None,
            vec![gate(&text, false, Some(1.0), "count")],
        ));
        assert!(!xml.contains("<script>"), "{xml}");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let s = suite(&doc);
        assert_eq!(
            s.attribute("name"),
            Some(format!("gauntlet.{NASTY}").as_str())
        );
        let c = cases(s)[0];
        assert_eq!(c.attribute("name"), Some(text.as_str()));
        assert_eq!(
            c.attribute("classname"),
            Some(format!("gauntlet.{NASTY}").as_str())
        );
        let failure = c.children().find(|n| n.has_tag_name("failure")).unwrap();
        assert!(failure.attribute("message").unwrap().contains(NASTY));
        assert_eq!(failure.text(), Some(format!("{text} = …: FAIL").as_str()));
    }

    #[test]
    fn control_characters_keep_the_document_well_formed() {
        let text = "a\u{0}b\u{7}c\u{1b}[31md\u{85}e\u{ffff}";
        let xml = render(&run(
            text,
            RunStatus::Completed,
            None,
            vec![gate(text, true, Some(1.0), "count")],
        ));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let c = cases(suite(&doc))[0];
        assert_eq!(
            c.attribute("name"),
            Some("a\\u{0}b\\u{7}c\\u{1b}[31md\u{85}e\\u{ffff}")
        );
    }

    #[test]
    fn a_failed_or_interrupted_run_adds_an_error() {
        let why = "Envoy NACKed <route> \"r\" & exited";
        let xml = render(&run(
            "x",
            RunStatus::Failed,
            Some(why),
            vec![gate("requests > 0", true, Some(1.0), "count")],
        ));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let s = suite(&doc);
        assert_eq!(s.attribute("tests"), Some("2"));
        assert_eq!(s.attribute("errors"), Some("1"));
        assert_eq!(s.attribute("failures"), Some("0"));
        let run_case = cases(s)[1];
        assert_eq!(run_case.attribute("name"), Some("run"));
        let error = run_case
            .children()
            .find(|n| n.has_tag_name("error"))
            .unwrap();
        assert_eq!(
            error.attribute("message"),
            Some(format!("run failed: {why}").as_str())
        );
        assert_eq!(error.attribute("type"), Some("failed"));
        assert_eq!(error.text(), Some(why));

        let xml = render(&run("x", RunStatus::Interrupted, None, Vec::new()));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let s = suite(&doc);
        assert_eq!(
            (s.attribute("tests"), s.attribute("errors")),
            (Some("1"), Some("1"))
        );
        let error = cases(s)[0]
            .children()
            .find(|n| n.has_tag_name("error"))
            .unwrap();
        assert_eq!(
            error.attribute("message"),
            Some("run interrupted: stopped by a signal")
        );
    }

    #[test]
    fn a_completed_run_without_gates_is_an_empty_suite() {
        let xml = render(&run("x", RunStatus::Completed, None, Vec::new()));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let s = suite(&doc);
        assert_eq!(s.attribute("tests"), Some("0"));
        assert!(cases(s).is_empty());
    }
}
