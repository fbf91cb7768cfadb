//! The marker ros leaves when it put this node in a swarm (`/var/lib/rancher/swarm/joined`,
//! on the state partition): a node whose `rancher.swarm` is removed leaves only a swarm ros
//! joined, never one an operator joined by hand.

use crate::error::{io, SwarmError};
use os_config::model::SwarmRole;
use std::path::{Path, PathBuf};

pub fn path(root: &Path) -> PathBuf {
    root.join(os_config::paths::SWARM_MARKER)
}

pub fn exists(root: &Path) -> bool {
    path(root).is_file()
}

/// Records that ros joined (or created) a swarm, with the role it asked for.
pub fn write(root: &Path, role: SwarmRole) -> Result<(), SwarmError> {
    let file = path(root);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    }
    os_config::atomic_write(&file, format!("{role}\n").as_bytes(), 0o644)
        .map_err(io("writing", &file))
}

pub fn remove(root: &Path) -> Result<(), SwarmError> {
    let file = path(root);
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("removing", &file)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_read_and_removed_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        assert!(!exists(root.path()));
        write(root.path(), SwarmRole::Worker).unwrap();
        assert!(exists(root.path()));
        let text = std::fs::read_to_string(root.path().join("var/lib/rancher/swarm/joined"));
        assert_eq!(text.unwrap(), "worker\n");
        remove(root.path()).unwrap();
        remove(root.path()).unwrap();
        assert!(!exists(root.path()));
    }
}
