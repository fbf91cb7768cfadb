//! Helpers the crates' tests share: loop devices over image files, a dockerd of the test's
//! own, a busybox root filesystem, and skipping politely when a tool or root is missing.
//! Test-only: no shipping binary depends on it (sysdocker only through its `testing` feature).

mod dockerd;
pub mod http_server;
pub use dockerd::TestDockerd;
mod mount_ns;
pub use mount_ns::{run, run_with_stdin, sh, unique, NsHolder};

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

/// Why a loop device could not be attached (losetup's own words when it ran).
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("losetup: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("losetup: {0}")]
    Failed(String),
}

impl Loop {
    /// Attaches `image`; panics with losetup's message when it cannot.
    pub fn attach(image: &Path, opts: LoopOptions) -> Loop {
        Loop::try_attach(image, opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Attaches `image`, or says why not (for tests that skip instead).
    pub fn try_attach(image: &Path, opts: LoopOptions) -> Result<Loop, AttachError> {
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
        let out = cmd.arg(image).output().map_err(AttachError::Spawn)?;
        if !out.status.success() {
            return Err(AttachError::Failed(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
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
    for p in programs {
        if !have_quietly(p) {
            eprintln!("skipped: {p} is not installed");
            return false;
        }
    }
    true
}

/// True when `tool` is on PATH (or in /usr/sbin, /sbin); otherwise says which Debian package
/// brings it.
pub fn have_tool(tool: &str, package: &str) -> bool {
    let found = have_quietly(tool);
    if !found {
        eprintln!("skipped: {tool} is missing (apt-get install -y {package})");
    }
    found
}

fn have_quietly(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(program).is_file())
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

/// A root filesystem of Debian's static busybox with every applet as a symlink, plus
/// /etc/passwd and /etc/group for root: the smallest image a test can run.
pub fn busybox_rootfs(dir: &Path) -> std::io::Result<()> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .ok_or_else(|| std::io::Error::other("busybox not found: install busybox-static"))?;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    for sub in ["tmp", "etc", "proc", "sys", "dev", "data"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    std::fs::copy(busybox, bin.join("busybox"))?;
    let list = std::process::Command::new(busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if !applet.is_empty() && applet != "busybox" {
            let link = bin.join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", link)?;
            }
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n")?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\n")?;
    Ok(())
}

/// Writes `text` to `root/rel`, making the directories.
pub fn write_file(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// A root the `ros` CLI can be pointed at with `--root`: the shipped defaults as the system
/// image's os-config.yml, and a kernel command line.
pub fn ros_root(root: &Path) {
    let defaults =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../os-config/defaults/os-config.yml");
    let text = std::fs::read_to_string(&defaults)
        .unwrap_or_else(|e| panic!("{}: {e}", defaults.display()));
    write_file(root, "usr/share/ros/os-config.yml", &text);
    write_file(root, "proc/cmdline", "console=ttyS0\n");
}
