//! Mounting: the state device (or a directory inside it) as the new root, and the OEM
//! partition read-only, found within its own bounded wait.

use super::find::{lookup, Lookup};
use super::{DeviceSpec, Env, StateDevice, MAX_WAIT};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mounting the state device {device} ({fstype}) at {target}: {source}")]
    Mount {
        device: PathBuf,
        fstype: String,
        target: PathBuf,
        source: nix::Error,
    },
    #[error("creating rancher.state.directory {path} on {device}: {source}")]
    Directory {
        path: PathBuf,
        device: PathBuf,
        source: std::io::Error,
    },
    #[error("binding {path} (rancher.state.directory) at {target}: {source}")]
    Bind {
        path: PathBuf,
        target: PathBuf,
        source: nix::Error,
    },
}

/// The owner of ext4's reserved blocks (5 % of a ros-formatted state partition). By default
/// it is uid 0, which every container's root is, so a user container could fill the reserve
/// and leave System Docker no room to start. Owned by a uid no ros process uses, the reserve
/// is left to processes with CAP_SYS_RESOURCE: PID 1, the daemons and privileged system
/// containers, not User Docker's containers (Docker drops that capability by default).
pub const RESERVED_BLOCKS_UID: u32 = 4_294_967_294;

/// Mount data for the state filesystem: the reserve's owner where the filesystem has one.
pub fn mount_data(fstype: &str) -> Option<String> {
    matches!(fstype, "ext2" | "ext3" | "ext4").then(|| format!("resuid={RESERVED_BLOCKS_UID}"))
}

/// Mounts the state device at `target`; with a directory, the device goes to `staging` first,
/// the directory (created if missing) is bound at `target`, and the staging mount is dropped.
pub fn mount_state(dev: &StateDevice, target: &Path, staging: &Path) -> Result<(), MountError> {
    let mount_at = |at: &Path| {
        let _ = std::fs::create_dir_all(at);
        mount(
            Some(&dev.device),
            at,
            Some(dev.fstype.as_str()),
            MsFlags::empty(),
            mount_data(&dev.fstype).as_deref(),
        )
        .map_err(|source| MountError::Mount {
            device: dev.device.clone(),
            fstype: dev.fstype.clone(),
            target: at.to_path_buf(),
            source,
        })
    };
    let Some(dir) = &dev.directory else {
        return mount_at(target);
    };
    mount_at(staging)?;
    let inside = staging.join(dir);
    let bound = std::fs::create_dir_all(&inside)
        .map_err(|source| MountError::Directory {
            path: dir.clone(),
            device: dev.device.clone(),
            source,
        })
        .and_then(|()| {
            let _ = std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o755));
            let _ = std::fs::create_dir_all(target);
            mount(
                Some(&inside),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|source| MountError::Bind {
                path: dir.clone(),
                target: target.to_path_buf(),
                source,
            })
        });
    // The bind keeps the filesystem mounted; the staging mount is no longer needed.
    if let Err(e) = umount2(staging, MntFlags::MNT_DETACH) {
        tracing::warn!(staging = %staging.display(), error = %e, "state: cannot drop the staging mount");
    }
    bound
}

/// The OEM partition, mounted read-only.
#[derive(Debug, Clone)]
pub struct Oem {
    pub device: PathBuf,
    /// Its `oem-config.yml`, if it has one.
    pub config_text: Option<String>,
}

/// Finds `rancher.state.oem_dev` (waiting up to `wait`) and mounts it read-only at `target`,
/// which must already exist (the system image carries the mount point).
pub fn mount_oem(
    spec: &str,
    fstype: Option<&str>,
    wait: Duration,
    target: &Path,
    env: &Env,
) -> Option<Oem> {
    let spec = match DeviceSpec::parse_without_udev(spec) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(key = "rancher.state.oem_dev", error = %e, "oem: not used");
            return None;
        }
    };
    let fstype = fstype.filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("auto"));
    let deadline = host::deadline::after(wait.min(MAX_WAIT));
    let (device, fstype) = loop {
        match lookup(&spec, fstype, env) {
            Lookup::Found(d, t) => break (d, t),
            _ if Instant::now() >= deadline => {
                tracing::debug!(spec = %spec, "oem: no OEM partition");
                return None;
            }
            _ => std::thread::sleep(env.poll),
        }
    };
    if !target.is_dir() {
        tracing::warn!(
            device = %device.display(),
            mount_point = %target.display(),
            "oem: the system image has no mount point for the OEM partition; its config is not read"
        );
        return None;
    }
    if let Err(e) = mount(
        Some(&device),
        target,
        Some(fstype.as_str()),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    ) {
        tracing::error!(key = "rancher.state.oem_dev", device = %device.display(), fstype, error = %e, "oem: cannot mount the OEM partition");
        return None;
    }
    let config_path = target.join("oem-config.yml");
    let config_text = match std::fs::read_to_string(&config_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::error!(file = %config_path.display(), error = %e, "oem: cannot read oem-config.yml");
            None
        }
    };
    tracing::info!(
        key = "rancher.state.oem_dev",
        device = %device.display(),
        fstype,
        has_config = config_text.is_some(),
        "oem: OEM partition mounted read-only"
    );
    Some(Oem {
        device,
        config_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext4_reserves_its_blocks_for_the_system_only() {
        assert_eq!(mount_data("ext4").as_deref(), Some("resuid=4294967294"));
        assert_eq!(mount_data("xfs"), None);
        assert_eq!(mount_data("btrfs"), None);
    }
}
