//! Upgrade and rollback on an installed disk, as `ros os` runs them: a verified bundle goes to
//! the inactive slot, the config is snapshotted for the slot left behind, and only then does
//! grubenv change, so until the last step the machine still boots the running slot.

use crate::boot_info::{BootInfo, BootInfoError, RollbackRecord, ROLLBACK_RECORD, SLOT_MOUNT};
use crate::boot_state::BootState;
use crate::bundle::{self, BundleError, Manifest};
use crate::config_snapshot;
use crate::layout::{self, Slot};
use crate::signing::TrustedKeys;
use crate::slot_write::{self, SlotError};
use std::path::{Path, PathBuf};

/// Scratch directory for mounting slots and the ESP.
pub const WORK: &str = "/run/ros/os";

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("reading the boot info: {0}")]
    BootInfo(#[from] BootInfoError),
    #[error("this system is not running from an installed disk (live or kernel+initrd boot): use `ros install` first")]
    NotInstalled,
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Slot(#[from] SlotError),
    #[error("snapshotting the config: {0}")]
    Snapshot(std::io::Error),
    #[error("slot {0} holds no complete system: nothing to roll back to")]
    NothingToRollBackTo(Slot),
}

/// The running system on an installed disk.
#[derive(Debug, Clone)]
pub struct Installed {
    pub info: BootInfo,
    pub slot: Slot,
    pub disk: PathBuf,
    pub esp: PathBuf,
}

impl Installed {
    /// The running install, or `NotInstalled` for a live or kernel+initrd boot.
    pub fn detect() -> Result<Installed, UpgradeError> {
        Installed::from_info(BootInfo::read()?)
    }

    pub fn from_info(info: BootInfo) -> Result<Installed, UpgradeError> {
        match (info.slot, info.disk.clone(), info.esp.clone()) {
            (Some(slot), Some(disk), Some(esp)) => Ok(Installed {
                info,
                slot,
                disk,
                esp,
            }),
            _ => Err(UpgradeError::NotInstalled),
        }
    }

    /// A slot's manifest: the running slot's from its mount, the other's by mounting it.
    pub fn slot_manifest(&self, slot: Slot) -> Option<Manifest> {
        if slot == self.slot {
            let text = std::fs::read(Path::new(SLOT_MOUNT).join(bundle::MANIFEST)).ok()?;
            return serde_json::from_slice(&text).ok();
        }
        slot_write::read_slot_manifest(&self.partition(slot), Path::new(WORK))
    }

    /// What GRUB boots next; reading it mounts the ESP, so it needs root.
    pub fn boot_state(&self) -> Result<BootState, SlotError> {
        slot_write::read_boot_state(&self.esp, Path::new(WORK))
    }

    fn partition(&self, slot: Slot) -> PathBuf {
        layout::partition_path(&self.disk, slot.partition().number)
    }
}

/// A step of an upgrade, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    WritingSlot { slot: Slot, partition: PathBuf },
    SnapshottingConfig { slot: Slot },
}

/// A bundle whose signature and files checked; only `verify` makes one, so `upgrade` cannot
/// write a slot from a bundle that was not checked first.
#[derive(Debug)]
pub struct Verified {
    path: PathBuf,
    trusted: TrustedKeys,
    manifest: Manifest,
}

