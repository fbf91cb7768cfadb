//! Finding and mounting the read-only system image (a squashfs holding /usr). It is mounted
//! through a loop device, never unpacked, so its size costs no RAM.

use crate::block_devices;
use crate::loop_device;
use nix::mount::{mount, MsFlags};
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

/// Locates the image file: in the initrd, else on the medium labelled ROS.
pub fn locate(medium_wait: Duration) -> Result<PathBuf, SystemImageError> {
    let in_initrd = PathBuf::from(INITRD_IMAGE);
    if in_initrd.is_file() {
        return Ok(in_initrd);
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
    let image = Path::new(MEDIUM_MOUNT).join(MEDIUM_IMAGE);
    if image.is_file() {
        tracing::info!(device = %found.device.display(), "system image found on the boot medium");
        Ok(image)
    } else {
        Err(SystemImageError::NotOnMedium {
            device: found.device,
        })
    }
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
