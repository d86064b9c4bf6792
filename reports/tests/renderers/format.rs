use gauntlet_reports::{render, Format};

use crate::fixture;

#[test]
fn every_name_parses_and_unknown_names_are_refused() {
    let cases = [
        ("terminal", Format::Terminal),
        ("json", Format::Json),
        ("markdown", Format::Markdown),
        ("md", Format::Markdown),
        ("HTML", Format::Html),
        ("junit", Format::Junit),
        ("fortio", Format::Fortio),
        ("hlog", Format::Hlog),
    ];
    for (name, want) in cases {
        assert_eq!(name.parse::<Format>().unwrap(), want, "{name}");
    }
    let err = "pdf".parse::<Format>().unwrap_err();
    assert!(err.to_string().contains("`pdf`"), "{err}");
}

#[test]
fn render_dispatches_to_each_renderer() {
    let run = fixture::run();
    let checks: [(Format, &str); 7] = [
        (Format::Terminal, "gauntlet · "),
        (Format::Json, "\"schema\": \"gauntlet.result/v1\""),
        (Format::Markdown, "## ❌ Gauntlet"),
        (Format::Html, "<!DOCTYPE html>"),
        (Format::Junit, "<testsuites"),
        (Format::Fortio, "\"RunType\": \"HTTP\""),
        (Format::Hlog, "#[BaseTime: "),
    ];
    for (format, marker) in checks {
        let out = render(format, &run);
        assert!(out.contains(marker), "{format:?} lacks {marker}");
    }
    assert_eq!(Format::Html.file_name(), Some("report.html"));
    assert_eq!(Format::Terminal.file_name(), None);
}
