//! Finding and mounting the read-only system image (a squashfs holding /usr). It is mounted
//! through a loop device, never unpacked, so its size costs no RAM beyond its own file. An
//! initrd's copy is checked first (`initrd_image`), and the boot medium's copy is preferred
//! when it is the same image, so the initrd's copy can be freed.

use crate::initrd_image::{check_initrd_image, medium_matches, BadImage, Sidecar, MEMINFO, MIB};
use crate::loop_device;
use host::block_devices::{self, Found};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use os_disk::boot_info::{BootFiles, SLOT_MOUNT};
use os_disk::layout::Slot;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the initrd carries the image for boots without a medium (kernel + initrd, PXE).
pub const INITRD_IMAGE: &str = "/ros/system.squashfs";
/// The image's size and SHA-256, written before the image in the initrd (so it survives an
/// unpacking that stops partway).
pub const INITRD_SIDECAR: &str = "/ros/system.squashfs.json";
/// The image's path on the boot medium.
pub const MEDIUM_IMAGE: &str = "ros/system.squashfs";
/// The same sidecar on the boot medium, to tell whether it carries the initrd's image.
pub const MEDIUM_SIDECAR: &str = "ros/system.squashfs.json";
/// The boot medium's volume label.
pub const MEDIUM_LABEL: &str = "LABEL=ROS";
const MEDIUM_MOUNT: &str = "/run/ros/media";
/// Before the single look for a medium beside a good initrd image: the drivers the initrd just
/// loaded probe asynchronously (state_partition::settle).
const MEDIUM_SETTLE_MAX: Duration = Duration::from_secs(2);
const MEDIUM_SETTLE_QUIET: Duration = Duration::from_millis(200);

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
    /// The initrd's image is bad and no medium labelled ROS appeared: its reason, alone.
    #[error("{0}")]
    BadInitrdImage(BadImage),
    #[error("{bad}; the boot medium did not help either: {medium}")]
    BadInitrdImageAndMedium {
        bad: BadImage,
        medium: Box<SystemImageError>,
    },
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

/// Locates the image file: in the boot slot GRUB named (`ros.slot=`), else in the initrd, else
/// on the medium labelled ROS. The initrd's image is checked first ([`check_initrd_image`]);
/// a bad one is reported and the medium looked for instead. A good one with a sidecar gives
/// way to a medium already attached that carries the same image, and is deleted to free its
/// RAM.
pub fn locate(slot: Option<Slot>, medium_wait: Duration) -> Result<Located, SystemImageError> {
    if let Some(slot) = slot {
        return locate_in_slot(slot, medium_wait);
    }
    let image = Path::new(INITRD_IMAGE);
    let sidecar_path = Path::new(INITRD_SIDECAR);
    if !image.exists() && !sidecar_path.exists() {
        // The small initrd: the image is on the medium.
        return locate_on_medium(medium_wait);
    }
    let sidecar = Sidecar::read(sidecar_path);
    match check_initrd_image(image, sidecar.as_ref(), Path::new(MEMINFO)) {
        Ok(()) => Ok(initrd_or_medium(image, sidecar.as_ref())),
        Err(bad) => {
            tracing::error!("{bad}");
            // What was unpacked cannot be used; give its RAM back.
            if std::fs::remove_file(image).is_ok() {
                tracing::info!("system image: deleted the partial {INITRD_IMAGE}");
            }
            tracing::info!(
                wait_s = medium_wait.as_secs(),
                "system image: looking for the boot medium ({MEDIUM_LABEL}) instead"
            );
            locate_on_medium(medium_wait).map_err(|e| match e {
                SystemImageError::NotFound(_) => SystemImageError::BadInitrdImage(bad),
                other => SystemImageError::BadInitrdImageAndMedium {
                    bad,
                    medium: Box::new(other),
                },
            })
        }
    }
}

/// A good initrd image: the medium's copy when one is attached now (a single look, after the
/// block devices settle) and carries the same image; else the initrd's.
fn initrd_or_medium(image: &Path, sidecar: Option<&Sidecar>) -> Located {
    let initrd = Located {
        image: image.to_path_buf(),
        files: None,
        slot: None,
    };
    let Some(sidecar) = sidecar else {
        tracing::info!(
            image = INITRD_IMAGE,
            "system image: the initrd's (it has no sidecar to compare a boot medium with)"
        );
        return initrd;
    };
    crate::state_partition::settle(MEDIUM_SETTLE_MAX, MEDIUM_SETTLE_QUIET);
    let Some(found) = block_devices::find(MEDIUM_LABEL) else {
        tracing::info!(
            image = INITRD_IMAGE,
            "system image: the initrd's (no boot medium labelled ROS is attached)"
        );
        return initrd;
    };
    if let Err(e) = mount_medium(&found) {
        tracing::warn!(image = INITRD_IMAGE, error = %e, "system image: the initrd's (the boot medium cannot be mounted)");
        return initrd;
    }
    let medium = Path::new(MEDIUM_MOUNT);
    if let Err(reason) = medium_matches(sidecar, medium) {
        tracing::info!(
            image = INITRD_IMAGE,
            device = %found.device.display(),
            reason = %reason,
            "system image: the initrd's, not the boot medium's"
        );
        let _ = umount2(MEDIUM_MOUNT, MntFlags::MNT_DETACH);
        return initrd;
    }
    match std::fs::remove_file(image) {
        Ok(()) => tracing::info!(
            device = %found.device.display(),
            sha256 = sidecar.sha256,
            freed_mib = sidecar.size / MIB,
            "system image: the boot medium's, the same image as the initrd's; deleted the initrd's copy to free its RAM"
        ),
        Err(e) => tracing::warn!(
            device = %found.device.display(),
            error = %e,
            "system image: the boot medium's, the same image as the initrd's; the initrd's copy could not be deleted and keeps its RAM"
        ),
    }
    on_medium(medium)
}

/// The image on the medium labelled ROS, waiting for it at most `wait`.
fn locate_on_medium(wait: Duration) -> Result<Located, SystemImageError> {
    let found = block_devices::wait_for(MEDIUM_LABEL, wait)
        .ok_or(SystemImageError::NotFound(wait.as_secs()))?;
    mount_medium(&found)?;
    let medium = Path::new(MEDIUM_MOUNT);
    if medium.join(MEDIUM_IMAGE).is_file() {
        tracing::info!(device = %found.device.display(), "system image found on the boot medium");
        Ok(on_medium(medium))
    } else {
        Err(SystemImageError::NotOnMedium {
            device: found.device,
        })
    }
}

fn mount_medium(found: &Found) -> Result<(), SystemImageError> {
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
    })
}

fn on_medium(medium: &Path) -> Located {
    let image = medium.join(MEDIUM_IMAGE);
    Located {
        files: Some(BootFiles {
            vmlinuz: medium.join("boot/vmlinuz"),
            initrd: medium.join("boot/initrd"),
            squashfs: image.clone(),
        }),
        image,
        slot: None,
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
