//! The validation context (where errors are collected, with positions) and the checks on
//! single values shared by every section: units, counts, names, choices.

use std::cell::OnceCell;
use std::path::Path;
use std::time::Duration;

use gauntlet_mocks::units::{self, UnitError};

use super::error::{did_you_mean, list, Pos, ScenarioError};
use super::limits::Limits;
use super::locate::{FieldPath, Locator};
use super::raw::Scalar;

/// Collects errors while the raw scenario is turned into the model. Every check returns
/// `None` after recording an error, so validation goes on and reports as much as it can.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    /// The scenario text, for positions inside a value (see [`Ctx::within`]).
    pub text: &'a str,
    /// Where each line of `text` starts, computed on first use.
    pub lines: OnceCell<Vec<usize>>,
    pub loc: &'a Locator,
    pub limits: &'a Limits,
    pub errors: Vec<ScenarioError>,
    /// Where the scenario being validated sits in the file: the root for a one-phase file,
    /// `phases[1]` for a phase of a multi-phase one. The validators write paths from the
    /// scenario's own root; every path is prefixed with this before the locator looks it up
    /// and before an error names it.
    pub base: FieldPath,
}

impl<'a> Ctx<'a> {
    /// A context with no errors yet, for a scenario at the root of the file.
    pub fn new(file: &'a Path, text: &'a str, loc: &'a Locator, limits: &'a Limits) -> Self {
        Ctx {
            file,
            text,
            lines: OnceCell::new(),
            loc,
            limits,
            errors: Vec::new(),
            base: FieldPath::root(),
        }
    }

    /// This context for the scenario at `base` in the file (a phase of a multi-phase file).
    pub fn at_base(self, base: FieldPath) -> Self {
        Ctx { base, ..self }
    }

    /// `path` (relative to the scenario being validated) as a path in the file.
    pub fn full(&self, path: &FieldPath) -> FieldPath {
        let mut segs = self.base.0.clone();
        segs.extend(path.0.iter().cloned());
        FieldPath(segs)
    }

    /// Records an error at `pos` about the field at `path` (relative, like every path
    /// handed to the context).
    pub fn err_at(
        &mut self,
        pos: Pos,
        path: &FieldPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let field = self.full(path).to_string();
        let e = ScenarioError::at(self.file, pos, Some(&field), message).hint(hint);
        self.errors.push(e);
    }

    /// Records an error pointing at the value of `path`.
    pub fn err(&mut self, path: &FieldPath, message: impl Into<String>, hint: impl Into<String>) {
        let pos = self.loc.value(&self.full(path));
        self.err_at(pos, path, message, hint);
    }

    /// Records an error pointing at the key of `path` (for errors about a name).
    pub fn err_key(
        &mut self,
        path: &FieldPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let pos = self.loc.key(&self.full(path));
        self.err_at(pos, path, message, hint);
    }

