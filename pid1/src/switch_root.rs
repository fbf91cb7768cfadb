//! Leaving the initramfs for the assembled root. Docker cannot pivot_root out of an initramfs,
//! so this must be a real root change: move the kernel mounts, free the initramfs, make the
//! new root `/`.

use nix::mount::{mount, MsFlags};
use nix::sys::stat::lstat;
use nix::unistd::{chdir, chroot};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SwitchRootError {
    #[error("moving {what} into the new root: {source}")]
    Move { what: String, source: nix::Error },
    #[error("entering the new root: {0}")]
    Enter(nix::Error),
}

pub fn switch_root(new_root: &Path) -> Result<(), SwitchRootError> {
    for m in ["/dev", "/proc", "/sys", "/run"] {
        let target = new_root.join(m.trim_start_matches('/'));
        let _ = std::fs::create_dir_all(&target);
        mount(
            Some(m),
            &target,
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .map_err(|source| SwitchRootError::Move {
            what: m.into(),
            source,
        })?;
    }
    free_initramfs(new_root);
    chdir(new_root).map_err(SwitchRootError::Enter)?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(SwitchRootError::Enter)?;
    chroot(".").map_err(SwitchRootError::Enter)?;
    chdir("/").map_err(SwitchRootError::Enter)
}

/// Deletes the initramfs's files (they are RAM) without crossing into other filesystems.
fn free_initramfs(keep: &Path) {
    let Ok(root) = lstat("/") else { return };
    remove_tree(Path::new("/"), root.st_dev, keep);
}

fn remove_tree(dir: &Path, dev: u64, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path == keep {
            continue;
        }
        let Ok(st) = lstat(&path) else { continue };
        if st.st_dev != dev {
            continue;
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            remove_tree(&path, dev, keep);
            let _ = std::fs::remove_dir(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}
