//! `ros config boot-args`: the installed system's own kernel arguments (RancherOS v1's
//! `ros config syslinux`), kept on the ESP and written into the GRUB menu of both slots.

use anyhow::{Context, Result};
use clap::Subcommand;
use os_disk::slot_write;
use os_disk::upgrade::{Installed, WORK};
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum BootArgsCommand {
    /// Print the kernel arguments added to every boot of the installed system.
    Get,
    /// Replace them (all of ARGS, as one line); they apply from the next boot. No ARGS clears
    /// them. GRUB's script characters (; & | $ ` ' " \ { } < > #) and control characters are
    /// refused.
    Set {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn run(command: BootArgsCommand) -> Result<()> {
    super::os::require_root("ros config boot-args")?;
    let installed = Installed::detect()
        .context("ros config boot-args works on an installed system (a live boot's arguments are the boot loader's)")?;
    let work = Path::new(WORK);
    match command {
        BootArgsCommand::Get => {
            println!("{}", slot_write::read_kernel_args(&installed.esp, work)?);
        }
        BootArgsCommand::Set { args } => {
            let line = args.join(" ");
            let before = slot_write::write_kernel_args(&installed.esp, work, &line)?;
            let now = slot_write::read_kernel_args(&installed.esp, work)?;
            println!("kernel arguments: {now}");
            println!("before: {before}");
            println!("They apply from the next boot (both slots, and the recovery entry).");
        }
    }
    Ok(())
}
