//! Finding block devices by `LABEL=`, `UUID=`, `PARTUUID=`, `PARTLABEL=` or path, waiting a
//! bounded time for slow ones. The one lookup PID 1 (state, OEM and boot medium) and
//! cloud-init (config drives, `mounts`) share.
//!
//! udev's /dev/disk/by-* links are used when they exist; labels and UUIDs of the filesystems
//! `fs_probe` knows are also found by reading superblocks, so a device udev has not processed
//! yet (or no udev at all, as in the initrd) is still found. Partition attributes live in the
//! partition table, which only udev reads.

use crate::fs_probe::{probe_path, FsInfo};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The system's device directory and the kernel's list of block devices.
const DEV: &str = "/dev";
const SYS_BLOCK: &str = "/sys/class/block";
/// Interval between two looks while waiting.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub device: PathBuf,
    pub fs: FsInfo,
}

/// A device as configuration names it (`rancher.state.dev`, a `mounts` row, a drive label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    Label(String),
    Uuid(String),
    PartUuid(String),
    PartLabel(String),
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{text:?} names no {what}")]
    Empty { text: String, what: &'static str },
    #[error("{text:?} is not LABEL=…, UUID=…, PARTUUID=…, PARTLABEL=… or a device path such as /dev/sda1")]
    Unknown { text: String },
    #[error("{text:?} is not LABEL=…, UUID=… or a device path such as /dev/sda1")]
    NeedsUdev { text: String },
}

/// The tag prefixes and what each value names.
const TAGS: [(&str, &str); 4] = [
    ("LABEL=", "label"),
    ("UUID=", "UUID"),
    ("PARTUUID=", "partition UUID"),
    ("PARTLABEL=", "partition label"),
];

impl DeviceSpec {
    /// Any of the five forms; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<DeviceSpec, SpecError> {
        let t = text.trim();
        if t.starts_with('/') {
            return Ok(DeviceSpec::Path(PathBuf::from(t)));
        }
        for (prefix, what) in TAGS {
            let Some(value) = t.strip_prefix(prefix) else {
                continue;
            };
            if value.is_empty() {
                return Err(SpecError::Empty {
                    text: t.to_owned(),
                    what,
                });
            }
            let value = value.to_owned();
            return Ok(match prefix {
                "LABEL=" => DeviceSpec::Label(value),
                "UUID=" => DeviceSpec::Uuid(value),
                "PARTUUID=" => DeviceSpec::PartUuid(value),
                _ => DeviceSpec::PartLabel(value),
            });
        }
        Err(SpecError::Unknown { text: t.to_owned() })
    }

    /// `parse`, limited to the forms found without udev (the initrd has none): a partition
    /// attribute is refused as a form it does not know, rather than waited for in vain.
    pub fn parse_without_udev(text: &str) -> Result<DeviceSpec, SpecError> {
        match DeviceSpec::parse(text) {
            Ok(DeviceSpec::PartUuid(_) | DeviceSpec::PartLabel(_))
            | Err(SpecError::Unknown { .. }) => Err(SpecError::NeedsUdev {
                text: text.trim().to_owned(),
            }),
            other => other,
        }
    }

    /// True for a device rather than a plain file: a tag, or a path under /dev. Only devices
    /// appear late (a disk attached at boot, a driver loading), so only they are waited for.
    pub fn is_device(&self) -> bool {
        match self {
            DeviceSpec::Path(p) => p.starts_with(DEV),
            _ => true,
        }
    }

    /// The tag's /dev/disk/by-* directory and value (`None` for a path).
    fn tag(&self) -> Option<(&'static str, &str)> {
        match self {
            DeviceSpec::Label(v) => Some(("by-label", v)),
            DeviceSpec::Uuid(v) => Some(("by-uuid", v)),
            DeviceSpec::PartUuid(v) => Some(("by-partuuid", v)),
            DeviceSpec::PartLabel(v) => Some(("by-partlabel", v)),
            DeviceSpec::Path(_) => None,
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Label(v) => write!(f, "LABEL={v}"),
            DeviceSpec::Uuid(v) => write!(f, "UUID={v}"),
            DeviceSpec::PartUuid(v) => write!(f, "PARTUUID={v}"),
            DeviceSpec::PartLabel(v) => write!(f, "PARTLABEL={v}"),
            DeviceSpec::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Where and among what a spec is resolved; tests point the roots at their own directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    pub dev: PathBuf,
    pub sys_block: PathBuf,
    /// Look at loop devices too. The running system's back ros's own squashfs; a config drive
    /// or a `mounts` row may be an image attached to one.
    pub include_loop: bool,
}

impl Resolver {
    /// The system's /dev and /sys/class/block.
    pub fn system(include_loop: bool) -> Resolver {
        Resolver {
            dev: PathBuf::from(DEV),
            sys_block: PathBuf::from(SYS_BLOCK),
            include_loop,
        }
    }

    /// `spec` as an existing path, now: udev's link if there is one, else the first block
    /// device whose superblock matches; a path is taken as it is if it exists.
    pub fn resolve(&self, spec: &DeviceSpec) -> Option<PathBuf> {
        let Some((by, value)) = spec.tag() else {
            let DeviceSpec::Path(p) = spec else {
                return None;
            };
            return p.exists().then(|| p.clone());
        };
        let link = self.dev.join("disk").join(by).join(udev_escape(value));
        if let Some(real) = std::fs::canonicalize(&link)
            .ok()
            .filter(|real| self.wanted(real))
        {
            return Some(real);
        }
        match spec {
            DeviceSpec::Label(label) => self
                .scan(|fs| fs.label.as_deref() == Some(label.as_str()))
                .or_else(|| {
                    // FAT labels are stored upper-case; people write them in any case.
                    self.scan(|fs| {
                        fs.label
                            .as_deref()
                            .is_some_and(|l| l.eq_ignore_ascii_case(label))
                    })
                }),
            DeviceSpec::Uuid(uuid) => self.scan(|fs| {
                fs.uuid
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(uuid))
            }),
            _ => None,
        }
    }

    /// `resolve`, holding a filesystem `fs_probe` knows.
    pub fn find(&self, spec: &DeviceSpec) -> Option<Found> {
        let device = self.resolve(spec)?;
        probe_path(&device).map(|fs| Found { device, fs })
    }

    /// `resolve`, retried until `deadline` when `spec` names a device; a plain file either
    /// exists or not.
    pub fn wait(&self, spec: &DeviceSpec, deadline: Instant) -> Option<PathBuf> {
        let deadline = if spec.is_device() {
            deadline
        } else {
            Instant::now()
        };
        retry(deadline, || self.resolve(spec))
    }

    /// Ram disks and zram hold nothing of ours; loop devices only when asked for.
    fn wanted(&self, device: &Path) -> bool {
        let name = device
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        !name.starts_with("ram")
            && !name.starts_with("zram")
            && (self.include_loop || !name.starts_with("loop"))
    }

    /// The first block device (by name) whose filesystem matches.
    fn scan(&self, want: impl Fn(&FsInfo) -> bool) -> Option<PathBuf> {
        names(&self.sys_block)
            .into_iter()
            .map(|n| self.dev.join(n))
            .filter(|p| self.wanted(p))
            .find(|p| probe_path(p).is_some_and(|fs| want(&fs)))
    }
}

