//! The installed disk's GRUB menu. It lives on the EFI system partition (BIOS and UEFI GRUB
//! both read it) and runs the boot counter described in `boot_state`.

/// Paths on the EFI system partition.
pub const GRUB_CFG: &str = "boot/grub/grub.cfg";
pub const GRUBENV: &str = "boot/grub/grubenv";
pub const EFI_LOADER: &str = "EFI/BOOT/BOOTX64.EFI";
/// The operator's `ros install -a` arguments, kept so every rewrite of the menu carries them.
pub const KERNEL_ARGS: &str = "ros/kernel-args";

/// Arguments every installed boot gets: the consoles, the state partition, and a reboot
/// (instead of a hang) when the kernel panics, so a broken slot falls back on its own.
pub const BASE_ARGS: &str = "console=tty1 console=ttyS0 rancher.state.dev=LABEL=RANCHER_STATE \
    rancher.state.wait panic=10";

/// Characters GRUB's script parser gives a meaning (command separators, variables, quoting,
/// blocks, comments): an argument holding one could add commands to the menu.
const GRUB_SPECIAL: &[char] = &[
    ';', '&', '|', '$', '`', '\'', '"', '\\', '{', '}', '<', '>', '#',
];
/// Bound on the whole line; the kernel's own limit on x86 is 2048 bytes with ours.
pub const MAX_KERNEL_ARGS: usize = 1024;

/// Checks operator kernel arguments before they go into grub.cfg and returns them with
/// whitespace collapsed. Refuses control characters, GRUB's special characters and overlong lines.
pub fn check_kernel_args(args: &str) -> Result<String, String> {
    if let Some(c) = args
        .chars()
        .find(|c| c.is_control() && *c != ' ' && *c != '\t')
    {
        return Err(format!("the control character {c:?} is not allowed"));
    }
    if let Some(c) = args.chars().find(|c| GRUB_SPECIAL.contains(c)) {
        return Err(format!(
            "{c:?} is not allowed: GRUB's menu would read it as script (refused: {})",
            GRUB_SPECIAL.iter().collect::<String>()
        ));
    }
    if !args.is_ascii() {
        return Err("only ASCII is allowed".into());
    }
    let joined = args.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.len() > MAX_KERNEL_ARGS {
        return Err(format!(
            "{} bytes is longer than the {MAX_KERNEL_ARGS} allowed",
            joined.len()
        ));
    }
    Ok(joined)
}

pub fn render(extra_args: &str) -> String {
    let extra = extra_args.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        r#"# Written by `ros install` and `ros os upgrade`; ros rewrites it. The slot to boot and the
# boot counter live in grubenv (ros_slot, ros_next, ros_tries, ros_rollback).
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0

load_env
if [ "$ros_slot" != "B" ]; then
  set ros_slot=A
fi
set boot_slot=$ros_slot
set trial_arg=
if [ -n "$ros_next" ]; then
  if [ "$ros_tries" = "3" ]; then
    set ros_tries=2
    set boot_slot=$ros_next
  elif [ "$ros_tries" = "2" ]; then
    set ros_tries=1
    set boot_slot=$ros_next
  elif [ "$ros_tries" = "1" ]; then
    set ros_tries=0
    set boot_slot=$ros_next
  else
    set ros_rollback=$ros_next
    set ros_next=
    set ros_tries=
  fi
  save_env ros_next ros_tries ros_rollback
  if [ "$boot_slot" != "$ros_slot" ]; then
    set trial_arg=ros.trial=1
  fi
fi
export boot_slot
export trial_arg
echo "ros: booting slot $boot_slot $trial_arg"

menuentry "ros (slot $boot_slot)" --id ros {{
    search --no-floppy --label ROS_$boot_slot --set=root
    linux /vmlinuz {BASE_ARGS} ros.slot=$boot_slot $trial_arg {extra}
    initrd /initrd
}}

menuentry "ros (recovery shell)" --id recovery {{
    search --no-floppy --label ROS_$ros_slot --set=root
    linux /vmlinuz {BASE_ARGS} ros.slot=$ros_slot rancher.recovery=true {extra}
    initrd /initrd
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_the_operators_arguments_on_every_entry() {
        let cfg = render("  rancher.debug=true   quiet ");
        assert_eq!(cfg.matches("rancher.debug=true quiet\n").count(), 2);
        assert!(cfg.contains("ros.slot=$boot_slot $trial_arg"));
        assert!(cfg.contains("save_env ros_next ros_tries ros_rollback"));
    }

    #[test]
    fn kernel_args_that_could_script_grub_are_refused() {
        assert_eq!(
            check_kernel_args("  rancher.debug=true\tquiet ").unwrap(),
            "rancher.debug=true quiet"
        );
        assert_eq!(
            check_kernel_args("rancher.cloud_init.datasources=[ec2,gce] a=b,c").unwrap(),
            "rancher.cloud_init.datasources=[ec2,gce] a=b,c"
        );
        for bad in [
            "quiet\nmenuentry x",
            "a; reboot",
            "x=$ros_slot",
            "a}",
            "a # b",
            "a=\"b c\"",
            "caf\u{e9}",
        ] {
            assert!(check_kernel_args(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_kernel_args(&"a".repeat(MAX_KERNEL_ARGS + 1)).is_err());
    }
}
