//! Where each value of a YAML document is: a map from dotted paths to lines and columns.
//!
//! serde tells where a syntax or type error is, but once a document has parsed into typed
//! values the positions are gone. Semantic checks name the field they concern by its path
//! (`provides[0].point`), and this index, built from the parser's events, turns the path back
//! into a position. It also finds duplicate keys, which serde silently merges in maps.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// A position in the text: line and column, both counted from 1, the column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Where one node is: its key (for a mapping value) and its value.
#[derive(Debug, Clone, Copy)]
struct Node {
    key: Option<Pos>,
    value: Pos,
}

/// A key written twice in the same mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DuplicateKey {
    /// The path of the second occurrence.
    pub(crate) path: String,
    /// The key as written.
    pub(crate) key: String,
    /// Where the first occurrence is.
    pub(crate) first: Pos,
    /// Where the second occurrence is.
    pub(crate) second: Pos,
}

/// What the document's root node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Root {
    /// The text holds no document (only whitespace and comments), or could not be read.
    #[default]
    Nothing,
    /// A null scalar: empty, `~` or `null`.
    Null,
    /// Anything else.
    Value,
}

/// Paths deeper than this are not indexed: their problems point at an ancestor.
const MAX_DEPTH: usize = 64;
/// Keys longer than this are not indexed, nor anything below them.
const MAX_KEY_LEN: usize = 256;
/// An upper bound on the bytes of path text kept, so that a hostile document cannot make the
/// index much larger than itself.
const MAX_PATH_BYTES: usize = 8 << 20;

/// Positions by dotted path, for one YAML document.
#[derive(Debug, Default)]
pub(crate) struct LocationIndex {
    nodes: HashMap<String, Node>,
    duplicates: Vec<DuplicateKey>,
    root: Root,
    /// Whether the parser read the whole text without an error.
    complete: bool,
}

enum Frame {
    Map {
        path: String,
        /// Where each key of the mapping was first written.
        first_seen: HashMap<String, Pos>,
        /// The key just read, waiting for its value; `None` while a key is expected.
        pending: Option<PendingKey>,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// A collection whose children are not indexed (too deep, or under a complex key).
    Skip,
}

enum PendingKey {
    /// A scalar key: the value's path will be `parent.key`.
    Named { key: String, at: Pos },
    /// A key that cannot be part of a path (a collection, an alias, or too long).
    Unnamed,
}

impl LocationIndex {
    /// An index that knows no position; problems built with it have no location.
    pub(crate) fn empty() -> Self {
        Self::default()
    }

