//! Running the Debian tools that partition and format (sfdisk, mkfs.*), and temporary mounts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{tool} not found: it ships in the console image (package {package})")]
    Missing { tool: String, package: String },
    #[error("{tool} {args}: {status}: {stderr}")]
    Failed {
        tool: String,
        args: String,
        status: String,
        stderr: String,
    },
    #[error("{tool}: {source}")]
    Spawn {
        tool: String,
        source: std::io::Error,
    },
    #[error("mounting {device} at {target}: {source}")]
    Mount {
        device: PathBuf,
        target: PathBuf,
        source: nix::Error,
    },
}

/// The package each tool comes from, for the "not found" message.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "sfdisk" => "fdisk",
        "mkfs.vfat" => "dosfstools",
        "mkfs.ext4" | "mke2fs" | "resize2fs" => "e2fsprogs",
        _ => "?",
    }
}

/// Runs `tool args` with `stdin` fed in; fails with its stderr.
pub fn run(tool: &str, args: &[&str], stdin: Option<&str>) -> Result<String, ToolError> {
    use std::io::Write;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ToolError::Missing {
                tool: tool.to_owned(),
                package: package_of(tool).to_owned(),
            },
            _ => ToolError::Spawn {
                tool: tool.to_owned(),
                source,
            },
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| ToolError::Spawn {
            tool: tool.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(ToolError::Failed {
            tool: tool.to_owned(),
            args: args.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn mkfs_ext4(device: &Path, label: &str) -> Result<(), ToolError> {
    let dev = device.to_string_lossy();
    // nodiscard: discarding a large disk is slow and buys nothing on a fresh partition.
    run(
        "mkfs.ext4",
        &["-q", "-F", "-E", "nodiscard", "-L", label, &dev],
        None,
    )
    .map(drop)
}

pub fn mkfs_vfat(device: &Path, label: &str) -> Result<(), ToolError> {
    // FAT32, as the UEFI spec asks of a fixed disk's ESP (mkfs picks FAT16 at 64 MiB).
    run(
        "mkfs.vfat",
        &["-F", "32", "-n", label, &device.to_string_lossy()],
        None,
    )
    .map(drop)
}

/// A mount that is synced and undone when dropped.
pub struct TempMount {
    pub dir: PathBuf,
}

impl TempMount {
    pub fn new(
        device: &Path,
        fstype: &str,
        dir: &Path,
        read_only: bool,
    ) -> Result<TempMount, ToolError> {
        use nix::mount::{mount, MsFlags};
        let _ = std::fs::create_dir_all(dir);
        let flags = if read_only {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        mount(Some(device), dir, Some(fstype), flags, None::<&str>).map_err(|source| {
            ToolError::Mount {
                device: device.to_owned(),
                target: dir.to_owned(),
                source,
            }
        })?;
        Ok(TempMount {
            dir: dir.to_owned(),
        })
    }
}

impl Drop for TempMount {
    fn drop(&mut self) {
        nix::unistd::sync();
        if let Err(e) = nix::mount::umount(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "unmount failed");
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
