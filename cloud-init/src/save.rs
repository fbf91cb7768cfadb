//! Saving what a datasource gave, where the layers read it: user-data's cloud-config (every
//! cloud-config and compose part merged in order) as `cloud-config.d/boot.yml`, metadata as
//! `metadata`, scripts under `scripts/` (`00-name`, `01-name`, ... in user-data order), and the
//! user-data exactly as fetched as `user-data`, for inspection. A new save replaces the previous
//! one: a stale `boot.yml`, `metadata` or script is removed. Invalid parts are reported, never
//! merged, and user-data with any invalid part leaves the last good save's user-data files as
//! they are (only metadata is replaced): a typo must not drop the config the machine runs on.

use crate::fetched::Fetched;
use crate::user_data::{self, Part, UserData};
use os_config::metadata::Metadata;
use os_config::paths;
use os_config::Diagnostic;
use std::io;
use std::path::{Path, PathBuf};

pub const BOOT_YML: &str = "boot.yml";
/// Under the conf directory: the scripts to run once, in name order.
pub const SCRIPTS_DIR: &str = "scripts";
/// Under the conf directory: the user-data as the datasource returned it.
pub const RAW_USER_DATA: &str = "user-data";

#[derive(Debug, Default)]
pub struct Saved {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Stale files from an earlier save that were removed.
    pub removed: Vec<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

/// `/var/lib/rancher/conf` under `root`.
pub fn conf_dir(root: &Path) -> PathBuf {
    paths::cloud_config(root)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("var/lib/rancher/conf"))
}

pub fn scripts_dir(root: &Path) -> PathBuf {
    conf_dir(root).join(SCRIPTS_DIR)
}

/// Saves one user-data document (already classified) and metadata under `root`. User-data
/// that did not parse is reported and leaves the last good save's user-data files alone.
pub fn save(
    root: &Path,
    user_data: Option<Result<UserData, Diagnostic>>,
    metadata: &Metadata,
) -> Saved {
    let mut saved = Saved::default();
    match user_data {
        Some(Ok(data)) => {
            let part = Part {
                name: "user-data".into(),
                origin: PathBuf::from("user-data"),
                data,
            };
            save_user_data(&mut saved, root, &[part], None);
        }
        Some(Err(d)) => saved.diagnostics.push(d),
        None => save_user_data(&mut saved, root, &[], None),
    }
    save_metadata(&mut saved, root, metadata);
    saved
}

/// Saves decoded user-data parts, the raw user-data (when given) and metadata under `root`,
/// replacing what an earlier save left.
pub fn save_parts(root: &Path, parts: &[Part], raw: Option<&[u8]>, metadata: &Metadata) -> Saved {
    let mut out = Saved::default();
    save_user_data(&mut out, root, parts, raw);
    save_metadata(&mut out, root, metadata);
    out
}

/// `boot.yml`, the scripts and the raw user-data, replacing an earlier save's.
fn save_user_data(out: &mut Saved, root: &Path, parts: &[Part], raw: Option<&[u8]>) {
    let conf = conf_dir(root);

    let boot = paths::cloud_config_d(root).join(BOOT_YML);
    match boot_yml(parts) {
        Some(Ok(text)) => write(out, boot, text.as_bytes(), os_config::CONFIG_FILE_MODE),
        Some(Err(e)) => out.diagnostics.push(
            Diagnostic::error("", format!("cannot serialise user-data: {e}")).in_file(Some(boot)),
        ),
        None => remove(out, boot),
    }

    let scripts = scripts_dir(root);
    clear_dir(out, &scripts);
    let mut n = 0;
    for part in parts {
        if let UserData::Script(text) = &part.data {
            let file = scripts.join(format!("{n:02}-{}", file_name(&part.name)));
            write(out, file, text.as_bytes(), 0o700);
            n += 1;
        }
    }

    let raw_path = conf.join(RAW_USER_DATA);
    match raw {
        Some(bytes) => write(out, raw_path, bytes, os_config::CONFIG_FILE_MODE),
        None => remove(out, raw_path),
    }
}

/// The metadata layer, replacing an earlier save's (removed when there is none).
fn save_metadata(out: &mut Saved, root: &Path, metadata: &Metadata) {
    let md_path = paths::metadata(root);
    if metadata == &Metadata::default() {
        remove(out, md_path);
    } else {
        match metadata_text(metadata) {
            Ok(text) => write(out, md_path, text.as_bytes(), os_config::CONFIG_FILE_MODE),
            Err(e) => out.diagnostics.push(
                Diagnostic::error("", format!("cannot serialise metadata: {e}"))
                    .in_file(Some(md_path)),
            ),
        }
    }
}

