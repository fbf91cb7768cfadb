//! One configuration source, parsed and checked against the model. Syntax errors reject the
//! whole source; a value of the wrong type drops just that key from the typed view, so one
//! mistake never costs the rest of the file. Unknown keys are kept and reported.

use crate::diagnostic::Diagnostic;
use crate::key_path::{KeyPath, PathSeg};
use crate::model::CloudConfig;
use crate::positions::PositionIndex;
use std::collections::HashMap;
use std::path::Path;
use yaml_serde::{Mapping, Value};

/// Bounds the drop-and-retry loop on a pathological document.
const MAX_ERRORS: usize = 100;

#[derive(Debug, Clone)]
pub struct Document {
    /// Exactly what the source says (unknown and invalid keys included).
    pub value: Value,
    /// `value` without the keys whose values do not fit the model.
    pub cleaned: Value,
    pub config: CloudConfig,
    pub diagnostics: Vec<Diagnostic>,
}

impl Document {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// CRLF to LF and no byte-order mark, so Windows-edited files behave.
pub fn normalize_text(text: &str) -> String {
    text.trim_start_matches('\u{feff}').replace("\r\n", "\n")
}

/// Parses YAML text into a map; the error names the line and column.
pub fn parse_value(text: &str, origin: Option<&Path>) -> Result<Value, Diagnostic> {
    let text = normalize_text(text);
    let file = origin.map(Path::to_path_buf);
    let value: Value = yaml_serde::from_str(&text).map_err(|e| {
        let pos = e.location().map(|l| (l.line(), l.column()));
        let msg = e.to_string();
        let msg = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_owned(),
            None => msg,
        };
        Diagnostic::error("", format!("invalid YAML: {msg}"))
            .in_file(file.clone())
            .at(pos)
    })?;
    match value {
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        Value::Mapping(_) => Ok(value),
        other => Err(Diagnostic::error(
            "",
            format!(
                "the document must be a map of keys, found {}",
                crate::key_path::kind_of(&other)
            ),
        )
        .in_file(file)
        .at(Some((1, 1)))),
    }
}

/// Parses and validates a source's text.
pub fn parse_document(text: &str, origin: Option<&Path>) -> Result<Document, Diagnostic> {
    let value = parse_value(text, origin)?;
    let index = PositionIndex::build(&normalize_text(text));
    Ok(validate(value, origin, Some(&index)))
}

/// Checks a value against the model, collecting every type error and unknown key.
pub fn validate(value: Value, origin: Option<&Path>, index: Option<&PositionIndex>) -> Document {
    let file = origin.map(Path::to_path_buf);
    let locate = |path: &KeyPath| index.and_then(|i| i.find(path));
    let mut cleaned = value.clone();
    let mut diagnostics = Vec::new();
    let mut removed = RemovedItems::default();
    for _ in 0..MAX_ERRORS {
        let mut unknown: Vec<KeyPath> = Vec::new();
        let attempt = {
            let mut on_unknown = |p: serde_ignored::Path| unknown.push(ignored_path(&p));
            let ignored = serde_ignored::Deserializer::new(&cleaned, &mut on_unknown);
            serde_path_to_error::deserialize::<_, CloudConfig>(ignored)
        };
        match attempt {
            Ok(config) => {
                for path in unknown {
                    let original = removed.to_original(&path);
                    diagnostics.push(
                        Diagnostic::warning(
                            original.to_string(),
                            "unknown key: kept as written, not used by ros",
                        )
                        .in_file(file.clone())
                        .at(locate(&original)),
                    );
                }
                return Document {
                    value,
                    cleaned,
                    config,
                    diagnostics,
                };
            }
            Err(err) => {
                let path = error_path(err.path());
                let original = removed.to_original(&path);
                diagnostics.push(
                    Diagnostic::error(original.to_string(), err.inner().to_string())
                        .in_file(file.clone())
                        .at(locate(&original)),
                );
                if !drop_value(&mut cleaned, &removal_target(path), &mut removed) {
                    break;
                }
            }
        }
    }
    // Nothing usable could be salvaged: the typed view falls back to defaults.
    Document {
        value,
        cleaned: Value::Mapping(Mapping::new()),
        config: CloudConfig::default(),
        diagnostics,
    }
}

/// What to drop for an error at `path`: a bad `encoding` would leave still-encoded content
/// to be written as it stands, so the whole `write_files` entry goes.
fn removal_target(path: KeyPath) -> KeyPath {
    match path.0.as_slice() {
        [PathSeg::Key(w), PathSeg::Index(_), PathSeg::Key(e)]
            if w == "write_files" && e == "encoding" =>
        {
            path.prefix(2)
        }
        _ => path,
    }
}

