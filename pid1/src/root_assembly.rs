//! Building the root filesystem PID 1 switches into: a writable base (the state partition, or
//! tmpfs without one) with the system image mounted read-only at /usr.

use crate::state_partition::{self, StateDevice};
use nix::mount::{mount, MsFlags};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// Where the new root is assembled before switch_root.
pub const NEW_ROOT: &str = "/sysroot";

/// The writable part of the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WritableBase {
    /// Everything lives in RAM and is lost at reboot.
    Tmpfs,
    /// The state partition (or a directory on it): what is written survives a reboot, except
    /// /tmp and /run, which are tmpfs on top of it.
    State(StateDevice),
}

#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("mounting the writable root ({what}) at {NEW_ROOT}: {source}")]
    Base {
        what: &'static str,
        source: nix::Error,
    },
    #[error(transparent)]
    State(#[from] state_partition::MountError),
    #[error("moving {from} to {to}: {source}")]
    Move {
        from: String,
        to: String,
        source: nix::Error,
    },
    #[error("mounting a tmpfs at {path}: {source}")]
    Tmp { path: String, source: nix::Error },
    #[error("creating {path}: {source}")]
    Layout {
        path: String,
        source: std::io::Error,
    },
}

/// Mounts the writable base at NEW_ROOT.
pub fn mount_base(base: &WritableBase) -> Result<(), RootError> {
    std::fs::create_dir_all(NEW_ROOT).map_err(|source| RootError::Layout {
        path: NEW_ROOT.into(),
        source,
    })?;
    match base {
        WritableBase::Tmpfs => mount(
            Some("rootfs"),
            NEW_ROOT,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("mode=0755"),
        )
        .map_err(|source| RootError::Base {
            what: "tmpfs",
            source,
        }),
        WritableBase::State(dev) => Ok(state_partition::mount_state(
            dev,
            Path::new(NEW_ROOT),
            Path::new(state_partition::DEVICE_STAGING),
        )?),
    }
}

/// Moves a mount (with everything mounted below it) to `to`, creating the mount point.
pub fn move_mount(from: &Path, to: &Path) -> Result<(), RootError> {
    std::fs::create_dir_all(to).map_err(|source| RootError::Layout {
        path: to.display().to_string(),
        source,
    })?;
    mount(Some(from), to, None::<&str>, MsFlags::MS_MOVE, None::<&str>).map_err(|source| {
        RootError::Move {
            from: from.display().to_string(),
            to: to.display().to_string(),
            source,
        }
    })
}

/// On a persistent base, /tmp is still RAM: nothing there survives a reboot.
pub fn mount_tmp(root: &Path) -> Result<(), RootError> {
    let tmp = root.join("tmp");
    mount(
        Some("tmpfs"),
        &tmp,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .map_err(|source| RootError::Tmp {
        path: tmp.display().to_string(),
        source,
    })
}

/// Directories and merged-/usr links every root needs; existing entries are kept, so a
/// persistent base keeps its contents.
pub fn create_layout(root: &Path) -> Result<(), RootError> {
    let dirs: &[(&str, u32)] = &[
        ("usr", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("run", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("home", 0o755),
        ("opt", 0o755),
        ("mnt", 0o755),
        ("media", 0o755),
        ("var", 0o755),
        ("var/lib", 0o755),
        ("var/lib/rancher/conf", 0o700),
        ("var/lib/system-docker", 0o711),
        ("var/lib/docker", 0o711),
        ("var/log", 0o755),
        ("var/cache", 0o755),
        ("var/tmp", 0o1777),
    ];
    for (rel, mode) in dirs {
        let p = root.join(rel);
        if !p.exists() {
            std::fs::create_dir_all(&p).map_err(|source| RootError::Layout {
                path: p.display().to_string(),
                source,
            })?;
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode));
        }
    }
    let links: &[(&str, &str)] = &[
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("var/run", "../run"),
        ("var/lock", "../run/lock"),
    ];
    for (rel, target) in links {
        let p = root.join(rel);
        if p.symlink_metadata().is_err() {
            symlink(target, &p).map_err(|source| RootError::Layout {
                path: p.display().to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_created_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        create_layout(dir.path()).unwrap();
        std::fs::write(dir.path().join("home/keep"), b"x").unwrap();
        create_layout(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_link(dir.path().join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert_eq!(
            std::fs::read_link(dir.path().join("var/run")).unwrap(),
            Path::new("../run")
        );
        let tmp_mode = std::fs::metadata(dir.path().join("tmp"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(tmp_mode & 0o7777, 0o1777);
        assert!(dir.path().join("home/keep").exists());
    }
}
