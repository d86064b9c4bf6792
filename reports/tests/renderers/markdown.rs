use gauntlet_reports::{markdown, RunStatus};

use crate::fixture::{self, NASTY};

#[test]
fn a_summary_with_every_section() {
    let md = markdown::render(&fixture::run());
    let title = md.lines().next().unwrap();
    assert!(title.starts_with("## ❌ Gauntlet · canary "), "{title}");
    assert!(title.ends_with("completed, 1 of 2 gates failed"), "{title}");
    assert!(md.contains("**Envoy** 1.40.0"), "{md}");
    assert!(md.contains("8 CPUs (EPYC)"), "{md}");
    for heading in [
        "### Steps",
        "### Gates: 1/2 passed",
        "### Timeline",
        "### xDS",
        "### Upstreams",
    ] {
        assert!(md.contains(heading), "missing {heading}:\n{md}");
    }
    let t = gfm_tables(&md);
    let steps = &t[0];
    assert_eq!(steps[0][0], "step");
    assert_eq!(steps[1][0], "baseline");
    assert_eq!(steps[2][0], "envoy");
    // requests, 2xx, non-2xx, failures (with kinds), error rate
    assert_eq!(
        steps[2][3..8],
        ["605", "598", "5", "2 (timeout 2)", "1.16%"]
    );
    assert_eq!(steps[3][0], "added by Envoy");
    assert_eq!(steps[3][8..12], ["+0.250", "+0.500", "+1.250", "+2.500"]);
    let gates = &t[1];
    assert_eq!(gates[1][0], "✅");
    assert_eq!(gates[2][0], "❌");
    assert_eq!(gates[2][2..4], ["2.1%", "1%"]);
    assert!(
        md.contains("2 pushes, 1 ACKed, slowest ACK 7.2 ms, 1 NACKed."),
        "{md}"
    );
    assert!(md.contains("Proto constraint: "), "{md}");
    assert!(
        md.contains("client\\-bound") || md.contains("client-bound"),
        "{md}"
    );
}

#[test]
fn user_strings_cannot_break_tables_or_inject_markup() {
    let md = markdown::render(&fixture::run());
    assert!(!md.contains("<script>"), "{md}");
    assert!(!md.contains("a|b"), "an unescaped pipe: {md}");
    let escaped = markdown::escape(NASTY);
    assert_eq!(
        escaped,
        "\\<script\\>alert(1)\\</script\\> \"dq\" 'sq' &amp; a\\|b \\*em\\* \\_u\\_ \\[x\\](y) \\`c\\` \\$m\\$"
    );
    assert_eq!(markdown::escape("two\nlines"), "two lines");
}

#[test]
fn a_failed_run_says_why() {
    let mut run = fixture::run();
    run.status = RunStatus::Failed;
    run.error = Some("Envoy NACKed | route".into());
    run.gates.clear();
    let md = markdown::render(&run);
    assert!(md.starts_with("## ❌ Gauntlet"), "{md}");
    assert!(md.contains("failed (partial results)"), "{md}");
    assert!(md.contains("> **Error:** Envoy NACKed \\| route"), "{md}");
}

#[test]
fn a_real_run_renders() {
    let md = markdown::render(&fixture::chaos_timeline());
    assert!(
        md.starts_with("## ✅ Gauntlet · chaos\\-timeline")
            || md.starts_with("## ✅ Gauntlet · chaos-timeline"),
        "{md}"
    );
    assert!(md.contains("| envoy | backend | 2278 |"), "{md}");
    assert!(
        md.contains("endpoint\\-0\\-fails") || md.contains("endpoint-0-fails"),
        "{md}"
    );
}

/// Parses the summary as GitHub-flavoured Markdown (tables, strikethrough, math) and returns
/// each table as rows of cell texts; panics on any raw HTML.
fn gfm_tables(md: &str) -> Vec<Vec<Vec<String>>> {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_MATH;
    let mut tables: Vec<Vec<Vec<String>>> = Vec::new();
    let mut in_cell = false;
    for event in Parser::new_ext(md, opts) {
        match event {
            Event::Html(h) | Event::InlineHtml(h) => panic!("raw HTML in the summary: {h}"),
            Event::InlineMath(m) | Event::DisplayMath(m) => panic!("math in the summary: {m}"),
            Event::Start(Tag::Table(_)) => tables.push(Vec::new()),
            Event::Start(Tag::TableHead) | Event::Start(Tag::TableRow) => {
                if let Some(t) = tables.last_mut() {
                    t.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => {
                in_cell = true;
                if let Some(row) = tables.last_mut().and_then(|t| t.last_mut()) {
                    row.push(String::new());
                }
            }
            Event::End(TagEnd::TableCell) => in_cell = false,
            Event::Text(t) | Event::Code(t) if in_cell => {
                if let Some(cell) = tables
                    .last_mut()
                    .and_then(|t| t.last_mut())
                    .and_then(|r| r.last_mut())
                {
                    cell.push_str(&t);
                }
            }
            _ => {}
        }
    }
    tables
}

#[test]
fn a_markdown_parser_reads_user_strings_back_as_plain_text() {
    let md = markdown::render(&fixture::run());
    let tables = gfm_tables(&md);
    for (i, t) in tables.iter().enumerate() {
        let width = t[0].len();
        assert!(t.iter().all(|row| row.len() == width), "table {i}: {t:?}");
    }
    // Gates, then the timeline, NACKs and upstreams: the hostile strings come back verbatim.
    let cells: Vec<&String> = tables.iter().flatten().flatten().collect();
    for want in [
        format!("errors.rate < 1% {NASTY}"),
        format!("whole envoy step {NASTY}"),
        format!("shift {NASTY}"),
        format!("Proto constraint: {NASTY}"),
        format!("backend {NASTY}"),
    ] {
        assert!(
            cells.iter().any(|c| **c == want),
            "no cell reads {want:?}: {cells:?}"
        );
    }
}
