//! Saving the winning datasource's data into the configuration directory, through
//! `os_config::cloud_init::save`: `cloud-config.d/boot.yml`, `metadata`, `scripts/`, and the
//! raw `user-data`. The fetch's own diagnostics come first in the result.

use crate::fetched::Fetched;
use os_config::cloud_init::save::{self, Saved};
use std::path::Path;

/// Saves `fetched` under `root` (`/` on a running system), replacing an earlier save.
pub fn save(root: &Path, fetched: &Fetched) -> Saved {
    let mut saved = save::save_parts(
        root,
        &fetched.user_data,
        fetched.raw_user_data.as_deref(),
        &fetched.metadata,
    );
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
    for f in &saved.files {
        tracing::info!(datasource = %fetched.source, file = %f.display(), "cloud-init: saved");
    }
    for f in &saved.removed {
        tracing::info!(datasource = %fetched.source, file = %f.display(), "cloud-init: removed the stale file");
    }
    saved
}
