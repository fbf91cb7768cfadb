//! Crash-safe file replacement: a temporary file in the same directory, fsync, rename, then
//! fsync of the directory. A reader sees the old file or the new one, never a truncated one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where a test may make the write fail, to prove the old file survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub enum FailPoint {
    None,
    AfterTempWrite,
    BeforeRename,
}

/// Replaces `path` with `bytes`, mode `mode`, creating parent directories (0700) as needed.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    atomic_write_inner(path, bytes, mode, FailPoint::None)
}

#[doc(hidden)]
pub fn atomic_write_inner(path: &Path, bytes: &[u8], mode: u32, fail: FailPoint) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = temp_path(path);
    let result = write_then_rename(&tmp, path, bytes, mode, fail);
    if result.is_err() {
        // Leave no half-written temporary behind; the target is untouched.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)?.sync_all()
}

fn write_then_rename(
    tmp: &Path,
    path: &Path,
    bytes: &[u8],
    mode: u32,
    fail: FailPoint,
) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    f.write_all(bytes)?;
    if fail == FailPoint::AfterTempWrite {
        return Err(io::Error::other(
            "injected failure after writing the temporary file",
        ));
    }
    f.sync_all()?;
    drop(f);
    // create_new honours the umask; set the exact mode asked for.
    fs::set_permissions(tmp, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    if fail == FailPoint::BeforeRename {
        return Err(io::Error::other("injected failure before rename"));
    }
    fs::rename(tmp, path)
}

/// A dotfile next to the target, so layer loading (which skips dotfiles) never reads it.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

use std::os::unix::fs::DirBuilderExt;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/cloud-config.yml");
        atomic_write(&p, b"x: 1\n", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"x: 1\n");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn failure_before_rename_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cloud-config.yml");
        atomic_write(&p, b"old: true\n", 0o600).unwrap();
        for fp in [FailPoint::AfterTempWrite, FailPoint::BeforeRename] {
            let err = atomic_write_inner(&p, b"new: true\n", 0o600, fp).unwrap_err();
            assert!(err.to_string().contains("injected"));
            assert_eq!(fs::read(&p).unwrap(), b"old: true\n");
            let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
            assert_eq!(leftovers.len(), 1, "temporary file left behind");
        }
    }
}
