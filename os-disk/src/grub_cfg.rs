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
}