/// Removes the offending value (or, failing that, its nearest removable parent).
fn drop_value(doc: &mut Value, path: &KeyPath, removed: &mut RemovedItems) -> bool {
    for len in (1..=path.0.len()).rev() {
        let p = path.prefix(len);
        if let Some(PathSeg::Index(i)) = p.0.last() {
            let seq_path = p.prefix(len.saturating_sub(1));
            if let Some(Value::Sequence(items)) = get_mut(doc, &seq_path) {
                if *i < items.len() {
                    items.remove(*i);
                    let orig_seq = removed.to_original(&seq_path);
                    let orig_index = removed.original_index(&orig_seq, *i);
                    removed.record(orig_seq, orig_index);
                    return true;
                }
            }
        } else if p.remove(doc) {
            return true;
        }
    }
    false
}

fn get_mut<'a>(root: &'a mut Value, path: &KeyPath) -> Option<&'a mut Value> {
    let mut cur = root;
    for seg in &path.0 {
        cur = match (seg, cur) {
            (PathSeg::Key(k), Value::Mapping(m)) => m.get_mut(k.as_str())?,
            (PathSeg::Index(i), Value::Sequence(s)) => s.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// List items dropped so far, so later paths can be reported in the source's own numbering.
#[derive(Default)]
struct RemovedItems {
    by_seq: HashMap<KeyPath, Vec<usize>>,
}

impl RemovedItems {
    fn record(&mut self, seq: KeyPath, original_index: usize) {
        let list = self.by_seq.entry(seq).or_default();
        list.push(original_index);
        list.sort_unstable();
    }

    fn original_index(&self, seq: &KeyPath, current: usize) -> usize {
        let mut idx = current;
        if let Some(list) = self.by_seq.get(seq) {
            for &r in list {
                if r <= idx {
                    idx = idx.saturating_add(1);
                }
            }
        }
        idx
    }

    fn to_original(&self, path: &KeyPath) -> KeyPath {
        let mut out = KeyPath::default();
        for seg in &path.0 {
            let seg = match seg {
                PathSeg::Index(i) => PathSeg::Index(self.original_index(&out, *i)),
                key => key.clone(),
            };
            out = out.child(seg);
        }
        out
    }
}

fn error_path(path: &serde_path_to_error::Path) -> KeyPath {
    use serde_path_to_error::Segment;
    KeyPath(
        path.iter()
            .filter_map(|seg| match seg {
                Segment::Seq { index } => Some(PathSeg::Index(*index)),
                Segment::Map { key } => Some(PathSeg::Key(key.clone())),
                Segment::Enum { variant } => Some(PathSeg::Key(variant.clone())),
                Segment::Unknown => None,
            })
            .collect(),
    )
}

fn ignored_path(path: &serde_ignored::Path) -> KeyPath {
    use serde_ignored::Path as P;
    match path {
        P::Root => KeyPath::default(),
        P::Seq { parent, index } => ignored_path(parent).child(PathSeg::Index(*index)),
        P::Map { parent, key } => ignored_path(parent).child(PathSeg::Key(key.clone())),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = parse_document(
            "rancher:\n  debug: true\n   bad: [\n",
            Some(Path::new("/x.yml")),
        )
        .unwrap_err();
        assert_eq!(err.file.as_deref(), Some(Path::new("/x.yml")));
        assert_eq!(err.line, Some(3));
        assert!(err.column.is_some());
        assert!(err.to_string().starts_with("/x.yml:3:"), "{err}");
    }

    #[test]
    fn type_errors_drop_only_the_bad_key() {
        let text = "hostname: h\nrancher:\n  network:\n    interfaces:\n      eth0:\n        mtu: big\n        dhcp: true\n  shutdown_timeout: soon\n";
        let doc = parse_document(text, Some(Path::new("/c.yml"))).unwrap();
        let errs: Vec<String> = doc.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("/c.yml:6:9: error: rancher.network.interfaces.eth0.mtu: invalid type: string \"big\""), "{errs:?}");
        assert!(
            errs[1].starts_with("/c.yml:8:3: error: rancher.shutdown_timeout:"),
            "{errs:?}"
        );
        assert_eq!(doc.config.hostname.as_deref(), Some("h"));
        assert_eq!(
            doc.config.rancher.network.interfaces["eth0"].dhcp,
            Some(true)
        );
        // Nothing is lost from the value itself.
        assert_eq!(doc.value, yaml_serde::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn list_item_errors_keep_source_numbering() {
        let text = "write_files:\n  - 5\n  - path: /ok\n  - [x]\n";
        let doc = parse_document(text, None).unwrap();
        let paths: Vec<&str> = doc
            .diagnostics
            .iter()
            .map(|d| d.key_path.as_str())
            .collect();
        assert_eq!(paths, vec!["write_files[0]", "write_files[2]"]);
        assert_eq!(doc.diagnostics[1].line, Some(4));
        assert_eq!(doc.config.write_files.len(), 1);
        assert_eq!(doc.config.write_files[0].path, "/ok");
    }

    #[test]
    fn bad_encoding_drops_the_whole_file_entry() {
        let text =
            "write_files:\n  - path: /a\n    encoding: rot13\n    content: x\n  - path: /b\n";
        let doc = parse_document(text, None).unwrap();
        assert_eq!(doc.diagnostics.len(), 1);
        assert_eq!(doc.diagnostics[0].key_path, "write_files[0].encoding");
        assert_eq!(doc.config.write_files.len(), 1);
        assert_eq!(doc.config.write_files[0].path, "/b");
    }

    #[test]
    fn v1_booleans_and_quoted_numbers_are_accepted() {
        let text = "rancher:\n  debug: yes\n  ssh: {port: \"2222\", daemon: off}\n  network:\n    interfaces:\n      eth0: {dhcp: \"no\", mtu: \"1500\"}\n";
        let doc = parse_document(text, None).unwrap();
        assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
        let r = &doc.config.rancher;
        assert!(r.debug);
        assert_eq!((r.ssh.port, r.ssh.daemon), (Some(2222), Some(false)));
        assert_eq!(r.network.interfaces["eth0"].dhcp, Some(false));
        assert_eq!(r.network.interfaces["eth0"].mtu, Some(1500));
        let bad = parse_document("rancher:\n  ssh: {port: 70000}\n  debug: maybe\n", None).unwrap();
        let msgs: Vec<String> = bad
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.key_path, d.message))
            .collect();
        assert_eq!(
            msgs,
            vec![
                "rancher.ssh.port: invalid value: 70000 is out of range for u16",
                "rancher.debug: invalid value: string \"maybe\", expected true or false"
            ]
        );
    }

    #[test]
    fn durations_out_of_range_are_errors_naming_key_and_line() {
        let text =
            "rancher:\n  shutdown_timeout: 99999999999\n  network:\n    dhcp_timeout: 3601\n";
        let doc = parse_document(text, None).unwrap();
        let d: Vec<String> = doc
            .diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.key_path, d.line.unwrap_or(0), d.message))
            .collect();
        assert_eq!(
            d,
            vec![
                "rancher.shutdown_timeout:2: invalid value: 99999999999 seconds is out of range, expected at most 3600",
                "rancher.network.dhcp_timeout:4: invalid value: 3601 seconds is out of range, expected at most 3600",
            ]
        );
        assert!(doc.has_errors());
        assert_eq!(doc.config.rancher.shutdown_timeout, None);
        let ok = parse_document("rancher:\n  shutdown_timeout: \"3600\"\n", None).unwrap();
        assert_eq!(ok.config.rancher.shutdown_timeout, Some(3600));
    }

    #[test]
    fn unknown_keys_are_warnings_with_paths() {
        let text =
            "rancher:\n  services:\n    web:\n      image: nginx\n      bogus: 1\n  wibble: true\n";
        let doc = parse_document(text, None).unwrap();
        let d: Vec<String> = doc
            .diagnostics
            .iter()
            .map(|d| format!("{}:{}", d.key_path, d.line.unwrap_or(0)))
            .collect();
        assert_eq!(d, vec!["rancher.services.web.bogus:5", "rancher.wibble:6"]);
        assert!(!doc.has_errors());
    }

    #[test]
    fn crlf_and_empty_documents() {
        let doc = parse_document("hostname: a\r\nrancher:\r\n  debug: true\r\n", None).unwrap();
        assert_eq!(doc.config.hostname.as_deref(), Some("a"));
        assert!(doc.config.rancher.debug);
        let doc = parse_document("# only a comment\n", None).unwrap();
        assert_eq!(doc.config, CloudConfig::default());
        let err = parse_document("- a\n- b\n", None).unwrap_err();
        assert!(err.message.contains("must be a map"), "{err}");
    }
}
