//! Each slot's snapshot of the configuration (`/var/lib/rancher/conf`), taken when the system
//! leaves that slot (upgrade or rollback) and restored when it comes back, so a rollback also
//! rolls back the config the newer version may have changed. Directories are swapped by
//! rename, and an interrupted swap is finished at the next boot (`recover`).

use crate::layout::Slot;
use std::path::{Path, PathBuf};

pub const CONF: &str = "var/lib/rancher/conf";
pub const OS_STATE: &str = "var/lib/rancher/os";

pub fn snapshot_dir(root: &Path, slot: Slot) -> PathBuf {
    root.join(OS_STATE)
        .join("slots")
        .join(slot.name())
        .join("conf")
}

/// Copies the live config into `slot`'s snapshot.
pub fn snapshot(root: &Path, slot: Slot) -> std::io::Result<()> {
    replace_with_copy(&root.join(CONF), &snapshot_dir(root, slot))
}

/// Replaces the live config with `slot`'s snapshot; false when there is none.
pub fn restore(root: &Path, slot: Slot) -> std::io::Result<bool> {
    let snap = snapshot_dir(root, slot);
    if !snap.is_dir() {
        return Ok(false);
    }
    replace_with_copy(&snap, &root.join(CONF))?;
    Ok(true)
}

/// Finishes a swap a power loss interrupted: `X.new` complete but `X` gone.
pub fn recover(root: &Path) {
    let dir = root.join(CONF);
    let new = with_suffix(&dir, ".new");
    if !dir.exists() && new.is_dir() {
        let _ = std::fs::rename(&new, &dir);
    }
    let _ = std::fs::remove_dir_all(with_suffix(&dir, ".old"));
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `to` becomes a copy of `from`: copied to `to.new` and synced, then renamed into place.
fn replace_with_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    let new = with_suffix(to, ".new");
    let old = with_suffix(to, ".old");
    let _ = std::fs::remove_dir_all(&new);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    copy_tree(from, &new)?;
    nix::unistd::sync();
    let _ = std::fs::remove_dir_all(&old);
    if to.exists() {
        std::fs::rename(to, &old)?;
    }
    std::fs::rename(&new, to)?;
    let _ = std::fs::remove_dir_all(&old);
    nix::unistd::sync();
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    if let Ok(meta) = std::fs::metadata(from) {
        std::fs::set_permissions(to, meta.permissions())?;
    }
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_restores_the_config_it_saw() {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join(CONF);
        std::fs::create_dir_all(conf.join("cloud-config.d")).unwrap();
        std::fs::write(conf.join("cloud-config.yml"), "hostname: old\n").unwrap();
        std::fs::write(conf.join("cloud-config.d/a.yml"), "x: 1\n").unwrap();
        snapshot(root.path(), Slot::A).unwrap();
        std::fs::write(conf.join("cloud-config.yml"), "hostname: new\n").unwrap();
        std::fs::write(conf.join("extra.yml"), "y: 2\n").unwrap();
        assert!(restore(root.path(), Slot::A).unwrap());
        assert_eq!(
            std::fs::read_to_string(conf.join("cloud-config.yml")).unwrap(),
            "hostname: old\n"
        );
        assert!(conf.join("cloud-config.d/a.yml").is_file());
        assert!(!conf.join("extra.yml").exists());
        assert!(!restore(root.path(), Slot::B).unwrap());
    }

    #[test]
    fn an_interrupted_swap_is_finished() {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join(CONF);
        let new = with_suffix(&conf, ".new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("cloud-config.yml"), "a: 1\n").unwrap();
        recover(root.path());
        assert!(conf.join("cloud-config.yml").is_file());
    }
}
