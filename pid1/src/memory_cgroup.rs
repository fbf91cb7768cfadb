//! The host's first memory cgroup, made by PID 1 before anything else runs.
//!
//! The first non-root memory cgroup switches on kernel-memory accounting, and the kernel does
//! that by live-patching every slab and page allocation site. Left to the first container, the
//! patching races two busy CPUs (dockerd and runc allocating); under QEMU's TCG that race has
//! locked both vCPUs up for minutes. Made here, the other CPUs are idle. The group, `ros`, is
//! kept: removing it would patch the socket-accounting sites back.

use std::io::ErrorKind;
use std::path::Path;

/// The cgroup2 mount's root, as `early_mounts` makes it.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The group PID 1 makes; empty, it charges nothing to anyone.
pub const GROUP: &str = "ros";

/// What [`arm`] did, for the boot log.
#[derive(Debug, PartialEq, Eq)]
pub enum Armed {
    /// The group was made with the memory controller on.
    Created,
    /// It was there already (a PID 1 restarted in place).
    AlreadyThere,
    /// No memory controller (a kernel without CONFIG_MEMCG, or `cgroup_disable=memory`).
    NoMemoryController,
}

/// Turns the memory controller on for the root's children and makes [`GROUP`] under `root`.
pub fn arm(root: &Path) -> std::io::Result<Armed> {
    let available = std::fs::read_to_string(root.join("cgroup.controllers"))?;
    if !available.split_whitespace().any(|c| c == "memory") {
        return Ok(Armed::NoMemoryController);
    }
    std::fs::write(root.join("cgroup.subtree_control"), "+memory")?;
    match std::fs::create_dir(root.join(GROUP)) {
        Ok(()) => Ok(Armed::Created),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Armed::AlreadyThere),
        Err(e) => Err(e),
    }
}

/// [`arm`] on the real root; a failure costs only the workaround, so it is logged, not fatal.
pub fn arm_early() {
    match arm(Path::new(CGROUP_ROOT)) {
        Ok(armed) => tracing::debug!(?armed, group = GROUP, "memory cgroup"),
        Err(e) => {
            tracing::warn!(error = %e, root = CGROUP_ROOT, "cannot make the first memory cgroup")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root(controllers: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cgroup.controllers"), controllers).unwrap();
        std::fs::write(dir.path().join("cgroup.subtree_control"), "").unwrap();
        dir
    }

    #[test]
    fn enables_memory_for_children_and_makes_the_group_once() {
        let root = fake_root("cpuset cpu io memory pids\n");
        assert_eq!(arm(root.path()).unwrap(), Armed::Created);
        let control = std::fs::read_to_string(root.path().join("cgroup.subtree_control")).unwrap();
        assert_eq!(control, "+memory");
        assert!(root.path().join(GROUP).is_dir());
        assert_eq!(arm(root.path()).unwrap(), Armed::AlreadyThere);
    }

    #[test]
    fn leaves_a_kernel_without_the_memory_controller_alone() {
        let root = fake_root("cpu io pids\n");
        assert_eq!(arm(root.path()).unwrap(), Armed::NoMemoryController);
        assert!(!root.path().join(GROUP).exists());
    }

    #[test]
    fn a_missing_cgroup_mount_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(arm(&dir.path().join("absent")).is_err());
    }
}
