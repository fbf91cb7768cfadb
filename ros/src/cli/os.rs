//! `ros os`: which version and slot run, the slots' contents, upgrades to the inactive slot
//! (tried by GRUB under a boot counter) and rollbacks. See os_disk::boot_state.

use anyhow::{bail, Context, Result};
use os_disk::boot_info::{BootInfo, RollbackRecord, ROLLBACK_RECORD, SLOT_MOUNT};
use os_disk::bundle::{self, Manifest};
use os_disk::layout::{self, Slot};
use os_disk::{config_snapshot, slot_write};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct OsArgs {
    #[command(subcommand)]
    pub command: OsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum OsCommand {
    /// The running version and slot, what boots next, and the last rollback.
    Version,
    /// The two boot slots and the version each holds.
    List,
    /// Write a bundle to the inactive slot and boot it on trial.
    Upgrade {
        /// The bundle: a file, or an http(s) URL to download first.
        #[arg(short = 'i', long = "image")]
        image: String,
        /// Do not ask.
        #[arg(short = 'f', long)]
        force: bool,
        /// Stay up; the new slot is tried at the next reboot.
        #[arg(long)]
        no_reboot: bool,
    },
    /// Boot the other slot again (with the config it had).
    Rollback {
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(long)]
        no_reboot: bool,
    },
}

const WORK: &str = "/run/ros/os";

pub fn run(args: OsArgs) -> Result<()> {
    match args.command {
        OsCommand::Version => version(),
        OsCommand::List => list(),
        OsCommand::Upgrade {
            image,
            force,
            no_reboot,
        } => upgrade(&image, force, no_reboot),
        OsCommand::Rollback { force, no_reboot } => rollback(force, no_reboot),
    }
}

pub fn require_root(what: &str) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("{what} needs root: run it with sudo");
    }
    Ok(())
}

struct Installed {
    info: BootInfo,
    slot: Slot,
    disk: PathBuf,
    esp: PathBuf,
}

fn installed() -> Result<Installed> {
    let info = BootInfo::read().map_err(anyhow::Error::msg)?;
    match (info.slot, info.disk.clone(), info.esp.clone()) {
        (Some(slot), Some(disk), Some(esp)) => Ok(Installed {
            info,
            slot,
            disk,
            esp,
        }),
        _ => bail!("this system is not running from an installed disk (live or kernel+initrd boot): use `ros install` first"),
    }
}

fn version() -> Result<()> {
    let info = BootInfo::read().map_err(anyhow::Error::msg)?;
    println!("version: {}", info.version);
    let Some(slot) = info.slot else {
        println!("slot: none (not booted from an installed disk)");
        return Ok(());
    };
    println!(
        "slot: {slot}{} on {}",
        if info.trial { " (on trial)" } else { "" },
        info.disk.as_deref().unwrap_or(Path::new("?")).display()
    );
    if let Some(esp) = &info.esp {
        match slot_write::read_boot_state(esp, Path::new(WORK)) {
            Ok(state) => match state.next {
                Some(next) => println!(
                    "next boot: slot {next} on trial ({} tries left), then slot {}",
                    state.tries, state.good
                ),
                None => println!("next boot: slot {}", state.good),
            },
            // Reading grubenv means mounting the ESP.
            Err(_) if !nix::unistd::geteuid().is_root() => {
                println!("next boot: (run with sudo to read the boot loader's state)")
            }
            Err(e) => println!("next boot: unknown ({e})"),
        }
    }
    match read_rollback() {
        Some(r) => println!(
            "last rollback: slot {} -> slot {} ({}{}), at {}",
            r.from,
            r.to,
            if r.automatic {
                "automatic: slot ".to_owned()
                    + r.from.name()
                    + " did not reach ready within its tries"
            } else {
                "ros os rollback".to_owned()
            },
            if r.config_restored {
                "; config restored from the slot's snapshot"
            } else {
                ""
            },
            humantime_secs(r.at_unix)
        ),
        None => println!("last rollback: none"),
    }
    Ok(())
}

