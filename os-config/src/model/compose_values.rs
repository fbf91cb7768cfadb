//! Value shapes compose files allow in more than one form: string or list, list or map, `512m`.

use crate::lenient_de::ScalarString;
use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// `command: ls -l` or `command: [ls, -l]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringOrList {
    String(String),
    List(Vec<String>),
}

impl StringOrList {
    /// As an argv: a string is split on whitespace (shell-words style quoting respected).
    pub fn to_args(&self) -> Vec<String> {
        match self {
            StringOrList::List(items) => items.clone(),
            StringOrList::String(s) => split_shell_words(s),
        }
    }

    /// Every entry as a list item; a string is one item.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            StringOrList::List(items) => items.clone(),
            StringOrList::String(s) => vec![s.clone()],
        }
    }
}

/// Splits like a POSIX shell would for plain words and quotes, without expansions.
pub fn split_shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrList::String(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StringOrList::String(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StringOrList::String(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(StringOrList::String(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(StringOrList::String(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<ScalarString>()? {
                    out.push(item.0);
                }
                Ok(StringOrList::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for StringOrList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StringOrList::String(v) => s.serialize_str(v),
            StringOrList::List(v) => v.serialize(s),
        }
    }
}

/// `environment:` and `labels:` as `[K=V, K]` or `{K: V, K: }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOrMap {
    List(Vec<String>),
    Map(IndexMap<String, Option<String>>),
}

impl Default for ListOrMap {
    fn default() -> Self {
        ListOrMap::List(Vec::new())
    }
}

impl ListOrMap {
    /// Entries as (key, value); a list item without `=` has no value.
    pub fn entries(&self) -> Vec<(String, Option<String>)> {
        match self {
            ListOrMap::List(items) => items
                .iter()
                .map(|item| match item.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (item.clone(), None),
                })
                .collect(),
            ListOrMap::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    /// Key/value map; keys without a value map to the empty string.
    pub fn to_map(&self) -> IndexMap<String, String> {
        self.entries()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }

    /// Looks one key up.
    pub fn get(&self, key: &str) -> Option<String> {
        self.entries()
            .into_iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        match self {
            ListOrMap::List(l) => l.is_empty(),
            ListOrMap::Map(m) => m.is_empty(),
        }
    }
}

impl<'de> Deserialize<'de> for ListOrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ListOrMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of KEY=VALUE strings or a map")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ListOrMap::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<ScalarString>()? {
                    out.push(item.0);
                }
                Ok(ListOrMap::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some((k, v)) = map.next_entry::<ScalarString, Option<ScalarString>>()? {
                    out.insert(k.0, v.map(|s| s.0));
                }
                Ok(ListOrMap::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ListOrMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ListOrMap::List(v) => v.serialize(s),
            ListOrMap::Map(m) => m.serialize(s),
        }
    }
}

/// A byte count written as a number or with a unit suffix (`512m`, `1g`, `64k`, `100b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> Option<ByteSize> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_suffix('b').unwrap_or(&s);
        let unit = |c: char, mult: u64| s.strip_suffix(c).map(|digits| (digits, mult));
        let (digits, mult) = unit('k', 1u64 << 10)
            .or_else(|| unit('m', 1 << 20))
            .or_else(|| unit('g', 1 << 30))
            .or_else(|| unit('t', 1 << 40))
            .unwrap_or((s, 1));
        digits.parse::<u64>().ok()?.checked_mul(mult).map(ByteSize)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = ScalarString::deserialize(d)?;
        ByteSize::parse(&raw.0).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid size {:?}: expected bytes or a number with k, m or g",
                raw.0
            ))
        })
    }
}

/// A ulimit: one number for soft and hard alike, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ulimit {
    Single(i64),
    SoftHard { soft: i64, hard: i64 },
}

impl Ulimit {
    pub fn soft_hard(&self) -> (i64, i64) {
        match *self {
            Ulimit::Single(v) => (v, v),
            Ulimit::SoftHard { soft, hard } => (soft, hard),
        }
    }
}

/// `bridge: true` (this interface is a bridge) or `bridge: br0` (join that bridge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BoolOrString {
    Bool(bool),
    String(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_respect_quotes() {
        assert_eq!(
            split_shell_words(r#"sh -c "echo 'a b'" x\ y"#),
            vec!["sh", "-c", "echo 'a b'", "x y"]
        );
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(ByteSize::parse("512m"), Some(ByteSize(512 << 20)));
        assert_eq!(ByteSize::parse("1G"), Some(ByteSize(1 << 30)));
        assert_eq!(ByteSize::parse("100"), Some(ByteSize(100)));
        assert_eq!(ByteSize::parse("12x"), None);
    }

    #[test]
    fn list_or_map_entries() {
        let l: ListOrMap = yaml_serde::from_str("[A=1, B]").unwrap();
        assert_eq!(
            l.entries(),
            vec![("A".into(), Some("1".into())), ("B".into(), None)]
        );
        let m: ListOrMap = yaml_serde::from_str("{A: 1, B: }").unwrap();
        assert_eq!(m.get("A"), Some("1".into()));
        assert_eq!(m.get("B"), None);
    }
}
