//! Boots the built artifacts three ways until PID 1's first line on the serial console:
//! the ISO under SeaBIOS, the ISO under OVMF (UEFI), and vmlinuz + initrd directly.

use std::sync::Mutex;
use std::time::Duration;

use ros_e2e::{dist, Qemu};

/// PID 1 (the ros binary as /init) starts every line it prints with this.
const PID1_LINE: &str = "ros-init";
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

// One guest at a time: the machine has two cores and QEMU runs under TCG.
static ONE_GUEST: Mutex<()> = Mutex::new(());

fn boot_until_pid1(builder: ros_e2e::QemuBuilder) -> String {
    let _guard = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let mut vm = builder
        .memory(1024)
        .boot()
        .unwrap_or_else(|e| panic!("{e}"));
    let line = vm
        .wait_for_serial(PID1_LINE, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    vm.kill();
    line
}

#[test]
fn iso_boots_to_pid1_under_bios() {
    let d = dist();
    let line = boot_until_pid1(Qemu::builder().iso(d.iso()));
    assert!(line.contains(PID1_LINE), "{line}");
}

#[test]
fn iso_boots_to_pid1_under_uefi() {
    let d = dist();
    let line = boot_until_pid1(Qemu::builder().iso(d.iso()).uefi(true));
    assert!(line.contains(PID1_LINE), "{line}");
}

#[test]
fn kernel_and_initrd_boot_to_pid1() {
    let d = dist();
    let _guard = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let mut vm = Qemu::builder()
        .kernel(d.vmlinuz(), d.initrd())
        .memory(1024)
        .boot()
        .unwrap_or_else(|e| panic!("{e}"));
    let line = vm
        .wait_for_serial(PID1_LINE, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(line.contains(PID1_LINE), "{line}");
    // The harness's monitor and exit wait, which later tests use for power-button checks.
    let status = vm.monitor("info status").unwrap_or_else(|e| panic!("{e}"));
    assert!(status.contains("VM status: running"), "{status}");
    let _ = vm.monitor("quit");
    vm.wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
}
