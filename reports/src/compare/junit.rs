//! The compare as JUnit XML: one test suite, each `--fail-on` check one test case, and a
//! compare that did not complete one more test case in error.

use std::fmt::Write;

use super::{CompareResult, CompareStatus};
use crate::html::escape;
use crate::junit::{open_suite, SuiteHeader};

/// Renders the checks as a JUnit `<testsuites>` document.
pub fn render(c: &CompareResult) -> String {
    let suite = format!("gauntlet.compare.{}", c.name);
    let failures = c.checks.iter().filter(|k| !k.passed).count();
    let errors = usize::from(c.status != CompareStatus::Completed);
    let tests = c.checks.len() + errors;
    let secs = (c.finished_at - c.started_at).num_milliseconds().max(0) as f64 / 1000.0;
    let mut out = String::new();
    open_suite(
        &mut out,
        &SuiteHeader {
            suite: &suite,
            tests,
            failures,
            errors,
            secs,
            started_at: c.started_at,
            hostname: &c.machine.hostname,
        },
    );
    out.push_str("    <properties>\n");
    let mut props = vec![
        ("baseline", c.baseline.label.clone()),
        ("candidate", c.candidate.label.clone()),
    ];
    for f in &c.figures {
        props.push((f.key.as_str(), f.verdict.words().to_string()));
    }
    for (name, value) in props {
        let _ = writeln!(
            out,
            r#"      <property name="{}" value="{}"/>"#,
            escape(name),
            escape(&value)
        );
    }
    out.push_str("    </properties>\n");
    for k in &c.checks {
        let _ = writeln!(
            out,
            r#"    <testcase classname="{}" name="{}" time="0.000">"#,
            escape(&suite),
            escape(&k.expr)
        );
        if k.passed {
            let _ = writeln!(out, "      <system-out>{}</system-out>", escape(&k.detail));
        } else {
            let _ = writeln!(
                out,
                r#"      <failure message="{}" type="compare">{}</failure>"#,
                escape(&k.detail),
                escape(&k.detail)
            );
        }
        out.push_str("    </testcase>\n");
    }
    if c.status != CompareStatus::Completed {
        let msg = c
            .error
            .clone()
            .unwrap_or_else(|| "the compare did not complete".into());
        let _ = writeln!(
            out,
            r#"    <testcase classname="{}" name="compare completed" time="{secs:.3}">
      <error message="{}" type="compare">{}</error>
    </testcase>"#,
            escape(&suite),
            escape(&msg),
            escape(&msg)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
