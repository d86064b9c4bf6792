//! Renders a stored run in every file format, for looking at real output (see
//! `reports/screenshot.sh`). Ignored by default; run it with a run directory:
//!
//! ```sh
//! GAUNTLET_RUN_DIR=/tmp/r1 cargo test -p gauntlet-reports --test render_file -- --ignored
//! ```
//!
//! It writes `report.html`, `summary.md`, `fortio.json` and `latency.hlog` next to the run's
//! `result.json`.

use std::path::PathBuf;

use gauntlet_reports::{json, render, Format};

#[test]
#[ignore = "needs GAUNTLET_RUN_DIR, a run directory holding result.json"]
fn render_a_stored_run() {
    let dir = PathBuf::from(std::env::var("GAUNTLET_RUN_DIR").expect("set GAUNTLET_RUN_DIR"));
    let result = json::read(&dir.join("result.json")).expect("a readable result.json");
    for format in [Format::Html, Format::Markdown, Format::Fortio, Format::Hlog] {
        let name = format.file_name().expect("a file format");
        std::fs::write(dir.join(name), render(format, &result)).expect("writable run directory");
        eprintln!("wrote {}", dir.join(name).display());
    }
}
