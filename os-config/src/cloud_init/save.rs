//! Saving what the datasources gave, where the layers read it: user-data's cloud-config as
//! `cloud-config.d/boot.yml`, metadata as `metadata`, scripts under `scripts/`. Invalid
//! user-data is kept beside them for inspection, never merged.

use super::user_data::UserData;
use crate::diagnostic::Diagnostic;
use crate::metadata::Metadata;
use crate::paths;
use std::path::{Path, PathBuf};
use yaml_serde::{Mapping, Value};

pub const BOOT_YML: &str = "boot.yml";

#[derive(Debug, Default)]
pub struct Saved {
    pub files: Vec<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

fn conf_dir(root: &Path) -> PathBuf {
    paths::cloud_config(root)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("var/lib/rancher/conf"))
}

/// Saves user-data (already classified) and metadata under `root`.
pub fn save(
    root: &Path,
    user_data: Option<Result<UserData, Diagnostic>>,
    metadata: &Metadata,
) -> Saved {
    let mut out = Saved::default();
    let dir = conf_dir(root);
    let write = |path: PathBuf, bytes: &[u8], mode: u32, out: &mut Saved| match crate::atomic_write(
        &path, bytes, mode,
    ) {
        Ok(()) => out.files.push(path),
        Err(e) => out
            .diagnostics
            .push(Diagnostic::error("", format!("cannot save: {e}")).in_file(Some(path))),
    };
    match user_data {
        Some(Ok(UserData::CloudConfig(v))) => {
            let text = format!(
                "#cloud-config\n{}",
                yaml_serde::to_string(&v).unwrap_or_default()
            );
            write(
                paths::cloud_config_d(root).join(BOOT_YML),
                text.as_bytes(),
                crate::CONFIG_FILE_MODE,
                &mut out,
            );
        }
        Some(Ok(UserData::Script(s))) => {
            write(dir.join("scripts/user-data"), s.as_bytes(), 0o700, &mut out);
        }
        Some(Ok(UserData::Empty)) | None => {}
        Some(Err(d)) => out.diagnostics.push(d),
    }
    if metadata != &Metadata::default() {
        let mut m = Mapping::new();
        if let Some(h) = &metadata.hostname {
            m.insert("hostname".into(), Value::String(h.clone()));
        }
        if !metadata.ssh_keys.is_empty() {
            m.insert(
                "public_keys".into(),
                Value::Sequence(
                    metadata
                        .ssh_keys
                        .iter()
                        .cloned()
                        .map(Value::String)
                        .collect(),
                ),
            );
        }
        let text = yaml_serde::to_string(&Value::Mapping(m)).unwrap_or_default();
        write(
            paths::metadata(root),
            text.as_bytes(),
            crate::CONFIG_FILE_MODE,
            &mut out,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_files_become_layers() {
        let root = tempfile::tempdir().unwrap();
        let ud = super::super::user_data::parse(
            "#cloud-config\nrancher:\n  debug: true\n",
            Path::new("ud"),
        );
        let md = Metadata {
            hostname: Some("md-host".into()),
            ssh_keys: vec!["ssh-rsa AAA k".into()],
        };
        let saved = save(root.path(), Some(ud), &md);
        assert!(saved.diagnostics.is_empty(), "{:?}", saved.diagnostics);
        assert_eq!(saved.files.len(), 2);
        let loaded = crate::load(root.path());
        assert!(loaded.config.rancher.debug);
        assert_eq!(loaded.config.hostname.as_deref(), Some("md-host"));
        assert_eq!(loaded.config.ssh_authorized_keys, vec!["ssh-rsa AAA k"]);
    }

    #[test]
    fn invalid_user_data_is_reported_not_saved() {
        let root = tempfile::tempdir().unwrap();
        let ud = super::super::user_data::parse(
            "#cloud-config\nx: [\n",
            Path::new("/media/cidata/user-data"),
        );
        let saved = save(root.path(), Some(ud), &Metadata::default());
        assert_eq!(saved.diagnostics.len(), 1);
        assert!(saved.diagnostics[0]
            .to_string()
            .starts_with("/media/cidata/user-data:"));
        assert!(saved.files.is_empty());
    }
}
