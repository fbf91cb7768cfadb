//! Mounting a config drive read-only for as long as it is read. The guard unmounts (lazily if
//! the filesystem is busy) and removes its mount point when dropped, on every path.

use crate::error::ProbeError;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A mounted drive; unmounted on drop.
#[derive(Debug)]
pub(crate) struct Mounted {
    target: PathBuf,
}

impl Mounted {
    /// Mounts `device` (a `fstype` filesystem) read-only, nosuid, nodev, noexec on a fresh
    /// directory under `base`.
    pub fn read_only(
        device: &Path,
        fstype: &str,
        base: &Path,
        label: &str,
    ) -> Result<Mounted, ProbeError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let target = base.join(format!("{label}.{}.{n}", std::process::id()));
        std::fs::create_dir_all(&target).map_err(|source| ProbeError::Io {
            path: target.clone(),
            source,
        })?;
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if let Err(source) = mount(Some(device), &target, Some(fstype), flags, None::<&str>) {
            let _ = std::fs::remove_dir(&target);
            let hint = match source {
                nix::Error::ENODEV => {
                    format!(" (this kernel has no {fstype} support: is its module loaded?)")
                }
                nix::Error::EPERM | nix::Error::EACCES => {
                    " (mounting needs CAP_SYS_ADMIN)".to_owned()
                }
                _ => String::new(),
            };
            return Err(ProbeError::Mount {
                device: device.to_path_buf(),
                fstype: fstype.to_owned(),
                target,
                source,
                hint,
            });
        }
        tracing::debug!(device = %device.display(), target = %target.display(), fstype, "config drive mounted");
        Ok(Mounted { target })
    }

    pub fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = umount2(&self.target, MntFlags::empty()) {
            tracing::warn!(target = %self.target.display(), error = %e, "cannot unmount the config drive; detaching it lazily");
            if let Err(e) = umount2(&self.target, MntFlags::MNT_DETACH) {
                tracing::error!(target = %self.target.display(), error = %e, "cannot detach the config drive");
                return;
            }
        }
        let _ = std::fs::remove_dir(&self.target);
    }
}
