//! The state partition: the disk the writable root lives on, so that what is written survives a
//! reboot (docs/persistence.md). Before the root exists PID 1 reads `rancher.state` from the
//! layers it already has (the system image's defaults, the OEM partition, the kernel cmdline),
//! finds the device by `LABEL=`, `UUID=` or path, waits a bounded time for it when it was asked
//! for explicitly, formats a listed device whose first MiB is all zero, and mounts the device
//! (or a directory inside it) as the new root. Without one the root stays in RAM; a required
//! one that is missing ends in the recovery shell.

pub use host::block_devices::DeviceSpec;
use host::block_devices::{self, Resolver};
use host::fs_probe;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use os_config::model::{StateConfig, StateWait};
use os_config::Value;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The label autoformat gives, and the default `rancher.state.dev` looks for.
pub const STATE_LABEL: &str = "RANCHER_STATE";
/// How much of a listed device must be zero for autoformat to touch it.
pub const BLANK_CHECK_LEN: usize = 1 << 20;
/// mke2fs and its configuration, carried by the initrd for autoformat.
pub const INITRD_MKE2FS: &str = "/ros/mke2fs";
pub const INITRD_MKE2FS_CONF: &str = "/ros/mke2fs.conf";
/// Where the device is mounted while a `directory` inside it is bound to the new root.
pub const DEVICE_STAGING: &str = "/ros/state";
/// The longest `rancher.state.wait` honoured: every wait in PID 1 is bounded.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

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

/// `rancher.state.directory` as a relative path inside the device (`None`: the device's root).
pub fn parse_directory(text: &str) -> Result<Option<PathBuf>, String> {
    let t = text.trim().trim_matches('/');
    if t.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(t);
    if path.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(Some(path))
    } else {
        Err(format!(
            "rancher.state.directory={text:?} must be a path inside the device, without `.` or `..`"
        ))
    }
}

/// `rancher.state` as PID 1 acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub dev: Option<String>,
    /// `None` (or `auto` in the config): the probed filesystem type.
    pub fstype: Option<String>,
    pub directory: Option<String>,
    /// How long to wait for the device to appear; zero looks once.
    pub wait: Duration,
    pub required: bool,
    pub autoformat: Vec<String>,
}

impl Settings {
    /// `explicit`: the device was asked for by more than the built-in defaults (see
    /// [`EarlyLayers::explicit`]); only then does `wait` apply, so a live boot without any
    /// state partition does not pause.
    pub fn from_config(state: &StateConfig, explicit: bool) -> Settings {
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let wait = if explicit {
            wait_bound(state.wait)
        } else {
            Duration::ZERO
        };
        Settings {
            dev: nonempty(&state.dev),
            fstype: nonempty(&state.fstype).filter(|t| !t.eq_ignore_ascii_case("auto")),
            directory: nonempty(&state.directory),
            wait,
            required: state.required,
            autoformat: state
                .autoformat
                .iter()
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
                .collect(),
        }
    }
}

/// `rancher.state.wait` as a duration: unset means `true` (RancherOS v1's default), and no
/// wait is longer than [`MAX_WAIT`].
fn wait_bound(wait: Option<StateWait>) -> Duration {
    let d = wait.unwrap_or(StateWait::Flag(true)).timeout();
    if d > MAX_WAIT {
        tracing::warn!(
            key = "rancher.state.wait",
            wait_s = d.as_secs(),
            max_s = MAX_WAIT.as_secs(),
            "state: wait shortened to the maximum"
        );
    }
    d.min(MAX_WAIT)
}

/// The configuration layers PID 1 has before the root exists, lowest precedence first: the
/// system image's `os-config.yml`, the OEM partition's `oem-config.yml` (once mounted), the
/// kernel cmdline and the arguments after `--`.
#[derive(Debug, Clone, Default)]
pub struct EarlyLayers {
    defaults: Option<Value>,
    oem: Option<Value>,
    cmdline: Value,
    elided: Value,
}

impl EarlyLayers {
    pub fn new(defaults_text: Option<&str>, cmdline: &str) -> EarlyLayers {
        let parsed = os_config::cmdline::parse(cmdline);
        EarlyLayers {
            defaults: defaults_text.and_then(|t| parse_layer(t, "the built-in os-config.yml")),
            oem: None,
            cmdline: parsed.config,
            elided: parsed.elided,
        }
    }