/// The text of `boot.yml`: every cloud-config and compose part merged in order; `None` when
/// no part is configuration.
pub fn boot_yml(parts: &[Part]) -> Option<Result<String, yaml_serde::Error>> {
    let merged = user_data::merged_cloud_config(parts.iter().map(|p| &p.data))?;
    Some(yaml_serde::to_string(&merged).map(|text| format!("#cloud-config\n{text}")))
}

/// The instance id the last save recorded in `metadata`, if the datasource gave one.
pub fn saved_instance_id(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(paths::metadata(root)).ok()?;
    let value: yaml_serde::Value = yaml_serde::from_str(&text).ok()?;
    Metadata::from_value(&value).instance_id
}

/// The text of the saved `metadata` file, which `os_config::layers` reads back.
pub fn metadata_text(metadata: &Metadata) -> Result<String, yaml_serde::Error> {
    yaml_serde::to_string(&metadata.to_value())
}

/// A part name made safe as one path component.
fn file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "script".into()
    } else {
        cleaned.chars().take(64).collect()
    }
}

fn write(out: &mut Saved, path: PathBuf, bytes: &[u8], mode: u32) {
    match os_config::atomic_write(&path, bytes, mode) {
        Ok(()) => out.files.push(path),
        Err(e) => out
            .diagnostics
            .push(Diagnostic::error("", format!("cannot save: {e}")).in_file(Some(path))),
    }
}

fn remove(out: &mut Saved, path: PathBuf) {
    match std::fs::remove_file(&path) {
        Ok(()) => out.removed.push(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => out.diagnostics.push(
            Diagnostic::error("", format!("cannot remove the stale file: {e}")).in_file(Some(path)),
        ),
    }
}

/// Removes the files (not directories) in `dir`.
fn clear_dir(out: &mut Saved, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_type().map(|t| !t.is_dir()).unwrap_or(false) {
            remove(out, entry.path());
        }
    }
}

