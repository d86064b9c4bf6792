//! One self-contained HTML page for a run: no network at all (inline `<style>`, charts as
//! inline SVG, no scripts, no fonts), so it opens from a CI artifact or an air-gapped disk.
//!
//! The page is written as XHTML-compatible HTML (every element closed, only XML's own
//! entities), so an XML parser reads it too; the tests rely on that. Every string from a
//! scenario or from Envoy goes through [`escape`].

mod sections;
mod sizing;

use std::fmt::Write;

use crate::markdown::verdict;
use crate::model::RunResult;

const STYLE: &str = include_str!("style.css");

/// Renders the run as a complete HTML document.
pub fn render(result: &RunResult) -> String {
    let (verdict, good) = verdict(result);
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("Gauntlet · {} · {verdict}", result.name);
    open_page(&mut out, &title, "");
    sections::header(&mut out, result, &verdict, good);
    sections::steps(&mut out, result);
    sections::gates(&mut out, result);
    crate::graph_view::html(&mut out, result);
    sizing::section(&mut out, result);
    sections::resources(&mut out, result);
    sections::charts(&mut out, result);
    sections::events(&mut out, result);
    sections::xds(&mut out, result);
    sections::upstreams(&mut out, result);
    sections::scenario(&mut out, result);
    close_page(
        &mut out,
        &result.gauntlet_version,
        &result.schema,
        "result.json",
    );
    out
}

/// Opens a self-contained page, up to and including `<body>`: the shared style sheet inline
/// (with `extra_style` after it) and `title`, escaped here. Every Gauntlet page starts so.
pub(crate) fn open_page(out: &mut String, title: &str, extra_style: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
         <meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>\n{STYLE}{extra_style}</style>\n</head>\n<body>\n",
        escape(title)
    );
}

/// Closes a page opened by [`open_page`] with the footer every page has: the Gauntlet
/// version, the schema and the file whose figures the page shows.
pub(crate) fn close_page(out: &mut String, version: &str, schema: &str, stored_in: &str) {
    let _ = write!(
        out,
        "<footer>Gauntlet {} · {} · every figure on this page is as stored in {stored_in}.</footer>\n</body>\n</html>\n",
        escape(version),
        escape(schema)
    );
}

/// Escapes text for HTML element content and attribute values alike. Control characters,
/// which XML cannot carry and HTML shows as nothing, are spelled out as `\u{…}`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}
