//! `ros install`: put ros on a disk (see os_disk::install for the layout and steps).

use anyhow::{bail, Context, Result};
use os_disk::boot_info::BootInfo;
use os_disk::install::{self, Plan};
use os_disk::signing::{TrustedKeys, TRUSTED_KEYS_DIR};
use os_disk::slot_write::{BootCode, Source, BOOT_CODE_DIR};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The disk to install to (e.g. /dev/vda, /dev/sda, /dev/nvme0n1).
    #[arg(short = 'd', long = "device")]
    pub device: PathBuf,
    /// A cloud-config to seed the installed system with (checked first).
    #[arg(short = 'c', long = "cloud-config")]
    pub cloud_config: Option<PathBuf>,
    /// Kernel arguments to add to every boot of the installed system; kept across upgrades.
    #[arg(
        short = 'a',
        long = "append",
        default_value = "",
        allow_hyphen_values = true
    )]
    pub append: String,
    /// Install from an upgrade bundle instead of this boot's kernel, initrd and system image.
    #[arg(short = 'i', long = "image")]
    pub image: Option<PathBuf>,
    /// Overwrite a disk that has partitions, and do not ask.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Stay up after installing (default: reboot into the installed system).
    #[arg(long)]
    pub no_reboot: bool,
}

pub const WORK: &str = "/run/ros/install";

pub fn run(args: InstallArgs) -> Result<()> {
    super::os::require_root("ros install")?;
    let kernel_args = os_disk::grub_cfg::check_kernel_args(&args.append)
        .map_err(|e| anyhow::anyhow!("--append: {e}; nothing was written"))?;
    if let Some(cc) = &args.cloud_config {
        check_cloud_config(cc)?;
    }
    let (source, version) = match &args.image {
        Some(bundle) => {
            println!("checking {} ...", bundle.display());
            let trusted = TrustedKeys::load(Path::new(TRUSTED_KEYS_DIR))?;
            let m = os_disk::bundle::verify(bundle, &trusted)
                .context("not installed: the bundle was refused and nothing was written")?;
            (
                Source::Bundle {
                    path: bundle.clone(),
                    trusted,
                },
                m.version,
            )
        }
        None => {
            let info = BootInfo::read().map_err(anyhow::Error::msg)?;
            let files = info.files.context(
                "this system booted from a kernel and initrd alone: there are no boot files to copy; pass -i BUNDLE",
            )?;
            (
                Source::Files {
                    files,
                    version: info.version.clone(),
                },
                info.version,
            )
        }
    };
    let boot_code = BootCode::in_dir(Path::new(BOOT_CODE_DIR));
    for f in [&boot_code.mbr, &boot_code.core, &boot_code.efi] {
        if !f.is_file() {
            bail!(
                "{} is missing: this system image has no boot loader to install",
                f.display()
            );
        }
    }
    let disk = install::inspect(&args.device)?;
    install::check(&disk, args.force)?;
    let plan = Plan {
        disk,
        source,
        version,
        cloud_config: args.cloud_config.clone(),
        kernel_args,
        boot_code,
        work: PathBuf::from(WORK),
    };
    print!("{}", install::describe(&plan));
    if !args.force && !confirm("Continue? [y/N] ")? {
        bail!("not installed: nothing was written");
    }
    install::install(&plan, &|step| println!("==> {step}"))?;
    println!(
        "ros {} is installed on {}.",
        plan.version,
        plan.disk.path.display()
    );
    if args.no_reboot {
        println!("Reboot (and remove the install medium) to start it.");
        return Ok(());
    }
    println!("Rebooting.");
    pid1::power::request(pid1::power::PowerAction::Reboot).context("asking PID 1 to reboot")
}

/// The cloud-config must parse and fit the model: an install never seeds a broken config.
fn check_cloud_config(path: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc = os_config::document::parse_document(&text, Some(path))
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    for d in &doc.diagnostics {
        eprintln!("{d}");
    }
    if doc.has_errors() {
        bail!("{} has errors (above); nothing was written", path.display());
    }
    Ok(())
}

pub fn confirm(prompt: &str) -> Result<bool> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
