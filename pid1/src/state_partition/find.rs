//! Finding the state and OEM devices: one look for a spec through `host::block_devices` (a
//! path must be a block device, and may need `rancher.state.fstype`), and letting the block
//! device list settle before a single look.

use super::{DeviceSpec, Env};
use host::block_devices::{self, Resolver};
use host::fs_probe;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(super) enum Lookup {
    Found(PathBuf, String),
    /// The path exists but holds no filesystem ros recognises (and no fstype was given).
    Unrecognised(PathBuf),
    Absent,
}

pub(super) fn is_block_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

pub(super) fn lookup(spec: &DeviceSpec, fstype: Option<&str>, env: &Env) -> Lookup {
    match spec {
        DeviceSpec::Path(path) => {
            if !is_block_device(path) {
                return Lookup::Absent;
            }
            match (fstype, fs_probe::probe_path(path)) {
                (Some(t), _) => Lookup::Found(path.clone(), t.to_owned()),
                (None, Some(fs)) => Lookup::Found(path.clone(), fs.fstype.to_owned()),
                (None, None) => Lookup::Unrecognised(path.clone()),
            }
        }
        _ => match Resolver::system(env.include_loop).find(spec) {
            Some(f) => Lookup::Found(f.device, fstype.unwrap_or(f.fs.fstype).to_owned()),
            None => Lookup::Absent,
        },
    }
}

/// Waits (at most `max`) until the list of block devices has not changed for `quiet`: the
/// initrd's disk drivers probe asynchronously, and a single look must not come too early.
pub fn settle(max: Duration, quiet: Duration) {
    let start = Instant::now();
    let mut last = block_devices::list();
    let mut stable_since = Instant::now();
    while start.elapsed() < max {
        std::thread::sleep(Duration::from_millis(50));
        let now = block_devices::list();
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= quiet {
            break;
        }
    }
    tracing::debug!(
        devices = last.len(),
        waited_ms = start.elapsed().as_millis() as u64,
        "state: block devices settled"
    );
}