impl Verified {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

/// Checks a bundle against the keys in `trusted` (the running system's are at
/// `signing::TRUSTED_KEYS_DIR`) without writing anything.
pub fn verify(bundle_path: &Path, trusted: TrustedKeys) -> Result<Verified, UpgradeError> {
    let manifest = bundle::verify(bundle_path, &trusted)?;
    Ok(Verified {
        path: bundle_path.to_path_buf(),
        trusted,
        manifest,
    })
}

/// Writes a verified bundle to the inactive slot (checking it again as it writes) and
/// schedules a trial boot of it; returns the slot written. Config snapshots are taken under
/// `root`.
pub fn upgrade(
    inst: &Installed,
    bundle: &Verified,
    root: &Path,
    mut progress: impl FnMut(Step),
) -> Result<Slot, UpgradeError> {
    let target = inst.slot.other();
    let partition = inst.partition(target);
    progress(Step::WritingSlot {
        slot: target,
        partition: partition.clone(),
    });
    slot_write::write_slot(
        &partition,
        target,
        &slot_write::Source::Bundle {
            path: bundle.path.clone(),
            trusted: bundle.trusted.clone(),
        },
        Path::new(WORK),
    )?;
    progress(Step::SnapshottingConfig { slot: inst.slot });
    config_snapshot::snapshot(root, inst.slot).map_err(UpgradeError::Snapshot)?;
    // The only step GRUB sees; until here the machine still boots the running slot.
    slot_write::update_boot_state(&inst.esp, Path::new(WORK), true, |s| {
        s.schedule_trial(target)
    })?;
    Ok(target)
}

/// The slot a rollback would boot and the version it holds.
pub fn rollback_target(inst: &Installed) -> Result<(Slot, Manifest), UpgradeError> {
    let target = inst.slot.other();
    match inst.slot_manifest(target) {
        Some(m) => Ok((target, m)),
        None => Err(UpgradeError::NothingToRollBackTo(target)),
    }
}

/// Makes the other slot the default from the next boot on, after snapshotting the config.
pub fn rollback(inst: &Installed, root: &Path) -> Result<Slot, UpgradeError> {
    let target = inst.slot.other();
    config_snapshot::snapshot(root, inst.slot).map_err(UpgradeError::Snapshot)?;
    slot_write::update_boot_state(&inst.esp, Path::new(WORK), false, |s| s.switch_to(target))?;
    Ok(target)
}

/// The last rollback PID 1 recorded under `root`, if any.
pub fn last_rollback(root: &Path) -> Option<RollbackRecord> {
    let text = std::fs::read(root.join(ROLLBACK_RECORD)).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_signed_bundle_becomes_verified() {
        use crate::signing::{add_trusted_key, SigningKey};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let files: Vec<(&str, &Path)> =
            bundle::FILES.iter().map(|n| (*n, file.as_path())).collect();
        let manifest = Manifest::describe("2.0.0", "", &files).unwrap();
        let key = SigningKey::from_seed([3; 32]);
        let keys = dir.path().join("keys");
        add_trusted_key(&keys, &key.public()).unwrap();
        let trusted = TrustedKeys::load(&keys).unwrap();
        let (signed, unsigned) = (dir.path().join("s"), dir.path().join("u"));
        bundle::write(&signed, &manifest, Some(&key), &files, 0).unwrap();
        bundle::write(&unsigned, &manifest, None, &files, 0).unwrap();
        assert_eq!(
            verify(&signed, trusted.clone()).unwrap().manifest(),
            &manifest
        );
        assert!(matches!(
            verify(&unsigned, trusted),
            Err(UpgradeError::Bundle(BundleError::Unsigned { .. }))
        ));
    }

    #[test]
    fn a_live_boot_is_not_installed() {
        let live = BootInfo {
            version: "v1".into(),
            ..BootInfo::default()
        };
        assert!(matches!(
            Installed::from_info(live),
            Err(UpgradeError::NotInstalled)
        ));
    }

    #[test]
    fn an_installed_boot_names_its_slot_disk_and_esp() {
        let info = BootInfo {
            version: "v1".into(),
            slot: Some(Slot::B),
            disk: Some("/dev/vda".into()),
            esp: Some("/dev/vda1".into()),
            ..BootInfo::default()
        };
        let inst = Installed::from_info(info).unwrap();
        assert_eq!(inst.slot, Slot::B);
        assert_eq!(
            inst.partition(Slot::A),
            layout::partition_path(Path::new("/dev/vda"), Slot::A.partition().number)
        );
    }

    #[test]
    fn last_rollback_reads_the_record_and_ignores_garbage() {
        let root = tempfile::tempdir().unwrap();
        assert!(last_rollback(root.path()).is_none());
        let path = root.path().join(ROLLBACK_RECORD);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "not json").unwrap();
        assert!(last_rollback(root.path()).is_none());
        let record = RollbackRecord {
            from: Slot::B,
            to: Slot::A,
            automatic: true,
            config_restored: false,
            at_unix: 5,
        };
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(last_rollback(root.path()), Some(record));
    }
}
