//! Gauntlet's result model and every renderer of it.
//!
//! Invariant: renderers only format what the model holds; statistics are computed before a
//! `RunResult` is built, so every output format shows the same numbers.

pub mod charts;
pub mod compare;
pub mod fortio;
pub mod graph;
pub mod graph_view;
pub mod hlog;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod plan;
pub mod plan_view;
pub mod sizing;
pub mod sizing_text;
pub mod terminal;

pub use model::*;

/// Every output format, by the name the command line uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Terminal,
    Json,
    Markdown,
    Html,
    Junit,
    Fortio,
    Hlog,
}

/// A format name that is not one of [`Format`]'s.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown report format `{0}` (expected terminal, json, markdown, html, junit, fortio or hlog)"
)]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "terminal" => Format::Terminal,
            "json" => Format::Json,
            "markdown" | "md" => Format::Markdown,
            "html" => Format::Html,
            "junit" => Format::Junit,
            "fortio" => Format::Fortio,
            "hlog" => Format::Hlog,
            _ => return Err(UnknownFormat(s.to_string())),
        })
    }
}

impl Format {
    /// The usual file name for this format in a run directory (`None` for the terminal).
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Format::Terminal => None,
            Format::Json => Some("result.json"),
            Format::Markdown => Some("summary.md"),
            Format::Html => Some("report.html"),
            Format::Junit => Some("junit.xml"),
            Format::Fortio => Some("fortio.json"),
            Format::Hlog => Some("latency.hlog"),
        }
    }
}

/// Renders the result in the given format.
pub fn render(format: Format, result: &RunResult) -> String {
    match format {
        Format::Terminal => terminal::render(result),
        Format::Json => json::render(result),
        Format::Markdown => markdown::render(result),
        Format::Html => html::render(result),
        Format::Junit => junit::render(result),
        Format::Fortio => fortio::render(result),
        Format::Hlog => hlog::render(result),
    }
}
