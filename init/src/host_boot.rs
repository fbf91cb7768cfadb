//! The host-level boot steps PID 1 runs itself, in order, before any container: kernel
//! modules, the system image, the new root, switch_root, then /etc, hostname and sysctls.

use crate::kernel_modules::{self, ModuleIndex};
use crate::root_assembly::{self, WritableBase, NEW_ROOT};
use crate::system_image;
use crate::timeline::Timeline;
use crate::{early_mounts, etc_seed, switch_root, sysctl, zram_swap};
use os_config::LoadedConfig;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Module names the running system always wants (beyond what the image's list names).
const MODULE_LIST: &str = "/usr/share/ros/modules.list";

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    SystemImage(#[from] system_image::SystemImageError),
    #[error(transparent)]
    Root(#[from] root_assembly::RootError),
    #[error("switch_root failed: {0}")]
    SwitchRoot(#[from] switch_root::SwitchRootError),
}

/// What the early (cmdline-only) configuration decides about the host steps.
pub struct EarlyOptions {
    pub medium_wait: Duration,
}

/// Runs every step up to a loaded configuration in the new root.
pub fn boot(opts: &EarlyOptions, timeline: &mut Timeline) -> Result<LoadedConfig, BootError> {
    load_initrd_modules();
    timeline.step("initrd-modules");

    let image = system_image::locate(opts.medium_wait)?;
    root_assembly::mount_base(&WritableBase::Tmpfs)?;
    system_image::mount_at(&image, &Path::new(NEW_ROOT).join("usr"))?;
    root_assembly::create_layout(Path::new(NEW_ROOT))?;
    timeline.step("root-assembled");

    switch_root::switch_root(Path::new(NEW_ROOT))?;
    early_mounts::mount_all();
    timeline.step("switch-root");
    tracing::info!("switched to the new root");

    let loaded = os_config::load(Path::new("/"));
    for d in &loaded.diagnostics {
        if d.is_error() {
            tracing::error!("config: {d}");
        } else {
            tracing::debug!("config: {d}");
        }
    }
    load_runtime_modules(&loaded.config.rancher.modules);
    timeline.step("modules");
    zram_swap::setup(&loaded.config.rancher.zram);

    let hostname = loaded
        .config
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| etc_seed::DEFAULT_HOSTNAME.to_owned());
    if let Err(e) = etc_seed::seed(Path::new("/"), env!("CARGO_PKG_VERSION"), &hostname) {
        tracing::warn!(error = %e, "seeding /etc");
    }
    if let Err(e) = nix::unistd::sethostname(&hostname) {
        tracing::warn!(hostname, error = %e, "setting the hostname");
    }
    let applied = sysctl::apply(Path::new("/proc/sys"), &loaded.config.rancher.sysctl);
    tracing::info!(hostname, sysctls = applied, "host configured");
    timeline.step("host-configured");
    Ok(loaded)
}

fn modules_dir() -> Option<PathBuf> {
    kernel_modules::kernel_release().map(|r| PathBuf::from("/lib/modules").join(r))
}

/// The initrd carries exactly the modules it needs; load all of them.
fn load_initrd_modules() {
    let Some(dir) = modules_dir() else { return };
    match ModuleIndex::load(&dir) {
        Ok(index) => {
            let mut names: Vec<String> = index.names().map(str::to_owned).collect();
            names.sort();
            let n = kernel_modules::load_list(&index, &names);
            tracing::info!(loaded = n, "initrd modules");
        }
        Err(e) => tracing::warn!(error = %e, "no initrd modules (built-in drivers only)"),
    }
}

/// The system image's module list plus `rancher.modules`.
fn load_runtime_modules(extra: &[String]) {
    let Some(dir) = modules_dir() else { return };
    let index = match ModuleIndex::load(&dir) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "no kernel modules in the system image");
            return;
        }
    };
    let mut wanted: Vec<String> = std::fs::read_to_string(MODULE_LIST)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    wanted.extend(extra.iter().cloned());
    let n = kernel_modules::load_list(&index, &wanted);
    tracing::info!(loaded = n, wanted = wanted.len(), "system modules");
}