    /// Adds the OEM partition's `oem-config.yml`.
    pub fn with_oem(mut self, oem_text: &str) -> EarlyLayers {
        self.oem = parse_layer(oem_text, "oem-config.yml");
        self
    }

    /// The merged `rancher.state`.
    pub fn state(&self) -> StateConfig {
        let mut value = Value::Mapping(Default::default());
        for layer in [&self.defaults, &self.oem]
            .into_iter()
            .flatten()
            .chain([&self.cmdline, &self.elided])
        {
            os_config::merge(&mut value, layer.clone());
        }
        os_config::document::validate(value, None, None)
            .config
            .rancher
            .state
    }

    /// True when the OEM partition or the kernel cmdline names the state device, sets `wait`
    /// or `required`, or lists devices to autoformat.
    pub fn explicit(&self) -> bool {
        self.sets_any(&["dev", "wait", "required", "autoformat"], true)
    }

    /// True when the kernel cmdline names the OEM device (the OEM partition cannot).
    pub fn oem_explicit(&self) -> bool {
        self.sets_any(&["oem_dev"], false)
    }

    /// Whether a layer above the defaults sets one of `rancher.state`'s `keys`.
    fn sets_any(&self, keys: &[&str], with_oem: bool) -> bool {
        let oem = if with_oem { self.oem.as_ref() } else { None };
        oem.into_iter()
            .chain([&self.cmdline, &self.elided])
            .any(|layer| {
                let state = layer.get("rancher").and_then(|r| r.get("state"));
                keys.iter().any(|k| state.and_then(|s| s.get(*k)).is_some())
            })
    }

    /// How long to wait for the OEM partition: `rancher.state.wait`'s bound when the cmdline
    /// names it, else a single look.
    pub fn oem_wait(&self) -> Duration {
        if self.oem_explicit() {
            wait_bound(self.state().wait)
        } else {
            Duration::ZERO
        }
    }

    /// The state settings from every layer read so far.
    pub fn settings(&self) -> Settings {
        Settings::from_config(&self.state(), self.explicit())
    }
}

fn parse_layer(text: &str, what: &str) -> Option<Value> {
    match os_config::document::parse_value(text, None) {
        Ok(v) => Some(v),
        Err(d) => {
            tracing::error!(layer = what, error = %d, "state: layer skipped");
            None
        }
    }
}

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

enum Lookup {
    Found(PathBuf, String),
    /// The path exists but holds no filesystem ros recognises (and no fstype was given).
    Unrecognised(PathBuf),
    Absent,
}

fn is_block_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

fn lookup(spec: &DeviceSpec, fstype: Option<&str>, env: &Env) -> Lookup {
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
        Some(Err(e)) => return give_up(e),
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
    let deadline = start + settings.wait.min(MAX_WAIT);
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
                Some(Err(reason)) if settings.required => return give_up(reason),
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
        std::thread::sleep(env.poll.min(deadline - now));
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

/// Formats `device` if its first MiB is all zero: `Some(Ok)` formatted, `Some(Err)` it should
/// have been but could not, `None` it must not be.
fn autoformat_one(
    device: &Path,
    spec: Option<&DeviceSpec>,
    env: &Env,
) -> Option<Result<(), String>> {
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
            Some(
                result.map_err(|e| {
                    format!("formatting {shown} (rancher.state.autoformat) failed: {e}")
                }),
            )
        }
    }
}

