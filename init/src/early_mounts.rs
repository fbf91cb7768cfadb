//! The kernel filesystems every later step needs, mounted before anything else.

use nix::mount::{mount, MsFlags};
use std::path::Path;

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

/// Makes each directory a shared mount point (a bind onto itself first if it is not a mount
/// point), so mounts below it propagate between the host and the containers. Failures are
/// logged: without it, the containers that bind these directories would not start.
pub fn make_shared(dirs: &[&str]) {
    for dir in dirs {
        if let Err(e) = share(Path::new(dir)) {
            tracing::error!(dir, error = %e, "cannot make a shared mount point");
        }
    }
}

fn share(dir: &Path) -> nix::Result<()> {
    let _ = std::fs::create_dir_all(dir);
    let point = dir.to_string_lossy();
    if !is_mounted(&point) {
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
    }
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
}

/// True when `path` is a mount point according to this thread's mountinfo.
pub fn is_mounted(path: &str) -> bool {
    // thread-self: a thread that entered another mount namespace sees that one.
    let Ok(info) = std::fs::read_to_string("/proc/thread-self/mountinfo") else {
        return false;
    };
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .any(|mp| Path::new(mp) == Path::new(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::cloud_init::host_ns;
    use crate::services::cloud_init::test_support::NsHolder;

    #[test]
    fn directories_become_shared_mount_points_once() {
        let Some(holder) = NsHolder::start() else {
            eprintln!("skipped: needs root to create a mount namespace");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt").display().to_string();
        let m = mnt.clone();
        host_ns::run_in(&holder.ns(), move || {
            make_shared(&[m.as_str()]);
            // Idempotent: a second call finds the mount point and only marks it again.
            make_shared(&[m.as_str()]);
        })
        .unwrap();
        let lines: Vec<String> = holder
            .mountinfo()
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some(mnt.as_str()))
            .map(str::to_owned)
            .collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(" shared:"), "{}", lines[0]);
        assert!(!is_mounted(&mnt), "leaked into the test's namespace");
    }
}
