//! The kernel filesystems every later step needs, mounted before anything else.

use nix::mount::{mount, MsFlags};

struct Mount {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

fn table() -> [Mount; 7] {
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    [
        Mount {
            source: "proc",
            target: "/proc",
            fstype: "proc",
            flags: nodev,
            data: None,
        },
        Mount {
            source: "sysfs",
            target: "/sys",
            fstype: "sysfs",
            flags: nodev,
            data: None,
        },
        Mount {
            source: "devtmpfs",
            target: "/dev",
            fstype: "devtmpfs",
            flags: MsFlags::MS_NOSUID,
            data: Some("mode=0755"),
        },
        Mount {
            source: "devpts",
            target: "/dev/pts",
            fstype: "devpts",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some("gid=5,mode=0620,ptmxmode=0666"),
        },
        Mount {
            source: "shm",
            target: "/dev/shm",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=1777"),
        },
        Mount {
            source: "tmpfs",
            target: "/run",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=0755"),
        },
        Mount {
            source: "cgroup2",
            target: "/sys/fs/cgroup",
            fstype: "cgroup2",
            flags: nodev,
            data: Some("nsdelegate"),
        },
    ]
}

/// Mounts what is not mounted yet; a failure is logged and the boot goes on, because a missing
/// /dev/shm must not cost the machine its console.
pub fn mount_all() {
    for m in table() {
        if is_mounted(m.target) {
            continue;
        }
        let _ = std::fs::create_dir_all(m.target);
        if let Err(e) = mount(Some(m.source), m.target, Some(m.fstype), m.flags, m.data) {
            tracing::warn!(target_dir = m.target, fstype = m.fstype, error = %e, "early mount failed");
        }
    }
}

/// Where mounts made later (cloud-config `mounts`, `mount` in the console) must reach every
/// container that binds them: user-volumes binds these with `rshared`, which Docker allows
/// only when the host's mount there is shared.
pub const SHARED_DIRS: [&str; 2] = ["/mnt", "/media"];

pub use host::mount_points::{is_mounted, make_shared};
