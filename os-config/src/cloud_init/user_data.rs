//! User-data formats: `#cloud-config` YAML and `#!` scripts.

use crate::diagnostic::Diagnostic;
use crate::document;
use std::path::Path;
use yaml_serde::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum UserData {
    /// A cloud-config document, to be merged as a configuration layer.
    CloudConfig(Value),
    /// A script to run once at boot.
    Script(String),
    /// Nothing (an empty file).
    Empty,
}

/// Classifies and parses user-data; `origin` names the source in error messages.
pub fn parse(text: &str, origin: &Path) -> Result<UserData, Diagnostic> {
    let text = document::normalize_text(text);
    let first = text.lines().next().unwrap_or("").trim();
    if text.trim().is_empty() {
        Ok(UserData::Empty)
    } else if first.starts_with("#!") {
        Ok(UserData::Script(text))
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
}
