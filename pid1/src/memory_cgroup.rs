//! The host's first cgroups, made by PID 1 before anything else runs.
//!
//! The first non-root memory cgroup switches on kernel-memory accounting, and the kernel does
//! that by live-patching every slab and page allocation site. Left to the first container, the
//! patching races two busy CPUs (dockerd and runc allocating); under QEMU's TCG that race has
//! locked both vCPUs up for minutes. Made here, the other CPUs are idle. The group, `ros`, is
//! kept: removing it would patch the socket-accounting sites back.
//!
//! Kernel 6.12 showed the same race for cpuset: runc enabling it for the first container flips
//! `cpusets_enabled_key` in the page allocator, and under TCG the other vCPU hit the patch's
//! int3 ("Oops: int3" in get_page_from_freelist, a kernel panic). So every controller the
//! kernel offers is enabled for the root's children here too, before `ros` is made.

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
    let control = root.join("cgroup.subtree_control");
    std::fs::write(&control, "+memory")?;
    // One at a time: a controller the kernel will not enable here must not stop the others.
    for controller in others(&available) {
        if let Err(e) = std::fs::write(&control, format!("+{controller}")) {
            tracing::debug!(controller, error = %e, "controller not enabled for the children");
        }
    }
    match std::fs::create_dir(root.join(GROUP)) {
        Ok(()) => Ok(Armed::Created),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Armed::AlreadyThere),
        Err(e) => Err(e),
    }
}

/// The controllers besides memory that `cgroup.controllers` lists.
fn others(available: &str) -> Vec<&str> {
    available
        .split_whitespace()
        .filter(|c| *c != "memory")
        .collect()
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
        // A plain file keeps only the last write; the kernel's file adds each controller.
        let control = std::fs::read_to_string(root.path().join("cgroup.subtree_control")).unwrap();
        assert_eq!(control, "+pids");
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
    fn every_other_controller_is_enabled_too() {
        assert_eq!(
            others("cpuset cpu io memory hugetlb pids rdma misc\n"),
            ["cpuset", "cpu", "io", "hugetlb", "pids", "rdma", "misc"]
        );
    }

    #[test]
    fn a_missing_cgroup_mount_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(arm(&dir.path().join("absent")).is_err());
    }
}