    /// Where the `column`th character (1-based) of the string `value` at `path` is, when the
    /// value is written on one line as is (plain, or quoted without escapes); otherwise
    /// where the value starts.
    pub fn within(&self, path: &FieldPath, value: &str, column: usize) -> Pos {
        let start = self.loc.value(&self.full(path));
        let lines = self.lines.get_or_init(|| {
            let breaks = self.text.match_indices('\n').map(|(i, _)| i + 1);
            std::iter::once(0).chain(breaks).collect()
        });
        let Some(&from) = lines.get(start.line.saturating_sub(1)) else {
            return start;
        };
        let line = self.text[from..].lines().next().unwrap_or_default();
        let rest: String = line.chars().skip(start.column.saturating_sub(1)).collect();
        let (quote, body) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => (Some(q), &rest[1..]),
            _ => (None, rest.as_str()),
        };
        let as_is = body.strip_prefix(value).is_some_and(|after| match quote {
            Some(q) => after.starts_with(q),
            None => true,
        });
        if !as_is {
            return start;
        }
        let offset = usize::from(quote.is_some());
        let inside = column.saturating_sub(1).min(value.chars().count());
        Pos::new(start.line, start.column + offset + inside)
    }

    /// Records that the required `field` of `parent` is missing, or is there but empty.
    pub fn missing(&mut self, parent: &FieldPath, field: &str, hint: &str) {
        let path = parent.key(field);
        if self.loc.has(&self.full(&path)) {
            self.err_key(&path, format!("`{field}` is empty"), hint);
        } else {
            self.err(parent, format!("missing `{field}`"), hint);
        }
    }

    /// Records a units error: its text before `; ` is the message, after it the hint.
    fn unit_err(&mut self, path: &FieldPath, e: UnitError) {
        let (message, hint) = e.message.split_once("; ").unwrap_or((&e.message, ""));
        self.err(path, message.to_string(), hint.to_string());
    }

    /// A duration such as `250ms`, at most `max`.
    pub fn duration(
        &mut self,
        path: &FieldPath,
        value: &Scalar,
        max: Duration,
    ) -> Option<Duration> {
        let d = match value {
            Scalar::Bool(_) => {
                self.err(
                    path,
                    format!("`{value}` is not a duration"),
                    "write a number with a unit, e.g. `250ms`, `2s`, `1m30s`",
                );
                return None;
            }
            // Negative numbers would otherwise be reported as "not a duration".
            Scalar::Int(n) if *n < 0 => {
                self.err(
                    path,
                    format!("`{value}` is negative"),
                    "durations are `0` or more, e.g. `250ms`",
                );
                return None;
            }
            Scalar::Str(s) if s.trim_start().starts_with('-') => {
                self.err(
                    path,
                    format!("`{value}` is negative"),
                    "durations are `0` or more, e.g. `250ms`",
                );
                return None;
            }
            _ => units::parse_duration(&value.to_string()),
        };
        match d {
            Ok(d) if d > max => {
                let max = human_duration(max);
                self.err(
                    path,
                    format!("`{value}` is longer than the limit of {max}"),
                    format!("use at most {max}"),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.unit_err(path, e);
                None
            }
        }
    }

    /// A byte size such as `1KiB`, at most `limits.max_body_bytes`.
    pub fn body(&mut self, path: &FieldPath, value: &Scalar) -> Option<usize> {
        let text = value.to_string();
        let max = self.limits.max_body_bytes;
        let size = match value {
            Scalar::Bool(_) => Err(units::UnitError {
                message: format!(
                    "`{text}` is not a size; write bytes, e.g. `512`, `1KiB`, `4KB`, `1MiB`"
                ),
            }),
            _ => units::parse_size(&text).or_else(|e| huge_size(&text).ok_or(e)),
        };
        match size {
            Ok(n) if n > max => {
                self.err(
                    path,
                    format!("`{text}` is larger than the limit of {}", human_size(max)),
                    format!(
                        "use at most {}; a mock body is held in memory",
                        human_size(max)
                    ),
                );
                None
            }
            Ok(n) => usize::try_from(n).ok(),
            Err(e) => {
                self.unit_err(path, e);
                None
            }
        }
    }

    /// A percentage such as `97%`, as a fraction.
    pub fn percent(&mut self, path: &FieldPath, value: &Scalar) -> Option<f64> {
        match units::parse_percent(&value.to_string()) {
            Ok(p) => Some(p),
            Err(e) => {
                let hint = if matches!(value, Scalar::Int(_) | Scalar::Float(_)) {
                    format!("add a `%`, e.g. `{value}%`")
                } else {
                    "write a percentage, e.g. `97%` or `2.5%`".to_string()
                };
                let message = e
                    .message
                    .split_once("; ")
                    .map_or(e.message.as_str(), |(m, _)| m);
                self.err(path, message.to_string(), hint);
                None
            }
        }
    }

    /// A whole number in `min..=max`; `what` names it in messages ("endpoints").
    pub fn count(
        &mut self,
        path: &FieldPath,
        value: i64,
        min: u32,
        max: u32,
        what: &str,
    ) -> Option<u32> {
        if value < i64::from(min) {
            self.err(
                path,
                format!("{what} must be at least {min}, not {value}"),
                format!("use {min} to {max}"),
            );
            return None;
        }
        if value > i64::from(max) {
            self.err(
                path,
                format!("{what} of {value} is over the limit of {max}"),
                format!("use {min} to {max}"),
            );
            return None;
        }
        u32::try_from(value).ok()
    }

    /// One of `choices` (exact, case-sensitive), with a "did you mean" for near misses.
    pub fn choice<'c>(
        &mut self,
        path: &FieldPath,
        value: &Scalar,
        choices: &[&'c str],
    ) -> Option<&'c str> {
        let text = value.to_string();
        if let Some(c) = choices.iter().find(|c| **c == text) {
            return Some(c);
        }
        let hint = did_you_mean(&text, choices.iter().copied())
            .unwrap_or_else(|| format!("use one of {}", list(choices)));
        self.err(
            path,
            format!("`{}` is not one of {}", shorten(&text), list(choices)),
            hint,
        );
        None
    }

    /// A string value; numbers and booleans are refused where a string is meant.
    pub fn string(&mut self, path: &FieldPath, value: &Scalar, example: &str) -> Option<String> {
        match value {
            Scalar::Str(s) => Some(s.clone()),
            other => {
                self.err(
                    path,
                    format!("expected a string, found `{other}`"),
                    format!("quote it, e.g. `{example}`"),
                );
                None
            }
        }
    }

    /// A name that ends up in a file system path or an Envoy resource name: 1..=64 ASCII
    /// characters from `[A-Za-z0-9_-]`, plus `.` when `dots` (never `..` or only dots).
    pub fn name(
        &mut self,
        path: &FieldPath,
        value: &Scalar,
        dots: bool,
        what: &str,
        example: &str,
        at_key: bool,
    ) -> Option<String> {
        let name = value.to_string();
        let allowed = if dots {
            "letters, digits, `.`, `_` and `-`"
        } else {
            "letters, digits, `_` and `-`"
        };
        let problem = name_problem(&name, dots);
        match problem {
            None => Some(name),
            Some(problem) => {
                let message = format!(
                    "{what} `{}` {problem}",
                    shorten(&name.escape_debug().to_string())
                );
                let hint = format!("{what}s use 1 to 64 of {allowed}, e.g. `{example}`");
                if at_key {
                    self.err_key(path, message, hint);
                } else {
                    self.err(path, message, hint);
                }
                None
            }
        }
    }
}