/// The names under `sys_block`, sorted.
fn names(sys_block: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sys_block)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every block device the kernel knows, as /dev paths (partitions included).
pub fn list() -> Vec<PathBuf> {
    names(Path::new(SYS_BLOCK))
        .into_iter()
        .map(|n| Path::new(DEV).join(n))
        .collect()
}

/// Resolves a spec to a device holding a filesystem we know. Loop devices are skipped: they
/// back ros's own squashfs.
pub fn find(spec: &str) -> Option<Found> {
    find_in(spec, false)
}

/// `find`, loop devices included: a config drive may be an image attached to one.
pub fn find_any(spec: &str) -> Option<Found> {
    find_in(spec, true)
}

fn find_in(spec: &str, include_loop: bool) -> Option<Found> {
    let spec = DeviceSpec::parse(spec).ok()?;
    Resolver::system(include_loop).find(&spec)
}

/// `find`, retried until `timeout`; devices appear asynchronously after their driver loads.
pub fn wait_for(spec: &str, timeout: Duration) -> Option<Found> {
    retry(crate::deadline::after(timeout), || find(spec))
}

/// `find_any`, retried until `timeout`.
pub fn wait_for_any(spec: &str, timeout: Duration) -> Option<Found> {
    retry(crate::deadline::after(timeout), || find_any(spec))
}

fn retry<T>(deadline: Instant, mut look: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(found) = look() {
            return Some(found);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(now)));
    }
}

