//! `reboot`, `poweroff`, `halt` and `shutdown`: ask PID 1 for an ordered shutdown, or with
//! `-f` do it at once.

use anyhow::{bail, Context, Result};
use pid1::power::{self, PowerAction};

/// The arguments `reboot`, `poweroff` and `halt` accept.
#[derive(Debug, clap::Args)]
pub struct PowerArgs {
    /// Do it now: no service is stopped (filesystems are still synced).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// `halt -p`: power off instead of halting.
    #[arg(short = 'p', long = "poweroff")]
    pub poweroff: bool,
}

/// `shutdown [-h|-H|-P|-r] [-f] [now]`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "shutdown",
    about = "Shut the machine down in order",
    disable_help_flag = true
)]
pub struct ShutdownArgs {
    /// Print help (`-h` means power off, as in sysvinit).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Reboot.
    #[arg(short = 'r', long)]
    pub reboot: bool,
    /// Power off (the default).
    #[arg(short = 'P', long)]
    pub poweroff: bool,
    /// Power off (as `-h` means on modern systems).
    #[arg(short = 'h')]
    pub h: bool,
    /// Halt without powering off.
    #[arg(short = 'H', long)]
    pub halt: bool,
    #[arg(short = 'f', long)]
    pub force: bool,
    /// When: `now` or `+0`; delayed shutdowns are not supported.
    pub when: Option<String>,
    /// A message for logged-in users (`shutdown -P +0 "hypervisor initiated shutdown"`, as
    /// qemu-ga runs it): logged, not broadcast.
    #[arg(trailing_var_arg = true)]
    pub message: Vec<String>,
}

pub fn run(action: PowerAction, args: &PowerArgs) -> Result<()> {
    let action = if action == PowerAction::Halt && args.poweroff {
        PowerAction::Poweroff
    } else {
        action
    };
    execute(action, args.force)
}

pub fn run_shutdown(args: &ShutdownArgs) -> Result<()> {
    if let Some(when) = args.when.as_deref() {
        if !matches!(when, "now" | "+0" | "0") {
            bail!("delayed shutdown ({when}) is not supported; use `shutdown now`");
        }
    }
    if !args.message.is_empty() {
        tracing::info!(message = %args.message.join(" "), "shutdown");
    }
    let action = if args.reboot {
        PowerAction::Reboot
    } else if args.halt {
        PowerAction::Halt
    } else {
        PowerAction::Poweroff
    };
    execute(action, args.force)
}

fn execute(action: PowerAction, force: bool) -> Result<()> {
    if force {
        power::force(action).with_context(|| format!("{} -f", action.as_str()))
    } else {
        power::request(action).with_context(|| format!("asking PID 1 to {}", action.as_str()))?;
        eprintln!("ros: {} requested", action.as_str());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn shutdown_flags() {
        let a = ShutdownArgs::try_parse_from(["shutdown", "-h", "now"]).unwrap();
        assert!(a.h && !a.reboot && a.when.as_deref() == Some("now"));
        let a = ShutdownArgs::try_parse_from(["shutdown", "-r", "-f"]).unwrap();
        assert!(a.reboot && a.force);
        assert!(ShutdownArgs::try_parse_from(["shutdown", "--bogus"]).is_err());
        // qemu-ga's guest-shutdown.
        let a =
            ShutdownArgs::try_parse_from(["shutdown", "-P", "+0", "hypervisor initiated shutdown"])
                .unwrap();
        assert!(a.poweroff && a.when.as_deref() == Some("+0"));
        assert_eq!(a.message, ["hypervisor initiated shutdown"]);
        let delayed = ShutdownArgs::try_parse_from(["shutdown", "-h", "+5"]).unwrap();
        assert!(run_shutdown(&delayed)
            .unwrap_err()
            .to_string()
            .contains("not supported"));
    }
}
