//! The structural guard run before a value is built from the YAML.
//!
//! It streams the YAML parser's own events (libyaml, the parser `serde_yaml_ng` is built on)
//! and stops at the first collection nested beyond the depth limit, so deeply nested input
//! never reaches the parser's slow path (its work grows with the square of the flow nesting
//! depth) and never builds a deep value. It also computes, exactly, how many nodes the
//! document expands to once every alias is replaced by its anchor's node, and stops as soon
//! as that exceeds the node budget: alias bombs of any shape are rejected in time
//! proportional to the document, without expanding anything.
//!
//! This is the one module of the workspace that allows `unsafe`: libyaml is driven through
//! `unsafe-libyaml`, the C-to-Rust translation `serde_yaml_ng` itself parses with, because no
//! safe crate exposes the same event stream (with marks) that the full parse will see. Every
//! `unsafe` block states the invariant that makes it sound.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use unsafe_libyaml as unsafe_yaml;

/// Why the guard rejected a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A collection nested deeper than the limit starts at this 1-based line and column;
    /// `through_alias` when the depth is reached by expanding an alias.
    TooDeep {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Whether an alias's expansion made it too deep.
        through_alias: bool,
    },
    /// Expanding aliases would produce more nodes than the budget.
    TooManyNodes {
        /// 1-based line of the node that crossed the budget.
        line: usize,
        /// 1-based column of that node.
        column: usize,
    },
    /// An alias refers to the node that contains it (at this 1-based line and column).
    RecursiveAlias {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The stream holds more than one document (the second starts at this line).
    SeveralDocuments {
        /// 1-based line.
        line: usize,
    },
}

/// What the guard measured in a document it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// Nodes after expanding every alias.
    pub expanded_nodes: u64,
    /// Deepest collection nesting, aliases expanded.
    pub max_depth: usize,
    /// Number of aliases.
    pub aliases: usize,
    /// Whether the parser reported a syntax error (left for the full parse to describe).
    pub syntax_error: bool,
}

/// Owns an initialised libyaml parser reading `input`, and deletes it on drop.
struct Parser<'input> {
    raw: Box<MaybeUninit<unsafe_yaml::yaml_parser_t>>,
    _input: PhantomData<&'input [u8]>,
}

impl<'input> Parser<'input> {
    /// A parser over `input` (borrowed for the parser's whole life).
    fn new(input: &'input [u8]) -> Option<Parser<'input>> {
        let mut raw: Box<MaybeUninit<unsafe_yaml::yaml_parser_t>> = Box::new(MaybeUninit::uninit());
        // SAFETY: `raw` is a valid, heap-pinned allocation for a parser. `yaml_parser_initialize`
        // fully initialises it before any other call; on failure nothing was allocated and the
        // parser is dropped unused (without `Parser`, so never deleted). The input pointer and
        // length describe `input`, which the `'input` lifetime keeps alive and unchanged for
        // as long as the parser can read it.
        unsafe {
            if unsafe_yaml::yaml_parser_initialize(raw.as_mut_ptr()).fail {
                return None;
            }
            unsafe_yaml::yaml_parser_set_encoding(raw.as_mut_ptr(), unsafe_yaml::YAML_UTF8_ENCODING);
            unsafe_yaml::yaml_parser_set_input_string(raw.as_mut_ptr(), input.as_ptr(), input.len() as u64);
        }
        Some(Parser { raw, _input: PhantomData })
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: a `Parser` exists only once `yaml_parser_initialize` succeeded in `new`, and
        // `drop` runs once, so the parser is initialised and deleted exactly once.
        unsafe { unsafe_yaml::yaml_parser_delete(self.raw.as_mut_ptr()) }
    }
}

/// One event, copied out of libyaml (anchor names only; nothing else is needed).
enum Event {
    DocumentStart,
    StreamEnd,
    Scalar { anchor: Option<Vec<u8>> },
    Alias { anchor: Vec<u8> },
    Start { anchor: Option<Vec<u8>> },
    End,
    Other,
}

/// Copy a NUL-terminated libyaml string.
///
/// # Safety
///
/// `p` is null or points to a NUL-terminated string owned by a live event.
unsafe fn name(p: *const u8) -> Option<Vec<u8>> {
    if p.is_null() {
        None
    } else {
        // SAFETY: `p` is not null, and the caller guarantees it points to a NUL-terminated
        // string that outlives this call; the bytes are copied before the event is deleted.
        Some(unsafe { CStr::from_ptr(p.cast()) }.to_bytes().to_vec())
    }
}

/// The next event and its 1-based (line, column), or `None` on a syntax error.
fn next_event(parser: &mut Parser<'_>) -> Option<(Event, usize, usize)> {
    let mut raw = MaybeUninit::<unsafe_yaml::yaml_event_t>::uninit();
    // SAFETY: `p` is the parser initialised in `Parser::new` (alive as long as `parser`), and
    // its input borrows `text` for the parser's whole life. `yaml_parser_parse` initialises the
    // event when it succeeds (the event is not touched when it fails); the union `data` is read
    // only through the member that matches `type_`, its anchor strings are copied by `name`
    // while the event is alive, and the event is deleted exactly once before returning.
    unsafe {
        let p = parser.raw.as_mut_ptr();
        if unsafe_yaml::yaml_parser_parse(p, raw.as_mut_ptr()).fail {
            return None;
        }
        let e = raw.as_mut_ptr();
        let event = match (*e).type_ {
            unsafe_yaml::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
            unsafe_yaml::YAML_STREAM_END_EVENT => Event::StreamEnd,
            unsafe_yaml::YAML_SCALAR_EVENT => Event::Scalar { anchor: name((*e).data.scalar.anchor) },
            unsafe_yaml::YAML_ALIAS_EVENT => Event::Alias { anchor: name((*e).data.alias.anchor).unwrap_or_default() },
            unsafe_yaml::YAML_SEQUENCE_START_EVENT => Event::Start { anchor: name((*e).data.sequence_start.anchor) },
            unsafe_yaml::YAML_MAPPING_START_EVENT => Event::Start { anchor: name((*e).data.mapping_start.anchor) },
            unsafe_yaml::YAML_SEQUENCE_END_EVENT | unsafe_yaml::YAML_MAPPING_END_EVENT => Event::End,
            _ => Event::Other,
        };
        let line = usize::try_from((*e).start_mark.line).unwrap_or(usize::MAX).saturating_add(1);
        let column = usize::try_from((*e).start_mark.column).unwrap_or(usize::MAX).saturating_add(1);
        unsafe_yaml::yaml_event_delete(e);
        Some((event, line, column))
    }
}

/// An open collection: its anchor, expanded size so far and height of its subtree.
struct Frame {
    anchor: Option<Vec<u8>>,
    size: u64,
    height: usize,
}

/// A node the current event completes: its expanded size, height and anchor.
type Completed = (u64, usize, Option<Vec<u8>>);

/// Stream `text` through the YAML parser and check its shape: collections nest at most
/// `max_depth` levels (counting nesting reached through aliases), the document expands
/// to at most `max_nodes` nodes, no alias refers to its own ancestor, and there is one
/// document. A syntax error ends the check early (`Shape::syntax_error`); describing it
/// is left to the full parse.
pub fn inspect(text: &str, max_depth: usize, max_nodes: u64) -> Result<Shape, Rejection> {
    let Some(mut parser) = Parser::new(text.as_bytes()) else {
        return Ok(Shape { syntax_error: true, ..Shape::default() });
    };
    let mut walk = Walk::new(max_depth, max_nodes);
    loop {
        let Some((event, line, column)) = next_event(&mut parser) else {
            walk.shape.syntax_error = true;
            return Ok(walk.shape);
        };
        if !walk.event(event, line, column)? {
            return Ok(walk.shape);
        }
    }
}

/// What [`inspect`] has seen so far.
struct Walk {
    max_depth: usize,
    max_nodes: u64,
    /// The measurements; `expanded_nodes` is the running total.
    shape: Shape,
    /// Completed anchors: expanded size and height.
    anchors: HashMap<Vec<u8>, (u64, usize)>,
    /// The collections open at the current event.
    stack: Vec<Frame>,
    documents: usize,
}

impl Walk {
    fn new(max_depth: usize, max_nodes: u64) -> Walk {
        Walk { max_depth, max_nodes, shape: Shape::default(), anchors: HashMap::new(), stack: Vec::new(), documents: 0 }
    }

