//! A dead system container's leftover cgroup. A service in the host's PID namespace (User
//! Docker: `pid: host`) leaves its children running when its init is killed, and runc then
//! refuses to start the container again in that cgroup (User Docker's nested cgroups are
//! threaded, so runc cannot even list them). Before a dead service is started again, whatever
//! is left in its cgroup is killed and the tree removed: the restart is as clean as the first
//! start.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where cgroup v2 is mounted on the host.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How long the killed processes get to leave the cgroup before its removal is tried.
const EMPTY_WAIT: Duration = Duration::from_secs(5);

/// The cgroup System Docker (cgroupfs driver) gives container `id`: `<parent>/<id>`, where the
/// parent is the container's `CgroupParent` or Docker's default, `/docker`.
pub fn dir_of(root: &Path, cgroup_parent: Option<&str>, id: &str) -> Option<PathBuf> {
    let parent = cgroup_parent
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("/docker")
        .trim_start_matches('/');
    // An id or parent that could leave the cgroup tree is not a cgroup of ours.
    let bad = |s: &str| s.split('/').any(|c| c == ".." || c == ".");
    if id.is_empty() || id.contains('/') || bad(parent) || bad(id) {
        return None;
    }
    Some(root.join(parent).join(id))
}

/// Kills what is left in `dir` (the whole subtree, through `cgroup.kill`), waits for it to
/// empty, then removes the subtree deepest first. Returns whether there was anything to clear.
pub async fn clear(dir: &Path) -> io::Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let kill = dir.join("cgroup.kill");
    if kill.exists() {
        std::fs::write(&kill, "1")?;
    }
    let start = Instant::now();
    while populated(dir) && start.elapsed() < EMPTY_WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for d in removal_order(dir) {
        match std::fs::remove_dir(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", d.display()))),
        }
    }
    Ok(true)
}

/// `populated 1` in `cgroup.events`: some process is still in the subtree.
fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .map(|events| events.lines().any(|l| l.trim() == "populated 1"))
        .unwrap_or(false)
}

/// `dir` and every directory below it, children before their parents.
fn removal_order(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![dir.to_path_buf()];
    let mut next = 0;
    while let Some(d) = found.get(next).cloned() {
        next = next.saturating_add(1);
        if let Ok(entries) = std::fs::read_dir(&d) {
            found.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    // Breadth-first order reversed: every child comes before its parent.
    found.reverse();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup_is_the_parent_then_the_id() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(
            dir_of(root, None, "abc"),
            Some(PathBuf::from("/sys/fs/cgroup/docker/abc"))
        );
        assert_eq!(
            dir_of(root, Some(""), "abc"),
            Some(PathBuf::from("/sys/fs/cgroup/docker/abc"))
        );
        assert_eq!(
            dir_of(root, Some("/system.slice/x"), "abc"),
            Some(PathBuf::from("/sys/fs/cgroup/system.slice/x/abc"))
        );
        assert_eq!(dir_of(root, Some("/../etc"), "abc"), None);
        assert_eq!(dir_of(root, None, "../abc"), None);
        assert_eq!(dir_of(root, None, ""), None);
    }

    #[tokio::test]
    async fn a_left_over_tree_is_removed_deepest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("docker/abc");
        std::fs::create_dir_all(dir.join("docker/one")).unwrap();
        std::fs::create_dir_all(dir.join("docker/two/deeper")).unwrap();
        std::fs::create_dir_all(dir.join("other")).unwrap();
        assert!(clear(&dir).await.unwrap());
        assert!(!dir.exists());
        assert!(tmp.path().join("docker").is_dir());
        // Nothing left: nothing to clear, and no error.
        assert!(!clear(&dir).await.unwrap());
    }
}