/// Why `name` is not a valid name, if it is not.
fn name_problem(name: &str, dots: bool) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Some(format!(
            "contains the control character {}",
            c.escape_debug()
        ));
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
        return Some(format!("contains the non-ASCII character `{c}`"));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\')) {
        return Some(format!("contains the path separator `{c}`"));
    }
    if name.contains("..") || name.chars().all(|c| c == '.') {
        return Some("contains `..`".into());
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (dots && c == '.');
    if let Some(c) = name.chars().find(|c| !ok(*c)) {
        return Some(format!("contains `{c}`"));
    }
    if name.len() > 64 {
        return Some(format!("is {} characters long", name.len()));
    }
    None
}

/// Sizes in TB/TiB, which `units::parse_size` does not know, so that `1TiB` is reported
/// as too large rather than as not a size.
fn huge_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (number, scale) = [
        ("TiB", 1024f64.powi(4)),
        ("Ti", 1024f64.powi(4)),
        ("TB", 1e12),
        ("T", 1e12),
    ]
    .iter()
    .find_map(|(suffix, scale)| t.strip_suffix(suffix).map(|n| (n.trim(), *scale)))?;
    let value: f64 = number.parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    // The cast saturates: anything this large only needs to compare above the limit.
    Some((value * scale) as u64)
}

/// `24h`, `90m`, `250ms`: whole hours and minutes read better than `86400s`.
pub(crate) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if d.subsec_nanos() == 0 && secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        units::format_duration(d)
    }
}

/// `64MiB`, `1KiB`, `512B`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    UNITS
        .iter()
        .find(|(_, n)| bytes >= *n && bytes.is_multiple_of(*n))
        .map_or_else(
            || format!("{bytes}B"),
            |(unit, n)| format!("{}{unit}", bytes / n),
        )
}

/// At most 40 characters of a user value, for messages.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() <= 40 {
        text.to_string()
    } else {
        let head: String = text.chars().take(37).collect();
        format!("{head}...")
    }
}