    /// Indexes the first document of `text`. A text the parser rejects yields what was indexed
    /// before the error; serde reports the error itself.
    pub(crate) fn build(text: &str) -> Self {
        let mut index = Self::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut path_bytes = 0usize;
        let mut started = false;
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let Ok((event, span)) = next else {
                return index;
            };
            let pos = Pos {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            let (scalar, opens) = match &event {
                Event::DocumentStart(_) => {
                    if started {
                        break;
                    }
                    started = true;
                    continue;
                }
                Event::DocumentEnd | Event::StreamEnd => {
                    if started {
                        break;
                    }
                    index.complete = matches!(event, Event::StreamEnd);
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    stack.pop();
                    continue;
                }
                Event::Scalar(text, ..) => (Some(text.as_ref()), None),
                Event::Alias(_) => (None, None),
                Event::SequenceStart(..) => (None, Some(false)),
                Event::MappingStart(..) => (None, Some(true)),
                Event::Nothing | Event::StreamStart => continue,
            };

            // Where this node sits: the path of a value, or `None` for a key or an unindexed
            // node. A key only updates its mapping's frame.
            let path: Option<String> = match stack.last_mut() {
                None => {
                    index.root = match scalar {
                        Some("" | "~" | "null" | "Null" | "NULL") => Root::Null,
                        _ => Root::Value,
                    };
                    Some(String::new())
                }
                Some(Frame::Skip) => None,
                Some(Frame::Seq { path, next }) => {
                    let child = format!("{path}[{next}]");
                    *next += 1;
                    Some(child)
                }
                Some(Frame::Map {
                    path,
                    first_seen,
                    pending,
                }) => match pending.take() {
                    None => {
                        *pending = Some(match scalar {
                            Some(key) if key.len() <= MAX_KEY_LEN => {
                                if let Some(first) = first_seen.get(key) {
                                    index.duplicates.push(DuplicateKey {
                                        path: join(path, key),
                                        key: key.to_owned(),
                                        first: *first,
                                        second: pos,
                                    });
                                } else {
                                    first_seen.insert(key.to_owned(), pos);
                                }
                                PendingKey::Named {
                                    key: key.to_owned(),
                                    at: pos,
                                }
                            }
                            _ => PendingKey::Unnamed,
                        });
                        if opens.is_some() {
                            // A complex key: nothing inside it is addressable.
                            stack.push(Frame::Skip);
                        }
                        continue;
                    }
                    Some(PendingKey::Named { key, at }) => {
                        let child = join(path, &key);
                        if path_bytes < MAX_PATH_BYTES {
                            path_bytes += child.len();
                            index.nodes.entry(child.clone()).or_insert(Node {
                                key: Some(at),
                                value: pos,
                            });
                        }
                        Some(child)
                    }
                    Some(PendingKey::Unnamed) => None,
                },
            };

            if let Some(p) = &path {
                if !matches!(stack.last(), Some(Frame::Map { .. })) && path_bytes < MAX_PATH_BYTES {
                    path_bytes += p.len();
                    index.nodes.entry(p.clone()).or_insert(Node {
                        key: None,
                        value: pos,
                    });
                }
            }
            if let Some(is_map) = opens {
                let frame = match path {
                    Some(path) if stack.len() < MAX_DEPTH => {
                        if is_map {
                            Frame::Map {
                                path,
                                first_seen: HashMap::new(),
                                pending: None,
                            }
                        } else {
                            Frame::Seq { path, next: 0 }
                        }
                    }
                    _ => Frame::Skip,
                };
                stack.push(frame);
            }
        }
        index
    }

    /// What the document's root is.
    #[cfg(test)]
    pub(crate) fn root(&self) -> Root {
        self.root
    }

    /// Whether the text holds no value at all: nothing but whitespace, comments and document
    /// markers, or a single null.
    pub(crate) fn is_blank(&self) -> bool {
        match self.root {
            Root::Nothing => self.complete,
            Root::Null => true,
            Root::Value => false,
        }
    }

    /// Keys written twice in the same mapping, in the order of the document.
    pub(crate) fn duplicates(&self) -> &[DuplicateKey] {
        &self.duplicates
    }

    /// Where the value at `path` starts, or else the nearest ancestor that is indexed.
    /// Whether it knows no position at all (a value built in code).
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether `path` itself is in the document (not only an ancestor).
    pub(crate) fn has(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    pub(crate) fn value(&self, path: &str) -> Option<Pos> {
        self.find(path).map(|n| n.value)
    }

    /// Where the key of the value at `path` is (the value itself for a sequence element), or
    /// else the nearest ancestor that is indexed.
    pub(crate) fn key(&self, path: &str) -> Option<Pos> {
        self.find(path).map(|n| n.key.unwrap_or(n.value))
    }

    fn find(&self, mut path: &str) -> Option<&Node> {
        loop {
            if let Some(node) = self.nodes.get(path) {
                return Some(node);
            }
            if path.is_empty() {
                return None;
            }
            path = parent(path);
        }
    }
}

/// Whether `text` is blank, as [`LocationIndex::is_blank`] says of its index, but reading only
/// up to the document's root node instead of indexing the whole text.
pub(crate) fn is_blank(text: &str) -> bool {
    let mut started = false;
    let mut complete = false;
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let Ok((event, _)) = next else {
            return false;
        };
        match event {
            Event::DocumentStart(_) if started => return false,
            Event::DocumentStart(_) => started = true,
            Event::DocumentEnd | Event::StreamEnd if started => return false,
            Event::DocumentEnd | Event::StreamEnd => complete = matches!(event, Event::StreamEnd),
            Event::Scalar(value, ..) => {
                return matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL")
            }
            Event::Nothing | Event::StreamStart | Event::SequenceEnd | Event::MappingEnd => {}
            Event::Alias(_) | Event::SequenceStart(..) | Event::MappingStart(..) => return false,
        }
    }
    complete
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path without its last segment: `a.b[2]` -> `a.b` -> `a` -> ``.
pub(crate) fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
id: demo
requires:
  base-utils: '^1'
provides:
  - point: text.transform
    methods: [upper, lower]
  - {point: other, priority: 3}
config:
  schema:
    type: object
";

