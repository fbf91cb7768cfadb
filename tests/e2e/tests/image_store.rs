//! Bad input in System Docker's image store (issue 14): the system image's own copy of the
//! console image is damaged (its config blob cut in half). PID 1 must name the broken image,
//! never load or pull a stand-in, and leave the machine with a console: the recovery shell.
//!
//! One boot, from `-kernel dist/vmlinuz` and an initrd carrying the damaged system image.

use std::path::Path;
use std::time::Duration;

use image_archive::docker_store::{config_path, StoreIndex};
use ros_e2e::{boot_until, dist, initrd_with_image, pack_system_image, unpack_system_image, Qemu};

/// dist's system image with the console image's config blob truncated; returns the image's
/// path, the console's tag and the damaged file's path in the running system.
fn damaged_system_image(dir: &Path) -> (std::path::PathBuf, String, String) {
    let root = unpack_system_image(&dist().squashfs(), dir);
    let store = root.join("share/ros/system-docker");
    let index = StoreIndex::read(&store).unwrap_or_else(|e| panic!("{e}"));
    let console = index
        .find("console")
        .expect("no console image in the store");
    let blob = config_path(&store, &console.id);
    let bytes = std::fs::read(&blob).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let in_guest = Path::new("/usr")
        .join(blob.strip_prefix(&root).unwrap_or(&blob))
        .display()
        .to_string();
    let out = dir.join("damaged.squashfs");
    pack_system_image(&root, &out);
    (out, console.tag.clone(), in_guest)
}

#[test]
fn a_damaged_console_image_is_named_and_the_recovery_console_opens() {
    let d = dist();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (squashfs, tag, blob) = damaged_system_image(dir.path());
    let initrd = dir.path().join("initrd");
    initrd_with_image(&d.small_initrd(), &squashfs, None, &initrd)
        .unwrap_or_else(|e| panic!("{e}"));
    let builder = Qemu::builder().kernel(d.vmlinuz(), &initrd).memory(1024);
    let (mut vm, _) = boot_until(
        &builder,
        "reason: the console service could not start",
        Duration::from_secs(400),
    );
    // The prompt of the recovery shell follows its banner.
    vm.wait_for_serial(r"\[recovery\] #", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", vm.serial_tail(200)));
    let log = vm.serial_log();
    let named = format!("bundled images: {tag}: {blob} is damaged (its digest is sha256:");
    assert!(log.contains(&named), "{named}\n{}", vm.serial_tail(200));
    let reason = format!(
        "the console service could not start: service console: image {tag} is missing and the system image's copy of it cannot be served: {blob} is damaged"
    );
    assert!(log.contains(&reason), "{reason}\n{}", vm.serial_tail(200));
    // The other images were served; nothing was loaded or pulled in the console's place.
    assert!(
        log.contains("bundled images served from the system image (nothing loaded)"),
        "{}",
        vm.serial_tail(200)
    );
    assert!(
        !log.contains("image archive loaded"),
        "{}",
        vm.serial_tail(200)
    );
}
