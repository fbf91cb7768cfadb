//! Filling a slot, and the EFI system partition that chooses between slots. Used by
//! `ros install` (slot A, fresh ESP) and `ros os upgrade` (the inactive slot, grubenv only).

use crate::boot_info::BootFiles;
use crate::boot_state::BootState;
use crate::bundle::{self, BundleError, Manifest};
use crate::grub_cfg;
use crate::grubenv::{GrubEnv, GrubEnvError};
use crate::layout::{Slot, ESP_LABEL};
use crate::signing::TrustedKeys;
use crate::tools::{self, TempMount, ToolError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    GrubEnv(#[from] GrubEnvError),
    #[error("kernel arguments: {0}")]
    KernelArgs(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> SlotError + '_ {
    move |source| SlotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a slot is filled from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An upgrade bundle, already verified with `bundle::verify`; checked again against the
    /// same keys as it is written, so a file swapped after the check is still refused.
    Bundle { path: PathBuf, trusted: TrustedKeys },
    /// The running system's own boot files (the ISO's, or the running slot's).
    Files { files: BootFiles, version: String },
}

/// The bootloader pieces the build makes (see `bios_boot`), installed in the system image.
#[derive(Debug, Clone)]
pub struct BootCode {
    pub mbr: PathBuf,
    pub core: PathBuf,
    pub efi: PathBuf,
}

pub const BOOT_CODE_DIR: &str = "/usr/share/ros/boot";

impl BootCode {
    pub fn in_dir(dir: &Path) -> BootCode {
        BootCode {
            mbr: dir.join("bios-mbr.bin"),
            core: dir.join("bios-core.img"),
            efi: dir.join("BOOTX64.EFI"),
        }
    }
}

/// Formats `partition` as `slot` and writes the kernel, initrd, system image and manifest.
pub fn write_slot(
    partition: &Path,
    slot: Slot,
    source: &Source,
    work: &Path,
) -> Result<Manifest, SlotError> {
    tools::mkfs_ext4(partition, slot.label())?;
    let mount = TempMount::new(partition, "ext4", &work.join("slot"), false)?;
    let manifest = match source {
        Source::Bundle { path, trusted } => bundle::extract(path, trusted, &mount.dir)?,
        Source::Files { files, version } => {
            let list = files.list();
            for (name, from) in list {
                let to = mount.dir.join(name);
                std::fs::copy(from, &to).map_err(io(&to))?;
            }
            // Hashed from the copies: the manifest describes what the slot holds.
            let copies: Vec<(&str, PathBuf)> =
                list.iter().map(|(n, _)| (*n, mount.dir.join(n))).collect();
            let refs: Vec<(&str, &Path)> = copies.iter().map(|(n, p)| (*n, p.as_path())).collect();
            let manifest = Manifest::describe(version, "", &refs)?;
            let json = manifest
                .to_json()
                .map_err(std::io::Error::other)
                .map_err(io(&mount.dir))?;
            let target = mount.dir.join(bundle::MANIFEST);
            std::fs::write(&target, json).map_err(io(&target))?;
            manifest
        }
    };
    drop(mount);
    Ok(manifest)
}

/// Reads a slot's manifest, if the slot holds a complete system.
pub fn read_slot_manifest(partition: &Path, work: &Path) -> Option<Manifest> {
    let mount = TempMount::new(partition, "ext4", &work.join("peek"), true).ok()?;
    let text = std::fs::read(mount.dir.join(bundle::MANIFEST)).ok()?;
    let complete = bundle::FILES.iter().all(|f| mount.dir.join(f).is_file());
    drop(mount);
    serde_json::from_slice(&text).ok().filter(|_| complete)
}

/// Formats the ESP and writes GRUB (UEFI loader), its menu and a boot state.
pub fn write_esp(
    esp: &Path,
    code: &BootCode,
    kernel_args: &str,
    state: BootState,
    work: &Path,
) -> Result<(), SlotError> {
    tools::mkfs_vfat(esp, ESP_LABEL)?;
    let mount = TempMount::new(esp, "vfat", &work.join("esp"), false)?;
    let dir = &mount.dir;
    for sub in ["EFI/BOOT", "boot/grub", "ros"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(&dir.join(sub)))?;
    }
    let efi = dir.join(grub_cfg::EFI_LOADER);
    std::fs::copy(&code.efi, &efi).map_err(io(&code.efi))?;
    let args = dir.join(grub_cfg::KERNEL_ARGS);
    std::fs::write(&args, kernel_args.trim()).map_err(io(&args))?;
    let cfg = dir.join(grub_cfg::GRUB_CFG);
    std::fs::write(&cfg, grub_cfg::render(kernel_args)).map_err(io(&cfg))?;
    let mut env = GrubEnv::default();
    state.write_to(&mut env);
    env.write(&dir.join(grub_cfg::GRUBENV))?;
    drop(mount);
    Ok(())
}

/// Reads the boot state from the ESP's grubenv, lets `change` edit it, and writes it back
/// when it changed; also rewrites grub.cfg from the stored kernel arguments when asked.
pub fn update_boot_state(
    esp: &Path,
    work: &Path,
    rewrite_menu: bool,
    change: impl FnOnce(&mut BootState),
) -> Result<(BootState, BootState), SlotError> {
    let mount = TempMount::new(esp, "vfat", &work.join("esp"), false)?;
    let path = mount.dir.join(grub_cfg::GRUBENV);
    let mut env = GrubEnv::read(&path)?;
    let before = BootState::from_env(&env);
    let mut after = before;
    change(&mut after);
    if rewrite_menu {
        let args_path = mount.dir.join(grub_cfg::KERNEL_ARGS);
        let args = std::fs::read_to_string(&args_path).unwrap_or_default();
        replace_file(
            &mount.dir.join(grub_cfg::GRUB_CFG),
            grub_cfg::render(&args).as_bytes(),
        )?;
    }
    if after != before {
        after.write_to(&mut env);
        env.write(&path)?;
    }
    drop(mount);
    Ok((before, after))
}

/// The operator's kernel arguments as stored on the ESP (what the menu was last written with).
pub fn read_kernel_args(esp: &Path, work: &Path) -> Result<String, SlotError> {
    let mount = TempMount::new(esp, "vfat", &work.join("esp-ro"), true)?;
    let path = mount.dir.join(grub_cfg::KERNEL_ARGS);
    let args = match std::fs::read_to_string(&path) {
        Ok(a) => a.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(&path)(e)),
    };
    drop(mount);
    Ok(args)
}

