//! The full initrd (`dist/initrd`: the small zstd member, then an uncompressed member with the
//! sidecar /ros/system.squashfs.json and the system image /ros/system.squashfs) on a machine
//! whose RAM is too small. The kernel then stops unpacking partway ("Initramfs unpacking
//! failed: write error") and leaves the image cut short. Running the kernel out of memory at a
//! chosen point is not reproducible, so these tests build the initrd as the kernel leaves it:
//! `dist/initrd-small`, then a member whose sidecar is whole and whose image entry gives the
//! full size but carries only the first half of `dist/system.squashfs`.
//!
//! Each test is one short boot, stopped once PID 1 has said what it chose.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use regex::Regex;
use ros_e2e::{boot_until, dist, initrd_with_image, must, Dist, Qemu, QemuBuilder};

const MIB: u64 = 1 << 20;
/// PID 1 waits 30 s for a medium after a bad initrd image; the kernel and the unpacking take
/// well under a minute under TCG.
const TIMEOUT: Duration = Duration::from_secs(240);
const RECOVERY_BANNER: &str = r"\*\*\* ros: RECOVERY SHELL \*\*\*";
const FOUND_ON_MEDIUM: &str = "system image found on the boot medium";

// One guest at a time: the machine has two cores and QEMU runs under TCG.
static ONE_GUEST: Mutex<()> = Mutex::new(());

/// `dist/initrd-small` plus a second member holding the sidecar and the first half of the
/// system image, its cpio header still giving the whole size (a write cut short). Returns the
/// path and the image's full size.
fn truncated_initrd(d: &Dist, dir: &Path) -> (PathBuf, u64) {
    let path = dir.join("initrd-truncated");
    let full = std::fs::metadata(d.squashfs()).unwrap().len();
    let size = initrd_with_image(
        &d.small_initrd(),
        &d.squashfs(),
        Some((full / 2) as usize),
        &path,
    )
    .unwrap();
    (path, size)
}

/// The error PID 1 must give for an image of `size` bytes of which half were unpacked (to a
/// page: the kernel's tmpfs allocates whole pages), up to the memory figure (the guest's
/// MemTotal, which the kernel decides).
fn did_not_fit(size: u64) -> Regex {
    let n = size.div_ceil(MIB);
    let m = ((size / 2).div_ceil(4096) * 4096) / MIB;
    Regex::new(&format!(
        r"the initrd did not fit in RAM: the system image is {n} MiB but only {m} MiB of it were unpacked \((\d+) MiB of memory available\); boot from the ISO or give the machine more memory$"
    ))
    .unwrap()
}

/// The line of `log` matching `re`, and where it is.
fn find_line(log: &str, re: &Regex) -> Option<(usize, String)> {
    log.lines()
        .enumerate()
        .find(|(_, l)| re.is_match(l))
        .map(|(i, l)| (i, l.to_string()))
}

fn kernel_boot(d: &Dist, initrd: &Path) -> QemuBuilder {
    Qemu::builder().kernel(d.vmlinuz(), initrd).memory(1024)
}

#[test]
fn truncated_initrd_without_a_medium_says_it_did_not_fit_in_the_recovery_shell() {
    let d = dist();
    let tmp = tempfile::tempdir().unwrap();
    let (initrd, size) = truncated_initrd(&d, tmp.path());
    let _guard = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());

    let (mut vm, _) = boot_until(&kernel_boot(&d, &initrd), RECOVERY_BANNER, TIMEOUT);
    // The banner's next line gives the reason.
    let waited = vm.wait_for_serial("^reason: ", Duration::from_secs(10));
    must(&vm, waited);
    let log = vm.serial_log();
    let error = did_not_fit(size);
    let Some((_, logged)) = find_line(&log, &error) else {
        panic!("no 'did not fit' error:\n{}", vm.serial_tail(200));
    };
    let memory: u64 = error.captures(&logged).unwrap()[1].parse().unwrap();
    assert!(
        (512..=1024).contains(&memory),
        "a 1024 MiB guest reports {memory} MiB: {logged}"
    );
    assert!(logged.contains("ERROR"), "{logged}");
    // The recovery shell's reason is that error, not "no medium".
    let reason = Regex::new(&format!("^reason: {}", error.as_str())).unwrap();
    assert!(
        find_line(&log, &reason).is_some(),
        "the recovery shell does not give the error as its reason:\n{}",
        vm.serial_tail(200)
    );
    assert!(!log.contains("no medium labelled ROS appeared"), "{log}");
    assert!(
        !log.contains("EINVAL") && !log.contains("Invalid argument"),
        "{log}"
    );
    vm.kill();
}

