//! The state partition: the disk the writable root lives on, so that what is written survives a
//! reboot (docs/persistence.md). Before the root exists PID 1 reads `rancher.state` from the
//! layers it already has (the system image's defaults, the OEM partition, the kernel cmdline),
//! finds the device by `LABEL=`, `UUID=` or path, waits a bounded time for it when it was asked
//! for explicitly, formats a listed device whose first MiB is all zero, and mounts the device
//! (or a directory inside it) as the new root. Without one the root stays in RAM; a required
//! one that is missing ends in the recovery shell.
//!
//! One concern per file: `settings` (the early layers and what they ask for), `find` (a look
//! for the device, settling), `autoformat` (blank check, mke2fs), `mount` (the root, the OEM
//! partition); here the decision, which waits for the device within `rancher.state.wait`.

mod autoformat;
mod find;
mod mount;
mod settings;

pub use autoformat::{
    blank_check, blank_check_device, format_ext4, AutoformatError, BlankCheck, FormatError,
    BLANK_CHECK_LEN, INITRD_MKE2FS, INITRD_MKE2FS_CONF,
};
pub use find::settle;
pub use host::block_devices::DeviceSpec;
pub use mount::{mount_oem, mount_state, MountError, Oem};
pub use settings::{parse_directory, DirectoryError, EarlyLayers, Settings};

use autoformat::autoformat_one;
use find::{is_block_device, lookup, Lookup};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The label autoformat gives, and the default `rancher.state.dev` looks for.
pub const STATE_LABEL: &str = "RANCHER_STATE";
/// Where the device is mounted while a `directory` inside it is bound to the new root.
pub const DEVICE_STAGING: &str = "/ros/state";
/// The longest `rancher.state.wait` honoured: every wait in PID 1 is bounded.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Where lookups and formatting happen; tests point these elsewhere.
#[derive(Debug, Clone)]
pub struct Env {
    /// Look at loop devices too (the running system's are ros's own squashfs).
    pub include_loop: bool,
    /// mke2fs candidates, first existing wins.
    pub mke2fs: Vec<PathBuf>,
    pub mke2fs_config: Option<PathBuf>,
    /// Interval between two looks while waiting.
    pub poll: Duration,
}

impl Env {
    /// PID 1 in the initrd.
    pub fn initrd() -> Env {
        Env {
            include_loop: false,
            mke2fs: [INITRD_MKE2FS, "/usr/sbin/mke2fs", "/sbin/mke2fs"]
                .iter()
                .map(PathBuf::from)
                .collect(),
            mke2fs_config: Some(PathBuf::from(INITRD_MKE2FS_CONF)).filter(|p| p.is_file()),
            poll: Duration::from_millis(100),
        }
    }
}

/// The state device to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDevice {
    pub device: PathBuf,
    pub fstype: String,
    /// Relative path inside the device that becomes the root.
    pub directory: Option<PathBuf>,
    /// Autoformat made it during this boot.
    pub formatted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The root goes on this device.
    Device(StateDevice),
    /// No state partition: the root lives in RAM. `reason` says why, for the boot log.
    Ram { reason: String },
    /// `rancher.state.required` is set and there is no usable state device.
    Missing { reason: String },
}

