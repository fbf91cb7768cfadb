//! `ros os`: which version and slot run, the slots' contents, upgrades to the inactive slot
//! (tried by GRUB under a boot counter) and rollbacks: prompts and output here, the steps in
//! os_disk::upgrade.

use anyhow::{bail, Context, Result};
use os_disk::boot_info::BootInfo;
use os_disk::bundle;
use os_disk::layout::Slot;
use os_disk::upgrade::{self, Installed, Step};
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

fn version() -> Result<()> {
    let info = BootInfo::read()?;
    println!("version: {}", info.version);
    let Ok(inst) = Installed::from_info(info) else {
        println!("slot: none (not booted from an installed disk)");
        return Ok(());
    };
    println!(
        "slot: {}{} on {}",
        inst.slot,
        if inst.info.trial { " (on trial)" } else { "" },
        inst.disk.display()
    );
    match inst.boot_state() {
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
    match upgrade::last_rollback(Path::new("/")) {
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

fn list() -> Result<()> {
    let inst = Installed::detect()?;
    let state = inst.boot_state().ok();
    for slot in [Slot::A, Slot::B] {
        let version = inst
            .slot_manifest(slot)
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
    let inst = Installed::detect()?;
    let bundle_path = if image.starts_with("http://") || image.starts_with("https://") {
        // On the state partition: RAM is too small for a bundle on small machines.
        let out = Path::new("/var/lib/rancher/os/download.bundle");
        println!("downloading {image} ...");
        host::http_client::download(&Default::default(), image, out)?;
        out.to_path_buf()
    } else {
        PathBuf::from(image)
    };
    println!("checking {} ...", bundle_path.display());
    let manifest = bundle::verify(&bundle_path)?;
    println!(
        "bundle verified: ros {} ({} files). Slot {} will be overwritten; slot {} (ros {}) stays as the fallback.",
        manifest.version,
        manifest.files.len(),
        inst.slot.other(),
        inst.slot,
        inst.info.version
    );
    if !force && !super::install::confirm("Upgrade? [y/N] ")? {
        bail!("not upgraded: nothing was written");
    }
    let target = upgrade::upgrade(&inst, &bundle_path, Path::new("/"), |step| match step {
        Step::WritingSlot { slot, partition } => {
            println!("==> writing slot {slot} ({})", partition.display())
        }
        Step::SnapshottingConfig { slot } => {
            println!("==> saving the config as slot {slot}'s snapshot")
        }
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
    let inst = Installed::detect()?;
    let (target, m) = upgrade::rollback_target(&inst)?;
    println!(
        "slot {target} holds ros {}; it boots from now on, with the config it had.",
        m.version
    );
    if !force && !super::install::confirm("Roll back? [y/N] ")? {
        bail!("not rolled back");
    }
    upgrade::rollback(&inst, Path::new("/"))?;
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
