//! System images changed by tests: unpacked with unsquashfs, changed, packed again with a fast
//! compression (only the test reads them).

use std::path::{Path, PathBuf};
use std::process::Command;

use test_support::run;

/// Unpacks `squashfs` into `dir/root` and returns that root (the image's /usr).
pub fn unpack_system_image(squashfs: &Path, dir: &Path) -> PathBuf {
    let root = dir.join("root");
    // unsquashfs makes the root but not the folders above it.
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    run(Command::new("unsquashfs")
        .args(["-q", "-n", "-d"])
        .arg(&root)
        .arg(squashfs));
    root
}

/// Packs `root` into the squashfs `out` (zstd level 1: fast, and only the test reads it).
pub fn pack_system_image(root: &Path, out: &Path) {
    run(Command::new("mksquashfs").arg(root).arg(out).args([
        "-noappend",
        "-quiet",
        "-no-progress",
        "-comp",
        "zstd",
        "-Xcompression-level",
        "1",
    ]));
}
