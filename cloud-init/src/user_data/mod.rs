//! User-data formats, one text part at a time: `#cloud-config` YAML, `#!` scripts and
//! `#compose` documents (services for `rancher.services`). Byte-level wrappers (gzip, MIME
//! multipart) are unwrapped first (`decode`).

mod decode;
pub use decode::{decode, Decoded};

use os_config::document;
use os_config::key_path::KeyPath;
use os_config::merge::merge;
use os_config::positions::PositionIndex;
use os_config::Diagnostic;
use std::path::{Path, PathBuf};
use yaml_serde::{Mapping, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum UserData {
    /// A cloud-config document, to be merged as a configuration layer.
    CloudConfig(Value),
    /// A script to run once at boot.
    Script(String),
    /// A compose document's services (a map of service name to definition), merged as
    /// `rancher.services`.
    Compose(Value),
    /// Nothing (an empty file).
    Empty,
}

impl UserData {
    /// The cloud-config this part contributes: itself, or `rancher.services` for a compose
    /// document. Scripts and empty parts contribute nothing.
    pub fn as_cloud_config(&self) -> Option<Value> {
        match self {
            UserData::CloudConfig(v) => Some(v.clone()),
            UserData::Compose(services) => {
                let mut rancher = Mapping::new();
                rancher.insert("services".into(), services.clone());
                let mut top = Mapping::new();
                top.insert("rancher".into(), Value::Mapping(rancher));
                Some(Value::Mapping(top))
            }
            UserData::Script(_) | UserData::Empty => None,
        }
    }
}

/// One decoded piece of user-data and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// A short name: the MIME part's file name, or `user-data`.
    pub name: String,
    /// The source, for messages: a file path or URL, with the MIME part when there is one.
    pub origin: PathBuf,
    pub data: UserData,
}

/// Every cloud-config and compose part merged in order (maps deeply, lists and scalars
/// replace); `None` when no part is configuration.
pub fn merged_cloud_config<'a>(parts: impl IntoIterator<Item = &'a UserData>) -> Option<Value> {
    let mut out: Option<Value> = None;
    for v in parts.into_iter().filter_map(UserData::as_cloud_config) {
        match &mut out {
            Some(acc) => merge(acc, v),
            None => out = Some(v),
        }
    }
    out
}

/// Classifies and parses user-data; `origin` names the source in error messages.
pub fn parse(text: &str, origin: &Path) -> Result<UserData, Diagnostic> {
    let text = document::normalize_text(text);
    let first = text.lines().next().unwrap_or("").trim();
    if text.trim().is_empty() {
        Ok(UserData::Empty)
    } else if first.starts_with("#!") {
        Ok(UserData::Script(text))
    } else if first.starts_with("#compose") {
        parse_compose(&text, origin).map(UserData::Compose)
    } else if first.starts_with("#cloud-config") || !first.starts_with('#') {
        // RancherOS accepted a YAML map without the header too.
        document::parse_value(&text, Some(origin)).map(UserData::CloudConfig)
    } else {
        Err(Diagnostic::error(
            "",
            format!("unsupported user-data format (first line {first:?})"),
        )
        .in_file(Some(origin.to_path_buf()))
        .at(Some((1, 1))))
    }
}

/// A compose document: `services:` (compose v2/v3), or the services at the top level
/// (compose v1, as RancherOS wrote them). Each service must be a map.
pub fn parse_compose(text: &str, origin: &Path) -> Result<Value, Diagnostic> {
    let doc = document::parse_value(text, Some(origin))?;
    let index = PositionIndex::build(text);
    let error = |key_path: Vec<String>, message: String| {
        let at = index.find(&KeyPath::keys(key_path.iter().cloned()));
        Diagnostic::error(key_path.join("."), message)
            .in_file(Some(origin.to_path_buf()))
            .at(at.or(Some((1, 1))))
    };
    let nested = doc.get("services").is_some();
    let services = match doc.get("services") {
        Some(Value::Mapping(m)) => m.clone(),
        Some(Value::Null) => Mapping::new(),
        Some(other) => {
            return Err(error(
                vec!["services".into()],
                format!(
                    "compose `services` must be a map, found {}",
                    os_config::key_path::kind_of(other)
                ),
            ))
        }
        None => match doc {
            Value::Mapping(mut m) => {
                m.remove("version");
                m
            }
            _ => Mapping::new(),
        },
    };
    for (name, def) in &services {
        if !matches!(def, Value::Mapping(_)) {
            let name = name.as_str().unwrap_or("?");
            let path = if nested {
                vec!["services".to_string(), name.to_string()]
            } else {
                vec![name.to_string()]
            };
            return Err(error(
                path,
                format!(
                    "compose service {name:?} must be a map, found {}",
                    os_config::key_path::kind_of(def)
                ),
            ));
        }
    }
    Ok(Value::Mapping(services))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let p = Path::new("user-data");
        assert!(matches!(
            parse("#cloud-config\nhostname: a\n", p),
            Ok(UserData::CloudConfig(_))
        ));
        assert!(matches!(
            parse("#!/bin/sh\necho hi\n", p),
            Ok(UserData::Script(_))
        ));
        assert_eq!(parse("", p), Ok(UserData::Empty));
        let e = parse("#cloud-config\nhostname: [\n", p).unwrap_err();
        assert_eq!(e.file.as_deref(), Some(p));
        assert!(parse("#include http://x\n", p)
            .unwrap_err()
            .message
            .contains("unsupported"));
    }

    #[test]
    fn compose_both_forms_become_rancher_services() {
        let p = Path::new("user-data");
        let v2 = parse(
            "#compose\nversion: '2'\nservices:\n  web:\n    image: nginx\n",
            p,
        )
        .unwrap();
        let v1 = parse("#compose\nweb:\n  image: nginx\n", p).unwrap();
        assert_eq!(v1, v2);
        assert_eq!(
            v1.as_cloud_config().unwrap(),
            yaml_serde::from_str::<Value>("rancher: {services: {web: {image: nginx}}}").unwrap()
        );
        let e = parse("#compose\nservices:\n  web: nginx\n", p).unwrap_err();
        assert!(e.message.contains("\"web\" must be a map"), "{e}");
        assert_eq!((e.line, e.key_path.as_str()), (Some(3), "services.web"));
    }

    #[test]
    fn parts_merge_in_order() {
        let a = parse(
            "#cloud-config\nrancher: {debug: true, x: [1]}\n",
            Path::new("a"),
        )
        .unwrap();
        let b = parse(
            "#cloud-config\nrancher: {x: [2]}\nhostname: b\n",
            Path::new("b"),
        )
        .unwrap();
        let s = parse("#!/bin/sh\n", Path::new("s")).unwrap();
        let c = parse("#compose\nweb: {image: nginx}\n", Path::new("c")).unwrap();
        let merged = merged_cloud_config([&a, &s, &b, &c]).unwrap();
        assert_eq!(
            merged,
            yaml_serde::from_str::<Value>(
                "rancher: {debug: true, x: [2], services: {web: {image: nginx}}}\nhostname: b\n"
            )
            .unwrap()
        );
        assert_eq!(merged_cloud_config([&s]), None);
    }
}
