//! Attaching a file to a loop device (for the squashfs system image), without losetup.

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
nix::ioctl_write_int_bad!(loop_set_fd, 0x4C00);

#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("opening {path}: {source}")]
    Open { path: PathBuf, source: nix::Error },
    #[error("no free loop device: {0}")]
    NoFree(nix::Error),
    #[error("attaching {path} to {device}: {source}")]
    Attach {
        path: PathBuf,
        device: PathBuf,
        source: nix::Error,
    },
}

/// Attaches `file` read-only and returns the loop device's path.
pub fn attach_read_only(file: &Path) -> Result<PathBuf, LoopError> {
    let backing =
        open(file, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|source| {
            LoopError::Open {
                path: file.to_path_buf(),
                source,
            }
        })?;
    let control = open(
        "/dev/loop-control",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| LoopError::Open {
        path: "/dev/loop-control".into(),
        source,
    })?;
    let mut last = nix::Error::EBUSY;
    // Another process may take the free device between the two calls; try again then.
    for _ in 0..8 {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns an index.
        let index = unsafe { loop_ctl_get_free(control.as_raw_fd()) }.map_err(LoopError::NoFree)?;
        let device = PathBuf::from(format!("/dev/loop{index}"));
        let dev =
            open(&device, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|source| {
                LoopError::Open {
                    path: device.clone(),
                    source,
                }
            })?;
        // SAFETY: LOOP_SET_FD takes the backing file's descriptor by value.
        match unsafe { loop_set_fd(dev.as_raw_fd(), backing.as_raw_fd()) } {
            Ok(_) => return Ok(device),
            Err(nix::Error::EBUSY) => last = nix::Error::EBUSY,
            Err(source) => {
                return Err(LoopError::Attach {
                    path: file.to_path_buf(),
                    device,
                    source,
                })
            }
        }
    }
    Err(LoopError::Attach {
        path: file.to_path_buf(),
        device: "/dev/loop*".into(),
        source: last,
    })
}
