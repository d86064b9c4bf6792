//! The event receiver behind [`Locator::scan`]: it follows yaml-rust2's events with a
//! stack of open collections, records where every addressable key and value starts, and
//! stops at the first duplicate key, second document, excessive nesting or alias bomb.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::{pos_of, FieldPath, Locator, Node, RootKind, Seg};
use crate::scenario::error::Pos;

/// Deepest nesting accepted; a scenario needs about six levels.
const MAX_DEPTH: usize = 64;
/// Most values a document may expand to once aliases are followed. A 1 MiB file without
/// aliases has fewer than 600k values, so only an alias bomb reaches this.
const MAX_EXPANDED: u64 = 1_000_000;
/// Children of one collection whose positions are recorded. Every list or mapping of a
/// scenario has a lower limit, and an error about a collection this large points at the
/// collection; the cap keeps the scan of a hostile file fast.
const MAX_RECORDED_CHILDREN: usize = 10_000;

/// The first reason the file is refused: where, for which field, and what to do.
pub(super) struct Failure {
    pub pos: Pos,
    pub path: FieldPath,
    pub message: String,
    pub hint: String,
}

/// An open mapping or sequence.
struct Frame {
    /// Its node in the locator; `None` when it cannot be addressed (under a complex key).
    node: Option<usize>,
    /// The step from the parent to this collection (`?` under a complex key). Only the
    /// step is kept, not the whole path, so that deep or wide documents stay linear.
    seg: Seg,
    /// Whether this collection is itself a mapping key (a "complex key").
    as_key: bool,
    anchor: usize,
    /// Values in this subtree with aliases expanded, itself included.
    expanded: u64,
    /// Keys (of a mapping) or items (of a sequence) read so far.
    children: usize,
    kind: Kind,
}

enum Kind {
    /// `key` is the last key read; `None` while a key is expected (or it was not a scalar).
    Map {
        expect_key: bool,
        key: Option<String>,
    },
    Seq {
        next: usize,
    },
}

/// What `Locator::scan` hands yaml-rust2: it fills `locator`, or stops at a `failure`.
#[derive(Default)]
pub(super) struct Receiver {
    pub locator: Locator,
    stack: Vec<Frame>,
    /// Expanded size of each completed anchored node.
    anchors: HashMap<usize, u64>,
    documents: usize,
    pub failure: Option<Failure>,
}

/// The role of the node an event starts.
enum Role {
    Key,
    /// A value reached from the open frame by this step, recorded under
    /// `(parent node, step)` when the parent is addressable.
    Value(Option<usize>, Seg),
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.failure.is_some() {
            return;
        }
        let pos = pos_of(&mark);
        if self.stack.is_empty() && self.locator.nodes.is_empty() {
            self.locator.root = match &ev {
                Event::MappingStart(..) => Some(RootKind::Mapping),
                Event::Scalar(text, TScalarStyle::Plain, _, None)
                    if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") =>
                {
                    None
                }
                Event::Scalar(..) | Event::SequenceStart(..) | Event::Alias(_) => {
                    Some(RootKind::Other(pos))
                }
                _ => None,
            };
        }
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        pos,
                        None,
                        "more than one YAML document (`---`)",
                        "a scenario file holds one document: remove the `---` separator and \
                         what follows, or split the file",
                    );
                }
            }
            Event::Scalar(text, _, anchor, _) => self.leaf(pos, Some(text), anchor, 1),
            Event::Alias(id) => {
                let size = self.anchors.get(&id).copied().unwrap_or(1);
                self.leaf(pos, None, 0, size);
            }
            Event::MappingStart(anchor, _) => self.open(
                pos,
                anchor,
                Kind::Map {
                    expect_key: true,
                    key: None,
                },
            ),
            Event::SequenceStart(anchor, _) => self.open(pos, anchor, Kind::Seq { next: 0 }),
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            _ => {}
        }
    }
}

impl Receiver {
    /// Records the first failure; `last`, when given, is the key of the open mapping it is
    /// about.
    fn fail(
        &mut self,
        pos: Pos,
        last: Option<Seg>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        if self.failure.is_some() {
            return;
        }
        // Failures about the whole document (`last` is `None`) name no field.
        let segs = match last {
            Some(last) => {
                let mut segs: Vec<Seg> = self.stack.iter().skip(1).map(|f| f.seg.clone()).collect();
                segs.push(last);
                segs
            }
            None => Vec::new(),
        };
        self.failure = Some(Failure {
            pos,
            path: FieldPath(segs),
            message: message.into(),
            hint: hint.into(),
        });
    }

    fn role(&self) -> Role {
        let Some(top) = self.stack.last() else {
            return Role::Value(None, Seg::Key(String::new()));
        };
        let node = top.node.filter(|_| top.children <= MAX_RECORDED_CHILDREN);
        match &top.kind {
            Kind::Map {
                expect_key: true, ..
            } => Role::Key,
            Kind::Map { key: Some(k), .. } => Role::Value(node, Seg::Key(k.clone())),
            Kind::Map { key: None, .. } => Role::Value(None, Seg::Key("?".into())),
            Kind::Seq { next } => Role::Value(node, Seg::Index(*next)),
        }
    }