fn humantime_secs(unix: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn read_rollback() -> Option<RollbackRecord> {
    let text = std::fs::read(Path::new("/").join(ROLLBACK_RECORD)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// A slot's manifest: the running slot's from its mount, the other's by mounting it.
fn slot_manifest(inst: &Installed, slot: Slot) -> Option<Manifest> {
    if slot == inst.slot {
        let text = std::fs::read(Path::new(SLOT_MOUNT).join(bundle::MANIFEST)).ok()?;
        return serde_json::from_slice(&text).ok();
    }
    let part = layout::partition_path(&inst.disk, slot.partition().number);
    slot_write::read_slot_manifest(&part, Path::new(WORK))
}

fn list() -> Result<()> {
    let inst = installed()?;
    let state = slot_write::read_boot_state(&inst.esp, Path::new(WORK)).ok();
    for slot in [Slot::A, Slot::B] {
        let version = slot_manifest(&inst, slot)
            .map(|m| m.version)
            .unwrap_or_else(|| "(empty)".into());
        let mut notes = Vec::new();
        if slot == inst.slot {
            notes.push("running".to_owned());
        }
        if let Some(s) = state {
            if s.good == slot {
                notes.push("default".into());
            }
            if s.next == Some(slot) {
                notes.push(format!("on trial, {} tries left", s.tries));
            }
        }
        println!("{slot}  {version:<20} {}", notes.join(", "));
    }
    Ok(())
}

fn upgrade(image: &str, force: bool, no_reboot: bool) -> Result<()> {
    require_root("ros os upgrade")?;
    let inst = installed()?;
    let bundle_path = if image.starts_with("http://") || image.starts_with("https://") {
        download(image)?
    } else {
        PathBuf::from(image)
    };
    println!("checking {} ...", bundle_path.display());
    let manifest = bundle::verify(&bundle_path)?;
    let target = inst.slot.other();
    println!(
        "bundle verified: ros {} ({} files). Slot {target} will be overwritten; slot {} (ros {}) stays as the fallback.",
        manifest.version,
        manifest.files.len(),
        inst.slot,
        inst.info.version
    );
    if !force && !super::install::confirm("Upgrade? [y/N] ")? {
        bail!("not upgraded: nothing was written");
    }
    let part = layout::partition_path(&inst.disk, target.partition().number);
    println!("==> writing slot {target} ({})", part.display());
    slot_write::write_slot(
        &part,
        target,
        &slot_write::Source::Bundle(bundle_path),
        Path::new(WORK),
    )?;
    println!("==> saving the config as slot {}'s snapshot", inst.slot);
    config_snapshot::snapshot(Path::new("/"), inst.slot).context("snapshotting the config")?;
    // The only step GRUB sees; until here the machine still boots the running slot.
    slot_write::update_boot_state(&inst.esp, Path::new(WORK), true, |s| {
        s.schedule_trial(target)
    })?;
    println!(
        "slot {target} holds ros {}; the next boot tries it ({} tries, then back to slot {}).",
        manifest.version,
        os_disk::boot_state::TRIES,
        inst.slot
    );
    finish(no_reboot)
}

fn rollback(force: bool, no_reboot: bool) -> Result<()> {
    require_root("ros os rollback")?;
    let inst = installed()?;
    let target = inst.slot.other();
    let Some(m) = slot_manifest(&inst, target) else {
        bail!("slot {target} holds no complete system: nothing to roll back to");
    };
    println!(
        "slot {target} holds ros {}; it boots from now on, with the config it had.",
        m.version
    );
    if !force && !super::install::confirm("Roll back? [y/N] ")? {
        bail!("not rolled back");
    }
    config_snapshot::snapshot(Path::new("/"), inst.slot).context("snapshotting the config")?;
    slot_write::update_boot_state(&inst.esp, Path::new(WORK), false, |s| s.switch_to(target))?;
    finish(no_reboot)
}

fn finish(no_reboot: bool) -> Result<()> {
    if no_reboot {
        println!("Reboot to start it.");
        return Ok(());
    }
    println!("Rebooting.");
    pid1::power::request(pid1::power::PowerAction::Reboot).context("asking PID 1 to reboot")
}

/// Downloads to the state partition (RAM is too small for a bundle on small machines).
fn download(url: &str) -> Result<PathBuf> {
    let dir = Path::new("/var/lib/rancher/os");
    std::fs::create_dir_all(dir)?;
    let out = dir.join("download.bundle");
    println!("downloading {url} ...");
    // No total timeout: a bundle is hundreds of MB on links of any speed.
    let mut resp = host::http_client::blocking(&Default::default())?
        .get(url)
        .send()
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("downloading {url}"))?;
    let mut f = std::fs::File::create(&out)?;
    resp.copy_to(&mut f)
        .with_context(|| format!("downloading {url}"))?;
    f.sync_all()?;
    Ok(out)
}
