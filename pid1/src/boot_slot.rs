//! Booting from an installed disk: GRUB names the slot (`ros.slot=A|B`) and whether it is on
//! trial after an upgrade (`ros.trial=1`). PID 1 notices rollbacks (GRUB's, or the operator's),
//! restores that slot's config snapshot, and marks a trial slot good once the system is ready.
//! A trial boot that never gets there reboots so GRUB can count the try (see os_disk::boot_state).

use crate::system_image::Located;
use os_disk::boot_info::{BootInfo, RollbackRecord, LAST_SLOT, ROLLBACK_RECORD};
use os_disk::layout::{self, Slot};
use os_disk::{bundle, config_snapshot, slot_write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Scratch mount points for the ESP.
const WORK: &str = "/run/ros/boot-slot";
/// A trial boot that is not ready this long after sysinit starts reboots (the next try).
pub const TRIAL_READY_TIMEOUT: Duration = Duration::from_secs(600);

static READY: AtomicBool = AtomicBool::new(false);

/// `ros.slot=` and `ros.trial=1` from the kernel command line.
pub fn from_cmdline(cmdline: &str) -> (Option<Slot>, bool) {
    let mut slot = None;
    let mut trial = false;
    for word in cmdline.split_whitespace() {
        if let Some(v) = word.strip_prefix("ros.slot=") {
            slot = Slot::parse(v);
        } else if word == "ros.trial=1" {
            trial = true;
        }
    }
    (slot, trial)
}

pub fn is_trial_boot() -> bool {
    from_cmdline(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default()).1
}

/// The whole disk a partition belongs to (/dev/vda3 → /dev/vda), from sysfs.
fn disk_of(partition: &Path) -> Option<PathBuf> {
    let name = partition.file_name()?;
    let sys = std::fs::canonicalize(Path::new("/sys/class/block").join(name)).ok()?;
    let disk = sys.parent()?.file_name()?;
    Some(Path::new("/dev").join(disk))
}

/// After switch_root, before the configuration is read: records what this boot is in
/// /run/ros/boot.json, and on a slot boot handles a rollback. Never fails the boot.
pub fn after_switch_root(located: &Located) -> BootInfo {
    let (_, trial) = from_cmdline(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    let mut info = BootInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        files: located.files.clone(),
        slot: None,
        trial,
        disk: None,
        esp: None,
    };
    if let Some((slot, device)) = &located.slot {
        info.slot = Some(*slot);
        if let Some(files) = &located.files {
            let manifest = files.vmlinuz.with_file_name(bundle::MANIFEST);
            if let Some(m) = std::fs::read(&manifest)
                .ok()
                .and_then(|b| serde_json::from_slice::<bundle::Manifest>(&b).ok())
            {
                info.version = m.version;
            }
        }
        info.disk = disk_of(device);
        info.esp = info
            .disk
            .as_ref()
            .map(|d| layout::partition_path(d, layout::ESP.number));
        handle_rollback(&info, *slot);
    }
    if let Err(e) = info.write() {
        tracing::warn!(error = %e, "cannot write {}", os_disk::boot_info::PATH);
    }
    tracing::info!(version = info.version, slot = ?info.slot.map(Slot::name), trial = info.trial, "boot source");
    info
}

fn handle_rollback(info: &BootInfo, slot: Slot) {
    let root = Path::new("/");
    config_snapshot::recover(root);
    let mut grub_rollback = None;
    if let Some(esp) = &info.esp {
        match slot_write::update_boot_state(esp, Path::new(WORK), false, |s| {
            grub_rollback = s.rolled_back.take();
        }) {
            Ok(_) => {}
            Err(e) => {
                tracing::error!(esp = %esp.display(), error = %e, "boot slots: cannot read GRUB's boot state")
            }
        }
    }
    let last = std::fs::read_to_string(root.join(LAST_SLOT))
        .ok()
        .and_then(|s| Slot::parse(&s));
    let (from, automatic) = match (grub_rollback, last) {
        (Some(failed), _) => (failed, true),
        (None, Some(last)) if last != slot && !info.trial => (last, false),
        _ => return,
    };
    let restored = match config_snapshot::restore(root, slot) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "rollback: cannot restore the config snapshot; keeping the current config");
            false
        }
    };
    if automatic {
        tracing::warn!(failed = from.name(), running = slot.name(), config_restored = restored, "rollback: slot {from} did not reach ready within its tries; GRUB went back to slot {slot}");
    } else {
        tracing::info!(
            from = from.name(),
            running = slot.name(),
            config_restored = restored,
            "rollback: now on slot {slot}"
        );
    }
    let record = RollbackRecord {
        from,
        to: slot,
        automatic,
        at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        config_restored: restored,
    };
    let path = root.join(ROLLBACK_RECORD);
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(json) = serde_json::to_vec_pretty(&record) {
        if let Err(e) = os_config::atomic_write(&path, &json, 0o644) {
            tracing::warn!(error = %e, "rollback: cannot record it");
        }
    }
}

/// At the ready line: remember the slot, and end a trial by making the slot the default.
pub fn on_ready() {
    READY.store(true, Ordering::SeqCst);
    let Ok(info) = BootInfo::read() else { return };
    let Some(slot) = info.slot else { return };
    let last = Path::new("/").join(LAST_SLOT);
    if let Some(parent) = last.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(e) = os_config::atomic_write(&last, slot.name().as_bytes(), 0o644) {
        tracing::warn!(error = %e, "boot slots: cannot record the ready slot");
    }
    let Some(esp) = info.esp.clone() else { return };
    match slot_write::update_boot_state(&esp, Path::new(WORK), false, |s| {
        if s.good != slot || s.next == Some(slot) {
            s.mark_good(slot);
        }
    }) {
        Ok((before, after)) if before != after => {
            tracing::info!(
                slot = slot.name(),
                version = info.version,
                "boot slots: slot {slot} reached ready; it boots from now on"
            );
            let info = BootInfo {
                trial: false,
                ..info
            };
            let _ = info.write();
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "boot slots: cannot mark slot {slot} good; GRUB will count this boot as a failed try")
        }
    }
}

/// On a trial boot: reboot (GRUB counts a try) if ready does not come in time.
pub async fn trial_watchdog() {
    tokio::time::sleep(TRIAL_READY_TIMEOUT).await;
    if READY.load(Ordering::SeqCst) {
        return;
    }
    tracing::error!(
        timeout_s = TRIAL_READY_TIMEOUT.as_secs(),
        "trial boot: not ready in time; rebooting so GRUB can fall back"
    );
    if let Err(e) = crate::power::request(crate::power::PowerAction::Reboot) {
        tracing::error!(error = %e, "trial boot: cannot request the reboot");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_slot_and_the_trial_flag() {
        assert_eq!(
            from_cmdline("console=ttyS0 ros.slot=B ros.trial=1 quiet"),
            (Some(Slot::B), true)
        );
        assert_eq!(from_cmdline("ros.slot=A"), (Some(Slot::A), false));
        assert_eq!(from_cmdline("rancher.debug=true"), (None, false));
        assert_eq!(from_cmdline("ros.slot=C"), (None, false));
    }
}
