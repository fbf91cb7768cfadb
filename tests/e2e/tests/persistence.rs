//! The state partition under QEMU, booted from vmlinuz + initrd with kernel arguments, and
//! checked from outside: on the serial console, over ssh, and on the disk image itself (blkid,
//! debugfs) after the guest is gone. See docs/persistence.md.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use ros_e2e::{
    boot_ready, boot_until, dist, make_config_drive, must, DriveFs, Qemu, QemuBuilder, Ssh, SshKey,
    READY_LINE, READY_TIMEOUT,
};

static ONE_GUEST: Mutex<()> = Mutex::new(());

const BUSYBOX: &str = "ros-test/busybox:latest";

const MIB: u64 = 1 << 20;

/// A sparse raw disk image of `mib` MiB, all zero.
fn blank_disk(dir: &Path, mib: u64) -> PathBuf {
    let path = dir.join("state.img");
    let f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    f.set_len(mib * MIB).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn tool(program: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn blkid(file: &Path, tag: &str) -> String {
    tool("blkid", &["-p", "-o", "value", "-s", tag], file)
}

/// Boots from the kernel with a config drive (vda) and the state disk (vdb). The drive carries
/// the ssh key only in `meta_data.json`, so logging in proves the guest read that drive.
fn boot_with_state(dir: &Path, key: &SshKey, disk: &Path, fs: DriveFs) -> (Qemu, Ssh) {
    boot_ready(state_builder(dir, key, disk, fs), &key.private)
}

/// The machine [`boot_with_state`] boots.
fn state_builder(dir: &Path, key: &SshKey, disk: &Path, fs: DriveFs) -> QemuBuilder {
    let name = format!("{fs:?}").to_lowercase();
    let user_data = dir.join("user-data");
    let cc = format!(
        "#cloud-config\nwrite_files:\n  - path: /home/rancher/from-config-2\n    content: \"{name}\\n\"\nrancher:\n  ntp:\n    servers: []\n"
    );
    std::fs::write(&user_data, cc).unwrap_or_else(|e| panic!("{e}"));
    let meta = format!(
        r#"{{"uuid": "ros-e2e", "hostname": "cfg2-{name}", "public_keys": {{"e2e": "{}"}}}}"#,
        key.public.trim()
    );
    let image = dir.join(format!("config-2-{name}.img"));
    make_config_drive(&user_data, &meta, fs, &image).unwrap_or_else(|e| panic!("{e}"));
    let d = dist();
    let builder = Qemu::builder()
        .kernel(d.vmlinuz(), d.initrd())
        .append("rancher.state.autoformat=[/dev/vdb] rancher.cloud_init.datasources=[configdrive]")
        .memory(1024)
        .disk_file(image);
    builder.disk_file(disk)
}

/// The config drive's metadata (hostname) and user-data (write_files) took effect.
fn assert_config_drive_read(vm: &Qemu, ssh: &Ssh, fs: &str) {
    assert_eq!(must(vm, ssh.ok("hostname")).trim(), format!("cfg2-{fs}"));
    assert_eq!(
        must(vm, ssh.ok("cat /home/rancher/from-config-2")).trim(),
        fs
    );
}

/// The host's mount of `mount_point` from PID 1's mountinfo: `fstype source`.
fn host_mount(vm: &Qemu, ssh: &Ssh, mount_point: &str) -> String {
    let info = must(vm, ssh.ok("sudo cat /proc/1/mountinfo"));
    info.lines()
        .filter(|l| l.split(' ').nth(4) == Some(mount_point))
        .filter_map(|l| l.split_once(" - ").map(|(_, rest)| rest))
        .map(|rest| rest.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .next_back()
        .unwrap_or_default()
}

/// Whether a bundled system image was loaded from an archive (a preload archive does not count).
fn bundled_archive_loaded(serial: &str) -> bool {
    serial
        .lines()
        .any(|l| l.contains("image archive loaded") && !l.contains("/preload/"))
}

/// A Debian package built here with dpkg-deb, installing /usr/bin/hello-ros; it depends on
/// nothing, so apt installs it offline.
fn hello_deb(dir: &Path) -> PathBuf {
    let pkg = dir.join("hello-ros");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(pkg.join("usr/bin")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: hello-ros\nVersion: 1.0\nArchitecture: all\nMaintainer: ros e2e <e2e@example.invalid>\nDescription: e2e test package\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bin = pkg.join("usr/bin/hello-ros");
    std::fs::write(&bin, "#!/bin/sh\necho hello from a package\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let deb = dir.join("hello-ros.deb");
    let out = Command::new("sh")
        .arg("-c")
        .arg("chmod 0755 \"$1\" && dpkg-deb --root-owner-group --build \"$2\" \"$3\"")
        .args(["sh"])
        .arg(&bin)
        .arg(&pkg)
        .arg(&deb)
        .output()
        .unwrap_or_else(|e| panic!("dpkg-deb: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    deb
}

/// Runs a `ros console switch` (which ends this ssh session), then waits until a login lands
/// in a console where `probe` prints something `done` accepts.
fn switch_console(vm: &Qemu, ssh: &Ssh, switch: &str, probe: &str, done: impl Fn(&str) -> bool) {
    let out = ssh.run(switch).unwrap_or_else(|e| panic!("{e}"));
    let said = String::from_utf8_lossy(&out.stdout);
    // The session may end before its output arrives; a refusal comes at once, so it is seen.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Error"),
        "`{switch}`: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Err(last) = ssh.eventually(Duration::from_secs(240), probe, done) {
        panic!(
            "`{switch}`: the new console never answered ({last})\n{}",
            vm.serial_tail(200)
        );
    }
}

/// Prints which of hello-ros and apt-get this console has.
const CONSOLE_PROBE: &str =
    "for c in hello-ros apt-get; do command -v $c >/dev/null && echo has-$c || echo no-$c; done";

fn poweroff(vm: &mut Qemu, ssh: &Ssh) {
    let _ = ssh.run("sudo poweroff");
    vm.wait_exit(Duration::from_secs(240))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        vm.serial_log().contains("ros: bye"),
        "{}",
        vm.serial_tail(200)
    );
}

#[test]
fn state_partition_autoformats_a_blank_disk_keeps_home_across_boots_and_survives_filling() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let disk = blank_disk(dir.path(), 4096);
    let token = format!("kept-{}", std::process::id());

    // First boot: the blank disk is formatted and becomes the root.
    let (mut vm, ssh) = boot_with_state(dir.path(), &key, &disk, DriveFs::Iso9660);
    assert_config_drive_read(&vm, &ssh, "iso9660");
    let serial = vm.serial_log();
    for line in [
        "the device's first MiB is all zero; formatting it ext4",
        "the root persists on the state partition",
    ] {
        assert!(
            serial
                .lines()
                .any(|l| l.contains(line) && l.contains("/dev/vdb")),
            "no {line:?} for /dev/vdb:\n{}",
            vm.serial_tail(200)
        );
    }
    // The images are served from the system image on a persistent store too: none is loaded.
    assert!(
        serial.contains(
            "bundled images served from the system image (nothing loaded) images=12 stale=0"
        ),
        "{}",
        vm.serial_tail(200)
    );
    assert!(!bundled_archive_loaded(&serial), "{}", vm.serial_tail(200));
    assert_eq!(host_mount(&vm, &ssh, "/"), "ext4 /dev/vdb");
    assert_eq!(host_mount(&vm, &ssh, "/tmp"), "tmpfs tmpfs");
    assert!(host_mount(&vm, &ssh, "/usr").starts_with("squashfs /dev/loop"));
    must(
        &vm,
        ssh.ok(&format!("echo {token} > /home/rancher/persist.txt && sync")),
    );
    let host_key = must(
        &vm,
        ssh.ok("sudo cat /var/lib/rancher/ssh/ssh_host_ed25519_key.pub"),
    );
    // The Debian console (issue 17): switched to without a reboot; /home and the host key
    // stay; a package installed with apt is kept across the reboot below.
    let deb = hello_deb(dir.path());
    must(
        &vm,
        ssh.copy_to(&deb, "/home/rancher/hello-ros.deb")
            .map(|_| String::new()),
    );
    switch_console(
        &vm,
        &ssh,
        "sudo ros console switch debian -f",
        CONSOLE_PROBE,
        |o| o.contains("has-apt-get"),
    );
    must(
        &vm,
        ssh.ok("sudo apt-get install -y /home/rancher/hello-ros.deb && hello-ros && man -w ls"),
    );
    assert_eq!(
        must(&vm, ssh.ok("cat /home/rancher/persist.txt")).trim(),
        token
    );
    assert_eq!(
        must(
            &vm,
            ssh.ok("sudo cat /var/lib/rancher/ssh/ssh_host_ed25519_key.pub")
        ),
        host_key,
        "the switch changed the ssh host key"
    );
    // The preload directories (issue 17): an archive in each loads at the next boot, once.
    let archive = dir.path().join("busybox.tar");
    sysdocker::testing::busybox_archive(&archive, BUSYBOX).unwrap_or_else(|e| panic!("{e}"));
    must(
        &vm,
        ssh.copy_to(&archive, "/home/rancher/busybox.tar")
            .map(|_| String::new()),
    );
    must(
        &vm,
        ssh.ok(
            "for d in system-docker docker; do sudo mkdir -p /var/lib/rancher/preload/$d && \
             sudo cp /home/rancher/busybox.tar /var/lib/rancher/preload/$d/; done",
        ),
    );
    poweroff(&mut vm, &ssh);
    drop(vm);

    // From outside: an ext4 labelled RANCHER_STATE that holds the file.
    assert_eq!(blkid(&disk, "TYPE"), "ext4");
    assert_eq!(blkid(&disk, "LABEL"), "RANCHER_STATE");
    let uuid = blkid(&disk, "UUID");
    assert_eq!(
        tool("debugfs", &["-R", "cat /home/rancher/persist.txt"], &disk),
        token
    );

    // Second boot from the same disk, still listed for autoformat: found, not formatted.
    let (mut vm, ssh) = boot_with_state(dir.path(), &key, &disk, DriveFs::Vfat);
    assert_config_drive_read(&vm, &ssh, "vfat");
    let serial = vm.serial_log();
    assert!(
        !serial.contains("formatting it ext4"),
        "{}",
        vm.serial_tail(200)
    );
    assert!(
        serial
            .lines()
            .any(|l| l.contains("found the state device") && l.contains("/dev/vdb")),
        "{}",
        vm.serial_tail(200)
    );
    assert_eq!(
        must(&vm, ssh.ok("cat /home/rancher/persist.txt")).trim(),
        token
    );
    assert_eq!(
        must(
            &vm,
            ssh.ok("sudo cat /var/lib/rancher/ssh/ssh_host_ed25519_key.pub")
        ),
        host_key,
        "the ssh host key changed"
    );
    // System Docker's store persisted: entering the same system image again changes nothing.
    let images = serial
        .lines()
        .find(|l| l.contains("bundled images served"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        images.contains("images=12 stale=0"),
        "{images}\n{}",
        vm.serial_tail(200)
    );
    assert!(
        !serial.contains("was damaged; written again"),
        "{}",
        vm.serial_tail(200)
    );
    assert!(!bundled_archive_loaded(&serial), "{}", vm.serial_tail(200));

    for scope in ["system", "user"] {
        assert!(
            serial.lines().any(|l| l.contains("preload: loaded")
                && l.contains(&format!("scope={scope}"))
                && l.contains("busybox.tar")),
            "no {scope} preload\n{}",
            vm.serial_tail(200)
        );
    }
    must(
        &vm,
        ssh.ok(&format!(
            "sudo system-docker image inspect {BUSYBOX} >/dev/null"
        )),
    );
    if let Err(last) = ssh.eventually(
        Duration::from_secs(120),
        &format!("docker image ls -q {BUSYBOX}"),
        |o| !o.trim().is_empty(),
    ) {
        panic!(
            "the user preload never loaded: {last}\n{}",
            vm.serial_tail(200)
        );
    }

    // The Debian console came back at boot (rancher.console), with the package installed in it.
    let consoles = must(&vm, ssh.ok("sudo ros console list"));
    assert!(
        consoles
            .lines()
            .any(|l| l.starts_with("debian") && l.contains("current,enabled")),
        "{consoles}"
    );
    assert_eq!(
        must(&vm, ssh.ok("hello-ros")).trim(),
        "hello from a package"
    );
    let same = must(&vm, ssh.ok("sudo ros console switch debian -f"));
    assert!(
        same.contains("already the console; nothing to do"),
        "{same}"
    );
    // --reset starts it afresh: the package is gone, apt is still there.
    switch_console(
        &vm,
        &ssh,
        "sudo ros console switch debian --reset -f",
        CONSOLE_PROBE,
        |o| o.contains("no-hello-ros") && o.contains("has-apt-get"),
    );
    // And back to the default console, which has no apt.
    switch_console(
        &vm,
        &ssh,
        "sudo ros console switch default -f",
        CONSOLE_PROBE,
        |o| o.contains("no-apt-get"),
    );

    // A catalogue service enabled and brought up by hand (issue 17): kernel-headers copies the
    // running kernel's headers to /opt/kernel-headers, on the state partition.
    must(
        &vm,
        ssh.ok("sudo ros service enable kernel-headers && sudo ros service up kernel-headers"),
    );
    let headers = must(
        &vm,
        ssh.ok("r=$(uname -r); ls /opt/kernel-headers/usr/src/linux-headers-$r/Makefile /opt/kernel-headers/usr/lib/modules/$r/build/scripts/basic/fixdep"),
    );
    assert!(headers.contains("/build/scripts/basic/fixdep"), "{headers}");

    // The state partition filled from a user container (issue 16): the next boot still reaches
    // ready with ssh (ext4's reserve is the system's, not the containers' root's: see
    // pid1/src/state_partition/mount.rs), and once root has taken the reserve too, `ros
    // config set` fails cleanly with the old value intact.
    must(
        &vm,
        ssh.ok("sudo ros config set rancher.shutdown_timeout 45"),
    );
    let fill = dir.path().join("fill.sh");
    // fallocate takes most of it without writing (the host's disk image stays sparse); dd the
    // rest: 1 MiB writes, then single blocks for the last few.
    std::fs::write(
        &fill,
        "free=$(df -k /h | awk 'NR == 2 { print $4 }')\n\
         fallocate -l $((free - 1024))k /h/fill-1\n\
         dd if=/dev/zero of=/h/fill-2 bs=1M 2>/dev/null\n\
         dd if=/dev/zero of=/h/fill-3 bs=4k 2>/dev/null\nsync\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    must(
        &vm,
        ssh.copy_to(&fill, "/home/rancher/fill.sh")
            .map(|_| String::new()),
    );
    // Kept after it exits (no --rm): removing it would free its layer's blocks.
    let _ = ssh.run(&format!(
        "docker run --name filler -v /home/rancher:/h {BUSYBOX} sh /h/fill.sh"
    ));
    let available = "df -k /home/rancher | awk 'NR == 2 { print $4 }'";
    // ext4 may still count a few blocks free that no write can take (8 KiB was seen).
    let left = must(&vm, ssh.ok(available));
    assert!(
        left.trim().parse::<u64>().is_ok_and(|k| k <= 64),
        "{left} KiB left\n{}",
        must(&vm, ssh.ok("df -k /home/rancher"))
    );
    poweroff(&mut vm, &ssh);
    drop(vm);

    // The boot on the full disk reaches ready (before the reserve was the system's, System
    // Docker could not start and PID 1 gave the recovery shell), and ssh answers.
    let builder = state_builder(dir.path(), &key, &disk, DriveFs::Iso9660);
    let (mut vm, _) = boot_until(&builder, READY_LINE, READY_TIMEOUT);
    let ssh = Ssh::new(vm.ssh_port(), &key.private);
    if let Err(e) = ssh.wait(Duration::from_secs(180)) {
        let tail = vm.serial_tail(200);
        let _ = vm.monitor("system_powerdown");
        let _ = vm.wait_exit(Duration::from_secs(240));
        drop(vm);
        // For a post-mortem with debugfs (the containers' logs are on this disk).
        if let Some(keep) = std::env::var_os("ROS_DEBUG_KEEP") {
            let _ = std::fs::copy(&disk, keep);
        }
        panic!("ssh never answered on the full disk: {e}\n{tail}");
    }
    assert_eq!(
        must(&vm, ssh.ok("sudo ros config get rancher.shutdown_timeout")).trim(),
        "45"
    );
    let serial = vm.serial_log();
    assert!(
        !serial.contains("preload: loaded")
            && serial.contains("preload: archives already loaded, skipped"),
        "{}",
        vm.serial_tail(200)
    );
    // Root in the console (CAP_SYS_RESOURCE) takes the reserve as well: now nothing is left.
    // Something on the system may free a block between the fill and the set (a log rotated, a
    // preallocation dropped; CI once saw the set succeed), so each try tops the fill up in the
    // same shell as the set, and a set that found room must still have written its value.
    let mut value = 45;
    let mut failed = None;
    for attempt in 0..4 {
        let next = 50 + attempt;
        let out = ssh
            .run(&format!(
                "sudo sh -c 'cd /home/rancher; f=$(stat -f -c \"%f * %S / 1024\" .); \
                 [ $f -gt 2048 ] && fallocate -l $(($f - 1024))k fill-4-{attempt}; \
                 for i in 1 2 3; do dd if=/dev/zero of=fill-5-{attempt}-$i bs=4k 2>/dev/null; sync; done; \
                 echo free=$(stat -f -c %f .) >&2; \
                 exec ros config set rancher.shutdown_timeout {next}'"
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        let now = must(&vm, ssh.ok("sudo ros config get rancher.shutdown_timeout"));
        if out.status.success() {
            assert_eq!(now.trim(), next.to_string(), "a set that succeeded: {said}");
            value = next;
            continue;
        }
        assert!(said.contains("No space left"), "{said}");
        // Nothing lost: the value from before the failed set.
        assert_eq!(now.trim(), value.to_string(), "{said}");
        failed = Some(said);
        break;
    }
    assert!(failed.is_some(), "set on a full disk succeeded four times");
    must(
        &vm,
        ssh.ok("sudo rm -f /home/rancher/fill-* && docker rm filler"),
    );
    poweroff(&mut vm, &ssh);
    assert_eq!(blkid(&disk, "UUID"), uuid, "formatted again");
}

#[test]
fn autoformat_never_formats_a_disk_holding_data() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let disk = blank_disk(dir.path(), 64);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&disk)
            .unwrap_or_else(|e| panic!("{e}"));
        f.seek(SeekFrom::Start(MIB / 2))
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(b"precious").unwrap_or_else(|e| panic!("{e}"));
    }
    let before = std::fs::read(&disk).unwrap_or_else(|e| panic!("{e}"));
    let d = dist();
    // No cidata drive: the disk is vda.
    let mut vm = Qemu::builder()
        .kernel(d.vmlinuz(), d.initrd())
        .append("rancher.state.autoformat=[/dev/vda]")
        .memory(1024)
        .disk_file(&disk)
        .boot()
        .unwrap_or_else(|e| panic!("{e}"));
    let line = vm
        .wait_for_serial(
            "the device holds data; autoformat never formats it",
            Duration::from_secs(240),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        line.contains("/dev/vda") && line.contains("first_data_at=524288"),
        "{line}"
    );
    // After the bounded wait for LABEL=RANCHER_STATE: the RAM root, and the boot goes on.
    vm.wait_for_serial("the root lives in RAM", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for_serial("switched to the new root", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    vm.kill();
    let after = std::fs::read(&disk).unwrap_or_else(|e| panic!("{e}"));
    assert!(before == after, "the disk holding data was written to");
}
