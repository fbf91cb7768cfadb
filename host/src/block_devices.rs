//! Finding block devices by `LABEL=`, `UUID=` or path, waiting a bounded time for slow ones.

use crate::fs_probe::{probe_path, FsInfo};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub device: PathBuf,
    pub fs: FsInfo,
}

/// Every block device the kernel knows, as /dev paths (partitions included).
pub fn list() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir("/sys/class/block")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| PathBuf::from("/dev").join(e.file_name()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Resolves `LABEL=x`, `UUID=x` or a device path to a device holding a filesystem we know.
/// Loop devices are skipped: they back ros's own squashfs.
pub fn find(spec: &str) -> Option<Found> {
    find_in(spec, false)
}

/// `find`, loop devices included: a config drive may be an image attached to one.
pub fn find_any(spec: &str) -> Option<Found> {
    find_in(spec, true)
}

fn find_in(spec: &str, include_loop: bool) -> Option<Found> {
    let matches = |fs: &FsInfo, dev: &PathBuf| {
        if let Some(label) = spec.strip_prefix("LABEL=") {
            fs.label
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(label))
        } else if let Some(uuid) = spec.strip_prefix("UUID=") {
            fs.uuid
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(uuid))
        } else {
            dev.as_os_str() == spec
        }
    };
    if !spec.starts_with("LABEL=") && !spec.starts_with("UUID=") {
        let dev = PathBuf::from(spec);
        return probe_path(&dev).map(|fs| Found { device: dev, fs });
    }
    // Ram disks hold nothing of ours.
    list()
        .into_iter()
        .filter(|d| {
            let n = d.to_string_lossy();
            (include_loop || !n.contains("/loop")) && !n.contains("/ram")
        })
        .find_map(|dev| {
            probe_path(&dev)
                .filter(|fs| matches(fs, &dev))
                .map(|fs| Found { device: dev, fs })
        })
}

/// `find`, retried until `timeout`; devices appear asynchronously after their driver loads.
pub fn wait_for(spec: &str, timeout: Duration) -> Option<Found> {
    retry(timeout, || find(spec))
}

/// `find_any`, retried until `timeout`.
pub fn wait_for_any(spec: &str, timeout: Duration) -> Option<Found> {
    retry(timeout, || find_any(spec))
}

fn retry(timeout: Duration, find: impl Fn() -> Option<Found>) -> Option<Found> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = find() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