    /// Takes one event at (`line`, `column`); `Ok(false)` once the stream ends.
    fn event(&mut self, event: Event, line: usize, column: usize) -> Result<bool, Rejection> {
        // Nodes this event adds to the expanded document, and the node it completes.
        let (added, done): (u64, Option<Completed>) = match event {
            Event::StreamEnd => return Ok(false),
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Rejection::SeveralDocuments { line });
                }
                (0, None)
            }
            Event::Other => (0, None),
            Event::Start { anchor } => {
                self.open(anchor, line, column)?;
                (1, None)
            }
            Event::End => (0, self.stack.pop().map(|f| (f.size, f.height, f.anchor))),
            Event::Scalar { anchor } => (1, Some((1, 0, anchor))),
            Event::Alias { anchor } => {
                let (size, height) = self.alias(&anchor, line, column)?;
                (size, Some((size, height, None)))
            }
        };
        self.shape.expanded_nodes = self.shape.expanded_nodes.saturating_add(added);
        if self.shape.expanded_nodes > self.max_nodes {
            return Err(Rejection::TooManyNodes { line, column });
        }
        if let Some(node) = done {
            self.complete(node);
        }
        Ok(true)
    }

    /// A collection starts: one level deeper.
    fn open(&mut self, anchor: Option<Vec<u8>>, line: usize, column: usize) -> Result<(), Rejection> {
        if self.stack.len() >= self.max_depth {
            return Err(Rejection::TooDeep { line, column, through_alias: false });
        }
        self.stack.push(Frame { anchor, size: 1, height: 1 });
        self.shape.max_depth = self.shape.max_depth.max(self.stack.len());
        Ok(())
    }

    /// An alias stands for its anchor's whole node: its expanded size and height.
    fn alias(&mut self, anchor: &[u8], line: usize, column: usize) -> Result<(u64, usize), Rejection> {
        self.shape.aliases += 1;
        if self.stack.iter().any(|f| f.anchor.as_deref() == Some(anchor)) {
            return Err(Rejection::RecursiveAlias { line, column });
        }
        // An unknown anchor is an error the full parse reports; count it as a scalar.
        let (size, height) = self.anchors.get(anchor).copied().unwrap_or((1, 0));
        if self.stack.len() + height > self.max_depth {
            return Err(Rejection::TooDeep { line, column, through_alias: true });
        }
        self.shape.max_depth = self.shape.max_depth.max(self.stack.len() + height);
        Ok((size, height))
    }

    /// A node is complete: remember its anchor and add it to its parent.
    fn complete(&mut self, (size, height, anchor): Completed) {
        if let Some(name) = anchor {
            self.anchors.insert(name, (size, height));
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.size = parent.size.saturating_add(size);
            parent.height = parent.height.max(height + 1);
        }
    }
}