    /// Records a value node; `None` when it cannot be addressed (under a complex key).
    fn record(&mut self, parent: Option<usize>, seg: &Seg, pos: Pos) -> Option<usize> {
        if self.stack.is_empty() && self.locator.nodes.is_empty() {
            self.locator.nodes.push(Node {
                key: None,
                value: pos,
            });
            return Some(0);
        }
        let edge = (parent?, seg.clone());
        match self.locator.edges.get(&edge) {
            // A mapping value: its key was recorded when read.
            Some(&child) => {
                self.locator.nodes[child].value = pos;
                Some(child)
            }
            None => {
                let child = self.locator.nodes.len();
                self.locator.nodes.push(Node {
                    key: None,
                    value: pos,
                });
                self.locator.edges.insert(edge, child);
                Some(child)
            }
        }
    }

    /// A key: checks for duplicates and records where it starts.
    fn key(&mut self, pos: Pos, text: Option<String>) {
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        top.children += 1;
        let node = top.node.filter(|_| top.children <= MAX_RECORDED_CHILDREN);
        if let Kind::Map { expect_key, key } = &mut top.kind {
            *expect_key = false;
            key.clone_from(&text);
        }
        let (Some(parent), Some(text)) = (node, text) else {
            return;
        };
        let edge = (parent, Seg::Key(text));
        if let Some(&first) = self.locator.edges.get(&edge) {
            let first = self.locator.nodes[first].key.unwrap_or(pos);
            let Seg::Key(text) = edge.1 else { return };
            self.fail(
                pos,
                Some(Seg::Key(text.clone())),
                format!("duplicate key `{text}`"),
                format!(
                    "`{text}` is already set on line {}; keep one of them",
                    first.line
                ),
            );
            return;
        }
        // A block mapping starts (for yaml-rust2) at the `:` after its first key; point
        // at the key that holds it instead, or at that first key for the top level.
        let start = self.locator.nodes[parent].value;
        if pos < start {
            let holder = &mut self.locator.nodes[parent];
            holder.value = holder.key.unwrap_or(pos);
        }
        let child = self.locator.nodes.len();
        self.locator.nodes.push(Node {
            key: Some(pos),
            value: pos,
        });
        self.locator.edges.insert(edge, child);
    }

    /// A scalar or an alias, worth `size` values.
    fn leaf(&mut self, pos: Pos, text: Option<String>, anchor: usize, size: u64) {
        match self.role() {
            Role::Key => self.key(pos, text),
            Role::Value(parent, seg) => {
                self.record(parent, &seg, pos);
                self.value_done();
            }
        }
        if anchor != 0 {
            self.anchors.insert(anchor, size);
        }
        self.count(pos, size);
    }

    fn open(&mut self, pos: Pos, anchor: usize, kind: Kind) {
        let (node, seg, as_key) = match self.role() {
            Role::Key => (None, Seg::Key("?".into()), true),
            Role::Value(parent, seg) => (self.record(parent, &seg, pos), seg, false),
        };
        // A block collection starts on the line after its key (at a `-` or, for yaml-rust2,
        // at the first `:`); errors about the whole collection read best at that key.
        if let Some(n) = node {
            let holder = &mut self.locator.nodes[n];
            if let Some(key) = holder.key.filter(|k| k.line < pos.line) {
                holder.value = key;
            }
        }
        if self.stack.len() >= MAX_DEPTH {
            self.fail(
                pos,
                None,
                format!("nested more than {MAX_DEPTH} levels deep"),
                "a scenario needs only a few levels of nesting; check for runaway brackets",
            );
            return;
        }
        self.stack.push(Frame {
            node,
            seg,
            as_key,
            anchor,
            expanded: 1,
            children: 0,
            kind,
        });
        self.count(pos, 0);
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if frame.anchor != 0 {
            self.anchors.insert(frame.anchor, frame.expanded);
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.expanded = parent.expanded.saturating_add(frame.expanded);
            if frame.as_key {
                if let Kind::Map { expect_key, key } = &mut parent.kind {
                    *expect_key = false;
                    *key = None;
                }
            } else {
                self.value_done();
            }
        }
    }

    /// The value just read completes a mapping entry or a sequence item of the open frame.
    fn value_done(&mut self) {
        if let Some(top) = self.stack.last_mut() {
            match &mut top.kind {
                Kind::Map { expect_key, key } => {
                    *expect_key = true;
                    *key = None;
                }
                Kind::Seq { next } => {
                    *next += 1;
                    top.children += 1;
                }
            }
        }
    }

    /// Adds `size` expanded values to the open frame, failing past [`MAX_EXPANDED`].
    fn count(&mut self, pos: Pos, size: u64) {
        if let Some(top) = self.stack.last_mut() {
            top.expanded = top.expanded.saturating_add(size);
        }
        // Each open frame holds its closed children's totals, so the sum over the stack is
        // the size of the document so far.
        let outside = if self.stack.is_empty() { size } else { 0 };
        let total = self
            .stack
            .iter()
            .map(|f| f.expanded)
            .fold(outside, u64::saturating_add);
        if total > MAX_EXPANDED {
            self.fail(
                pos,
                None,
                format!("YAML aliases expand this document to more than {MAX_EXPANDED} values"),
                "this looks like an alias bomb: write the values out instead of nesting \
                 `*alias` references",
            );
        }
    }
}