/// Saves the winning datasource's `fetched` data under `root` (`/` on a running system),
/// replacing an earlier save. The fetch's own diagnostics come first; each is logged once, here.
pub fn save_fetched(root: &Path, fetched: &Fetched) -> Saved {
    let mut saved = if fetched.user_data_malformed {
        let mut saved = Saved::default();
        save_metadata(&mut saved, root, &fetched.metadata);
        saved
    } else {
        save_parts(
            root,
            &fetched.user_data,
            fetched.raw_user_data.as_deref(),
            &fetched.metadata,
        )
    };
    let mut diagnostics = fetched.diagnostics.clone();
    diagnostics.append(&mut saved.diagnostics);
    saved.diagnostics = diagnostics;
    for d in &saved.diagnostics {
        if d.is_error() {
            tracing::error!(datasource = %fetched.source, "cloud-init: {d}");
        } else {
            tracing::warn!(datasource = %fetched.source, "cloud-init: {d}");
        }
    }
    if fetched.user_data_malformed {
        let first = saved.diagnostics.iter().find(|d| d.is_error());
        tracing::error!(
            datasource = %fetched.source,
            origin = %fetched.origin,
            first_error = %first.map(ToString::to_string).unwrap_or_default(),
            "cloud-init: the new user-data is malformed; the last good save is kept"
        );
    }
    for f in &saved.files {
        tracing::info!(datasource = %fetched.source, file = %f.display(), "cloud-init: saved");
    }
    for f in &saved.removed {
        tracing::info!(datasource = %fetched.source, file = %f.display(), "cloud-init: removed the stale file");
    }
    saved
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saved_files_become_layers() {
        let root = tempfile::tempdir().unwrap();
        let ud = user_data::parse("#cloud-config\nrancher:\n  debug: true\n", Path::new("ud"));
        let md = Metadata {
            instance_id: Some("i-123".into()),
            hostname: Some("md-host".into()),
            ssh_keys: vec!["ssh-rsa AAA k".into()],
            network: None,
        };
        let saved = save(root.path(), Some(ud), &md);
        assert!(saved.diagnostics.is_empty(), "{:?}", saved.diagnostics);
        assert_eq!(saved.files.len(), 2);
        let loaded = os_config::load(root.path());
        assert!(loaded.config.rancher.debug);
        assert_eq!(loaded.config.hostname.as_deref(), Some("md-host"));
        assert_eq!(loaded.config.ssh_authorized_keys, vec!["ssh-rsa AAA k"]);
        assert_eq!(saved_instance_id(root.path()).as_deref(), Some("i-123"));
    }

    #[test]
    fn invalid_user_data_is_reported_not_saved() {
        let root = tempfile::tempdir().unwrap();
        let ud = user_data::parse(
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

    #[test]
    fn malformed_user_data_keeps_the_last_good_save() {
        let root = tempfile::tempdir().unwrap();
        let good = b"#cloud-config\nhostname: good\nrancher: {debug: true}\n".to_vec();
        let fetch = |raw: &[u8], md: Metadata| {
            Fetched::new(
                "nocloud",
                "/media/cidata/user-data",
                Some(raw.to_vec()),
                md,
                Vec::new(),
            )
        };
        let first = fetch(&good, Metadata::default());
        assert!(!first.user_data_malformed);
        assert!(save_fetched(root.path(), &first).diagnostics.is_empty());
        let boot = paths::cloud_config_d(root.path()).join(BOOT_YML);
        let boot_text = std::fs::read_to_string(&boot).unwrap();

        // A typo on line 3: reported with source and line; boot.yml and the raw copy stay.
        let md = Metadata {
            hostname: Some("md".into()),
            ..Metadata::default()
        };
        let bad = fetch(b"#cloud-config\nhostname: bad\nrancher: [\n", md);
        assert!(bad.user_data_malformed);
        let saved = save_fetched(root.path(), &bad);
        let errors: Vec<String> = saved
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("/media/cidata/user-data:4:"),
            "{}",
            errors[0]
        );
        assert!(saved.removed.is_empty(), "{:?}", saved.removed);
        assert_eq!(saved.files, vec![paths::metadata(root.path())]);
        assert_eq!(std::fs::read_to_string(&boot).unwrap(), boot_text);
        assert_eq!(
            std::fs::read(conf_dir(root.path()).join(RAW_USER_DATA)).unwrap(),
            good
        );
        let loaded = os_config::load(root.path());
        assert_eq!(loaded.config.hostname.as_deref(), Some("good"));
        assert!(loaded.config.rancher.debug);

        // The same through `save` with one document that did not parse.
        let ud = user_data::parse("#cloud-config\nx: [\n", Path::new("ud"));
        let saved = save(root.path(), Some(ud), &Metadata::default());
        assert_eq!(saved.diagnostics.len(), 1);
        assert_eq!(std::fs::read_to_string(&boot).unwrap(), boot_text);
    }

    #[test]
    fn parts_scripts_and_raw_replace_an_earlier_save() {
        let root = tempfile::tempdir().unwrap();
        let part = |name: &str, text: &str| Part {
            name: name.into(),
            origin: PathBuf::from(name),
            data: user_data::parse(text, Path::new(name)).unwrap(),
        };
        let parts = vec![
            part(
                "a.yml",
                "#cloud-config\nhostname: a\nrancher: {debug: true}\n",
            ),
            part("../run me.sh", "#!/bin/sh\necho one\n"),
            part("b.yml", "#cloud-config\nhostname: b\n"),
            part("two", "#!/bin/sh\necho two\n"),
        ];
        let md = Metadata {
            hostname: Some("md".into()),
            ..Metadata::default()
        };
        let saved = save_parts(root.path(), &parts, Some(b"raw bytes"), &md);
        assert!(saved.diagnostics.is_empty(), "{:?}", saved.diagnostics);
        let scripts = scripts_dir(root.path());
        let s0 = scripts.join("00-_run_me.sh");
        assert_eq!(
            std::fs::read_to_string(&s0).unwrap(),
            "#!/bin/sh\necho one\n"
        );
        assert_eq!(
            std::fs::metadata(&s0).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(scripts.join("01-two").exists());
        assert_eq!(
            std::fs::read(conf_dir(root.path()).join("user-data")).unwrap(),
            b"raw bytes"
        );
        let loaded = os_config::load(root.path());
        assert_eq!(loaded.config.hostname.as_deref(), Some("b"));
        assert!(loaded.config.rancher.debug);

        // A later save with only a script removes boot.yml, metadata, raw and old scripts.
        let saved = save_parts(
            root.path(),
            &[part("x", "#!/bin/sh\n")],
            None,
            &Metadata::default(),
        );
        assert!(saved.diagnostics.is_empty(), "{:?}", saved.diagnostics);
        assert_eq!(saved.removed.len(), 5, "{:?}", saved.removed);
        let mut left: Vec<_> = std::fs::read_dir(&scripts)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec!["00-x"]);
        assert!(!paths::cloud_config_d(root.path()).join(BOOT_YML).exists());
        assert!(!paths::metadata(root.path()).exists());
    }
}
