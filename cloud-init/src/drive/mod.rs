//! Config drives: OpenStack `config-2` and NoCloud `cidata`, found by filesystem label among
//! the block devices (loop devices included), mounted read-only for the read and unmounted,
//! or given as an already mounted directory (`configdrive:/media/config-2`). NoCloud's
//! `network-config` becomes the metadata's network fragment.

use crate::error::ProbeError;
use crate::fetched::Fetched;
use crate::mount::Mounted;
use crate::network_config;
use crate::probe::{Ctx, Probed};
use host::block_devices;
pub mod files;

use files as drive;
pub use files::DriveKind;
use os_config::metadata::Metadata;
use os_config::Diagnostic;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(crate) fn probe(
    ctx: &Ctx,
    kind: DriveKind,
    dir: &Option<PathBuf>,
) -> Result<Probed, ProbeError> {
    if let Some(dir) = dir {
        if !dir.is_dir() {
            return Ok(Probed::NotPresent(format!(
                "{}: no such directory",
                dir.display()
            )));
        }
        return read(ctx, kind, dir, &|p: &Path| p.display().to_string());
    }
    let label = kind.label();
    let wait = ctx
        .opts
        .drive_wait
        .min(ctx.deadline.saturating_duration_since(Instant::now()));
    let Some(found) = block_devices::wait_for_any(&format!("LABEL={label}"), wait) else {
        return Ok(Probed::NotPresent(format!(
            "no block device labelled {label}"
        )));
    };
    let mounted = Mounted::read_only(&found.device, found.fs.fstype, &ctx.opts.mount_dir, label)?;
    tracing::info!(device = %found.device.display(), label, fstype = found.fs.fstype, "cloud-init: reading config drive");
    let device = found.device.display().to_string();
    let root = mounted.path().to_path_buf();
    // Name files as DEVICE:/path, not by the temporary mount point.
    let show = |p: &Path| match p.strip_prefix(&root) {
        Ok(rel) => format!("{device}:/{}", rel.display()),
        Err(_) => p.display().to_string(),
    };
    let result = read(ctx, kind, &root, &show);
    drop(mounted);
    result
}

fn read(
    ctx: &Ctx,
    kind: DriveKind,
    root: &Path,
    show: &dyn Fn(&Path) -> String,
) -> Result<Probed, ProbeError> {
    let files = drive::read_files(kind, root, ctx.opts.max_bytes).map_err(|(path, source)| {
        ProbeError::Io {
            path: PathBuf::from(show(&path)),
            source,
        }
    })?;
    let mut diagnostics = Vec::new();
    let mut metadata = Metadata::default();
    if let Some((path, bytes)) = &files.meta_data {
        let shown = PathBuf::from(show(path));
        match parse_yaml(bytes, &shown) {
            Ok(v) => metadata = Metadata::from_value(&v),
            Err(d) => diagnostics.push(d),
        }
    }
    if let Some((path, bytes)) = &files.network_config {
        let shown = PathBuf::from(show(path));
        match parse_yaml(bytes, &shown) {
            Ok(v) => match network_config::translate(&v) {
                Ok((network, warnings)) => {
                    metadata.network = network;
                    diagnostics.extend(
                        warnings
                            .into_iter()
                            .map(|w| Diagnostic::warning("", w).in_file(Some(shown.clone()))),
                    );
                }
                Err(e) => {
                    diagnostics.push(Diagnostic::error("", e.to_string()).in_file(Some(shown)))
                }
            },
            Err(d) => diagnostics.push(d),
        }
    }
    let (origin, raw) = match files.user_data {
        Some((path, bytes)) => (show(&path), Some(bytes)),
        None => (show(&root.join(kind.file_names().user_data)), None),
    };
    Ok(Probed::found(Fetched::new(
        ctx.name,
        &origin,
        raw,
        metadata,
        diagnostics,
    )))
}

/// YAML (or JSON) text; the diagnostic names the file and line.
fn parse_yaml(bytes: &[u8], shown: &Path) -> Result<yaml_serde::Value, Diagnostic> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Diagnostic::error("", "not UTF-8 text").in_file(Some(shown.to_path_buf())))?;
    os_config::document::parse_value(text, Some(shown))
}
