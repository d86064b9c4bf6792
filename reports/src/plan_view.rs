//! A multi-phase run (`plan.json`) as text, Markdown, HTML and JUnit: the phases and their
//! verdicts, then each comparison with the earlier phase's hop and figures on the left and
//! the later phase's on the right. Every figure is as stored in the plan.

use std::fmt::Write;

use crate::graph::{opt_ms, HopPair};
use crate::html::{close_page, escape, open_page};
use crate::plan::{PhaseVerdict, PlanComparison, PlanPhase, PlanResult};
use crate::RunResult;

const PHASE_HEAD: [&str; 6] = ["phase", "kind", "verdict", "gates", "hops", "directory"];

fn phase_cells(p: &PlanPhase) -> [String; 6] {
    [
        p.name.clone(),
        p.phase.clone(),
        p.verdict.label().to_string(),
        if p.dir.is_none() {
            // A phase that never ran judged no gate.
            "–".to_string()
        } else {
            format!(
                "{} of {} held",
                p.gates_passed,
                p.gates_passed + p.gates_failed
            )
        },
        p.hops.to_string(),
        p.dir.clone().unwrap_or_else(|| "–".to_string()),
    ]
}

/// The column heads of a comparison: A is the earlier phase, B the later one (the legend
/// under the title names them).
const COMPARE_HEAD: [&str; 10] = [
    "A hop",
    "A p50 ms",
    "A p99 ms",
    "A error %",
    "B hop",
    "B p50 ms",
    "B p99 ms",
    "B error %",
    "Δ p99 ms",
    "Δ error pp",
];

fn compare_cells(p: &HopPair) -> [String; 10] {
    [
        format!("{} → {}", p.other.from, p.to),
        opt_ms(p.other.p50_ms),
        opt_ms(p.other.p99_ms),
        format!("{:.2}", p.other.error_rate * 100.0),
        format!("{} → {}", p.from, p.to),
        opt_ms(p.this.p50_ms),
        opt_ms(p.this.p99_ms),
        format!("{:.2}", p.this.error_rate * 100.0),
        p.p99_delta_ms
            .map_or_else(|| "–".to_string(), |d| format!("{d:+.2}")),
        format!("{:+.2}", p.error_rate_delta * 100.0),
    ]
}

fn compare_title(c: &PlanComparison) -> String {
    format!(
        "A = `{}` ({}), B = `{}`: each hop of B paired with A's hop between the same \
         services, else A's only hop into the same service; Δ = B − A",
        c.against, c.hops.phase, c.phase
    )
}

fn headline(p: &PlanResult) -> String {
    let ran = p
        .phases
        .iter()
        .filter(|x| x.verdict != PhaseVerdict::Skipped)
        .count();
    format!(
        "{}: {} of {} phases ran; verdict {}",
        p.name,
        ran,
        p.phases.len(),
        p.verdict.label()
    )
}

