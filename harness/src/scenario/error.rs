//! The one error type of the scenario layer: where (file, line, column, field), what, and
//! what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};

/// Most errors reported at once; the rest are dropped to keep the output readable.
pub(crate) const MAX_ERRORS: usize = 20;

/// A scenario file that cannot be used, with enough context to fix it.
///
/// Displays as `file:line:column: field: message` followed by `  hint: ...` when there is a
/// hint, then any further errors found in the same file, one block each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Render(self))]
pub struct ScenarioError {
    /// The scenario file, as given to `load` or `parse`.
    pub file: PathBuf,
    /// 1-based line, when known (always known for errors tied to a field).
    pub line: Option<usize>,
    /// 1-based column, when known (always known for errors tied to a field).
    pub column: Option<usize>,
    /// Dotted path of the offending field, like `routes[0].cluster` or
    /// `upstreams.backend.responses`; `None` for errors about the whole file.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Further errors found in the same file, in file order (at most a handful).
    pub more: Vec<ScenarioError>,
}

/// A 1-based line and column in the scenario text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The first character of the file.
    pub const START: Pos = Pos { line: 1, column: 1 };

    /// A position from a 1-based line and column.
    pub fn new(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }
}

/// The width in characters of each line, with lines ending at `\n`, `\r\n` or a lone `\r`
/// as YAML counts them.
fn line_widths(text: &str) -> Vec<usize> {
    let mut widths = vec![0];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => widths.push(0),
            _ => {
                if let Some(w) = widths.last_mut() {
                    *w += 1;
                }
            }
        }
    }
    widths
}

// === impl ScenarioError ===

impl ScenarioError {
    /// Moves every position onto a place an editor can go to: the YAML parser reports the
    /// end of a file without a final line break on the line after the last one, and some
    /// columns in bytes rather than characters. A position past the end of its line goes to
    /// the line's end; one past the last line, to the end of the last line.
    pub(crate) fn clamped_to(mut self, text: &str) -> Self {
        self.clamp(&line_widths(text));
        let widths = line_widths(text);
        for more in &mut self.more {
            more.clamp(&widths);
        }
        self
    }

    fn clamp(&mut self, widths: &[usize]) {
        let (Some(line), Some(column)) = (self.line, self.column) else {
            return;
        };
        let last = widths.len().max(1);
        let (line, column) = if line > last {
            (last, usize::MAX)
        } else {
            (line.max(1), column)
        };
        let width = widths.get(line - 1).copied().unwrap_or(0);
        self.line = Some(line);
        self.column = Some(column.clamp(1, width + 1));
    }

    /// An error about the whole file (unreadable, too large, empty), with no position.
    pub(crate) fn file(file: &Path, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
            hint: None,
            more: Vec::new(),
        }
    }

    /// An error at a position, optionally tied to a field.
    pub(crate) fn at(
        file: &Path,
        pos: Pos,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ScenarioError {
            line: Some(pos.line),
            column: Some(pos.column),
            field: field.filter(|f| !f.is_empty()).map(str::to_string),
            ..ScenarioError::file(file, message)
        }
    }

    /// Adds (or replaces) the hint.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.hint = (!hint.is_empty()).then_some(hint);
        self
    }

    /// Every error carried: this one first, then `more`.
    pub fn all(&self) -> impl Iterator<Item = &ScenarioError> {
        std::iter::once(self).chain(&self.more)
    }

    /// Folds a list of errors (in any order) into one: the earliest in the file first, the
    /// others (up to [`MAX_ERRORS`] in all) in `more`. `None` for an empty list.
    pub(crate) fn combine(mut errors: Vec<ScenarioError>) -> Option<ScenarioError> {
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup_by(|a, b| a.line == b.line && a.field == b.field && a.message == b.message);
        errors.truncate(MAX_ERRORS);
        let mut iter = errors.into_iter();
        let mut first = iter.next()?;
        first.more = iter.collect();
        Some(first)
    }

    fn render_one(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Display adapter: the error, then each of `more` on its own lines.
struct Render<'a>(&'a ScenarioError);

impl fmt::Display for Render<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.render_one(f)?;
        for other in &self.0.more {
            f.write_str("\n")?;
            other.render_one(f)?;
        }
        Ok(())
    }
}

// === suggestions ===

/// The candidate closest to `word` by edit distance, when close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Typos are short; comparing long strings is quadratic and never useful here.
    if word.len() > 64 {
        return None;
    }
    let word = word.to_ascii_lowercase();
    let max = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| c.len() <= 64)
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A "did you mean" hint for `word`, or `None` when nothing is close.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Levenshtein distance, counting an adjacent transposition as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the dynamic-programming table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `a, b, c` with backticks, for lists of valid choices in messages.
pub(crate) fn list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("retries", "retires"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("retires", ["retries", "timeout"]), Some("retries"));
        assert_eq!(
            closest("endpionts", ["endpoints", "protocol"]),
            Some("endpoints")
        );
        assert_eq!(closest("xyz", ["endpoints", "protocol"]), None);
    }

    #[test]
    fn display() {
        let e = ScenarioError::at(
            Path::new("x.yaml"),
            Pos { line: 3, column: 7 },
            Some("a.b"),
            "bad",
        )
        .hint("fix it");
        assert_eq!(e.to_string(), "x.yaml:3:7: a.b: bad\n  hint: fix it");
        let f = ScenarioError::file(Path::new("x.yaml"), "empty");
        assert_eq!(f.to_string(), "x.yaml: empty");
        let both = ScenarioError::combine(vec![e.clone(), f.clone()]).unwrap();
        assert_eq!(
            both.to_string(),
            "x.yaml: empty\nx.yaml:3:7: a.b: bad\n  hint: fix it"
        );
    }
}
