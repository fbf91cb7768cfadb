//! Autoformat: a device listed in `rancher.state.autoformat` is formatted ext4 labelled
//! RANCHER_STATE only when its first MiB is all zero, so a disk holding anything is never lost.

use super::{DeviceSpec, Env, STATE_LABEL};
use host::fs_probe::{self, FsInfo};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// How much of a listed device must be zero for autoformat to touch it.
pub const BLANK_CHECK_LEN: usize = 1 << 20;
/// mke2fs and its configuration, carried by the initrd for autoformat.
pub const INITRD_MKE2FS: &str = "/ros/mke2fs";
pub const INITRD_MKE2FS_CONF: &str = "/ros/mke2fs.conf";

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("no mke2fs (looked for {candidates:?})")]
    NoMke2fs { candidates: Vec<PathBuf> },
    #[error("cannot run {}: {source}", program.display())]
    Run {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{} {status}: {stderr}", program.display())]
    Failed {
        program: PathBuf,
        status: ExitStatus,
        stderr: String,
    },
    #[error("after mke2fs the device reads as {found:?}, not an ext4 labelled {STATE_LABEL}")]
    NotLabelled { found: Option<FsInfo> },
}

/// A listed blank device that should have been formatted but could not be.
#[derive(Debug, thiserror::Error)]
#[error("formatting {} (rancher.state.autoformat) failed: {source}", device.display())]
pub struct AutoformatError {
    pub device: PathBuf,
    pub source: FormatError,
}

/// What the first MiB of a device autoformat lists says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlankCheck {
    /// All zero: formatting loses nothing.
    Blank,
    /// A non-zero byte at `offset`: the device is never formatted.
    HoldsData { offset: u64 },
    /// Smaller than the checked length: too small to be a state partition.
    TooSmall { size: u64 },
}

/// The decision on the first bytes of a device (`bytes` is what could be read of its first MiB).
pub fn blank_check(bytes: &[u8]) -> BlankCheck {
    if let Some(offset) = bytes.iter().position(|b| *b != 0) {
        return BlankCheck::HoldsData {
            offset: offset as u64,
        };
    }
    if bytes.len() < BLANK_CHECK_LEN {
        return BlankCheck::TooSmall {
            size: bytes.len() as u64,
        };
    }
    BlankCheck::Blank
}

/// Reads the first MiB of `device` (or all of it, if smaller) and decides.
pub fn blank_check_device(device: &Path) -> std::io::Result<BlankCheck> {
    let file = std::fs::File::open(device)?;
    let mut buf = Vec::with_capacity(BLANK_CHECK_LEN);
    file.take(BLANK_CHECK_LEN as u64).read_to_end(&mut buf)?;
    Ok(blank_check(&buf))
}

/// Formats `device` if its first MiB is all zero: `Some(Ok)` formatted, `Some(Err)` it should
/// have been but could not, `None` it must not be.
pub(super) fn autoformat_one(
    device: &Path,
    spec: Option<&DeviceSpec>,
    env: &Env,
) -> Option<Result<(), AutoformatError>> {
    let shown = device.display();
    match blank_check_device(device) {
        Err(e) => {
            tracing::warn!(key = "rancher.state.autoformat", device = %shown, error = %e, "state: cannot read the device; not formatting it");
            None
        }
        Ok(BlankCheck::HoldsData { offset }) => {
            tracing::info!(
                key = "rancher.state.autoformat",
                device = %shown,
                first_data_at = offset,
                "state: the device holds data; autoformat never formats it"
            );
            None
        }
        Ok(BlankCheck::TooSmall { size }) => {
            tracing::warn!(key = "rancher.state.autoformat", device = %shown, size, "state: the device is smaller than 1 MiB; not formatting it");
            None
        }
        Ok(BlankCheck::Blank) => {
            tracing::info!(
                key = "rancher.state.autoformat",
                device = %shown,
                label = STATE_LABEL,
                "state: the device's first MiB is all zero; formatting it ext4"
            );
            let result = format_ext4(device, env);
            match &result {
                Ok(()) => {
                    tracing::info!(device = %shown, label = STATE_LABEL, "state: formatted");
                    let found_next_boot = match spec {
                        Some(DeviceSpec::Label(l)) => l.eq_ignore_ascii_case(STATE_LABEL),
                        Some(DeviceSpec::Path(p)) => p == device,
                        Some(_) | None => false,
                    };
                    if !found_next_boot {
                        tracing::warn!(
                            key = "rancher.state.dev",
                            device = %shown,
                            spec = ?spec.map(|s| s.to_string()),
                            "state: used now, but rancher.state.dev will not find this device at the next boot; set rancher.state.dev=LABEL=RANCHER_STATE"
                        );
                    }
                }
                Err(e) => {
                    tracing::error!(key = "rancher.state.autoformat", device = %shown, error = %e, "state: formatting failed")
                }
            }
            Some(result.map_err(|source| AutoformatError {
                device: device.to_path_buf(),
                source,
            }))
        }
    }
}

/// `mke2fs -t ext4 -L RANCHER_STATE`, then a probe that the label is there.
pub fn format_ext4(device: &Path, env: &Env) -> Result<(), FormatError> {
    let mke2fs = env
        .mke2fs
        .iter()
        .find(|p| p.is_file())
        .ok_or_else(|| FormatError::NoMke2fs {
            candidates: env.mke2fs.clone(),
        })?;
    let mut cmd = Command::new(mke2fs);
    // nodiscard: the device is blank where it matters, and discarding a large disk is slow.
    cmd.args(["-q", "-t", "ext4", "-E", "nodiscard", "-L", STATE_LABEL])
        .arg(device)
        .stdin(Stdio::null());
    if let Some(conf) = &env.mke2fs_config {
        cmd.env("MKE2FS_CONFIG", conf);
    }
    let out = cmd.output().map_err(|source| FormatError::Run {
        program: mke2fs.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(FormatError::Failed {
            program: mke2fs.clone(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    match fs_probe::probe_path(device) {
        Some(fs) if fs.label.as_deref() == Some(STATE_LABEL) => Ok(()),
        found => Err(FormatError::NotLabelled { found }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_only_when_the_whole_first_mib_is_zero() {
        let mut b = vec![0u8; BLANK_CHECK_LEN];
        assert_eq!(blank_check(&b), BlankCheck::Blank);
        b[BLANK_CHECK_LEN - 1] = 1;
        assert_eq!(
            blank_check(&b),
            BlankCheck::HoldsData {
                offset: (BLANK_CHECK_LEN - 1) as u64
            }
        );
        b[0] = 0xff;
        assert_eq!(blank_check(&b), BlankCheck::HoldsData { offset: 0 });
        // A GPT disk: protective MBR signature at 510.
        let mut gpt = vec![0u8; BLANK_CHECK_LEN];
        gpt[510] = 0x55;
        gpt[511] = 0xAA;
        assert_eq!(blank_check(&gpt), BlankCheck::HoldsData { offset: 510 });
        assert_eq!(
            blank_check(&[0u8; 4096]),
            BlankCheck::TooSmall { size: 4096 }
        );
        assert_eq!(blank_check(&[0, 0, 7]), BlankCheck::HoldsData { offset: 2 });
    }
}