    fn at(line: usize, column: usize) -> Option<Pos> {
        Some(Pos { line, column })
    }

    #[test]
    fn values_and_keys_have_one_based_positions() {
        let index = LocationIndex::build(DOC);
        assert_eq!(index.root(), Root::Value);
        assert_eq!(index.value(""), at(1, 1));
        assert_eq!(index.value("id"), at(1, 5));
        assert_eq!(index.key("id"), at(1, 1));
        assert_eq!(index.value("requires.base-utils"), at(3, 15));
        assert_eq!(index.key("requires.base-utils"), at(3, 3));
        assert_eq!(index.value("provides[0]"), at(5, 5));
        assert_eq!(index.value("provides[0].point"), at(5, 12));
        assert_eq!(index.value("provides[0].methods[1]"), at(6, 22));
        assert_eq!(index.value("provides[1].priority"), at(7, 30));
        assert_eq!(index.value("config.schema.type"), at(10, 11));
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let index = LocationIndex::build(DOC);
        assert_eq!(index.value("provides[0].priority"), at(5, 5));
        assert_eq!(index.value("config.schema.properties.x"), at(10, 5));
        assert_eq!(index.value("wasm.fuel"), at(1, 1));
        assert_eq!(LocationIndex::empty().value("id"), None);
    }

    #[test]
    fn duplicate_keys_are_found() {
        let index = LocationIndex::build("a: 1\nb:\n  x: 1\n  x: 2\na: 3\n");
        let dups = index.duplicates();
        assert_eq!(dups.len(), 2);
        assert_eq!(dups[0].path, "b.x");
        assert_eq!(
            (dups[0].first, dups[0].second),
            (at(3, 3).unwrap(), at(4, 3).unwrap())
        );
        assert_eq!(dups[1].path, "a");
        // The first occurrence wins in the index, as it is the one a reader sees first.
        assert_eq!(index.value("a"), at(1, 4));
    }

    #[test]
    fn empty_and_null_documents_are_recognised() {
        assert_eq!(LocationIndex::build("").root(), Root::Nothing);
        assert_eq!(LocationIndex::build("# nothing\n\n").root(), Root::Nothing);
        assert_eq!(LocationIndex::build("---\n").root(), Root::Null);
        assert_eq!(LocationIndex::build("~").root(), Root::Null);
        assert_eq!(LocationIndex::build("[1]").root(), Root::Value);
        assert!(LocationIndex::build("# c\n---\n...\n").is_blank());
        assert!(!LocationIndex::build("{}").is_blank());
        assert!(!LocationIndex::build("a: [").is_blank());
    }

    #[test]
    fn the_quick_blank_check_agrees_with_the_index() {
        for text in [
            "",
            "# nothing\n\n",
            "---\n",
            "~",
            "null",
            "NULL",
            "''",
            "[1]",
            "# c\n---\n...\n",
            "{}",
            "a: [",
            "*x",
            "---\n---\n",
            "...\n",
            "...\n---\na: 1\n",
            "- a\n",
            "&a ~",
            "!!str",
            "%YAML 1.2\n---\n",
            "\t",
            "a: 1\n---\n",
            ": x",
            "? a\n",
            "|\n  x\n",
        ] {
            assert_eq!(
                is_blank(text),
                LocationIndex::build(text).is_blank(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn complex_keys_aliases_and_deep_nesting_do_not_confuse_it() {
        let index = LocationIndex::build("? [a, b]\n: 1\nc: &x {d: 1}\ne: *x\nf: 2\n");
        assert_eq!(index.value("f"), at(5, 4));
        assert_eq!(index.value("e"), at(4, 4));
        // Deeper than the index goes, shallower than the parser's own limit.
        let deep = format!("a: {}1{}\nb: 2\n", "[".repeat(100), "]".repeat(100));
        let index = LocationIndex::build(&deep);
        assert_eq!(index.value("b"), at(2, 4));
    }
}
