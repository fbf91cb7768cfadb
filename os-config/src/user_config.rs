//! `cloud-config.yml` (the fourth layer), as `ros config set`/`merge` and `ros service
//! enable`/`disable` change it: one reader and one validating writer. A file that does not
//! parse is never rewritten; a change that adds an error is refused and the file stays as it
//! was; the write is atomic (temporary file, fsync, rename, fsync of the directory), mode 0600.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::document;
use crate::{Diagnostic, KeyPathError, Value, CONFIG_FILE_MODE};

#[derive(Debug, thiserror::Error)]
pub enum UserConfigError {
    #[error("{0}\nrefusing to rewrite a file that does not parse; fix it first")]
    Unparsable(Box<Diagnostic>),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyPathError),
    #[error("not written, {} is unchanged:\n{}", .file.display(), .errors.join("\n"))]
    Invalid { file: PathBuf, errors: Vec<String> },
    #[error("cannot write YAML: {0}")]
    Yaml(String),
}

/// The file's document (an empty mapping when there is no file yet).
pub fn read(file: &Path) -> Result<Value, UserConfigError> {
    match std::fs::read_to_string(file) {
        Ok(text) => document::parse_value(&text, Some(file))
            .map_err(|d| UserConfigError::Unparsable(Box::new(d))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Value::Mapping(Default::default()))
        }
        Err(source) => Err(UserConfigError::Io {
            action: "reading",
            path: file.to_path_buf(),
            source,
        }),
    }
}

/// What a write left to say: warnings the change brought (errors refuse the write).
#[derive(Debug, Default)]
pub struct Updated {
    /// Whether the file was written (false: the change left the document as it was).
    pub written: bool,
    pub new_warnings: Vec<Diagnostic>,
}

/// Reads `file`, applies `change`, and writes the result if it differs, unless the change
/// adds a validation error (errors the file already had do not block it).
pub fn update(
    file: &Path,
    change: impl FnOnce(&mut Value) -> Result<(), UserConfigError>,
) -> Result<Updated, UserConfigError> {
    let mut doc = read(file)?;
    let original = doc.clone();
    let before = document::validate(doc.clone(), Some(file), None);
    change(&mut doc)?;
    if doc == original && file.exists() {
        return Ok(Updated::default());
    }
    let after = document::validate(doc.clone(), Some(file), None);
    let old: BTreeSet<&str> = before
        .diagnostics
        .iter()
        .map(|d| d.key_path.as_str())
        .collect();
    let errors: Vec<String> = after
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && !old.contains(d.key_path.as_str()))
        .map(|d| d.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(UserConfigError::Invalid {
            file: file.to_path_buf(),
            errors,
        });
    }
    let new_warnings = after
        .diagnostics
        .into_iter()
        .filter(|d| !d.is_error() && !old.contains(d.key_path.as_str()))
        .collect();
    let text = yaml_serde::to_string(&doc).map_err(|e| UserConfigError::Yaml(e.to_string()))?;
    crate::atomic_write(file, text.as_bytes(), CONFIG_FILE_MODE).map_err(|source| {
        UserConfigError::Io {
            action: "writing",
            path: file.to_path_buf(),
            source,
        }
    })?;
    Ok(Updated {
        written: true,
        new_warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyPath;

    #[test]
    fn writes_a_valid_change_and_refuses_a_new_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf/cloud-config.yml");
        let key = KeyPath::parse("rancher.shutdown_timeout").unwrap();
        let up = update(&file, |doc| Ok(key.set(doc, Value::from(30))?)).unwrap();
        assert!(up.written);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "rancher:\n  shutdown_timeout: 30\n"
        );
        let again = update(&file, |doc| Ok(key.set(doc, Value::from(30))?)).unwrap();
        assert!(!again.written, "an unchanged document is not written again");
        let err = update(&file, |doc| Ok(key.set(doc, Value::from("soon"))?)).unwrap_err();
        assert!(
            matches!(&err, UserConfigError::Invalid { errors, .. } if errors[0].contains("rancher.shutdown_timeout")),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "rancher:\n  shutdown_timeout: 30\n",
            "a refused change leaves the file as it was"
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_never_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cloud-config.yml");
        std::fs::write(&file, "rancher: [\n").unwrap();
        let err = update(&file, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("refusing to rewrite"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "rancher: [\n");
    }
}