/// `mke2fs -t ext4 -L RANCHER_STATE`, then a probe that the label is there.
pub fn format_ext4(device: &Path, env: &Env) -> Result<(), String> {
    let mke2fs = env
        .mke2fs
        .iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no mke2fs (looked for {:?})", env.mke2fs))?;
    let mut cmd = Command::new(mke2fs);
    // nodiscard: the device is blank where it matters, and discarding a large disk is slow.
    cmd.args(["-q", "-t", "ext4", "-E", "nodiscard", "-L", STATE_LABEL])
        .arg(device)
        .stdin(Stdio::null());
    if let Some(conf) = &env.mke2fs_config {
        cmd.env("MKE2FS_CONFIG", conf);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", mke2fs.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {}: {}",
            mke2fs.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    match fs_probe::probe_path(device) {
        Some(fs) if fs.label.as_deref() == Some(STATE_LABEL) => Ok(()),
        other => Err(format!(
            "after mke2fs the device reads as {other:?}, not an ext4 labelled {STATE_LABEL}"
        )),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mounting the state device {device} ({fstype}) at {target}: {source}")]
    Mount {
        device: PathBuf,
        fstype: String,
        target: PathBuf,
        source: nix::Error,
    },
    #[error("creating rancher.state.directory {path} on {device}: {source}")]
    Directory {
        path: PathBuf,
        device: PathBuf,
        source: std::io::Error,
    },
    #[error("binding {path} (rancher.state.directory) at {target}: {source}")]
    Bind {
        path: PathBuf,
        target: PathBuf,
        source: nix::Error,
    },
}

/// Mounts the state device at `target`; with a directory, the device goes to `staging` first,
/// the directory (created if missing) is bound at `target`, and the staging mount is dropped.
pub fn mount_state(dev: &StateDevice, target: &Path, staging: &Path) -> Result<(), MountError> {
    let mount_at = |at: &Path| {
        let _ = std::fs::create_dir_all(at);
        mount(
            Some(&dev.device),
            at,
            Some(dev.fstype.as_str()),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|source| MountError::Mount {
            device: dev.device.clone(),
            fstype: dev.fstype.clone(),
            target: at.to_path_buf(),
            source,
        })
    };
    let Some(dir) = &dev.directory else {
        return mount_at(target);
    };
    mount_at(staging)?;
    let inside = staging.join(dir);
    let bound = std::fs::create_dir_all(&inside)
        .map_err(|source| MountError::Directory {
            path: dir.clone(),
            device: dev.device.clone(),
            source,
        })
        .and_then(|()| {
            let _ = std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o755));
            let _ = std::fs::create_dir_all(target);
            mount(
                Some(&inside),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|source| MountError::Bind {
                path: dir.clone(),
                target: target.to_path_buf(),
                source,
            })
        });
    // The bind keeps the filesystem mounted; the staging mount is no longer needed.
    if let Err(e) = umount2(staging, MntFlags::MNT_DETACH) {
        tracing::warn!(staging = %staging.display(), error = %e, "state: cannot drop the staging mount");
    }
    bound
}

/// The OEM partition, mounted read-only.
#[derive(Debug, Clone)]
pub struct Oem {
    pub device: PathBuf,
    /// Its `oem-config.yml`, if it has one.
    pub config_text: Option<String>,
}