/// Writes a table padded to its widest cells: the columns in `numeric` right-aligned,
/// the rest (names, verdicts, hops as `a → b`, directories) left-aligned.
fn aligned(out: &mut String, head: &[String], rows: &[Vec<String>], numeric: &[usize]) {
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(head).chain(rows.iter().map(Vec::as_slice)) {
        let mut text = String::from(" ");
        for (i, c) in row.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
            if !numeric.contains(&i) {
                let _ = write!(text, " {c}{pad}");
            } else {
                let _ = write!(text, " {pad}{c}");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
}

/// The plan for a terminal.
pub fn terminal(p: &PlanResult) -> String {
    let mut out = format!("{}\n\nphases:\n", headline(p));
    let head: Vec<String> = PHASE_HEAD.iter().map(|h| h.to_string()).collect();
    let rows: Vec<Vec<String>> = p.phases.iter().map(|x| phase_cells(x).to_vec()).collect();
    aligned(&mut out, &head, &rows, &[4]);
    for x in p.phases.iter().filter(|x| x.error.is_some()) {
        let _ = writeln!(
            out,
            "  {}: {}",
            x.name,
            x.error.as_deref().unwrap_or_default()
        );
    }
    for c in &p.comparisons {
        let _ = writeln!(out, "\n{}:", compare_title(c));
        let rows: Vec<Vec<String>> = c
            .hops
            .hops
            .iter()
            .map(|h| compare_cells(h).to_vec())
            .collect();
        let head = COMPARE_HEAD.map(String::from);
        aligned(&mut out, &head, &rows, &[1, 2, 3, 5, 6, 7, 8, 9]);
    }
    out
}

fn md_row(out: &mut String, cells: &[String]) {
    let cells: Vec<String> = cells.iter().map(|c| crate::markdown::escape(c)).collect();
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

/// The plan as Markdown (a CI job summary).
pub fn markdown(p: &PlanResult) -> String {
    let mut out = format!(
        "# {}\n\n## Phases\n\n",
        crate::markdown::escape(&headline(p))
    );
    md_row(&mut out, &PHASE_HEAD.map(String::from));
    let _ = writeln!(out, "|{}", "---|".repeat(PHASE_HEAD.len()));
    for x in &p.phases {
        md_row(&mut out, &phase_cells(x));
    }
    for x in p.phases.iter().filter(|x| x.error.is_some()) {
        let text = format!("{}: {}", x.name, x.error.as_deref().unwrap_or_default());
        let _ = writeln!(out, "\n- {}", crate::markdown::escape(&text));
    }
    for c in &p.comparisons {
        let _ = writeln!(
            out,
            "\n## Hops side by side\n\n{}\n",
            crate::markdown::escape(&compare_title(c))
        );
        let head = COMPARE_HEAD.map(String::from);
        md_row(&mut out, &head);
        let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
        for h in &c.hops.hops {
            md_row(&mut out, &compare_cells(h));
        }
    }
    out
}

fn html_table<const N: usize>(out: &mut String, head: &[String], rows: &[([String; N], bool)]) {
    out.push_str("<table>\n<thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (row, bad) in rows {
        out.push_str(if *bad { "<tr class=\"bad\">" } else { "<tr>" });
        for c in row {
            let _ = write!(out, "<td>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The plan as one self-contained HTML page, each phase linking to its own report.
pub fn html(p: &PlanResult) -> String {
    let good = p.verdict == PhaseVerdict::Pass;
    let (class, badge) = if good {
        ("ok", "PASS")
    } else {
        ("bad", "FAIL")
    };
    let mut out = String::with_capacity(16 * 1024);
    open_page(&mut out, &format!("Gauntlet phases · {}", p.name), "");
    let _ = write!(
        out,
        "<header class=\"{class}\">\n<h1><span class=\"badge {class}\">{badge}</span> \
         {}</h1>\n</header>\n<section id=\"phases\">\n<h2>Phases</h2>\n",
        escape(&headline(p))
    );
    let head = PHASE_HEAD.map(String::from);
    let rows: Vec<_> = p
        .phases
        .iter()
        .map(|x| (phase_cells(x), x.verdict > PhaseVerdict::Pass))
        .collect();
    html_table(&mut out, &head, &rows);
    for x in &p.phases {
        if let Some(dir) = &x.dir {
            let _ = writeln!(
                out,
                "<p><a href=\"{0}/report.html\">{1}: the phase's report</a></p>",
                escape(dir),
                escape(&x.name)
            );
        }
        if let Some(e) = &x.error {
            let _ = writeln!(
                out,
                "<div class=\"error\">{}: {}</div>",
                escape(&x.name),
                escape(e)
            );
        }
    }
    out.push_str("</section>\n");
    for c in &p.comparisons {
        let _ = writeln!(
            out,
            "<section class=\"hops\">\n<h2>Hops side by side</h2>\n<p>{}</p>",
            escape(&compare_title(c))
        );
        let rows: Vec<_> = c
            .hops
            .hops
            .iter()
            .map(|h| (compare_cells(h), h.error_rate_delta > 0.0))
            .collect();
        html_table(&mut out, &COMPARE_HEAD.map(String::from), &rows);
        out.push_str("</section>\n");
    }
    close_page(&mut out, &p.gauntlet_version, &p.schema, "plan.json");
    out
}

/// JUnit XML with one test suite per phase of the plan, in plan order: a phase that ran as
/// `junit::render` writes it; one that did not (skipped after an earlier phase failed or a
/// signal, or unable to start) as a suite of one skipped or errored case, so CI sees every
/// phase the plan holds.
pub fn junit(plan: &PlanResult, phases: &[RunResult]) -> String {
    let mut suites = String::new();
    let (mut tests, mut failures, mut errors, mut secs) = (0, 0, 0, 0.0);
    for entry in &plan.phases {
        match phases.iter().find(|r| r.name == entry.name) {
            Some(r) => {
                let suite = crate::junit::run_suite(r);
                tests += suite.tests;
                failures += suite.failures;
                errors += suite.errors;
                secs += suite.secs;
                suites.push_str(&suite.xml);
            }
            None => {
                tests += 1;
                let failed = entry.verdict != PhaseVerdict::Skipped;
                errors += usize::from(failed);
                suites.push_str(&not_run_suite(entry, failed));
            }
        }
    }
    let mut out = String::new();
    crate::junit::open_document(&mut out, tests, failures, errors, secs);
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    out
}

/// A suite for a phase that did not run: one case, skipped, or errored when it could not
/// start.
fn not_run_suite(entry: &PlanPhase, failed: bool) -> String {
    // Named as `junit::render` names a run's suite.
    let name = crate::junit::attr(&format!("gauntlet.{}", entry.name));
    let why = crate::junit::attr(entry.error.as_deref().unwrap_or("not run"));
    let (errors, skipped, body) = if failed {
        (1, 0, format!("<error message=\"{why}\"/>"))
    } else {
        (0, 1, format!("<skipped message=\"{why}\"/>"))
    };
    format!(
        "  <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"0.000\">\n    \
         <testcase classname=\"{name}\" name=\"phase {}\">{body}</testcase>\n  </testsuite>\n",
        crate::junit::attr(&entry.phase)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{HopFigures, PhaseComparison};

    fn plan() -> PlanResult {
        let phase = |name: &str, verdict| PlanPhase {
            name: name.into(),
            phase: "integration".into(),
            verdict,
            dir: Some(format!("01-{name}")),
            gates_passed: 1,
            gates_failed: 0,
            hops: 2,
            error: None,
        };
        let hop = HopPair {
            from: "bff".into(),
            to: "inventory".into(),
            this: HopFigures {
                from: "bff".into(),
                p99_ms: Some(9.0),
                error_rate: 0.02,
                ..HopFigures::default()
            },
            other: HopFigures {
                from: "checkout".into(),
                p99_ms: Some(4.0),
                ..HopFigures::default()
            },
            p99_delta_ms: Some(5.0),
            error_rate_delta: 0.02,
        };
        PlanResult {
            schema: crate::plan::PLAN_SCHEMA.into(),
            gauntlet_version: "0".into(),
            name: "r<&>".into(),
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            verdict: PhaseVerdict::GatesFailed,
            phases: vec![
                phase("one", PhaseVerdict::Pass),
                phase("two", PhaseVerdict::GatesFailed),
            ],
            comparisons: vec![PlanComparison {
                phase: "two".into(),
                against: "one".into(),
                hops: PhaseComparison {
                    phase: "single-service".into(),
                    hops: vec![hop],
                    ..PhaseComparison::default()
                },
            }],
        }
    }

    #[test]
    fn the_earlier_phase_is_on_the_left_of_each_hop() {
        let text = terminal(&plan());
        let row = text
            .lines()
            .find(|l| l.contains("bff → inventory"))
            .unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        // A hop | A p50 | A p99 | A err | B hop | B p50 | B p99 | B err | Δ p99 | Δ err
        assert_eq!(
            cells,
            [
                "checkout",
                "→",
                "inventory",
                "–",
                "4.00",
                "0.00",
                "bff",
                "→",
                "inventory",
                "–",
                "9.00",
                "2.00",
                "+5.00",
                "+2.00"
            ]
        );
        assert!(markdown(&plan()).contains("(single-service), B = "));
    }

    #[test]
    fn the_html_page_is_well_formed_and_escaped() {
        let page = html(&plan());
        let opts = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        };
        roxmltree::Document::parse_with_options(&page, opts).expect("well-formed XHTML");
        assert!(page.contains("r&lt;&amp;&gt;") && page.contains("01-two/report.html"));
    }

    #[test]
    fn junit_has_a_suite_for_every_phase_even_those_that_did_not_run() {
        let mut p = plan();
        p.phases[1].verdict = PhaseVerdict::Skipped;
        p.phases[1].error = Some("phase `one` did not complete".into());
        p.phases.push(PlanPhase {
            name: "three".into(),
            verdict: PhaseVerdict::RunError,
            error: Some("cannot create <dir>".into()),
            ..p.phases[0].clone()
        });
        let one = RunResult::started("one", "single-service", chrono::Utc::now());
        let xml = junit(&p, &[one]);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let suites: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testsuite"))
            .map(|n| n.attribute("name").unwrap_or_default().to_string())
            .collect();
        assert_eq!(suites, ["gauntlet.one", "gauntlet.two", "gauntlet.three"]);
        let skipped = doc
            .descendants()
            .find(|n| n.has_tag_name("skipped"))
            .unwrap();
        assert_eq!(
            skipped.attribute("message"),
            Some("phase `one` did not complete")
        );
        let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
        assert_eq!(error.attribute("message"), Some("cannot create <dir>"));
        let root = doc.root_element();
        assert_eq!(
            (root.attribute("tests"), root.attribute("errors")),
            (Some("2"), Some("1"))
        );
    }
}
