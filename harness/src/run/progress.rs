//! Progress of a load step on stderr. On a terminal: one line redrawn in place (a bar with
//! the step, elapsed/total, and the last second's rps, p99 and errors). Elsewhere (CI logs):
//! a plain line per second. The formatting is pure functions, tested without a terminal;
//! the bar always ends with a newline, also when the step stops early (drop guard).

use std::io::{IsTerminal, Write};

use gauntlet_reports::Window;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Off,
    /// A line per second.
    Lines,
    /// One line redrawn in place.
    Bar,
}

impl Style {
    /// `Bar` when stderr is a terminal, `Lines` when not, `Off` when progress is not wanted.
    pub fn detect(wanted: bool) -> Self {
        match (wanted, std::io::stderr().is_terminal()) {
            (false, _) => Style::Off,
            (true, true) => Style::Bar,
            (true, false) => Style::Lines,
        }
    }
}

/// The progress display of one step.
pub struct Progress {
    step: String,
    style: Style,
    /// Planned length of the step (warmup included), seconds.
    total_s: f64,
    /// Whether a bar line is on screen without its newline yet.
    open: bool,
}

impl Progress {
    pub fn new(step: &str, style: Style, total_s: f64) -> Self {
        Self {
            step: step.to_string(),
            style,
            total_s,
            open: false,
        }
    }

    /// Shows one completed window.
    pub fn window(&mut self, w: &Window) {
        let mut err = std::io::stderr().lock();
        match self.style {
            Style::Off => {}
            Style::Lines => {
                let _ = writeln!(err, "{}", line(&self.step, w));
            }
            Style::Bar => {
                let text = bar_line(&self.step, w, self.total_s, BAR_WIDTH);
                // Carriage return, the line, then clear whatever a longer line left behind.
                let _ = write!(err, "\r{text}\x1b[K");
                let _ = err.flush();
                self.open = true;
            }
        }
    }

    /// Ends the bar's line, so whatever is printed next starts on a clean line.
    pub fn finish(&mut self) {
        if self.open {
            let _ = writeln!(std::io::stderr());
            self.open = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Cells of the bar.
const BAR_WIDTH: usize = 24;

/// The plain line for one window (non-terminal output).
pub fn line(step: &str, w: &Window) -> String {
    format!(
        "[{step}] {:>4.0}s{} rps {:>9.1}  p50 {:>8.3} ms  p99 {:>8.3} ms  errors {}",
        w.t_s,
        if w.warmup { " (warmup)" } else { "" },
        w.rps,
        w.p50_ms,
        w.p99_ms,
        w.errors
    )
}

/// The bar line after window `w` of a step planned to last `total_s` seconds.
pub fn bar_line(step: &str, w: &Window, total_s: f64, width: usize) -> String {
    let elapsed = w.t_s + 1.0;
    let frac = if total_s > 0.0 {
        (elapsed / total_s).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let filled = (frac * width as f64).round() as usize;
    format!(
        "[{step}] {}{} {:>3.0}s/{:.0}s{}  rps {:>8.1}  p99 {:>8.3} ms  errors {}",
        "█".repeat(filled),
        "░".repeat(width - filled),
        elapsed,
        total_s,
        if w.warmup { " warmup" } else { "" },
        w.rps,
        w.p99_ms,
        w.errors
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(t_s: f64, warmup: bool) -> Window {
        Window {
            t_s,
            warmup,
            rps: 998.4,
            p50_ms: 1.25,
            p99_ms: 3.5,
            errors: 2,
            ..Window::default()
        }
    }

    #[test]
    fn plain_line_is_the_ci_format() {
        assert_eq!(
            line("envoy", &window(3.0, false)),
            "[envoy]    3s rps     998.4  p50    1.250 ms  p99    3.500 ms  errors 2"
        );
        assert!(line("baseline", &window(0.0, true)).starts_with("[baseline]    0s (warmup) rps"));
    }

    #[test]
    fn bar_fills_with_elapsed_time() {
        let half = bar_line("envoy", &window(4.0, false), 10.0, 10);
        assert_eq!(
            half,
            "[envoy] █████░░░░░   5s/10s  rps    998.4  p99    3.500 ms  errors 2"
        );
        let full = bar_line("envoy", &window(12.0, false), 10.0, 10);
        assert!(
            full.contains("██████████ ") && !full.contains('░'),
            "{full}"
        );
        assert!(bar_line("envoy", &window(0.0, true), 10.0, 10).contains(" warmup"));
        // A bar line never holds a newline: it is redrawn in place.
        assert!(!half.contains('\n'));
    }

    #[test]
    fn finish_is_idempotent_and_only_after_a_bar() {
        let mut p = Progress::new("envoy", Style::Lines, 10.0);
        assert!(!p.open);
        p.finish();
        p.style = Style::Bar;
        p.open = true;
        p.finish();
        assert!(!p.open);
    }
}
