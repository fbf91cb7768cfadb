//! The host-level boot steps PID 1 runs itself, in order, before any container: kernel
//! modules, the system image, the new root, switch_root, then /etc, hostname and sysctls.

use crate::root_assembly::{self, WritableBase, NEW_ROOT};
use crate::state_partition::{self, Decision, EarlyLayers};
use crate::system_image;
use crate::timeline::Timeline;
use crate::{boot_slot, early_mounts, etc_seed, memory_cgroup, switch_root, zram_swap};
use host::kernel_modules::{self, ModuleIndex};
use host::sysctl;
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
    #[error("{0}")]
    State(String),
}

/// Where the system image is mounted before the root exists: a root of its own, so the layer
/// paths (`usr/share/ros/os-config.yml`, `usr/share/ros/oem`) apply under it; its /usr is then
/// moved, with the OEM partition mounted inside, to the new root.
const STAGED_ROOT: &str = "/ros/stage";
/// How long the single look at the disks waits for the initrd's drivers to settle.
const SETTLE_MAX: Duration = Duration::from_secs(2);
const SETTLE_QUIET: Duration = Duration::from_millis(200);

/// What the early (cmdline-only) configuration decides about the host steps.
pub struct EarlyOptions {
    pub medium_wait: Duration,
}

/// Runs every step up to a loaded configuration in the new root.
pub fn boot(opts: &EarlyOptions, timeline: &mut Timeline) -> Result<LoadedConfig, BootError> {
    load_initrd_modules();
    timeline.step("initrd-modules");

    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let (slot, _) = boot_slot::from_cmdline(&cmdline);
    let located = system_image::locate(slot, opts.medium_wait)?;
    let staged = Path::new(STAGED_ROOT);
    system_image::mount_at(&located.image, &staged.join("usr"))?;
    let base = writable_base(staged)?;
    timeline.step("state");
    let new_root = Path::new(NEW_ROOT);
    root_assembly::move_mount(&staged.join("usr"), &new_root.join("usr"))?;
    root_assembly::create_layout(new_root)?;
    if matches!(base, WritableBase::State(_)) {
        if let Err(e) = root_assembly::mount_tmp(new_root) {
            tracing::warn!(error = %e, "state: /tmp stays on the state partition");
        }
    }
    timeline.step("root-assembled");

    switch_root::switch_root(Path::new(NEW_ROOT))?;
    early_mounts::mount_all();
    early_mounts::make_shared(&early_mounts::SHARED_DIRS);
    memory_cgroup::arm_early();
    timeline.step("switch-root");
    tracing::info!("switched to the new root");
    // Before the config is read: a rollback may put the slot's config snapshot back.
    let boot = boot_slot::after_switch_root(&located);

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

    let hostname = etc_seed::hostname(loaded.config.hostname.as_deref());
    if let Err(e) = etc_seed::seed(Path::new("/"), &boot.version, &hostname) {
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

/// Reads `rancher.state` from the layers there are before the root (the image's defaults, the
/// OEM partition, the kernel cmdline), finds or makes the state device and mounts the writable
/// base at NEW_ROOT: the state device, or tmpfs. A required state that cannot be had is an
/// error (the recovery shell); any other failure falls back to tmpfs.
fn writable_base(staged: &Path) -> Result<WritableBase, BootError> {
    let defaults = std::fs::read_to_string(os_config::paths::os_config(staged)).ok();
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let mut layers = EarlyLayers::new(defaults.as_deref(), &cmdline);
    let env = state_partition::Env::initrd();
    state_partition::settle(SETTLE_MAX, SETTLE_QUIET);

    let early = layers.state();
    if let Some(oem_dev) = early.oem_dev.as_deref().filter(|d| !d.trim().is_empty()) {
        let oem_wait = layers.oem_wait();
        let mount_point = os_config::paths::oem_config(staged)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let oem = state_partition::mount_oem(
            oem_dev,
            early.oem_fstype.as_deref(),
            oem_wait,
            &mount_point,
            &env,
        );
        if let Some(text) = oem.and_then(|o| o.config_text) {
            layers = layers.with_oem(&text);
        }
    }

    let settings = layers.settings();
    let base = match state_partition::decide(&settings, &env) {
        Decision::Device(dev) => WritableBase::State(dev),
        Decision::Ram { reason } => {
            tracing::info!(
                reason,
                "state: no state partition; the root lives in RAM (tmpfs) and is lost at power-off"
            );
            WritableBase::Tmpfs
        }
        Decision::Missing { reason } => return Err(BootError::State(reason)),
    };
    match root_assembly::mount_base(&base) {
        Ok(()) => {
            if let WritableBase::State(dev) = &base {
                tracing::info!(
                    device = %dev.device.display(),
                    fstype = dev.fstype,
                    directory = ?dev.directory,
                    formatted = dev.formatted,
                    "state: the root persists on the state partition"
                );
            }
            Ok(base)
        }
        Err(e) if matches!(base, WritableBase::State(_)) && !settings.required => {
            tracing::error!(error = %e, "state: cannot mount the state partition; the root lives in RAM (tmpfs) and is lost at power-off");
            root_assembly::mount_base(&WritableBase::Tmpfs)?;
            Ok(WritableBase::Tmpfs)
        }
        Err(e) if matches!(base, WritableBase::State(_)) => Err(BootError::State(format!(
            "the state partition is required (rancher.state.required) but {e}"
        ))),
        Err(e) => Err(e.into()),
    }
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