/// Finds (or makes) the state device; logs each step. Never formats a device holding data.
pub fn decide(settings: &Settings, env: &Env) -> Decision {
    let give_up = |reason: String| {
        if settings.required {
            Decision::Missing {
                reason: format!(
                    "the state partition is required (rancher.state.required) but {reason}"
                ),
            }
        } else {
            Decision::Ram { reason }
        }
    };
    let directory = match settings.directory.as_deref().map(parse_directory) {
        Some(Err(e)) => return give_up(e.to_string()),
        Some(Ok(d)) => d,
        None => None,
    };
    let spec = match settings.dev.as_deref().map(DeviceSpec::parse_without_udev) {
        Some(Err(e)) => return give_up(format!("rancher.state.dev: {e}")),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    if spec.is_none() && settings.autoformat.is_empty() {
        return give_up("rancher.state.dev is empty".into());
    }
    let chosen = |device: PathBuf, fstype: String, formatted: bool| {
        Decision::Device(StateDevice {
            device,
            fstype,
            directory: directory.clone(),
            formatted,
        })
    };
    let start = Instant::now();
    let deadline = host::deadline::from(start, settings.wait.min(MAX_WAIT));
    let mut examined: Vec<PathBuf> = Vec::new();
    let mut unrecognised_logged = false;
    let mut announced = false;
    loop {
        if let Some(spec) = &spec {
            match lookup(spec, settings.fstype.as_deref(), env) {
                Lookup::Found(device, fstype) => {
                    tracing::info!(
                        key = "rancher.state.dev",
                        spec = %spec,
                        device = %device.display(),
                        fstype,
                        "state: found the state device"
                    );
                    return chosen(device, fstype, false);
                }
                Lookup::Unrecognised(device) if !unrecognised_logged => {
                    unrecognised_logged = true;
                    tracing::warn!(
                        key = "rancher.state.dev",
                        device = %device.display(),
                        "state: the device holds no filesystem ros recognises (ext4, vfat, iso9660); set rancher.state.fstype to mount it anyway"
                    );
                }
                _ => {}
            }
        }
        for listed in &settings.autoformat {
            let device = PathBuf::from(listed);
            if examined.contains(&device) || !is_block_device(&device) {
                continue;
            }
            examined.push(device.clone());
            match autoformat_one(&device, spec.as_ref(), env) {
                Some(Ok(())) => return chosen(device, "ext4".into(), true),
                Some(Err(e)) if settings.required => return give_up(e.to_string()),
                Some(Err(_)) | None => {}
            }
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if !announced {
            announced = true;
            tracing::info!(
                key = "rancher.state.dev",
                spec = settings.dev.as_deref().unwrap_or(""),
                autoformat = ?settings.autoformat,
                wait_s = settings.wait.as_secs(),
                "state: waiting for the state device"
            );
        }
        std::thread::sleep(env.poll.min(deadline.saturating_duration_since(now)));
    }
    let what = match (&spec, settings.autoformat.is_empty()) {
        (Some(s), _) => format!("rancher.state.dev={s} was not found"),
        (None, false) => "no device in rancher.state.autoformat could be formatted".into(),
        (None, true) => "no state device is configured".into(),
    };
    let reason = if settings.wait.is_zero() {
        what
    } else {
        format!("{what} within {}", show_duration(settings.wait))
    };
    give_up(reason)
}

fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_device_the_root_is_ram_or_recovery() {
        let env = Env {
            include_loop: false,
            mke2fs: vec![],
            mke2fs_config: None,
            poll: Duration::from_millis(10),
        };
        let mut s = Settings {
            dev: Some("LABEL=ROS_TEST_NO_SUCH_LABEL_9f3a".into()),
            fstype: None,
            directory: None,
            wait: Duration::from_millis(30),
            required: false,
            autoformat: vec!["/dev/ros-test-no-such-disk".into()],
        };
        assert_eq!(
            decide(&s, &env),
            Decision::Ram {
                reason:
                    "rancher.state.dev=LABEL=ROS_TEST_NO_SUCH_LABEL_9f3a was not found within 30 ms"
                        .into()
            }
        );
        s.required = true;
        s.wait = Duration::ZERO;
        assert_eq!(
            decide(&s, &env),
            Decision::Missing {
                reason: "the state partition is required (rancher.state.required) but rancher.state.dev=LABEL=ROS_TEST_NO_SUCH_LABEL_9f3a was not found".into()
            }
        );
        s.dev = Some("sda".into());
        assert!(
            matches!(decide(&s, &env), Decision::Missing { reason } if reason.contains("rancher.state.dev: \"sda\" is not"))
        );
        s.required = false;
        s.dev = None;
        s.autoformat.clear();
        assert_eq!(
            decide(&s, &env),
            Decision::Ram {
                reason: "rancher.state.dev is empty".into()
            }
        );
    }
}
