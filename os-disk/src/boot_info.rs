//! What PID 1 learned about this boot, for `ros install` and `ros os`: where the boot files
//! are, and on an installed disk which slot runs and where the disk and its ESP are.
//! Written to /run/ros/boot.json.

use crate::layout::Slot;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const PATH: &str = "/run/ros/boot.json";
/// Where PID 1 keeps the running slot mounted (read-only): the system image is read from it.
pub const SLOT_MOUNT: &str = "/run/ros/slot";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootInfo {
    pub version: String,
    /// The kernel, initrd and system image this boot came from, when they are on a medium.
    pub files: Option<BootFiles>,
    /// Set on a boot from an installed disk.
    pub slot: Option<Slot>,
    /// This boot tries a newly written slot (GRUB's `ros.trial=1`).
    #[serde(default)]
    pub trial: bool,
    pub disk: Option<PathBuf>,
    pub esp: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFiles {
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
    pub squashfs: PathBuf,
}

impl BootFiles {
    /// In a slot: all three side by side.
    pub fn in_slot(dir: &Path) -> BootFiles {
        BootFiles {
            vmlinuz: dir.join("vmlinuz"),
            initrd: dir.join("initrd"),
            squashfs: dir.join("system.squashfs"),
        }
    }
    pub fn list(&self) -> [(&'static str, &Path); 3] {
        [
            ("vmlinuz", &self.vmlinuz),
            ("initrd", &self.initrd),
            ("system.squashfs", &self.squashfs),
        ]
    }
}

impl Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Slot, D::Error> {
        let s = String::deserialize(d)?;
        Slot::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("no slot {s:?}")))
    }
}

/// Why /run/ros/boot.json could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BootInfoError {
    #[error("{}: {source} (written by PID 1 at boot)", PATH)]
    Read {
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", PATH)]
    Parse {
        #[source]
        source: serde_json::Error,
    },
}

impl BootInfo {
    pub fn read() -> Result<BootInfo, BootInfoError> {
        let text =
            std::fs::read_to_string(PATH).map_err(|source| BootInfoError::Read { source })?;
        serde_json::from_str(&text).map_err(|source| BootInfoError::Parse { source })
    }
    pub fn write(&self) -> std::io::Result<()> {
        self.write_to(Path::new(PATH))
    }
    /// Creates the directory too: on a boot with no boot medium nothing has made /run/ros yet.
    fn write_to(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, json)
    }
}

/// On the state partition: the slot that last reached ready.
pub const LAST_SLOT: &str = "var/lib/rancher/os/last-slot";
/// On the state partition: the last rollback, for `ros os version`.
pub const ROLLBACK_RECORD: &str = "var/lib/rancher/os/rollback.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRecord {
    /// The slot left behind.
    pub from: Slot,
    /// The slot running since.
    pub to: Slot,
    /// GRUB fell back after the tries ran out (true), or `ros os rollback` (false).
    pub automatic: bool,
    /// Seconds since the epoch, as the machine's clock said at the boot that noticed.
    pub at_unix: u64,
    /// Whether the slot's config snapshot replaced the live config.
    pub config_restored: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel-and-initrd boot logged "cannot write /run/ros/boot.json: No such file or
    /// directory", and `ros os version` had nothing to read.
    #[test]
    fn writing_makes_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/ros/boot.json");
        let info = BootInfo {
            version: "1.2.3".into(),
            files: None,
            slot: None,
            trial: false,
            disk: None,
            esp: None,
        };
        info.write_to(&path).unwrap();
        let back: BootInfo =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back.version, "1.2.3");
    }
}
