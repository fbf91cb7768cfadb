//! `ros install`: partition a disk with the ros layout, put GRUB on it for BIOS and UEFI, fill
//! slot A, create the state partition and seed the operator's cloud-config into it.

use crate::boot_state::BootState;
use crate::layout::{self, Slot, SECTOR};
use crate::slot_write::{self, io, BootCode, SlotError, Source};
use crate::tools::{self, TempMount};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the install's cloud-config goes on the state partition: RancherOS v1's file, merged
/// below what `ros config set` writes.
pub const SEEDED_CONFIG: &str = "var/lib/rancher/conf/cloud-config.d/user_config.yml";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0} is not a block device ros can see (no /sys/class/block/{1})")]
    NotADisk(PathBuf, String),
    #[error("{disk} is {size} bytes; ros needs at least {min} (1 GiB of boot slots and a 256 MiB state partition)")]
    TooSmall { disk: PathBuf, size: u64, min: u64 },
    #[error("{disk} has partitions ({parts}); pass -f to overwrite them")]
    HasPartitions { disk: PathBuf, parts: String },
    #[error("{disk} is in use: {mounts} mounted; unmount first")]
    InUse { disk: PathBuf, mounts: String },
    #[error("partition {0} did not appear within 10 s after partitioning")]
    NoPartitionNode(PathBuf),
    #[error(transparent)]
    Slot(#[from] SlotError),
}

/// What `inspect` found about the target disk.
#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    pub size: u64,
    pub partitions: Vec<String>,
    pub mounted: Vec<String>,
}

pub fn inspect(path: &Path) -> Result<Disk, InstallError> {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let name = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sys = Path::new("/sys/class/block").join(&name);
    let size = std::fs::read_to_string(sys.join("size"))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| InstallError::NotADisk(path.to_owned(), name.clone()))?
        .saturating_mul(SECTOR);
    let mut partitions: Vec<String> = std::fs::read_dir(&sys)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&name) && sys.join(n).join("partition").exists())
                .collect()
        })
        .unwrap_or_default();
    partitions.sort();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounted: Vec<String> = partitions
        .iter()
        .chain(std::iter::once(&name))
        .filter(|p| {
            let dev = format!("/dev/{p}");
            mountinfo.lines().any(|l| {
                l.split(" - ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().nth(1))
                    == Some(dev.as_str())
            })
        })
        .cloned()
        .collect();
    mounted.dedup();
    Ok(Disk {
        path: resolved,
        size,
        partitions,
        mounted,
    })
}

pub struct Plan {
    pub disk: Disk,
    pub source: Source,
    pub version: String,
    pub cloud_config: Option<PathBuf>,
    pub kernel_args: String,
    pub boot_code: BootCode,
    /// Scratch mount points.
    pub work: PathBuf,
}

/// Refusals that `-f` does not override, then the one it does.
pub fn check(disk: &Disk, force: bool) -> Result<(), InstallError> {
    if disk.size < layout::MIN_DISK_BYTES {
        return Err(InstallError::TooSmall {
            disk: disk.path.clone(),
            size: disk.size,
            min: layout::MIN_DISK_BYTES,
        });
    }
    if !disk.mounted.is_empty() {
        return Err(InstallError::InUse {
            disk: disk.path.clone(),
            mounts: disk.mounted.join(", "),
        });
    }
    if !disk.partitions.is_empty() && !force {
        return Err(InstallError::HasPartitions {
            disk: disk.path.clone(),
            parts: disk.partitions.join(", "),
        });
    }
    Ok(())
}

/// What the install will do, shown before asking.
pub fn describe(plan: &Plan) -> String {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let d = &plan.disk.path;
    let mut s = format!(
        "ros {} will be installed on {} ({:.1} GiB). EVERYTHING ON IT WILL BE ERASED.\n",
        plan.version,
        d.display(),
        gib(plan.disk.size)
    );
    if !plan.disk.partitions.is_empty() {
        s.push_str(&format!(
            "  existing partitions: {}\n",
            plan.disk.partitions.join(", ")
        ));
    }
    for p in layout::ALL {
        let size = p
            .size
            .map(|n| format!("{} MiB", n.saturating_mul(SECTOR) >> 20))
            .unwrap_or_else(|| "rest of the disk".into());
        s.push_str(&format!(
            "  {}  {:<14} {}\n",
            layout::partition_path(d, p.number).display(),
            p.name,
            size
        ));
    }
    s.push_str(&format!(
        "  GRUB for BIOS and UEFI; slot A gets this system; kernel arguments: {}\n",
        if plan.kernel_args.trim().is_empty() {
            "(none added)"
        } else {
            plan.kernel_args.trim()
        }
    ));
    if let Some(cc) = &plan.cloud_config {
        s.push_str(&format!(
            "  cloud-config {} seeded as /{SEEDED_CONFIG}\n",
            cc.display()
        ));
    }
    s
}

