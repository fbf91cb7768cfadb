//! Compressed swap in RAM (`rancher.zram`). The root, System Docker's image layers and the
//! daemons' heaps all live in memory; most of those pages are cold and compress 3-4x, so a
//! zram swap keeps a small machine from thrashing its file cache into a livelock.

use os_config::model::ZramConfig;
use std::path::Path;
use std::process::Command;

const DEVICE: &str = "/dev/zram0";
const SYSFS: &str = "/sys/block/zram0";
/// Above the default of disk swap, so a swap partition the operator adds is used after zram.
const PRIORITY: libc::c_int = 100;
// From <linux/swap.h>; the libc crate does not export them.
const SWAP_FLAG_PREFER: libc::c_int = 0x8000;
const SWAP_FLAG_PRIO_MASK: libc::c_int = 0x7fff;

#[derive(Debug, thiserror::Error)]
pub enum ZramError {
    #[error("{DEVICE} does not exist (is the zram module in the system image?)")]
    NoDevice,
    #[error("cannot read /proc/meminfo: {0}")]
    Meminfo(std::io::Error),
    #[error("cannot write {path}: {source}")]
    Sysfs {
        path: String,
        source: std::io::Error,
    },
    #[error("mkswap {DEVICE} failed: {0}")]
    Mkswap(String),
    #[error("swapon {DEVICE} failed: {0}")]
    Swapon(std::io::Error),
}

/// Sets up and enables the zram swap unless the config turns it off or it is already on.
pub fn setup(cfg: &ZramConfig) {
    if !cfg.enabled() {
        tracing::info!("zram swap disabled by rancher.zram.enabled");
        return;
    }
    match enable(cfg) {
        Ok(Some(bytes)) => tracing::info!(
            device = DEVICE,
            size_mib = bytes >> 20,
            algorithm = cfg.algorithm(),
            "zram swap on"
        ),
        Ok(None) => tracing::debug!(device = DEVICE, "zram swap already on"),
        Err(e) => tracing::warn!(error = %e, "no zram swap; the system runs without it"),
    }
}

fn enable(cfg: &ZramConfig) -> Result<Option<u64>, ZramError> {
    if !Path::new(DEVICE).exists() {
        return Err(ZramError::NoDevice);
    }
    if std::fs::read_to_string("/proc/swaps")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with(DEVICE))
    {
        return Ok(None);
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(ZramError::Meminfo)?;
    let bytes = size_bytes(&meminfo, cfg.percent());
    // The algorithm must be chosen before the size; an unknown one keeps the kernel's default.
    if let Err(e) = write_attr("comp_algorithm", cfg.algorithm()) {
        tracing::warn!(algorithm = cfg.algorithm(), error = %e, "keeping zram's default compressor");
    }
    write_attr("disksize", &bytes.to_string())?;
    let out = Command::new("mkswap")
        .arg(DEVICE)
        .output()
        .map_err(|e| ZramError::Mkswap(e.to_string()))?;
    if !out.status.success() {
        return Err(ZramError::Mkswap(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    let path = std::ffi::CString::new(DEVICE).map_err(|e| ZramError::Mkswap(e.to_string()))?;
    let flags = SWAP_FLAG_PREFER | (PRIORITY & SWAP_FLAG_PRIO_MASK);
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::swapon(path.as_ptr(), flags) } != 0 {
        return Err(ZramError::Swapon(std::io::Error::last_os_error()));
    }
    Ok(Some(bytes))
}

fn write_attr(name: &str, value: &str) -> Result<(), ZramError> {
    let path = format!("{SYSFS}/{name}");
    std::fs::write(&path, value).map_err(|source| ZramError::Sysfs { path, source })
}

/// `percent` of MemTotal, in bytes, rounded down to whole pages.
pub fn size_bytes(meminfo: &str, percent: u64) -> u64 {
    let total_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    // Saturating: a /proc/meminfo or percent no machine has must not panic PID 1.
    (total_kib.saturating_mul(1024).saturating_mul(percent) / 100) & !4095
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_a_share_of_memtotal_in_pages() {
        let m = "MemTotal:         995356 kB\nMemFree: 1 kB\n";
        assert_eq!(size_bytes(m, 50), (995356 * 1024 / 2) & !4095);
        assert_eq!(size_bytes(m, 50) % 4096, 0);
        assert_eq!(size_bytes("garbage", 50), 0);
    }

    #[test]
    fn defaults_and_clamping() {
        let c = ZramConfig::default();
        assert!(c.enabled());
        assert_eq!((c.percent(), c.algorithm()), (50, "lz4"));
        let c = ZramConfig {
            enabled: Some(false),
            percent: Some(900),
            algorithm: None,
        };
        assert!(!c.enabled());
        assert_eq!(c.percent(), 200);
    }
}
