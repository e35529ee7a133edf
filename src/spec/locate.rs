//! Where each node of a YAML document sits, by path.
//!
//! serde_yaml reports positions for the errors it finds itself (syntax, wrong types), but the
//! checks that look across the document (undefined hosts, duplicate names, port on icmp) run
//! after deserialization, when positions are gone. This index, built from the event stream of a
//! second parser, gives those checks a line and column for any path they name.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, Span};

/// A 1-based line and column in a spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One step of a path into the document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

/// Renders a path the way users see it in messages: `expect[2].port`.
pub fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct Node {
    key: Option<Pos>,
    value: Pos,
}

/// A key that appears twice in one mapping; YAML forbids it and serde would keep only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub path: Vec<Seg>,
    pub at: Pos,
    pub first: Pos,
}

/// Positions of every node of the first document, keyed by path.
#[derive(Debug, Default)]
pub struct Positions {
    nodes: HashMap<Vec<Seg>, Node>,
    pub duplicates: Vec<DuplicateKey>,
}

impl Positions {
    /// Builds the index. A document the event parser cannot read yields an empty index; serde_yaml
    /// reports the syntax error itself, with its own position.
    pub fn of(src: &str) -> Positions {
        let mut walker = Walker {
            parser: Parser::new_from_str(src),
            out: Positions::default(),
        };
        // Errors only cut the index short: lookups fall back to the nearest indexed ancestor.
        let _ = walker.document();
        walker.out
    }

    /// Position of the value at exactly `path`, if the document has it.
    pub fn find(&self, path: &[Seg]) -> Option<Pos> {
        self.nodes.get(path).map(|n| n.value)
    }

    /// Position of the value at `path`, or of its nearest indexed ancestor.
    pub fn value(&self, path: &[Seg]) -> Pos {
        self.lookup(path, |n| n.value)
    }

    /// Position of the key that introduces `path` (for "unknown key" errors), else of its value.
    pub fn key(&self, path: &[Seg]) -> Pos {
        self.lookup(path, |n| n.key.unwrap_or(n.value))
    }

    fn lookup(&self, path: &[Seg], pick: impl Fn(&Node) -> Pos) -> Pos {
        (0..=path.len())
            .rev()
            .find_map(|len| self.nodes.get(&path[..len]).map(&pick))
            .unwrap_or(Pos { line: 1, col: 1 })
    }
}

struct Walker<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    out: Positions,
}

type Step<T> = Result<T, ()>;

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

impl<'a> Walker<'a> {
    fn next(&mut self) -> Step<(Event<'a>, Span)> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            _ => Err(()),
        }
    }

    fn document(&mut self) -> Step<()> {
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentStart(_) => continue,
                Event::StreamEnd | Event::DocumentEnd => return Ok(()),
                ev => {
                    let mut path = Vec::new();
                    return self.node(&mut path, None, ev, span);
                }
            }
        }
    }

    fn node(
        &mut self,
        path: &mut Vec<Seg>,
        key: Option<Pos>,
        ev: Event<'a>,
        span: Span,
    ) -> Step<()> {
        self.out.nodes.insert(
            path.clone(),
            Node {
                key,
                value: pos(&span),
            },
        );
        match ev {
            Event::SequenceStart(..) => {
                let mut index = 0;
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        return Ok(());
                    }
                    path.push(Seg::Index(index));
                    self.node(path, None, ev, span)?;
                    path.pop();
                    index += 1;
                }
            }
            Event::MappingStart(..) => {
                let mut seen: HashMap<String, Pos> = HashMap::new();
                loop {
                    let (kev, kspan) = self.next()?;
                    let key_text = match kev {
                        Event::MappingEnd => return Ok(()),
                        Event::Scalar(text, ..) => Some(text.into_owned()),
                        // A complex key (a mapping or list used as a key) has no path of its own;
                        // walk it under a name no real key can have, only to stay in step.
                        other => {
                            let mut scratch = vec![Seg::Key("\0complex".into())];
                            self.node(&mut scratch, None, other, kspan)?;
                            None
                        }
                    };
                    let key_pos = pos(&kspan);
                    let (vev, vspan) = self.next()?;
                    match key_text {
                        Some(k) => {
                            if let Some(first) = seen.get(&k) {
                                let mut dup = path.clone();
                                dup.push(Seg::Key(k.clone()));
                                self.out.duplicates.push(DuplicateKey {
                                    path: dup,
                                    at: key_pos,
                                    first: *first,
                                });
                                // Keep the first occurrence's positions: that is the one users
                                // are told about, and serde errors on the duplicate anyway.
                                let mut scratch = vec![Seg::Key("\0dup".into())];
                                self.node(&mut scratch, None, vev, vspan)?;
                                continue;
                            }
                            seen.insert(k.clone(), key_pos);
                            path.push(Seg::Key(k));
                            self.node(path, Some(key_pos), vev, vspan)?;
                            path.pop();
                        }
                        None => {
                            let mut scratch = vec![Seg::Key("\0complex".into())];
                            self.node(&mut scratch, None, vev, vspan)?;
                        }
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: usize, col: usize) -> Pos {
        Pos { line, col }
    }

    const DOC: &str = "\
app: shop
hosts:
  web: { ips: [10.0.1.10, 10.0.1.11] }
expect:
  - from: web
    to: app
    port: [80, \"1024-65535\"]
";

    #[test]
    fn finds_values_and_keys_by_path() {
        let idx = Positions::of(DOC);
        assert_eq!(idx.value(&["app".into()]), p(1, 6));
        assert_eq!(idx.key(&["hosts".into(), "web".into()]), p(3, 3));
        assert_eq!(
            idx.value(&["hosts".into(), "web".into(), "ips".into(), 1.into()]),
            p(3, 27)
        );
        assert_eq!(
            idx.value(&["expect".into(), 0.into(), "to".into()]),
            p(6, 9)
        );
        assert_eq!(
            idx.value(&["expect".into(), 0.into(), "port".into(), 1.into()]),
            p(7, 16)
        );
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let idx = Positions::of(DOC);
        assert_eq!(
            idx.value(&["expect".into(), 0.into(), "nope".into()]),
            p(5, 5)
        );
    }

    #[test]
    fn reports_duplicate_keys_with_both_positions() {
        let idx = Positions::of("app: a\nhosts:\n  web: {ip: 10.0.0.1}\n  web: {ip: 10.0.0.2}\n");
        assert_eq!(
            idx.duplicates,
            vec![DuplicateKey {
                path: vec!["hosts".into(), "web".into()],
                at: p(4, 3),
                first: p(3, 3),
            }]
        );
        assert_eq!(
            idx.value(&["hosts".into(), "web".into(), "ip".into()]),
            p(3, 13)
        );
    }

    #[test]
    fn a_broken_document_still_answers() {
        let idx = Positions::of("app: [unclosed\n");
        assert_eq!(idx.value(&["app".into()]), p(1, 6));
    }

    #[test]
    fn renders_paths_as_users_write_them() {
        assert_eq!(
            display_path(&["expect".into(), 2.into(), "port".into(), 0.into()]),
            "expect[2].port[0]"
        );
    }
}
