//! What every QEMU test does around its checks: find `dist/`, boot to the ready line and sshd,
//! and fail with the serial console's last lines. These panic, so they belong in `#[test]`s.

use std::path::Path;
use std::time::Duration;

use crate::{Dist, Error, FreezeSigns, Qemu, QemuBuilder, Ssh, SERIAL_TAIL_LINES};

/// PID 1's line once User Docker answers.
pub const READY_LINE: &str = r"ros: ready in \d+\.\d s";
/// Under TCG a full boot (dockerd plus eight image loads) takes a few minutes.
pub const READY_TIMEOUT: Duration = Duration::from_secs(420);
/// sshd restarts once when cloud-init hands it the keys; this covers that.
const SSH_TIMEOUT: Duration = Duration::from_secs(120);
/// A booting guest never goes 90 s without a console line (the longest gap seen is about 30 s
/// under TCG); a vCPU stuck for a minute is not slowness either.
pub const FROZEN: FreezeSigns = FreezeSigns {
    silence: Duration::from_secs(90),
    stuck: Duration::from_secs(60),
};

/// The built artifacts, or a panic that says how to build them.
pub fn dist() -> Dist {
    Dist::locate().unwrap_or_else(|e| panic!("{e}"))
}

/// `r`'s value, or a panic carrying the guest's last serial lines.
pub fn must<T>(vm: &Qemu, r: Result<T, Error>) -> T {
    r.unwrap_or_else(|e| {
        panic!(
            "{e}\nlast serial lines:\n{}",
            vm.serial_tail(SERIAL_TAIL_LINES)
        )
    })
}

/// Boots `builder` and waits for `pattern`. A guest that freezes on the way is booted once
/// more: under TCG with two vCPUs the kernel's live code patching (a static key flipped while
/// the other vCPU runs the patched code) can lock both vCPUs up for minutes, an emulator race
/// that KVM and real machines don't have. The same race can instead end in an `Oops: int3`
/// panic (the other vCPU hits the breakpoint the patching leaves); that is booted again too.
/// Both are reported on stderr and counted, never hidden.
pub fn boot_until(builder: &QemuBuilder, pattern: &str, timeout: Duration) -> (Qemu, String) {
    let mut vm = builder.clone().boot().unwrap_or_else(|e| panic!("{e}"));
    match vm.wait_for_serial_live(pattern, timeout, FROZEN) {
        Ok(line) => return (vm, line),
        Err(e @ Error::GuestFrozen { .. }) => {
            eprintln!("ros-e2e: the guest froze; killing it and booting once more: {e}");
            record_freeze(pattern);
        }
        Err(e @ Error::KernelPanic { .. }) if is_patching_race(&e) => {
            eprintln!("ros-e2e: the kernel hit TCG's code-patching race (Oops: int3); booting once more: {e}");
            record_freeze(pattern);
        }
        Err(e) => panic!("{e}"),
    }
    drop(vm);
    let mut vm = builder.clone().boot().unwrap_or_else(|e| panic!("{e}"));
    match vm.wait_for_serial_live(pattern, timeout, FROZEN) {
        Ok(line) => (vm, line),
        Err(e) => panic!("{e}"),
    }
}

/// An `int3` oops is the patching race's other outcome: the kernel never leaves an int3 in
/// code it runs except while patching, so any other panic still fails the test.
fn is_patching_race(e: &Error) -> bool {
    matches!(e, Error::KernelPanic { tail, .. } if tail.contains("Oops: int3"))
}

/// A file (from this variable) that gets one line per freeze: scripts/test prints how many
/// boots of a whole run needed the second boot, the evidence for keeping it or not.
pub const FREEZE_LOG_ENV: &str = "ROS_E2E_FREEZE_LOG";

fn record_freeze(pattern: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os(FREEZE_LOG_ENV) else {
        return;
    };
    let line = format!("froze before /{pattern}/\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("ros-e2e: cannot record the freeze in {path:?}: {e}");
    }
}

/// Waits for sshd to take `key` on a guest that is ready (from inside the guest's network
/// namespace if it runs in one).
pub fn ssh_when_up(vm: &Qemu, key: &Path) -> Ssh {
    let ssh = vm.ssh(key);
    if let Err(e) = ssh.wait(SSH_TIMEOUT) {
        panic!(
            "ssh never answered: {e}\n{}",
            vm.serial_tail(SERIAL_TAIL_LINES)
        );
    }
    ssh
}

/// Boots `builder` as [`boot_until`] does, to the ready line, then waits for sshd.
pub fn boot_ready(builder: QemuBuilder, key: &Path) -> (Qemu, Ssh) {
    let (vm, _) = boot_until(&builder, READY_LINE, READY_TIMEOUT);
    let ssh = ssh_when_up(&vm, key);
    (vm, ssh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_int3_oops_counts_as_the_patching_race() {
        let panic = |tail: &str| Error::KernelPanic {
            pattern: "x".into(),
            lines: 1,
            tail: tail.into(),
        };
        assert!(is_patching_race(&panic(
            "[    3.245919] Oops: int3: 0000 [#2] PREEMPT SMP NOPTI"
        )));
        assert!(!is_patching_race(&panic(
            "Kernel panic - not syncing: VFS: Unable to mount root fs"
        )));
    }
}