/// Finds `rancher.state.oem_dev` (waiting up to `wait`) and mounts it read-only at `target`,
/// which must already exist (the system image carries the mount point).
pub fn mount_oem(
    spec: &str,
    fstype: Option<&str>,
    wait: Duration,
    target: &Path,
    env: &Env,
) -> Option<Oem> {
    let spec = match DeviceSpec::parse_without_udev(spec) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(key = "rancher.state.oem_dev", error = %e, "oem: not used");
            return None;
        }
    };
    let fstype = fstype.filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("auto"));
    let deadline = Instant::now() + wait.min(MAX_WAIT);
    let (device, fstype) = loop {
        match lookup(&spec, fstype, env) {
            Lookup::Found(d, t) => break (d, t),
            _ if Instant::now() >= deadline => {
                tracing::debug!(spec = %spec, "oem: no OEM partition");
                return None;
            }
            _ => std::thread::sleep(env.poll),
        }
    };
    if !target.is_dir() {
        tracing::warn!(
            device = %device.display(),
            mount_point = %target.display(),
            "oem: the system image has no mount point for the OEM partition; its config is not read"
        );
        return None;
    }
    if let Err(e) = mount(
        Some(&device),
        target,
        Some(fstype.as_str()),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    ) {
        tracing::error!(key = "rancher.state.oem_dev", device = %device.display(), fstype, error = %e, "oem: cannot mount the OEM partition");
        return None;
    }
    let config_path = target.join("oem-config.yml");
    let config_text = match std::fs::read_to_string(&config_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::error!(file = %config_path.display(), error = %e, "oem: cannot read oem-config.yml");
            None
        }
    };
    tracing::info!(
        key = "rancher.state.oem_dev",
        device = %device.display(),
        fstype,
        has_config = config_text.is_some(),
        "oem: OEM partition mounted read-only"
    );
    Some(Oem {
        device,
        config_text,
    })
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

    #[test]
    fn directories_stay_inside_the_device() {
        assert_eq!(parse_directory(""), Ok(None));
        assert_eq!(parse_directory("/"), Ok(None));
        assert_eq!(
            parse_directory("/ros/root/"),
            Ok(Some(PathBuf::from("ros/root")))
        );
        assert!(parse_directory("a/../../etc").unwrap_err().contains("`..`"));
        assert!(parse_directory("./x").is_err());
    }

    const DEFAULTS: &str = "rancher:\n  state:\n    dev: LABEL=RANCHER_STATE\n    fstype: auto\n    wait: true\n    autoformat: []\n    oem_dev: LABEL=RANCHER_OEM\n";

    #[test]
    fn defaults_alone_look_once() {
        let l = EarlyLayers::new(Some(DEFAULTS), "console=ttyS0 rancher.autologin=ttyS0");
        assert!(!l.explicit());
        let s = l.settings();
        assert_eq!(s.dev.as_deref(), Some("LABEL=RANCHER_STATE"));
        assert_eq!(s.fstype, None);
        assert_eq!(s.wait, Duration::ZERO);
        assert!(!s.required && s.autoformat.is_empty());
        assert_eq!(l.state().oem_dev.as_deref(), Some("LABEL=RANCHER_OEM"));
        assert_eq!(l.oem_wait(), Duration::ZERO);
        let l = EarlyLayers::new(Some(DEFAULTS), "rancher.state.oem_dev=/dev/vdc");
        assert!(l.oem_explicit() && !l.explicit());
        assert_eq!(l.oem_wait(), StateWait::DEFAULT);
    }

    #[test]
    fn the_cmdline_makes_it_explicit_and_waits() {
        let l = EarlyLayers::new(
            Some(DEFAULTS),
            "rancher.state.autoformat=[/dev/vda] rancher.state.directory=ros",
        );
        assert!(l.explicit());
        let s = l.settings();
        assert_eq!(s.autoformat, vec!["/dev/vda".to_owned()]);
        assert_eq!(s.wait, StateWait::DEFAULT);
        assert_eq!(s.directory.as_deref(), Some("ros"));

        let l = EarlyLayers::new(
            Some(DEFAULTS),
            "rancher.state.dev=UUID=abcd rancher.state.wait=5 rancher.state.required",
        );
        let s = l.settings();
        assert_eq!(
            (s.dev.as_deref(), s.wait, s.required),
            (Some("UUID=abcd"), Duration::from_secs(5), true)
        );
        let s = EarlyLayers::new(Some(DEFAULTS), "rancher.state.wait=false").settings();
        assert_eq!(s.wait, Duration::ZERO);
        let s =
            EarlyLayers::new(Some(DEFAULTS), "rancher.state.wait=18446744073709551615").settings();
        assert_eq!(s.wait, MAX_WAIT);
    }

    #[test]
    fn oem_sits_between_defaults_and_the_cmdline() {
        let l = EarlyLayers::new(Some(DEFAULTS), "rancher.state.fstype=ext4")
            .with_oem("rancher:\n  state:\n    dev: LABEL=OEM_SAYS\n    fstype: vfat\n");
        assert!(l.explicit());
        let s = l.settings();
        assert_eq!(s.dev.as_deref(), Some("LABEL=OEM_SAYS"));
        assert_eq!(s.fstype.as_deref(), Some("ext4"));
        // A broken OEM file is skipped; the rest still counts.
        let l = EarlyLayers::new(Some(DEFAULTS), "").with_oem("rancher: [unclosed");
        assert!(!l.explicit());
        assert_eq!(l.settings().dev.as_deref(), Some("LABEL=RANCHER_STATE"));
    }

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
