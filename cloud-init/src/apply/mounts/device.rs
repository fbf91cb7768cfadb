//! Device specs of a `mounts` row: `LABEL=`, `UUID=`, `PARTUUID=`, `PARTLABEL=` or a path.
//! udev's /dev/disk/by-* links are used when they exist; labels and UUIDs of the filesystems
//! ros probes itself (ext2/3/4, vfat, iso9660) are also found by reading superblocks, so a
//! device udev has not processed yet (or a loop device) is still found.

use host::fs_probe::{probe_path, FsInfo};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `/dev/disk/by-<kind>/` and the probe field a spec prefix maps to.
const PREFIXES: [(&str, &str); 4] = [
    ("LABEL=", "by-label"),
    ("UUID=", "by-uuid"),
    ("PARTUUID=", "by-partuuid"),
    ("PARTLABEL=", "by-partlabel"),
];

/// True for specs that name a device by an attribute rather than a path.
pub fn is_tagged(spec: &str) -> bool {
    PREFIXES.iter().any(|(p, _)| spec.starts_with(p))
}

/// Resolves `spec` to an existing path, now.
pub fn resolve(spec: &str, dev: &Path, sys_block: &Path) -> Option<PathBuf> {
    for (prefix, dir) in PREFIXES {
        let Some(value) = spec.strip_prefix(prefix) else {
            continue;
        };
        let link = dev.join("disk").join(dir).join(udev_escape(value));
        if let Ok(real) = std::fs::canonicalize(&link) {
            return Some(real);
        }
        return match prefix {
            "LABEL=" => scan(dev, sys_block, |fs| {
                fs.label.as_deref().is_some_and(|l| l == value)
            })
            .or_else(|| {
                // FAT labels are stored upper-case; people write them in any case.
                scan(dev, sys_block, |fs| {
                    fs.label
                        .as_deref()
                        .is_some_and(|l| l.eq_ignore_ascii_case(value))
                })
            }),
            "UUID=" => scan(dev, sys_block, |fs| {
                fs.uuid
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(value))
            }),
            // Partition attributes live in the partition table, which only udev reads.
            _ => None,
        };
    }
    let p = Path::new(spec);
    p.exists().then(|| p.to_path_buf())
}

/// `resolve`, retried until `deadline`: devices appear asynchronously (a disk attached at
/// boot, a driver loading). Only device specs wait; a plain file either exists or not.
pub fn wait(spec: &str, deadline: Instant) -> Option<PathBuf> {
    let (dev, sys) = (Path::new("/dev"), Path::new("/sys/class/block"));
    let waits = is_tagged(spec) || spec.starts_with("/dev/");
    loop {
        if let Some(p) = resolve(spec, dev, sys) {
            return Some(p);
        }
        if !waits || Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The first block device whose filesystem matches.
fn scan(dev: &Path, sys_block: &Path, want: impl Fn(&FsInfo) -> bool) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(sys_block)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // RAM disks and zram hold nothing a user mounts by label.
        .filter(|n| !n.starts_with("ram") && !n.starts_with("zram"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| dev.join(n))
        .find(|p| probe_path(p).is_some_and(|fs| want(&fs)))
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

        // Paths are taken as they are.
        let p = dev.join("vdb").display().to_string();
        assert_eq!(resolve(&p, &dev, &sys), Some(PathBuf::from(&p)));
        assert_eq!(resolve("/nonexistent/x", &dev, &sys), None);
    }

    #[test]
    fn files_do_not_wait_devices_do() {
        let start = Instant::now();
        assert_eq!(
            wait("/nonexistent/swapfile", start + Duration::from_secs(5)),
            None
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(
            wait(
                "LABEL=ros-no-such-label",
                Instant::now() + Duration::from_millis(300)
            ),
            None
        );
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(udev_escape("a b/c"), "a\\x20b\\x2fc");
    }
}