/// Replaces the operator's kernel arguments (checked by `grub_cfg::check_kernel_args`) and
/// rewrites the menu with them; returns the previous ones. Each file is written whole beside
/// the old one, synced, then renamed over it: a cut write leaves the old menu, which boots.
/// The stored arguments go first, so every later menu rewrite (an upgrade) carries them.
pub fn write_kernel_args(esp: &Path, work: &Path, args: &str) -> Result<String, SlotError> {
    let args = grub_cfg::check_kernel_args(args).map_err(SlotError::KernelArgs)?;
    let mount = TempMount::new(esp, "vfat", &work.join("esp"), false)?;
    let args_path = mount.dir.join(grub_cfg::KERNEL_ARGS);
    let previous = std::fs::read_to_string(&args_path)
        .map(|a| a.trim().to_string())
        .unwrap_or_default();
    replace_file(&args_path, args.as_bytes())?;
    replace_file(
        &mount.dir.join(grub_cfg::GRUB_CFG),
        grub_cfg::render(&args).as_bytes(),
    )?;
    drop(mount);
    Ok(previous)
}

/// Writes `path.new`, syncs it, renames it over `path`, and syncs the directory.
fn replace_file(path: &Path, content: &[u8]) -> Result<(), SlotError> {
    let tmp = path.with_extension("new");
    let written = std::fs::write(&tmp, content)
        .and_then(|()| std::fs::File::open(&tmp))
        .and_then(|f| f.sync_all());
    if let Err(e) = written {
        // A full ESP must not keep a half file that takes the room of the next try.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// Reads the boot state without changing anything.
pub fn read_boot_state(esp: &Path, work: &Path) -> Result<BootState, SlotError> {
    let mount = TempMount::new(esp, "vfat", &work.join("esp-ro"), true)?;
    let env = GrubEnv::read(&mount.dir.join(grub_cfg::GRUBENV))?;
    Ok(BootState::from_env(&env))
}