/// The partition devices of an installed disk.
#[derive(Debug, Clone)]
pub struct Partitions {
    pub esp: PathBuf,
    pub slot_a: PathBuf,
    pub slot_b: PathBuf,
    pub state: PathBuf,
}

impl Partitions {
    /// As the kernel names them on `disk`.
    pub fn of(disk: &Path) -> Partitions {
        let part = |n| layout::partition_path(disk, n);
        Partitions {
            esp: part(layout::ESP.number),
            slot_a: part(Slot::A.partition().number),
            slot_b: part(Slot::B.partition().number),
            state: part(layout::STATE.number),
        }
    }
}

/// Runs the install; `progress` gets one line per step.
pub fn install(plan: &Plan, progress: &dyn Fn(&str)) -> Result<(), InstallError> {
    progress("partitioning (GPT)");
    partition(&plan.disk.path)?;
    let parts = Partitions::of(&plan.disk.path);
    wait_for_node(&parts.state)?;
    populate(plan, &parts, progress)
}

/// Writes the GPT (old signatures wiped) and has the kernel read it.
pub fn partition(disk: &Path) -> Result<(), InstallError> {
    tools::run(
        "sfdisk",
        &[
            "--wipe",
            "always",
            "--wipe-partitions",
            "always",
            "-q",
            &disk.to_string_lossy(),
        ],
        Some(&layout::sfdisk_script()),
    )
    .map_err(SlotError::from)?;
    Ok(())
}

/// Everything after the table: boot code, ESP, slots, state partition, seeded config.
pub fn populate(
    plan: &Plan,
    parts: &Partitions,
    progress: &dyn Fn(&str),
) -> Result<(), InstallError> {
    progress("writing GRUB's BIOS boot code");
    write_bios_boot(&plan.disk.path, &plan.boot_code)?;
    progress("writing the EFI system partition (GRUB for UEFI, menu, boot counter)");
    slot_write::write_esp(
        &parts.esp,
        &plan.boot_code,
        &plan.kernel_args,
        BootState::installed(Slot::A),
        &plan.work,
    )?;
    progress("writing slot A (kernel, initrd, system image)");
    slot_write::write_slot(&parts.slot_a, Slot::A, &plan.source, &plan.work)?;
    // Formatted empty so its label exists; the first upgrade fills it.
    tools::mkfs_ext4(&parts.slot_b, Slot::B.label()).map_err(SlotError::from)?;
    progress("creating the state partition");
    tools::mkfs_ext4(&parts.state, layout::STATE_LABEL).map_err(SlotError::from)?;
    if let Some(cc) = &plan.cloud_config {
        let mount = TempMount::new(&parts.state, "ext4", &plan.work.join("state"), false)
            .map_err(SlotError::from)?;
        let target = mount.dir.join(SEEDED_CONFIG);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(cc, &target).map_err(io(cc))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600));
        drop(mount);
    }
    nix::unistd::sync();
    Ok(())
}

fn wait_for_node(path: &Path) -> Result<(), InstallError> {
    let deadline = Instant::now()
        .checked_add(Duration::from_secs(10))
        .unwrap_or_else(Instant::now);
    while !path.exists() {
        if Instant::now() > deadline {
            return Err(InstallError::NoPartitionNode(path.to_owned()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The MBR's boot code (the partition table after it stays) and the core image.
pub fn write_bios_boot(disk: &Path, code: &BootCode) -> Result<(), SlotError> {
    let mbr = std::fs::read(&code.mbr).map_err(io(&code.mbr))?;
    let core = std::fs::read(&code.core).map_err(io(&code.core))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(disk)
        .map_err(io(disk))?;
    f.write_all_at(mbr.get(..crate::bios_boot::MBR_CODE_LEN).unwrap_or(&mbr), 0)
        .map_err(io(disk))?;
    f.write_all_at(&core, layout::BIOS_BOOT.start.saturating_mul(SECTOR))
        .map_err(io(disk))?;
    f.sync_all().map_err(io(disk))
}
