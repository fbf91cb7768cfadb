//! The GPT every ros disk has. Offsets are fixed so that the BIOS boot code, patched at build
//! time with the core image's sector, is valid on every disk (see `bios_boot`).

use std::path::{Path, PathBuf};

pub const SECTOR: u64 = 512;
const MIB: u64 = 2048; // sectors

pub const TYPE_BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
pub const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const TYPE_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// Filesystem labels GRUB and PID 1 find the partitions by.
pub const ESP_LABEL: &str = "ROS_EFI";
pub const STATE_LABEL: &str = "RANCHER_STATE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    pub name: &'static str,
    /// First sector.
    pub start: u64,
    /// Length in sectors; `None` runs to the end of the disk.
    pub size: Option<u64>,
    pub type_guid: &'static str,
}

pub const BIOS_BOOT: Partition = Partition {
    number: 1,
    name: "bios",
    start: MIB,
    size: Some(MIB),
    type_guid: TYPE_BIOS_BOOT,
};
pub const ESP: Partition = Partition {
    number: 2,
    name: "efi",
    start: 2 * MIB,
    size: Some(64 * MIB),
    type_guid: TYPE_ESP,
};
/// Each slot's size: a bundle (its files) can be no bigger.
const SLOT_SECTORS: u64 = 512 * MIB;
pub const SLOT_BYTES: u64 = SLOT_SECTORS * SECTOR;

pub const SLOT_A: Partition = Partition {
    number: 3,
    name: "ROS_A",
    start: 66 * MIB,
    size: Some(SLOT_SECTORS),
    type_guid: TYPE_LINUX,
};
pub const SLOT_B: Partition = Partition {
    number: 4,
    name: "ROS_B",
    start: 578 * MIB,
    size: Some(SLOT_SECTORS),
    type_guid: TYPE_LINUX,
};
pub const STATE: Partition = Partition {
    number: 5,
    name: STATE_LABEL,
    start: 1090 * MIB,
    size: None,
    type_guid: TYPE_LINUX,
};

pub const ALL: [Partition; 5] = [BIOS_BOOT, ESP, SLOT_A, SLOT_B, STATE];

/// The state partition gets at least this much; smaller disks are refused.
pub const MIN_STATE_BYTES: u64 = 256 * 1024 * 1024;
/// The smallest disk ros installs to: the fixed partitions, a minimal state partition and the
/// backup GPT (33 sectors).
pub const MIN_DISK_BYTES: u64 = STATE.start * SECTOR + MIN_STATE_BYTES + 33 * SECTOR;

/// One of the two boot slots: each holds a kernel, an initrd, a system image and a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn parse(s: &str) -> Option<Slot> {
        match s.trim() {
            "A" | "a" => Some(Slot::A),
            "B" | "b" => Some(Slot::B),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "A",
            Slot::B => "B",
        }
    }
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
    /// The slot filesystem's label (and GPT partition name).
    pub fn label(self) -> &'static str {
        self.partition().name
    }
    pub fn partition(self) -> Partition {
        match self {
            Slot::A => SLOT_A,
            Slot::B => SLOT_B,
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The table as an sfdisk script (`sfdisk DEV < script`).
pub fn sfdisk_script() -> String {
    let mut s = String::from("label: gpt\n");
    for p in ALL {
        s.push_str(&format!("start={}, ", p.start));
        if let Some(size) = p.size {
            s.push_str(&format!("size={size}, "));
        }
        s.push_str(&format!("type={}, name={}\n", p.type_guid, p.name));
    }
    s
}

/// The device node of partition `number` on `disk`: sda→sda3, vda→vda3, nvme0n1→nvme0n1p3,
/// loop0→loop0p3, mmcblk0→mmcblk0p3 (a trailing digit takes a `p`).
pub fn partition_path(disk: &Path, number: u32) -> PathBuf {
    let s = disk.to_string_lossy();
    if s.ends_with(|c: char| c.is_ascii_digit()) {
        PathBuf::from(format!("{s}p{number}"))
    } else {
        PathBuf::from(format!("{s}{number}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_contiguous_and_aligned() {
        for pair in ALL.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(
                a.start + a.size.unwrap_or(0),
                b.start,
                "{} then {}",
                a.name,
                b.name
            );
        }
        for p in ALL {
            assert_eq!(p.start % MIB, 0, "{} is MiB-aligned", p.name);
        }
        const { assert!(MIN_DISK_BYTES > 1024 * 1024 * 1024) };
    }

    #[test]
    fn partition_names_follow_the_kernel() {
        assert_eq!(
            partition_path(Path::new("/dev/vda"), 3),
            Path::new("/dev/vda3")
        );
        assert_eq!(
            partition_path(Path::new("/dev/nvme0n1"), 5),
            Path::new("/dev/nvme0n1p5")
        );
        assert_eq!(
            partition_path(Path::new("/dev/loop7"), 2),
            Path::new("/dev/loop7p2")
        );
    }

    #[test]
    fn the_script_names_every_partition() {
        let s = sfdisk_script();
        assert!(s.starts_with("label: gpt\n"));
        assert!(s.contains(
            "start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=bios"
        ));
        assert!(s.contains(&format!(
            "start={}, type={TYPE_LINUX}, name=RANCHER_STATE",
            STATE.start
        )));
        assert_eq!(Slot::A.label(), "ROS_A");
        assert_eq!(Slot::B.other(), Slot::A);
    }
}
