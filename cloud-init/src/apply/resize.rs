//! `rancher.resize_device`: grow a disk's first partition to the end of the disk and its ext4
//! filesystem with it, once (a stamp under /var/lib/rancher records it, at RancherOS v1's path).
//! Typical on a cloud VM whose disk is larger than the image it was made from.
//!
//! The value is the disk (`/dev/sda`: partition 1, as v1 did) or a partition (`/dev/sda2`).
//! growpart (cloud-guest-utils) rewrites the table and tells the kernel; resize2fs then grows
//! the filesystem, online if it is mounted. Both ship in the image cloud-init runs in.

use std::path::{Path, PathBuf};
use std::process::Command;

/// RancherOS v1's stamp, so a machine upgraded from it does not resize again.
pub const STAMP: &str = "/var/lib/rancher/resizefs.done";
/// The installed state partition's: in /run, so it is checked again at every boot.
pub const STATE_STAMP: &str = "/run/ros/state-grown";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resized {
    /// The stamp says it was done on an earlier boot.
    AlreadyDone,
    /// Done now; `grown` is false when the partition already filled the disk.
    Done { partition: PathBuf, grown: bool },
}

/// The disk and partition number a `resize_device` value means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub disk: PathBuf,
    pub number: u32,
    pub partition: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ResizeError {
    #[error("{0} is not a device path")]
    NotADevicePath(String),
    #[error("{0} is not a block device")]
    NotABlockDevice(String),
    #[error("cannot find the disk of {0}")]
    NoDisk(String),
    #[error("{0} has no partition 1")]
    NoPartitionOne(String),
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds {fstype}; only ext2/3/4 can be grown", partition.display())]
    NotExt { partition: PathBuf, fstype: String },
    #[error("{} holds no filesystem ros recognises", .0.display())]
    NoFilesystem(PathBuf),
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The tool ran and failed; `output` is what it said.
    #[error("{command} {status}: {output}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("writing {}: {source}", path.display())]
    Stamp {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Resizes once; failures are reported (and retried next boot, since no stamp is written).
pub fn resize_once(device: &str, stamp: &Path) -> Option<Resized> {
    match resize(
        device,
        stamp,
        Path::new("/sys/class/block"),
        Path::new("/dev"),
    ) {
        Ok(r) => {
            match &r {
                Resized::AlreadyDone => {
                    tracing::debug!(device, stamp = %stamp.display(), "resize_device: done on an earlier boot")
                }
                Resized::Done { partition, grown } => {
                    tracing::info!(device, partition = %partition.display(), grown, "resize_device: done")
                }
            }
            Some(r)
        }
        Err(e) => {
            tracing::error!(device, error = %e, "resize_device: failed");
            None
        }
    }
}

pub fn resize(
    device: &str,
    stamp: &Path,
    sys_block: &Path,
    dev: &Path,
) -> Result<Resized, ResizeError> {
    if stamp.exists() {
        return Ok(Resized::AlreadyDone);
    }
    let target = locate(device, sys_block, dev)?;
    // Refused before the table is touched: resize2fs only grows ext2/3/4.
    match host::fs_probe::probe_path(&target.partition) {
        Some(fs) if fs.fstype == "ext4" => {}
        Some(fs) => {
            return Err(ResizeError::NotExt {
                partition: target.partition,
                fstype: fs.fstype.to_owned(),
            })
        }
        None => return Err(ResizeError::NoFilesystem(target.partition)),
    }
    let grown = growpart(&target)?;
    resize2fs(&target.partition)?;
    if let Some(dir) = stamp.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(stamp, b"").map_err(|source| ResizeError::Stamp {
        path: stamp.to_path_buf(),
        source,
    })?;
    Ok(Resized::Done {
        partition: target.partition,
        grown,
    })
}

/// growpart's exit status: 0 grown, 1 with NOCHANGE already the full size, else a failure.
fn growpart(t: &Target) -> Result<bool, ResizeError> {
    let out = Command::new("growpart")
        .arg(&t.disk)
        .arg(t.number.to_string())
        .output()
        .map_err(|source| ResizeError::Spawn {
            program: "growpart".into(),
            source,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => {
            tracing::info!(output = %text.trim(), "growpart");
            Ok(true)
        }
        Some(1) if text.contains("NOCHANGE") => Ok(false),
        _ => Err(ResizeError::Failed {
            command: "growpart".into(),
            status: out.status,
            output: text.trim().to_owned(),
        }),
    }
}

/// Online when the filesystem is mounted (resize2fs finds it in /proc/mounts). Unmounted, it
/// insists on a fresh check first, so e2fsck -f -p runs and resize2fs is tried again.
fn resize2fs(partition: &Path) -> Result<(), ResizeError> {
    match run(Command::new("resize2fs").arg(partition)) {
        Err(ResizeError::Failed { output, .. }) if output.contains("e2fsck -f") => {
            tracing::info!(partition = %partition.display(), "resize_device: checking the filesystem first");
            let status = Command::new("e2fsck")
                .args(["-f", "-p"])
                .arg(partition)
                .status()
                .map_err(|source| ResizeError::Spawn {
                    program: "e2fsck".into(),
                    source,
                })?;
            // 0: clean, 1: errors fixed; anything else needs a person.
            if !matches!(status.code(), Some(0 | 1)) {
                return Err(ResizeError::Failed {
                    command: format!("e2fsck -f -p {}", partition.display()),
                    status,
                    output: String::new(),
                });
            }
            run(Command::new("resize2fs").arg(partition))
        }
        other => other,
    }
}

fn run(cmd: &mut Command) -> Result<(), ResizeError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = match cmd.output() {
        Ok(out) => out,
        Err(source) => return Err(ResizeError::Spawn { program, source }),
    };
    if out.status.success() {
        return Ok(());
    }
    Err(ResizeError::Failed {
        command: program,
        status: out.status,
        output: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Finds disk and partition from sysfs, so `sda`/`sda1`, `nvme0n1`/`nvme0n1p1` and
/// `loop0`/`loop0p1` are all named as the kernel names them.
pub fn locate(device: &str, sys_block: &Path, dev: &Path) -> Result<Target, ResizeError> {
    let real = std::fs::canonicalize(device).unwrap_or_else(|_| PathBuf::from(device));
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| ResizeError::NotADevicePath(device.to_owned()))?;
    let node = sys_block.join(&name);
    if !node.exists() {
        return Err(ResizeError::NotABlockDevice(device.to_owned()));
    }
    if let Some(number) = partition_number(&node) {
        // /sys/class/block/sda1 links into .../block/sda/sda1: the parent is the disk.
        let disk = std::fs::canonicalize(&node)
            .ok()
            .and_then(|p| p.parent().and_then(|d| d.file_name()).map(|d| d.to_owned()))
            .ok_or_else(|| ResizeError::NoDisk(device.to_owned()))?;
        return Ok(Target {
            disk: dev.join(disk),
            number,
            partition: dev.join(&name),
        });
    }
    let partition = std::fs::read_dir(&node)
        .map_err(|source| ResizeError::Read {
            path: node.clone(),
            source,
        })?
        .filter_map(Result::ok)
        .find(|e| partition_number(&e.path()) == Some(1))
        .map(|e| dev.join(e.file_name()))
        .ok_or_else(|| ResizeError::NoPartitionOne(device.to_owned()))?;
    Ok(Target {
        disk: dev.join(&name),
        number: 1,
        partition,
    })
}

fn partition_number(node: &Path) -> Option<u32> {
    std::fs::read_to_string(node.join("partition"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::{have, sh, Loop, LoopOptions};

    /// A fake /sys/class/block: links into a devices tree, as the kernel lays it out.
    fn fake_sys(root: &Path, disk: &str, parts: &[(&str, u32)]) -> PathBuf {
        let devices = root.join("devices/block").join(disk);
        std::fs::create_dir_all(&devices).unwrap();
        let class = root.join("class/block");
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&devices, class.join(disk)).unwrap();
        for (p, n) in parts {
            let pd = devices.join(p);
            std::fs::create_dir_all(&pd).unwrap();
            std::fs::write(pd.join("partition"), format!("{n}\n")).unwrap();
            std::os::unix::fs::symlink(&pd, class.join(p)).unwrap();
        }
        class
    }

    #[test]
    fn disks_and_partitions_are_located_through_sysfs() {
        let root = tempfile::tempdir().unwrap();
        let sys = fake_sys(
            root.path(),
            "nvme0n1",
            &[("nvme0n1p1", 1), ("nvme0n1p2", 2)],
        );
        let dev = Path::new("/dev");
        assert_eq!(
            locate("/dev/nvme0n1", &sys, dev).unwrap(),
            Target {
                disk: "/dev/nvme0n1".into(),
                number: 1,
                partition: "/dev/nvme0n1p1".into()
            }
        );
        assert_eq!(
            locate("/dev/nvme0n1p2", &sys, dev).unwrap(),
            Target {
                disk: "/dev/nvme0n1".into(),
                number: 2,
                partition: "/dev/nvme0n1p2".into()
            }
        );
        let sys2 = fake_sys(&root.path().join("b"), "sdb", &[]);
        assert!(locate("/dev/sdb", &sys2, dev)
            .unwrap_err()
            .to_string()
            .contains("no partition 1"));
        assert!(locate("/dev/vdz", &sys, dev)
            .unwrap_err()
            .to_string()
            .contains("not a block device"));
    }

    #[test]
    fn the_stamp_makes_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = dir.path().join("resizefs.done");
        std::fs::write(&stamp, b"").unwrap();
        assert_eq!(
            resize(
                "/dev/nonexistent",
                &stamp,
                Path::new("/sys/class/block"),
                Path::new("/dev")
            )
            .ok(),
            Some(Resized::AlreadyDone)
        );
        std::fs::remove_file(&stamp).unwrap();
        assert!(resize(
            "/dev/nonexistent",
            &stamp,
            Path::new("/sys/class/block"),
            Path::new("/dev")
        )
        .is_err());
        assert!(!stamp.exists(), "a failure must not write the stamp");
    }

    /// The filesystem's size from its superblock (blocks × block size).
    fn ext4_size(dev: &Path) -> u64 {
        let mut sb = vec![0u8; 2048];
        use std::io::Read;
        std::fs::File::open(dev)
            .unwrap()
            .read_exact(&mut sb)
            .unwrap();
        let blocks = u32::from_le_bytes(sb[1028..1032].try_into().unwrap()) as u64;
        let log = u32::from_le_bytes(sb[1048..1052].try_into().unwrap());
        blocks << (10 + log)
    }

    /// CAP_SYS_RESOURCE (24): online ext4 growth needs it; some sandboxes drop it.
    fn can_resize_online() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|caps| caps & (1 << 24) != 0)
    }

    /// A 32 MiB ext4 partition on a 96 MiB GPT loop disk, grown to the end of the disk with its
    /// filesystem: mounted (online, as the state partition would be) where the kernel allows
    /// it, else unmounted.
    #[test]
    fn grows_a_partition_and_its_filesystem_once() {
        if !nix::unistd::geteuid().is_root()
            || !have(&[
                "growpart",
                "sfdisk",
                "partx",
                "resize2fs",
                "e2fsck",
                "debugfs",
                "mkfs.ext4",
                "losetup",
            ])
        {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.img");
        std::fs::File::create(&img)
            .unwrap()
            .set_len(96 << 20)
            .unwrap();
        let table = "label: gpt\nstart=2048, size=65536, type=linux\n";
        let out =
            test_support::run_with_stdin(Command::new("sfdisk").arg("--quiet").arg(&img), table);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let Some(lo) = Loop::try_attach(
            &img,
            LoopOptions {
                partscan: true,
                ..Default::default()
            },
        )
        .map_err(|e| eprintln!("{e}"))
        .ok() else {
            eprintln!("skipped: no loop device");
            return;
        };
        let part = PathBuf::from(format!("{}p1", lo.0.display()));
        // A kernel without partition-table parsers (some VM kernels) is told by partx.
        let _ = Command::new("partx")
            .arg("--add")
            .arg(&lo.0)
            .stderr(std::process::Stdio::null())
            .status();
        for _ in 0..50 {
            if part.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        sh("mkfs.ext4", &["-q", "-F", &part.display().to_string()]);
        let before = ext4_size(&part);

        // Everything runs in a namespace of the test's own, so nothing leaks if it fails.
        // resize2fs finds the mount in /proc/mounts and grows online; it must run where the
        // mount is, as in the cloud-init container, which sees the state partition's binds.
        let ns = test_support::NsHolder::start().unwrap();
        let online = can_resize_online();
        if online {
            let mnt = dir.path().join("mnt");
            std::fs::create_dir_all(&mnt).unwrap();
            let p2 = part.clone();
            host::mount_namespace::run_in(&ns.ns(), move || {
                nix::mount::mount(
                    Some(&p2),
                    &mnt,
                    Some("ext4"),
                    nix::mount::MsFlags::empty(),
                    None::<&str>,
                )
            })
            .unwrap()
            .unwrap();
        } else {
            eprintln!("no CAP_SYS_RESOURCE here: growing the filesystem offline");
            // Marked not clean (as after a crash): resize2fs wants a check first, which
            // resize_device runs.
            sh(
                "debugfs",
                &["-w", "-R", "ssv state 0", &part.display().to_string()],
            );
        }
        let stamp = dir.path().join("stamp/resizefs.done");
        let disk = lo.0.display().to_string();
        let in_ns = |disk: String, stamp: PathBuf| {
            host::mount_namespace::run_in(&ns.ns(), move || {
                resize(
                    &disk,
                    &stamp,
                    Path::new("/sys/class/block"),
                    Path::new("/dev"),
                )
            })
            .unwrap()
        };
        let r = in_ns(disk.clone(), stamp.clone()).unwrap();
        assert_eq!(
            r,
            Resized::Done {
                partition: part.clone(),
                grown: true
            }
        );
        let sectors: u64 = std::fs::read_to_string(format!(
            "/sys/class/block/{}/size",
            part.file_name().unwrap().to_string_lossy()
        ))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
        assert!(
            sectors * 512 > 90 << 20,
            "partition not grown: {sectors} sectors"
        );
        let after = ext4_size(&part);
        assert!(
            after > before * 2,
            "filesystem not grown: {before} -> {after}"
        );
        assert!(stamp.exists());
        assert_eq!(
            in_ns(disk.clone(), stamp.clone()).ok(),
            Some(Resized::AlreadyDone)
        );
        // Without the stamp, a second run finds nothing to grow and still succeeds.
        std::fs::remove_file(&stamp).unwrap();
        let r = in_ns(disk, stamp).unwrap();
        assert_eq!(
            r,
            Resized::Done {
                partition: part,
                grown: false
            }
        );
        drop(ns);
    }
}
