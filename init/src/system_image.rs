//! Finding and mounting the read-only system image (a squashfs holding /usr). It is mounted
//! through a loop device, never unpacked, so its size costs no RAM.

use crate::block_devices;
use crate::loop_device;
use nix::mount::{mount, MsFlags};
use os_disk::boot_info::{BootFiles, SLOT_MOUNT};
use os_disk::layout::Slot;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the initrd carries the image for boots without a medium (kernel + initrd, PXE).
pub const INITRD_IMAGE: &str = "/ros/system.squashfs";
/// The image's path on the boot medium.
pub const MEDIUM_IMAGE: &str = "ros/system.squashfs";
/// The boot medium's volume label.
pub const MEDIUM_LABEL: &str = "LABEL=ROS";
const MEDIUM_MOUNT: &str = "/run/ros/media";

#[derive(Debug, thiserror::Error)]
pub enum SystemImageError {
    #[error("no partition labelled {label} (boot slot {slot}) appeared within {secs} s")]
    NoSlot {
        slot: Slot,
        label: &'static str,
        secs: u64,
    },
    #[error("mounting boot slot {slot} ({device}): {source}")]
    MountSlot {
        slot: Slot,
        device: PathBuf,
        source: nix::Error,
    },
    #[error("boot slot {slot} ({device}) holds no system.squashfs: it was never written, or its write was cut short")]
    EmptySlot { slot: Slot, device: PathBuf },
    #[error("no system image: not in the initrd at {INITRD_IMAGE}, and no medium labelled ROS appeared within {0} s")]
    NotFound(u64),
    #[error("the medium {device} holds no {MEDIUM_IMAGE}")]
    NotOnMedium { device: PathBuf },
    #[error("mounting the boot medium {device}: {source}")]
    MountMedium { device: PathBuf, source: nix::Error },
    #[error(transparent)]
    Loop(#[from] loop_device::LoopError),
    #[error("mounting the system image {image} at {target}: {source}")]
    Mount {
        image: PathBuf,
        target: PathBuf,
        source: nix::Error,
    },
}

/// Where the system image came from, and the boot files beside it (for `ros install`).
#[derive(Debug, Clone)]
pub struct Located {
    pub image: PathBuf,
    pub files: Option<BootFiles>,
    /// On an installed disk: the slot GRUB booted and its partition.
    pub slot: Option<(Slot, PathBuf)>,
}

/// Locates the image file: in the boot slot GRUB named (`ros.slot=`), else in the initrd,
/// else on the medium labelled ROS.
pub fn locate(slot: Option<Slot>, medium_wait: Duration) -> Result<Located, SystemImageError> {
    if let Some(slot) = slot {
        return locate_in_slot(slot, medium_wait);
    }
    let in_initrd = PathBuf::from(INITRD_IMAGE);
    if in_initrd.is_file() {
        return Ok(Located {
            image: in_initrd,
            files: None,
            slot: None,
        });
    }
    let found = block_devices::wait_for(MEDIUM_LABEL, medium_wait)
        .ok_or(SystemImageError::NotFound(medium_wait.as_secs()))?;
    std::fs::create_dir_all(MEDIUM_MOUNT).ok();
    mount(
        Some(&found.device),
        MEDIUM_MOUNT,
        Some(found.fs.fstype),
        MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|source| SystemImageError::MountMedium {
        device: found.device.clone(),
        source,
    })?;
    let medium = Path::new(MEDIUM_MOUNT);
    let image = medium.join(MEDIUM_IMAGE);
    if image.is_file() {
        tracing::info!(device = %found.device.display(), "system image found on the boot medium");
        Ok(Located {
            files: Some(BootFiles {
                vmlinuz: medium.join("boot/vmlinuz"),
                initrd: medium.join("boot/initrd"),
                squashfs: image.clone(),
            }),
            image,
            slot: None,
        })
    } else {
        Err(SystemImageError::NotOnMedium {
            device: found.device,
        })
    }
}

/// An installed disk: the slot's ext4 stays mounted read-only at /run/ros/slot (the loop
/// device reads the image from it; switch_root carries /run over).
fn locate_in_slot(slot: Slot, wait: Duration) -> Result<Located, SystemImageError> {
    let label = slot.label();
    let found = block_devices::wait_for(&format!("LABEL={label}"), wait).ok_or(
        SystemImageError::NoSlot {
            slot,
            label,
            secs: wait.as_secs(),
        },
    )?;
    std::fs::create_dir_all(SLOT_MOUNT).ok();
    mount(
        Some(&found.device),
        SLOT_MOUNT,
        Some(found.fs.fstype),
        MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|source| SystemImageError::MountSlot {
        slot,
        device: found.device.clone(),
        source,
    })?;
    let files = BootFiles::in_slot(Path::new(SLOT_MOUNT));
    if !files.squashfs.is_file() {
        return Err(SystemImageError::EmptySlot {
            slot,
            device: found.device,
        });
    }
    tracing::info!(slot = slot.name(), device = %found.device.display(), "system image found in the boot slot");
    Ok(Located {
        image: files.squashfs.clone(),
        files: Some(files),
        slot: Some((slot, found.device)),
    })
}

/// Mounts the image read-only at `target`.
pub fn mount_at(image: &Path, target: &Path) -> Result<(), SystemImageError> {
    let device = loop_device::attach_read_only(image)?;
    std::fs::create_dir_all(target).ok();
    mount(
        Some(&device),
        target,
        Some("squashfs"),
        MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|source| SystemImageError::Mount {
        image: image.to_path_buf(),
        target: target.to_path_buf(),
        source,
    })
}
