//! `rancher.services_include`: where an optional service's definition lives, and reading a
//! fragment (a map of service name → compose spec, optionally under `services:`).

use std::path::{Path, PathBuf};

use yaml_serde::Value;

/// Bundled service definitions, relative to the root.
pub const BUNDLED_DIR: &str = "usr/share/ros/services";
/// Local service definitions, relative to the root.
pub const LOCAL_DIR: &str = "var/lib/rancher/conf/services";
/// Fetched URLs, relative to the root.
pub const CACHE_DIR: &str = "var/lib/rancher/cache/services";

/// True for `http://` and `https://` names.
pub fn is_url(name: &str) -> bool {
    name.starts_with("http://") || name.starts_with("https://")
}

/// True when the include name is a path rather than a bare service name.
pub fn is_path(name: &str) -> bool {
    !is_url(name) && (name.contains('/') || name.ends_with(".yml") || name.ends_with(".yaml"))
}

/// The cache file a URL is fetched into.
pub fn cache_file(root: &Path, url: &str) -> PathBuf {
    let safe: String = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join(CACHE_DIR).join(format!("{safe}.yml"))
}

/// A path as seen from `root`: absolute paths are re-rooted so `--root` works in tests.
pub fn under_root(root: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    match p.strip_prefix("/") {
        Ok(rel) => root.join(rel),
        Err(_) => std::env::current_dir().unwrap_or_default().join(p),
    }
}

/// Where the definition for include `name` is, or every place that was looked at.
pub fn resolve(root: &Path, name: &str) -> Result<PathBuf, Vec<PathBuf>> {
    let candidates = if is_url(name) {
        vec![cache_file(root, name)]
    } else if is_path(name) {
        vec![under_root(root, name)]
    } else {
        vec![
            root.join(BUNDLED_DIR).join(format!("{name}.yml")),
            root.join(LOCAL_DIR).join(format!("{name}.yml")),
        ]
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(candidates)
}

/// Names of every service definition file shipped or installed under `root`.
pub fn available(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for dir in [BUNDLED_DIR, LOCAL_DIR] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut found: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".yml"))
                    .map(str::to_string)
            })
            .collect();
        found.sort();
        for n in found {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// A service fragment that cannot be used; shown as `file:line:col: message`.
#[derive(Debug, thiserror::Error)]
pub enum FragmentError {
    #[error("{}:{line}:{column}: {source}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("{}: {source}", file.display())]
    Yaml {
        file: PathBuf,
        #[source]
        source: yaml_serde::Error,
    },
    #[error(
        "{}:1:1: a service fragment must be a map of service name to definition",
        file.display()
    )]
    NotAMap { file: PathBuf },
}

/// Parses a fragment's text into its service map. Errors carry `file:line:col: message`.
pub fn parse_fragment(text: &str, file: &Path) -> Result<yaml_serde::Mapping, FragmentError> {
    let value: Value = yaml_serde::from_str(text).map_err(|source| match source.location() {
        Some(loc) => FragmentError::Syntax {
            file: file.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            source,
        },
        None => FragmentError::Yaml {
            file: file.to_path_buf(),
            source,
        },
    })?;
    let value = match value {
        Value::Mapping(mut m) => match m.remove("services") {
            Some(Value::Mapping(inner)) => Value::Mapping(inner),
            Some(other) => {
                m.insert(Value::String("services".into()), other);
                Value::Mapping(m)
            }
            None => Value::Mapping(m),
        },
        Value::Null => Value::Mapping(Default::default()),
        _ => Value::Null,
    };
    match value {
        Value::Mapping(m) => Ok(m),
        _ => Err(FragmentError::NotAMap {
            file: file.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_forms() {
        let p = Path::new("/x.yml");
        assert!(parse_fragment("a: {image: x}", p)
            .unwrap()
            .contains_key("a"));
        assert!(parse_fragment("services:\n  b: {image: x}", p)
            .unwrap()
            .contains_key("b"));
        let err = parse_fragment("a:\n  image: [x\n", p)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/x.yml:"), "{err}");
        assert!(parse_fragment("- a", p)
            .unwrap_err()
            .to_string()
            .contains("must be a map"));
    }

    #[test]
    fn resolution_order() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert_eq!(resolve(r, "zz").unwrap_err().len(), 2);
        std::fs::create_dir_all(r.join(LOCAL_DIR)).unwrap();
        std::fs::write(r.join(LOCAL_DIR).join("zz.yml"), "zz: {}").unwrap();
        assert_eq!(resolve(r, "zz").unwrap(), r.join(LOCAL_DIR).join("zz.yml"));
        assert_eq!(
            resolve(r, "/etc/s.yml").unwrap_err(),
            vec![r.join("etc/s.yml")]
        );
        assert!(cache_file(r, "https://h/x.yml").ends_with("h_x.yml.yml"));
    }
}
