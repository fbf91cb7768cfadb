//! Key paths such as `rancher.sysctl."net.core.somaxconn"` or `write_files[0].path`, and
//! getting or setting the value they name inside a YAML document.

use std::fmt;
use yaml_serde::{Mapping, Value};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// A parsed key path; displays back in the form users type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath(pub Vec<PathSeg>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyPathError {
    #[error("empty key")]
    Empty,
    #[error("unterminated quote in key {0:?}")]
    UnterminatedQuote(String),
    #[error("empty segment in key {0:?}")]
    EmptySegment(String),
    #[error("bad list index in key {0:?}")]
    BadIndex(String),
    #[error("cannot set {path}: {prefix} is {kind}, not a map")]
    ThroughNonMap {
        path: String,
        prefix: String,
        kind: &'static str,
    },
    #[error("cannot set {path}: {prefix} has no item {index}")]
    NoSuchIndex {
        path: String,
        prefix: String,
        index: usize,
    },
}

impl KeyPath {
    pub fn parse(s: &str) -> Result<KeyPath, KeyPathError> {
        if s.is_empty() {
            return Err(KeyPathError::Empty);
        }
        let mut segs = Vec::new();
        let mut chars = s.chars().peekable();
        let mut cur = String::new();
        // True once the current segment has content (a quoted "" segment counts).
        let mut have = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    let mut closed = false;
                    for q in chars.by_ref() {
                        if q == '"' {
                            closed = true;
                            break;
                        }
                        cur.push(q);
                    }
                    if !closed {
                        return Err(KeyPathError::UnterminatedQuote(s.to_owned()));
                    }
                    have = true;
                }
                '.' => {
                    if !have {
                        return Err(KeyPathError::EmptySegment(s.to_owned()));
                    }
                    segs.push(PathSeg::Key(std::mem::take(&mut cur)));
                    have = false;
                }
                '[' => {
                    if have {
                        segs.push(PathSeg::Key(std::mem::take(&mut cur)));
                    } else if segs.is_empty() {
                        return Err(KeyPathError::BadIndex(s.to_owned()));
                    }
                    let mut digits = String::new();
                    let mut closed = false;
                    for d in chars.by_ref() {
                        if d == ']' {
                            closed = true;
                            break;
                        }
                        digits.push(d);
                    }
                    let idx = digits
                        .parse::<usize>()
                        .ok()
                        .filter(|_| closed)
                        .ok_or_else(|| KeyPathError::BadIndex(s.to_owned()))?;
                    segs.push(PathSeg::Index(idx));
                    have = false;
                    // After `]` only `.`, `[` or the end may follow.
                    match chars.peek() {
                        Some('.') => {
                            chars.next();
                            if chars.peek().is_none() {
                                return Err(KeyPathError::EmptySegment(s.to_owned()));
                            }
                        }
                        Some('[') | None => {}
                        Some(_) => return Err(KeyPathError::BadIndex(s.to_owned())),
                    }
                }
                c => {
                    cur.push(c);
                    have = true;
                }
            }
        }
        if have {
            segs.push(PathSeg::Key(cur));
        } else if !matches!(segs.last(), Some(PathSeg::Index(_))) {
            return Err(KeyPathError::EmptySegment(s.to_owned()));
        }
        Ok(KeyPath(segs))
    }

    pub fn keys<I: IntoIterator<Item = S>, S: Into<String>>(keys: I) -> KeyPath {
        KeyPath(keys.into_iter().map(|k| PathSeg::Key(k.into())).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn child(&self, seg: PathSeg) -> KeyPath {
        let mut v = self.0.clone();
        v.push(seg);
        KeyPath(v)
    }

    pub fn prefix(&self, len: usize) -> KeyPath {
        KeyPath(self.0.iter().take(len).cloned().collect())
    }

    /// The value at this path, if every segment exists.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut cur = root;
        for seg in &self.0 {
            cur = match (seg, cur) {
                (PathSeg::Key(k), Value::Mapping(m)) => m.get(k.as_str())?,
                (PathSeg::Index(i), Value::Sequence(s)) => s.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Sets the value, creating intermediate maps; refuses to write through a scalar or list.
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), KeyPathError> {
        if self.0.is_empty() {
            return Err(KeyPathError::Empty);
        }
        let mut cur = root;
        for (depth, seg) in self.0.iter().enumerate() {
            if cur.is_null() {
                *cur = Value::Mapping(Mapping::new());
            }
            let last = depth.saturating_add(1) == self.0.len();
            let kind = kind_of(cur);
            cur = match (seg, cur) {
                (PathSeg::Key(k), Value::Mapping(m)) => {
                    let key = Value::String(k.clone());
                    if !m.contains_key(&key) {
                        m.insert(key.clone(), Value::Null);
                    }
                    match m.get_mut(&key) {
                        Some(v) => v,
                        None => return Err(KeyPathError::Empty),
                    }
                }
                (PathSeg::Index(i), Value::Sequence(s)) => {
                    let len = s.len();
                    match s.get_mut(*i) {
                        Some(v) => v,
                        None => {
                            return Err(KeyPathError::NoSuchIndex {
                                path: self.to_string(),
                                prefix: self.prefix(depth).to_string(),
                                index: (*i).max(len),
                            })
                        }
                    }
                }
                _ => {
                    return Err(KeyPathError::ThroughNonMap {
                        path: self.to_string(),
                        prefix: if depth == 0 {
                            "the document".into()
                        } else {
                            self.prefix(depth).to_string()
                        },
                        kind,
                    })
                }
            };
            if last {
                *cur = value;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Removes the value at this path; returns whether something was removed.
    pub fn remove(&self, root: &mut Value) -> bool {
        let Some((last, parent_path)) = self.0.split_last() else {
            return false;
        };
        let mut cur = root;
        for seg in parent_path {
            cur = match (seg, cur) {
                (PathSeg::Key(k), Value::Mapping(m)) => match m.get_mut(k.as_str()) {
                    Some(v) => v,
                    None => return false,
                },
                (PathSeg::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
                    Some(v) => v,
                    None => return false,
                },
                _ => return false,
            };
        }
        match (last, cur) {
            (PathSeg::Key(k), Value::Mapping(m)) => m.shift_remove(k.as_str()).is_some(),
            (PathSeg::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
                // Keep indices of the other items stable for later removals.
                Some(item) => {
                    *item = Value::Null;
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}

/// A short description of a YAML value's kind, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if k.is_empty() || k.contains('.') || k.contains('[') || k.contains('"') {
                        write!(f, "\"{k}\"")?;
                    } else {
                        f.write_str(k)?;
                    }
                }
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        yaml_serde::from_str(s).unwrap()
    }

    #[test]
    fn parses_dotted_and_quoted_segments() {
        let p = KeyPath::parse(r#"rancher.sysctl."net.core.somaxconn""#).unwrap();
        assert_eq!(
            p,
            KeyPath::keys(["rancher", "sysctl", "net.core.somaxconn"])
        );
        assert_eq!(p.to_string(), r#"rancher.sysctl."net.core.somaxconn""#);
        let p = KeyPath::parse("write_files[0].path").unwrap();
        assert_eq!(
            p.0,
            vec![
                PathSeg::Key("write_files".into()),
                PathSeg::Index(0),
                PathSeg::Key("path".into())
            ]
        );
        assert_eq!(p.to_string(), "write_files[0].path");
    }

    #[test]
    fn rejects_malformed_paths() {
        assert_eq!(KeyPath::parse(""), Err(KeyPathError::Empty));
        assert!(matches!(
            KeyPath::parse("a..b"),
            Err(KeyPathError::EmptySegment(_))
        ));
        assert!(matches!(
            KeyPath::parse("a."),
            Err(KeyPathError::EmptySegment(_))
        ));
        assert!(matches!(
            KeyPath::parse("a.\"b"),
            Err(KeyPathError::UnterminatedQuote(_))
        ));
        assert!(matches!(
            KeyPath::parse("a[x]"),
            Err(KeyPathError::BadIndex(_))
        ));
    }

    #[test]
    fn set_creates_maps_and_refuses_scalars() {
        let mut doc = yaml("hostname: h\n");
        KeyPath::parse("rancher.ssh.port")
            .unwrap()
            .set(&mut doc, Value::from(22))
            .unwrap();
        assert_eq!(doc, yaml("hostname: h\nrancher: {ssh: {port: 22}}\n"));
        let err = KeyPath::parse("hostname.x")
            .unwrap()
            .set(&mut doc, Value::from(1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot set hostname.x: hostname is a string, not a map"
        );
    }

    #[test]
    fn get_and_remove() {
        let mut doc = yaml("a: {b: [1, 2]}\n");
        assert_eq!(
            KeyPath::parse("a.b[1]").unwrap().get(&doc),
            Some(&Value::from(2))
        );
        assert!(KeyPath::parse("a.b").unwrap().remove(&mut doc));
        assert_eq!(doc, yaml("a: {}\n"));
    }
}
