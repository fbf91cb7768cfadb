//! Shared mount points: a mount made below one propagates between the host and the containers
//! that bind it (PID 1 shares /mnt and /media; cloud-init's tests share their own).

use nix::mount::{mount, MsFlags};
use std::path::Path;

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
    use crate::mount_namespace as host_ns;
    use test_support::NsHolder;

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
