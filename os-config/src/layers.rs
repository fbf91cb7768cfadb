//! Loading and merging the seven layers, lowest precedence first:
//! built-in defaults, OEM, `cloud-config.d/*`, `cloud-config.yml`, the kernel cmdline, the
//! arguments after `--`, and metadata. A layer that fails to parse is skipped and reported;
//! loading itself never fails, because boot must continue on whatever is valid.

use crate::cmdline;
use crate::diagnostic::Diagnostic;
use crate::document::{self, Document};
use crate::merge::merge;
use crate::metadata::Metadata;
use crate::model::CloudConfig;
use crate::paths;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use yaml_serde::{Mapping, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Defaults,
    Oem,
    CloudConfigD,
    CloudConfig,
    Cmdline,
    CmdlineElided,
    Metadata,
}

/// One source that contributed to the merged configuration.
#[derive(Debug, Clone)]
pub struct Layer {
    pub kind: LayerKind,
    pub source: PathBuf,
    pub document: Document,
}

#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The merged document exactly as written, unknown keys included.
    pub value: Value,
    /// The typed view of the merged document (values that do not fit the model left out).
    pub config: CloudConfig,
    pub diagnostics: Vec<Diagnostic>,
    pub layers: Vec<Layer>,
}

#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Include the built-in `os-config.yml` (false gives the user's own configuration).
    pub defaults: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { defaults: true }
    }
}

/// Loads the full configuration under `root`.
pub fn load(root: &Path) -> LoadedConfig {
    load_with(root, LoadOptions::default())
}

/// The typed configuration of layers already in memory, lowest precedence first: what PID 1
/// has before the root exists (the image's defaults, the OEM partition, the cmdline and the
/// arguments after `--`). Values that do not fit the model are left out, as in `load`.
pub fn merge_in_memory<'a>(layers: impl IntoIterator<Item = &'a Value>) -> CloudConfig {
    let mut value = Value::Mapping(Default::default());
    for layer in layers {
        merge(&mut value, layer.clone());
    }
    document::validate(value, None, None).config
}

pub fn load_with(root: &Path, opts: LoadOptions) -> LoadedConfig {
    let mut diagnostics = Vec::new();
    let mut layers = Vec::new();
    let mut metadata = None;

    let mut add_file = |kind: LayerKind, path: PathBuf, diags: &mut Vec<Diagnostic>| {
        if let Some(doc) = read_document(&path, diags) {
            layers.push(Layer {
                kind,
                source: path,
                document: doc,
            });
        }
    };
    if opts.defaults {
        add_file(
            LayerKind::Defaults,
            paths::os_config(root),
            &mut diagnostics,
        );
    }
    add_file(LayerKind::Oem, paths::oem_config(root), &mut diagnostics);
    for path in cloud_config_d_files(root, &mut diagnostics) {
        add_file(LayerKind::CloudConfigD, path, &mut diagnostics);
    }
    add_file(
        LayerKind::CloudConfig,
        paths::cloud_config(root),
        &mut diagnostics,
    );

    let cmdline_path = paths::cmdline(root);
    if let Some(text) = read_text(&cmdline_path, &mut diagnostics) {
        let parsed = cmdline::parse(&text);
        for w in parsed.warnings {
            diagnostics.push(Diagnostic::warning("", w).in_file(Some(cmdline_path.clone())));
        }
        for (kind, value) in [
            (LayerKind::Cmdline, parsed.config),
            (LayerKind::CmdlineElided, parsed.elided),
        ] {
            layers.push(Layer {
                kind,
                source: cmdline_path.clone(),
                document: document::validate(value, Some(&cmdline_path), None),
            });
        }
    }

    let metadata_path = paths::metadata(root);
    if let Some(text) = read_text(&metadata_path, &mut diagnostics) {
        match document::parse_value(&text, Some(&metadata_path)) {
            Ok(v) => metadata = Some(Metadata::from_value(&v)),
            Err(d) => diagnostics.push(d),
        }
    }

    let mut value = Value::Mapping(Mapping::new());
    let mut cleaned = Value::Mapping(Mapping::new());
    for layer in &layers {
        diagnostics.extend(layer.document.diagnostics.iter().cloned());
        merge(&mut value, layer.document.value.clone());
        merge(&mut cleaned, layer.document.cleaned.clone());
    }
    if let Some(md) = &metadata {
        md.apply(&mut value);
        md.apply(&mut cleaned);
    }
    let merged = document::validate(cleaned, None, None);
    // Each layer was already checked; report only what merging itself made invalid.
    diagnostics.extend(merged.diagnostics.into_iter().filter(Diagnostic::is_error));
    LoadedConfig {
        value,
        config: merged.config,
        diagnostics,
        layers,
    }
}

/// `cloud-config.d` entries in name order; dotfiles (editor and temporary files) skipped.
fn cloud_config_d_files(root: &Path, diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let dir = paths::cloud_config_d(root);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            diags.push(
                Diagnostic::error("", format!("cannot read directory: {e}")).in_file(Some(dir)),
            );
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.file_type().map(|t| !t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

fn read_text(path: &Path, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                diags.push(
                    Diagnostic::error("", "not valid UTF-8 text; layer skipped")
                        .in_file(Some(path.to_path_buf())),
                );
                None
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            diags.push(
                Diagnostic::error("", format!("cannot read: {e}; layer skipped"))
                    .in_file(Some(path.to_path_buf())),
            );
            None
        }
    }
}

fn read_document(path: &Path, diags: &mut Vec<Diagnostic>) -> Option<Document> {
    let text = read_text(path, diags)?;
    match document::parse_document(&text, Some(path)) {
        Ok(doc) => Some(doc),
        Err(mut d) => {
            d.message.push_str("; layer skipped");
            diags.push(d);
            None
        }
    }
}
