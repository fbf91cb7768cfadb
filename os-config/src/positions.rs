//! Line and column of every key in a YAML text, so that errors found on the parsed value can
//! point back at the source. yaml_serde's values carry no positions; yaml-rust2's events do.

use crate::key_path::{KeyPath, PathSeg};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Key path → (line, column), both 1-based.
#[derive(Debug, Default, Clone)]
pub struct PositionIndex {
    positions: HashMap<KeyPath, (usize, usize)>,
}

impl PositionIndex {
    /// Indexes `text`; a text that does not parse yields what was indexed before the error.
    pub fn build(text: &str) -> PositionIndex {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        // Errors are reported by the real parser; positions are best effort.
        let _ = parser.load(&mut builder, false);
        PositionIndex {
            positions: builder.positions,
        }
    }

    /// The position of `path`, or of its longest indexed prefix.
    pub fn find(&self, path: &KeyPath) -> Option<(usize, usize)> {
        (0..=path.0.len())
            .rev()
            .find_map(|n| self.positions.get(&path.prefix(n)).copied())
    }
}

enum Frame {
    Map {
        path: KeyPath,
        /// The key whose value comes next; None while a key is expected.
        pending_key: Option<PathSeg>,
    },
    Seq {
        path: KeyPath,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: HashMap<KeyPath, (usize, usize)>,
}

impl Builder {
    /// Where a new node sits: Some(path) for a value, None for a mapping key.
    fn place_node(&mut self, mark: Marker, key_text: Option<&str>) -> Option<KeyPath> {
        match self.stack.last_mut() {
            None => Some(KeyPath::default()),
            Some(Frame::Seq { path, next }) => {
                let p = path.child(PathSeg::Index(*next));
                *next = next.saturating_add(1);
                self.positions
                    .entry(p.clone())
                    .or_insert((mark.line(), mark.col().saturating_add(1)));
                Some(p)
            }
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                Some(key) => Some(path.child(key)),
                None => {
                    // This node is a key; non-scalar keys get a placeholder segment.
                    let key = PathSeg::Key(key_text.unwrap_or("?").to_owned());
                    self.positions
                        .entry(path.child(key.clone()))
                        .or_insert((mark.line(), mark.col().saturating_add(1)));
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => {
                self.place_node(mark, Some(&text));
            }
            Event::Alias(_) => {
                self.place_node(mark, None);
            }
            Event::MappingStart(..) => {
                let path = self.place_node(mark, None).unwrap_or_default();
                self.stack.push(Frame::Map {
                    path,
                    pending_key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.place_node(mark, None).unwrap_or_default();
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_list_items() {
        let text = "rancher:\n  network:\n    interfaces:\n      eth0:\n        mtu: abc\nwrite_files:\n  - path: /a\n  - path: /b\n";
        let idx = PositionIndex::build(text);
        let p = KeyPath::parse("rancher.network.interfaces.eth0.mtu").unwrap();
        assert_eq!(idx.find(&p), Some((5, 9)));
        let p = KeyPath::parse("write_files[1].path").unwrap();
        assert_eq!(idx.find(&p), Some((8, 5)));
        let p = KeyPath::parse("rancher.network.nothing.here").unwrap();
        assert_eq!(idx.find(&p), Some((2, 3)));
    }
}
