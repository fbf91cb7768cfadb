//! `ros-build run`: boots the built ISO (or kernel + initrd) in QEMU with the serial console on
//! this terminal, ssh on 127.0.0.1:2222, KVM when it works, user networking with restrict=on.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use qemu_harness::Qemu;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1024)]
    pub memory: u32,
    /// Boot dist/vmlinuz + dist/initrd directly instead of the ISO.
    #[arg(long)]
    pub kernel: bool,
    /// Attach a NoCloud drive (label cidata) with this file as user-data.
    #[arg(long, value_name = "FILE")]
    pub cloud_config: Option<PathBuf>,
    /// Attach a blank virtio disk of this size (e.g. 4G).
    #[arg(long, value_name = "SIZE")]
    pub disk: Option<String>,
    /// Boot with UEFI firmware (OVMF) instead of SeaBIOS.
    #[arg(long)]
    pub uefi: bool,
    /// Loopback port forwarded to the guest's ssh.
    #[arg(long, default_value_t = 2222)]
    pub ssh_port: u16,
    /// Extra kernel arguments (with --kernel).
    #[arg(long, default_value = "")]
    pub append: String,
    #[arg(long, default_value = "dist")]
    pub dist: PathBuf,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let iso = args.dist.join("ros.iso");
    let (vmlinuz, initrd) = (args.dist.join("vmlinuz"), args.dist.join("initrd"));
    let mut builder = Qemu::builder().memory(args.memory).uefi(args.uefi);
    builder = if args.kernel {
        builder.kernel(&vmlinuz, &initrd)
    } else {
        builder.iso(&iso)
    };
    for needed in if args.kernel {
        vec![&vmlinuz, &initrd]
    } else {
        vec![&iso]
    } {
        if !needed.is_file() {
            bail!("{} is missing: run scripts/build", needed.display());
        }
    }
    if !args.append.is_empty() {
        builder = builder.append(&args.append);
    }
    if let Some(user_data) = &args.cloud_config {
        builder = builder.cloud_config(user_data);
    }
    if let Some(size) = &args.disk {
        builder = builder.disk(size);
    }
    let dir = tempfile::tempdir().context("create a scratch directory")?;
    let mut cmd = builder.interactive_command(dir.path(), args.ssh_port)?;
    println!(
        "==> booting {} (ssh: 127.0.0.1:{}; quit: Ctrl-a x)",
        if args.kernel {
            "vmlinuz + initrd"
        } else {
            "ros.iso"
        },
        args.ssh_port
    );
    tracing::debug!(?cmd, "qemu");
    let status = cmd.status().context("start qemu-system-x86_64")?;
    if !status.success() {
        bail!("QEMU exited with {status}");
    }
    Ok(())
}
