//! Where each field is in the file: a pass over yaml-rust2's events that records the line
//! and column of every key and value by field path, so errors found after deserialization
//! can still point at the text.
//!
//! The same pass is the first line of defence against hostile input: it reports syntax
//! errors, duplicate keys, nesting deeper than any scenario needs, and alias "bombs" (a few
//! lines that expand to millions of values) before serde ever expands an alias.

mod receiver;

use std::collections::HashMap;
use std::path::Path;

use yaml_rust2::parser::Parser;
use yaml_rust2::scanner::Marker;

use super::error::{Pos, ScenarioError};
pub(crate) use super::path::{FieldPath, Seg};
use receiver::Receiver;

/// What the document's top level is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootKind {
    Mapping,
    /// A sequence, a scalar other than null, or an alias; where it starts.
    Other(Pos),
}

/// Positions of the keys and values of one document, by field path.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    /// `None` for an empty document (nothing, comments only, or a null).
    root: Option<RootKind>,
    nodes: Vec<Node>,
    /// `(parent node, step) → child node`.
    edges: HashMap<(usize, Seg), usize>,
}

#[derive(Debug)]
struct Node {
    /// Where the key naming this node starts (values of mappings only).
    key: Option<Pos>,
    /// Where the value starts.
    value: Pos,
}

impl Locator {
    /// Scans `text`; fails on YAML syntax errors, duplicate keys, more than one document,
    /// excessive nesting and alias bombs.
    pub fn scan(text: &str, file: &Path) -> Result<Locator, ScenarioError> {
        let mut rx = Receiver::default();
        let mut parser = Parser::new_from_str(text);
        if let Some((pos, c)) = forbidden_char(text) {
            let message = format!("the file contains the character U+{:04X}", u32::from(c));
            return Err(ScenarioError::at(file, pos, None, message).hint(
                "a scenario is plain text: remove control characters and Unicode line separators (is this a binary file?)",
            ));
        }
        if let Err(e) = parser.load(&mut rx, true) {
            // An error the receiver saw first (e.g. a duplicate key) comes earlier in the text.
            if rx.failure.is_none() {
                let pos = pos_of(e.marker());
                let info = e.info();
                let message = format!("YAML syntax error: {info}");
                return Err(ScenarioError::at(file, pos, None, message).hint(syntax_hint(info)));
            }
        }
        match rx.failure {
            Some(f) => Err(
                ScenarioError::at(file, f.pos, Some(&f.path.to_string()), f.message).hint(f.hint),
            ),
            None => Ok(rx.locator),
        }
    }

    /// What the top level is; `None` when the document is empty.
    pub fn root(&self) -> Option<RootKind> {
        self.root
    }

    /// The node at `path`, or its deepest ancestor present in the file.
    fn find(&self, path: &[Seg]) -> (Option<usize>, Option<usize>) {
        if self.nodes.is_empty() {
            return (None, None);
        }
        let mut node = 0;
        for seg in path {
            match self.edges.get(&(node, seg.clone())) {
                Some(&child) => node = child,
                None => return (None, Some(node)),
            }
        }
        (Some(node), Some(node))
    }

    /// Where the value at `path` starts; for a field not in the file, where its nearest
    /// enclosing value starts.
    pub fn value(&self, path: &FieldPath) -> Pos {
        let (_, nearest) = self.find(&path.0);
        nearest.map_or(Pos::START, |n| self.nodes[n].value)
    }

    /// Where the key of the field at `path` starts (falls back like [`Locator::value`]).
    pub fn key(&self, path: &FieldPath) -> Pos {
        match self.find(&path.0) {
            (Some(n), _) => self.nodes[n].key.unwrap_or(self.nodes[n].value),
            (None, nearest) => nearest.map_or(Pos::START, |n| self.nodes[n].value),
        }
    }

    /// Whether the field at `path` is written in the file.
    pub fn has(&self, path: &FieldPath) -> bool {
        self.find(&path.0).0.is_some()
    }
}

/// The first character a scenario may not contain (C0 and C1 controls other than tab and
/// line breaks; DEL; U+FFFE and U+FFFF; and NEL, LS and PS, which YAML 1.1 (serde_yaml)
/// reads as line breaks and YAML 1.2 (yaml-rust2) does not, so the two passes would
/// disagree about lines), with its position. yaml-rust2 would take a NUL for the end of the
/// input, so these are refused before it runs. Lines end at `\n`, `\r\n` or a lone `\r`,
/// as YAML counts them.
fn forbidden_char(text: &str) -> Option<(Pos, char)> {
    let (mut line, mut column) = (1, 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let bad = match u32::from(c) {
            0x09 | 0x0A | 0x0D => false,
            0x85 | 0x2028 | 0x2029 => true,
            n => n < 0x20 || (0x7F..=0x9F).contains(&n) || n == 0xFFFE || n == 0xFFFF,
        };
        if bad {
            return Some((Pos::new(line, column), c));
        }
        let line_break = c == '\n' || (c == '\r' && chars.peek() != Some(&'\n'));
        if line_break {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    None
}

/// What to do about a YAML syntax error, by what the parser said.
fn syntax_hint(info: &str) -> &'static str {
    if info.contains("tab") {
        "YAML does not allow tabs for indentation: indent with spaces"
    } else if info.contains("anchor") || info.contains("alias") {
        "define an anchor (`&name`) before using `*name`, or quote a value that starts with `*` or `&`"
    } else {
        "fix the YAML here: indent with spaces, close every `[`/`{`/quote, \
         and quote values that contain `: ` or start with `*`, `&`, `!` or `%`"
    }
}

fn pos_of(m: &Marker) -> Pos {
    // yaml-rust2 lines are 1-based, columns 0-based.
    Pos::new(m.line().max(1), m.col() + 1)
}
