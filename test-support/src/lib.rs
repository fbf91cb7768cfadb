//! Helpers the crates' tests share: loop devices over image files, and skipping politely when
//! a tool or root is missing. Test-only: no crate depends on this outside `[dev-dependencies]`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A loop device over an image file, detached on drop (also when the test fails).
#[derive(Debug)]
pub struct Loop(pub PathBuf);

#[derive(Debug, Clone, Copy, Default)]
pub struct LoopOptions {
    pub read_only: bool,
    /// Ask the kernel to read the partition table (loopNp1...).
    pub partscan: bool,
    /// Only this byte range of the file (a partition, where the kernel makes no loopNpM).
    pub range: Option<(u64, u64)>,
}

impl Loop {
    /// Attaches `image`; panics with losetup's message when it cannot.
    pub fn attach(image: &Path, opts: LoopOptions) -> Loop {
        Loop::try_attach(image, opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Attaches `image`, or says why not (for tests that skip instead).
    pub fn try_attach(image: &Path, opts: LoopOptions) -> Result<Loop, String> {
        let mut cmd = Command::new("losetup");
        cmd.args(["--find", "--show"]);
        if opts.read_only {
            cmd.arg("--read-only");
        }
        if opts.partscan {
            cmd.arg("--partscan");
        }
        if let Some((offset, size)) = opts.range {
            cmd.arg(format!("--offset={offset}"))
                .arg(format!("--sizelimit={size}"));
        }
        let out = cmd
            .arg(image)
            .output()
            .map_err(|e| format!("losetup: {e}"))?;
        if !out.status.success() {
            return Err(format!("losetup: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(Loop(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim(),
        )))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

/// True when every program is on PATH (or in /usr/sbin, /sbin); otherwise says which is not.
pub fn have(programs: &[&str]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for p in programs {
        let found = std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .any(|d| d.join(p).is_file());
        if !found {
            eprintln!("skipped: {p} is not installed");
            return false;
        }
    }
    true
}

/// True when running as root (loop devices and mounts need it); otherwise says so.
pub fn is_root() -> bool {
    let root = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    if !matches!(root, Ok(true)) {
        eprintln!("skipped: needs root (loop devices)");
        return false;
    }
    true
}