/// udev's encoding of a tag in a /dev/disk/by-* name: `/`, space and other unsafe bytes as
/// `\xNN`.
fn udev_escape(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"#+-.:=@_".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(spec: &str, dev: &Path, sys: &Path) -> Option<PathBuf> {
        let r = Resolver {
            dev: dev.to_path_buf(),
            sys_block: sys.to_path_buf(),
            include_loop: true,
        };
        r.resolve(&DeviceSpec::parse(spec).unwrap())
    }

    #[test]
    fn specs_parse_and_print() {
        let parsed = [
            (
                "LABEL=RANCHER_STATE",
                DeviceSpec::Label("RANCHER_STATE".into()),
            ),
            (" UUID=0b1e-42 ", DeviceSpec::Uuid("0b1e-42".into())),
            ("PARTLABEL=data", DeviceSpec::PartLabel("data".into())),
            ("/dev/vda1", DeviceSpec::Path("/dev/vda1".into())),
        ];
        for (text, spec) in parsed {
            assert_eq!(DeviceSpec::parse(text), Ok(spec));
        }
        assert_eq!(
            DeviceSpec::parse("LABEL=").unwrap_err().to_string(),
            "\"LABEL=\" names no label"
        );
        assert!(DeviceSpec::parse("sda1")
            .unwrap_err()
            .to_string()
            .contains("not LABEL="));
        assert_eq!(
            DeviceSpec::parse_without_udev("PARTUUID=1234")
                .unwrap_err()
                .to_string(),
            "\"PARTUUID=1234\" is not LABEL=…, UUID=… or a device path such as /dev/sda1"
        );
        for text in ["LABEL=RANCHER_STATE", "PARTUUID=ab-1", "/dev/vdb"] {
            assert_eq!(DeviceSpec::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn tags_resolve_through_udev_links_then_superblocks() {
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("dev");
        let sys = root.path().join("sys");
        std::fs::create_dir_all(dev.join("disk/by-label")).unwrap();
        std::fs::create_dir_all(&sys).unwrap();

        // A udev link wins.
        std::fs::write(dev.join("vdb"), b"").unwrap();
        std::os::unix::fs::symlink("../../vdb", dev.join("disk/by-label/my\\x20data")).unwrap();
        assert_eq!(
            resolve("LABEL=my data", &dev, &sys),
            Some(std::fs::canonicalize(dev.join("vdb")).unwrap())
        );

        // No link: the superblock of each block device is read.
        let mut ext = vec![0u8; 4096];
        ext[1024 + 56] = 0x53;
        ext[1024 + 57] = 0xEF;
        ext[1024 + 104..1024 + 120].copy_from_slice(&[0xab; 16]);
        ext[1024 + 120..1024 + 125].copy_from_slice(b"STORE");
        std::fs::write(dev.join("vdc"), &ext).unwrap();
        std::fs::create_dir_all(sys.join("vdc")).unwrap();
        assert_eq!(resolve("LABEL=STORE", &dev, &sys), Some(dev.join("vdc")));
        assert_eq!(resolve("LABEL=store", &dev, &sys), Some(dev.join("vdc")));
        assert_eq!(
            resolve("UUID=ABABABAB-ABAB-ABAB-ABAB-ABABABABABAB", &dev, &sys),
            Some(dev.join("vdc"))
        );
        assert_eq!(resolve("LABEL=other", &dev, &sys), None);
        assert_eq!(resolve("PARTUUID=1234", &dev, &sys), None);

        // Ram disks are never looked at; loop devices only when asked for.
        std::fs::rename(dev.join("vdc"), dev.join("loop3")).unwrap();
        std::fs::rename(sys.join("vdc"), sys.join("loop3")).unwrap();
        assert_eq!(resolve("LABEL=STORE", &dev, &sys), Some(dev.join("loop3")));
        let no_loop = Resolver {
            dev: dev.clone(),
            sys_block: sys.clone(),
            include_loop: false,
        };
        assert_eq!(no_loop.resolve(&DeviceSpec::Label("STORE".into())), None);
        std::fs::rename(dev.join("loop3"), dev.join("zram0")).unwrap();
        std::fs::rename(sys.join("loop3"), sys.join("zram0")).unwrap();
        assert_eq!(resolve("LABEL=STORE", &dev, &sys), None);

        // Paths are taken as they are.
        let p = dev.join("vdb").display().to_string();
        assert_eq!(resolve(&p, &dev, &sys), Some(PathBuf::from(&p)));
        assert_eq!(resolve("/nonexistent/x", &dev, &sys), None);
    }

    #[test]
    fn files_do_not_wait_devices_do() {
        let r = Resolver::system(true);
        let start = Instant::now();
        let file = DeviceSpec::parse("/nonexistent/swapfile").unwrap();
        assert_eq!(r.wait(&file, start + Duration::from_secs(5)), None);
        assert!(start.elapsed() < Duration::from_secs(1));
        let label = DeviceSpec::parse("LABEL=ros-no-such-label").unwrap();
        assert_eq!(
            r.wait(&label, Instant::now() + Duration::from_millis(300)),
            None
        );
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(udev_escape("a b/c"), "a\\x20b\\x2fc");
    }
}