#[test]
fn truncated_initrd_with_the_iso_attached_boots_from_the_medium() {
    let d = dist();
    let tmp = tempfile::tempdir().unwrap();
    let (initrd, size) = truncated_initrd(&d, tmp.path());
    let _guard = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());

    let iso = d.iso();
    let builder = kernel_boot(&d, &initrd)
        .arg("-cdrom")
        .arg(iso.to_str().unwrap());
    let (mut vm, _) = boot_until(&builder, FOUND_ON_MEDIUM, TIMEOUT);
    let log = vm.serial_log();
    let Some((error_at, _)) = find_line(&log, &did_not_fit(size)) else {
        panic!("no 'did not fit' error:\n{}", vm.serial_tail(200));
    };
    let (found_at, found) = find_line(&log, &Regex::new(FOUND_ON_MEDIUM).unwrap()).unwrap();
    assert!(
        error_at < found_at,
        "the medium was used before the check:\n{log}"
    );
    assert!(found.contains("/dev/sr0"), "{found}");
    assert!(!log.contains("RECOVERY SHELL"), "{log}");
    vm.kill();
}

/// The real thing once: a machine too small for `dist/initrd`. The kernel needs about 45 MiB
/// of its own plus the initrd as loaded, and the initramfs (a tmpfs) may fill at most half of
/// what is left, so with the initrd's size plus 150 MiB the unpacking stops partway for any
/// image over about 40 MB while the kernel still reaches /init.
#[test]
fn whole_initrd_in_too_little_ram_is_reported_and_the_iso_used() {
    let d = dist();
    let initrd_mib = std::fs::metadata(d.initrd()).unwrap().len() / MIB;
    let size = std::fs::metadata(d.squashfs()).unwrap().len();
    let _guard = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let iso = d.iso();
    let builder = kernel_boot(&d, &d.initrd())
        .memory(initrd_mib as u32 + 150)
        .arg("-cdrom")
        .arg(iso.to_str().unwrap());
    let (mut vm, _) = boot_until(&builder, FOUND_ON_MEDIUM, TIMEOUT);
    let log = vm.serial_log();
    assert!(
        log.contains("Initramfs unpacking failed: write error"),
        "the initrd fitted after all:\n{log}"
    );
    let error = Regex::new(&format!(
        r"ERROR the initrd did not fit in RAM: the system image is {} MiB but only (\d+) MiB of it were unpacked \((\d+) MiB of memory available\); boot from the ISO or give the machine more memory$",
        size.div_ceil(MIB)
    ))
    .unwrap();
    let Some((error_at, line)) = find_line(&log, &error) else {
        panic!("no 'did not fit' error:\n{}", vm.serial_tail(200));
    };
    let unpacked: u64 = error.captures(&line).unwrap()[1].parse().unwrap();
    assert!(unpacked < size / MIB, "{line}");
    let (found_at, _) = find_line(&log, &Regex::new(FOUND_ON_MEDIUM).unwrap()).unwrap();
    assert!(error_at < found_at, "{log}");
    vm.kill();
}

#[test]
fn whole_initrd_with_the_same_iso_attached_uses_the_medium_and_frees_its_copy() {
    let d = dist();
    let _guard = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let iso = d.iso();
    let builder = kernel_boot(&d, &d.initrd())
        .arg("-cdrom")
        .arg(iso.to_str().unwrap());
    let chose = "system image: the boot medium's, the same image as the initrd's; deleted the initrd's copy to free its RAM";
    let (mut vm, line) = boot_until(&builder, chose, TIMEOUT);
    assert!(line.contains("device=/dev/sr0"), "{line}");
    let size = std::fs::metadata(d.squashfs()).unwrap().len();
    assert!(
        line.contains(&format!("freed_mib={}", size / MIB)),
        "{line}"
    );
    // The root is then assembled on the medium's image.
    let waited = vm.wait_for_serial("switched to the new root", Duration::from_secs(120));
    must(&vm, waited);
    let log = vm.serial_log();
    assert!(!log.contains("did not fit in RAM"), "{log}");
    vm.kill();
}

#[test]
fn whole_initrd_without_a_medium_uses_its_own_image() {
    let d = dist();
    let _guard = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let chose = r"system image: the initrd's \(no boot medium labelled ROS is attached\)";
    let (mut vm, _) = boot_until(&kernel_boot(&d, &d.initrd()), chose, TIMEOUT);
    let waited = vm.wait_for_serial("switched to the new root", Duration::from_secs(120));
    must(&vm, waited);
    vm.kill();
}
