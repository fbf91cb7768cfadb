//! Installing to disk, upgrading and rolling back, and the cloud image, in QEMU. One machine
//! goes through the whole life, to share boots (each costs 1.5–2 min under TCG):
//!
//! ISO (BIOS) → `ros install -d /dev/vda -c cc.yml -f` → disk under UEFI (file, container,
//! `ros config set`) → `ros os upgrade` to bundle B → disk under BIOS: B runs, all kept →
//! upgrade to a broken bundle C → C fails its three tries → GRUB is back on B by itself.
//! Bundles B and C are signed with the build's key; an unsigned bundle, one signed by a key the
//! system does not trust, one whose manifest was changed after signing, and a plain http:// URL
//! are refused first, with nothing written.
//!
//! A second machine installs from the ISO under UEFI at 512 MB, powers off with a user container
//! that ignores SIGTERM, and keeps its file, container and config across a reboot from disk.
//!
//! The cloud image gets its own machine: grown on first boot, then a power cut in the middle of
//! `ros config set` and of an upgrade's write.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use image_archive::docker_store::{self, StoreIndex, StoreWriter};
use image_archive::Layer;
use os_disk::bundle::{self, Manifest};
use os_disk::signing::{self, SigningKey, TrustedKeys};
use ros_e2e::{
    boot_ready, dist, make_cidata, must, pack_system_image, stop_order, unpack_system_image,
    uptime_of, Qemu, QemuBuilder, Ssh, SshKey,
};

static ONE_GUEST: Mutex<()> = Mutex::new(());

const TEST_IMAGE: &str = "ros-test/busybox:latest";

/// Runs a command that reboots the guest; QEMU (-no-reboot) then exits.
fn reboot_by(vm: &mut Qemu, ssh: &Ssh, cmd: &str) -> String {
    let out = ssh.run(cmd).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Err(e) = vm.wait_exit(Duration::from_secs(300)) {
        panic!("{e}\n`{cmd}` said:\n{text}\n{}", vm.serial_tail(200));
    }
    text
}

/// The installed disk, booted by its own boot loader.
fn disk_boot(disk: &Path, uefi: bool) -> QemuBuilder {
    Qemu::builder()
        .from_disk(dist().vmlinuz())
        .uefi(uefi)
        .memory(1024)
        .disk_file(disk)
}

/// The key the build signed dist/ros.bundle with, which its system image trusts: ros-build
/// keeps it at `$ROS_SIGNING_KEY`, else `~/.config/ros/bundle-signing.key`, outside the repo.
fn build_key() -> SigningKey {
    let path = signing::default_key_path().expect("neither ROS_SIGNING_KEY nor HOME is set");
    let key = SigningKey::read(&path).unwrap_or_else(|e| {
        panic!("{e}: the tests sign their bundles with the key scripts/build used")
    });
    // Checked against the build's own bundle, so a key made after the build is named as such.
    let trust = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    signing::add_trusted_key(trust.path(), &key.public()).unwrap_or_else(|e| panic!("{e}"));
    let trusted = TrustedKeys::load(trust.path()).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = bundle::verify(&dist().bundle(), &trusted) {
        panic!(
            "{} is not the key dist/ was built with ({e}): rebuild with scripts/build",
            path.display()
        );
    }
    key
}

/// Writes a bundle of these files under `version`, signed by `key` (`None`: unsigned).
fn write_bundle(
    out: PathBuf,
    version: &str,
    [vmlinuz, initrd, squashfs]: [&Path; 3],
    key: Option<&SigningKey>,
) -> PathBuf {
    let files: [(&str, &Path); 3] = [
        ("vmlinuz", vmlinuz),
        ("initrd", initrd),
        ("system.squashfs", squashfs),
    ];
    let m = Manifest::describe(version, "e2e", &files).unwrap_or_else(|e| panic!("{e}"));
    bundle::write(&out, &m, key, &files, 0).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Bundles `ros os upgrade` must refuse, each with the reason it must give: every member in
/// place but no signature; signed by a key the system does not trust; signed by the build's
/// key, then its manifest changed (still valid JSON whose hashes match the files).
fn refused_bundles(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let tiny = dir.join("tiny");
    std::fs::write(&tiny, b"not a kernel").unwrap_or_else(|e| panic!("{e}"));
    let files = [tiny.as_path(), tiny.as_path(), tiny.as_path()];
    let unsigned = write_bundle(dir.join("unsigned.bundle"), "0.1.0-unsigned", files, None);
    let stranger = SigningKey::from_seed([9; 32]);
    let untrusted = write_bundle(
        dir.join("untrusted.bundle"),
        "0.1.0-untrusted",
        files,
        Some(&stranger),
    );
    let tampered = write_bundle(
        dir.join("tampered.bundle"),
        "0.1.0-tampered1",
        files,
        Some(&build_key()),
    );
    // The version appears once, in manifest.json's bytes; tar checksums cover headers only.
    let mut bytes = std::fs::read(&tampered).unwrap_or_else(|e| panic!("{e}"));
    let at = bytes
        .windows(15)
        .position(|w| w == b"0.1.0-tampered1")
        .unwrap_or_else(|| panic!("no version in {}", tampered.display()));
    bytes[at + 14] = b'2';
    std::fs::write(&tampered, bytes).unwrap_or_else(|e| panic!("{e}"));
    vec![
        (
            unsigned,
            "the bundle is not signed: its second member is vmlinuz, not manifest.sig",
        ),
        (untrusted, "which this system does not trust"),
        (tampered, "'s signature does not match manifest.json"),
    ]
}

/// Bundle B is this build's files under another version; bundle C's system image is garbage,
/// so its PID 1 fails before ready. Both are signed with the build's key.
fn make_bundles(dir: &Path) -> (PathBuf, PathBuf) {
    let d = dist();
    let key = build_key();
    let (vmlinuz, small) = (d.vmlinuz(), d.small_initrd());
    let make = |version: &str, squashfs: &Path, out: PathBuf| {
        write_bundle(out, version, [&vmlinuz, &small, squashfs], Some(&key))
    };
    let garbage = dir.join("garbage.squashfs");
    std::fs::write(&garbage, vec![0xa5u8; 4 << 20]).unwrap_or_else(|e| panic!("{e}"));
    (
        make(
            "0.1.0-upgrade-b",
            &changed_system_image(dir),
            dir.join("b.bundle"),
        ),
        make("0.1.0-broken-c", &garbage, dir.join("c.bundle")),
    )
}

/// What bundle B's console prints for `cat /etc/ros-upgrade-marker`.
const MARKER: &str = "bundle B";

/// This build's system image whose console image changed as a new build's would: one more
/// layer (/etc/ros-upgrade-marker), so a new image id under the same tag. Returns its path.
fn changed_system_image(dir: &Path) -> PathBuf {
    let root = unpack_system_image(&dist().squashfs(), &dir.join("b"));
    let store = root.join("share/ros/system-docker");
    let index = StoreIndex::read(&store).unwrap_or_else(|e| panic!("{e}"));
    let console = index
        .find("console")
        .expect("no console image in the store")
        .clone();
    let mut layers: Vec<Layer> = (0..console.layers.len())
        .map(|i| docker_store::stored_layer(&store, &console, i).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let marker = dir.join("marker-layer");
    std::fs::create_dir_all(marker.join("etc")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(marker.join("etc/ros-upgrade-marker"), MARKER).unwrap_or_else(|e| panic!("{e}"));
    layers.push(Layer::from_dir(&marker, console.created).unwrap_or_else(|e| panic!("{e}")));
    let refs: Vec<&Layer> = layers.iter().collect();
    let mut w = StoreWriter::open(&store).unwrap_or_else(|e| panic!("{e}"));
    let changed = w
        .add(
            "console",
            &console.tag,
            &refs,
            &console.config,
            console.created,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(changed.id, console.id);
    w.finish().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("b.squashfs");
    pack_system_image(&root, &out);
    std::fs::write(dir.join("b-console-id"), &changed.id).unwrap_or_else(|e| panic!("{e}"));
    out
}

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("qemu-img: {e}"));
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What an install starts from: a cloud-config (ssh key, `hostname`, and `rancher` lines
/// `extra`), the NoCloud seed carrying it, and a blank 4 GiB disk.
struct Fixture {
    cc: PathBuf,
    seed: PathBuf,
    disk: PathBuf,
}

fn fixture(dir: &Path, key: &SshKey, hostname: &str, extra: &str) -> Fixture {
    let text = format!(
        "#cloud-config\nhostname: {hostname}\nssh_authorized_keys:\n  - {}\nrancher:\n{extra}  ntp:\n    servers: []\n",
        key.public
    );
    let cc = dir.join("cc.yml");
    std::fs::write(&cc, text).unwrap_or_else(|e| panic!("{e}"));
    let seed = dir.join("cidata.iso");
    make_cidata(&cc, None, &seed).unwrap_or_else(|e| panic!("{e}"));
    let disk = dir.join("disk.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", &disk.to_string_lossy(), "4G"]);
    Fixture { cc, seed, disk }
}

/// Leaves what must survive: a file in /home/rancher, a `--restart=always` user container
/// (from a locally loaded image), and `rancher.shutdown_timeout` set to `value`.
fn leave_file_container_and_value(vm: &Qemu, ssh: &Ssh, dir: &Path, value: u32) {
    let archive = dir.join("busybox.tar");
    if !archive.exists() {
        sysdocker::testing::busybox_archive(&archive, TEST_IMAGE).unwrap_or_else(|e| panic!("{e}"));
    }
    must(
        vm,
        ssh.copy_to(&archive, "/home/rancher/busybox.tar")
            .map(|_| String::new()),
    );
    must(vm, ssh.ok("docker load -i /home/rancher/busybox.tar"));
    must(
        vm,
        ssh.ok(&format!(
            "docker run -d --restart=always --name keeper {TEST_IMAGE} sleep 100000"
        )),
    );
    must(vm, ssh.ok("echo kept > /home/rancher/kept.txt"));
    must(
        vm,
        ssh.ok(&format!(
            "sudo ros config set rancher.shutdown_timeout {value}"
        )),
    );
}

/// The three things [`leave_file_container_and_value`] left are still there.
fn assert_file_container_and_value_kept(vm: &Qemu, ssh: &Ssh, value: u32) {
    assert_eq!(must(vm, ssh.ok("cat /home/rancher/kept.txt")), "kept\n");
    assert_eq!(
        must(vm, ssh.ok("sudo ros config get rancher.shutdown_timeout")).trim(),
        value.to_string()
    );
    assert!(
        must(
            vm,
            ssh.ok("docker ps --filter name=keeper --format '{{.Status}}'")
        )
        .starts_with("Up"),
        "the --restart=always container is not running"
    );
}

#[test]
fn install_from_the_iso_then_upgrade_and_fall_back_from_a_broken_bundle() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let Fixture { cc, seed, disk } = fixture(dir.path(), &key, "installed", "");
    let (bundle_b, bundle_c) = make_bundles(dir.path());
    let refused = refused_bundles(dir.path());

    // 1. The ISO under BIOS, the blank disk first (/dev/vda), the NoCloud seed second.
    let (mut vm, ssh) = boot_ready(
        Qemu::builder()
            .iso(dist().iso())
            .memory(1024)
            .disk_file(&disk)
            .disk_file(&seed),
        &key.private,
    );
    must(
        &vm,
        ssh.copy_to(&cc, "/home/rancher/cc.yml")
            .map(|_| String::new()),
    );
    // A broken cloud-config is refused before anything is written.
    must(
        &vm,
        ssh.ok("printf 'hostname: [unclosed\\n' > /home/rancher/bad.yml"),
    );
    let bad = ssh
        .run("sudo ros install -d /dev/vda -c /home/rancher/bad.yml -f")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("bad.yml"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let said = reboot_by(
        &mut vm,
        &ssh,
        "sudo ros install -d /dev/vda -c /home/rancher/cc.yml -a 'e2e.kept=1' -f",
    );
    assert!(said.contains("is installed on /dev/vda"), "{said}");
    drop(vm);

    // 2. From the disk under UEFI: the seeded config applies; leave a file, a container, a value.
    let (mut vm, ssh) = boot_ready(disk_boot(&disk, true), &key.private);
    assert_eq!(must(&vm, ssh.ok("hostname")).trim(), "installed");
    let version = must(&vm, ssh.ok("sudo ros os version"));
    assert!(version.contains("slot: A"), "{version}");
    leave_file_container_and_value(&vm, &ssh, dir.path(), 45);
    let console_a = must(
        &vm,
        ssh.ok("sudo system-docker inspect console --format '{{.Image}}'"),
    );
    must(&vm, ssh.ok("test ! -e /etc/ros-upgrade-marker"));
    refused_before_any_write(&vm, &ssh, &refused);
    let said = vm_upgrade(&mut vm, &ssh, &bundle_b);
    assert!(said.contains("the next boot tries it"), "{said}");
    drop(vm);

    // 3. Bundle B under BIOS: it runs, marked good, and everything from before is there.
    let (mut vm, ssh) = boot_ready(disk_boot(&disk, false), &key.private);
    let version = must(&vm, ssh.ok("sudo ros os version"));
    assert!(version.contains("version: 0.1.0-upgrade-b"), "{version}");
    assert!(version.contains("slot: B"), "{version}");
    assert!(version.contains("next boot: slot B"), "{version}");
    // The state partition held slot A's image store: B's changed console image is the one
    // that runs, and A's was removed once the services were up.
    let console_b = std::fs::read_to_string(dir.path().join("b-console-id")).unwrap();
    assert_eq!(
        must(
            &vm,
            ssh.ok("sudo system-docker inspect console --format '{{.Image}}'")
        )
        .trim(),
        console_b
    );
    assert_eq!(must(&vm, ssh.ok("cat /etc/ros-upgrade-marker")), MARKER);
    let all = eventually_without(&vm, &ssh, console_a.trim());
    assert!(
        !all.contains(console_a.trim()),
        "slot A's console image stayed: {all}"
    );
    // `ros install -a` arguments survive the upgrade (grub.cfg is rewritten with them).
    assert!(must(&vm, ssh.ok("cat /proc/cmdline")).contains("e2e.kept=1"));
    assert_file_container_and_value_kept(&vm, &ssh, 45);
    let list = must(&vm, ssh.ok("sudo ros os list"));
    assert!(
        list.contains("0.1.0-upgrade-b") && list.contains("running"),
        "{list}"
    );
    // The upgrade saves B's config (50) as B's snapshot; 60 is set after it, so only a
    // rollback that restores the snapshot gives 50 back.
    must(
        &vm,
        ssh.ok("sudo ros config set rancher.shutdown_timeout 50"),
    );
    must(
        &vm,
        ssh.copy_to(&bundle_c, "/home/rancher/upgrade.bundle")
            .map(|_| String::new()),
    );
    let said = must(
        &vm,
        ssh.ok("sudo ros os upgrade -i /home/rancher/upgrade.bundle -f --no-reboot"),
    );
    assert!(said.contains("0.1.0-broken-c"), "{said}");
    must(
        &vm,
        ssh.ok("sudo ros config set rancher.shutdown_timeout 60"),
    );
    reboot_by(&mut vm, &ssh, "sudo reboot");
    drop(vm);

    // 4. Bundle C (in slot A) fails each try and reboots; then GRUB goes back to B alone.
    for attempt in 1..=3 {
        let mut vm = disk_boot(&disk, false)
            .boot()
            .unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = vm.wait_exit(Duration::from_secs(240)) {
            panic!(
                "try {attempt} of bundle C did not reboot: {e}\n{}",
                vm.serial_tail(200)
            );
        }
        let log = vm.serial_log();
        assert!(
            log.contains("booting slot A ros.trial=1"),
            "try {attempt}:\n{}",
            vm.serial_tail(200)
        );
        assert!(
            log.contains("this boot tried a newly written slot and failed"),
            "{}",
            vm.serial_tail(200)
        );
    }
    let (vm, ssh) = boot_ready(disk_boot(&disk, false), &key.private);
    assert!(
        vm.serial_log().contains("booting slot B"),
        "{}",
        vm.serial_tail(200)
    );
    let version = must(&vm, ssh.ok("sudo ros os version"));
    assert!(version.contains("version: 0.1.0-upgrade-b"), "{version}");
    assert!(version.contains("slot: B"), "{version}");
    assert!(
        version.contains("last rollback: slot A -> slot B (automatic"),
        "{version}"
    );
    assert!(version.contains("config restored"), "{version}");
    assert_eq!(must(&vm, ssh.ok("cat /home/rancher/kept.txt")), "kept\n");
    assert_eq!(
        must(&vm, ssh.ok("sudo ros config get rancher.shutdown_timeout")).trim(),
        "50",
        "the rollback did not restore slot B's config snapshot"
    );
    assert!(must(&vm, ssh.ok("cat /proc/cmdline")).contains("e2e.kept=1"));
}

/// System Docker's image ids, once `id` is gone from them (the prune runs in the background
/// after the services; bounded to 60 s).
fn eventually_without(vm: &Qemu, ssh: &Ssh, id: &str) -> String {
    let mut all = String::new();
    for _ in 0..30 {
        all = must(vm, ssh.ok("sudo system-docker images -a -q --no-trunc"));
        if !all.contains(id) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    all
}

/// The second install path, all under UEFI (OVMF). The ISO boot runs at 512 MB (issue 5's memory
/// floor) and ends with `sudo poweroff` while a user container ignores SIGTERM; the installed
/// disk then keeps a file, a `--restart=always` container and a `ros config set` value across
/// a reboot.
#[test]
fn install_from_the_iso_under_uefi_at_512m_then_everything_survives_a_reboot() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    // shutdown_timeout 10 bounds the stubborn container's stop on the ISO boot below.
    let Fixture { cc, seed, disk } = fixture(
        dir.path(),
        &key,
        "installed-uefi",
        "  shutdown_timeout: 10\n",
    );
    let archive = dir.path().join("busybox.tar");
    sysdocker::testing::busybox_archive(&archive, TEST_IMAGE).unwrap_or_else(|e| panic!("{e}"));

    // 1. The ISO under UEFI at 512 MB: install without rebooting, then power off by hand.
    let (mut vm, ssh) = boot_ready(
        Qemu::builder()
            .iso(dist().iso())
            .uefi(true)
            .memory(512)
            .disk_file(&disk)
            .disk_file(&seed),
        &key.private,
    );
    for (from, to) in [
        (&cc, "/home/rancher/cc.yml"),
        (&archive, "/home/rancher/busybox.tar"),
    ] {
        must(&vm, ssh.copy_to(from, to).map(|_| String::new()));
    }
    let said = must(
        &vm,
        ssh.ok("sudo ros install -d /dev/vda -c /home/rancher/cc.yml -f --no-reboot"),
    );
    assert!(said.contains("is installed on /dev/vda"), "{said}");
    must(&vm, ssh.ok("docker load -i /home/rancher/busybox.tar"));
    must(&vm, ssh.ok(&format!(
        "docker run -d --name stubborn {TEST_IMAGE} sh -c 'trap \"\" TERM; while true; do sleep 1; done'"
    )));
    let asked = std::time::Instant::now();
    let _ = ssh.run("sudo poweroff");
    vm.wait_exit(Duration::from_secs(240))
        .unwrap_or_else(|e| panic!("{e}\n{}", vm.serial_tail(200)));
    let serial = vm.serial_log();
    assert!(
        serial.contains("shutdown: stopping user containers") && serial.contains("ros: bye"),
        "{}",
        vm.serial_tail(200)
    );
    let order = stop_order(&serial);
    assert_eq!(
        order.last().map(String::as_str),
        Some("console"),
        "stop order: {order:?}"
    );
    assert!(order.len() >= 7, "stop order: {order:?}");
    // The stubborn container holds the shutdown for shutdown_timeout (10 s, not the default
    // 60), then is killed and the services' stops begin.
    let user_stop = uptime_of(&serial, "shutdown: stopping user containers");
    let services_stop = uptime_of(&serial, "shutdown: stopping service=");
    let held = services_stop
        .zip(user_stop)
        .map(|(b, a)| b - a)
        .unwrap_or_else(|| panic!("no shutdown timestamps:\n{}", vm.serial_tail(200)));
    assert!(
        (9.5..40.0).contains(&held),
        "user containers held the shutdown {held:.1} s"
    );
    eprintln!(
        "poweroff: the SIGTERM-ignoring container held it {held:.1} s (guest); QEMU exited {:.1} s after `sudo poweroff` (host)",
        asked.elapsed().as_secs_f64()
    );
    drop(vm);

    // 2. The disk under UEFI: the seeded config; leave a file, a container and a value.
    let (mut vm, ssh) = boot_ready(disk_boot(&disk, true), &key.private);
    assert_eq!(must(&vm, ssh.ok("hostname")).trim(), "installed-uefi");
    leave_file_container_and_value(&vm, &ssh, dir.path(), 45);
    // Kernel arguments changed after install (issue 17): refused when GRUB would read them as
    // script, applied from the next boot otherwise.
    let refused = ssh
        .run("sudo ros config boot-args set 'e2e.x=1;reboot'")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!refused.status.success());
    let said = must(
        &vm,
        ssh.ok("sudo ros config boot-args set e2e.boot_args=1 rancher.debug=false"),
    );
    assert!(said.contains("next boot"), "{said}");
    reboot_by(&mut vm, &ssh, "sudo reboot");
    drop(vm);

    // 3. The disk under UEFI again: all three survived, and the new kernel arguments apply.
    let (vm, ssh) = boot_ready(disk_boot(&disk, true), &key.private);
    assert_file_container_and_value_kept(&vm, &ssh, 45);
    let cmdline = must(&vm, ssh.ok("cat /proc/cmdline"));
    assert!(
        cmdline.contains("e2e.boot_args=1 rancher.debug=false") && !cmdline.contains("e2e.x"),
        "{cmdline}"
    );
    assert_eq!(
        must(&vm, ssh.ok("sudo ros config boot-args get")).trim(),
        "e2e.boot_args=1 rancher.debug=false"
    );
}

/// On slot A with slot B never written: unsigned, untrusted and tampered bundles and a plain
/// http:// URL are refused with a message naming why, slot B's first MiB (where mkfs would
/// write) is unchanged, and the next boot is still slot A.
fn refused_before_any_write(vm: &Qemu, ssh: &Ssh, bundles: &[(PathBuf, &str)]) {
    let mut cases = Vec::new();
    for (i, (bundle, why)) in bundles.iter().enumerate() {
        let to = format!("/home/rancher/refused-{i}.bundle");
        must(vm, ssh.copy_to(bundle, &to).map(|_| String::new()));
        cases.push((
            format!("sudo ros os upgrade -i {to} -f --no-reboot"),
            why.to_string(),
        ));
    }
    // Refused before any connection: nothing listens there anyway.
    cases.push((
        "sudo ros os upgrade -i http://10.0.2.2:9/ros.bundle -f --no-reboot".into(),
        "plain http:// is refused".into(),
    ));
    let slot_b = "sudo head -c 1048576 /dev/vda4 | sha256sum";
    let before = must(vm, ssh.ok(slot_b));
    for (cmd, why) in &cases {
        let out = ssh.run(cmd).unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "`{cmd}` succeeded");
        assert!(stderr.contains(why.as_str()), "`{cmd}`: {stderr}");
        assert!(stderr.contains("nothing was written"), "`{cmd}`: {stderr}");
    }
    assert_eq!(must(vm, ssh.ok(slot_b)), before, "slot B was written");
    let version = must(vm, ssh.ok("sudo ros os version"));
    assert!(version.contains("next boot: slot A"), "{version}");
    must(vm, ssh.ok("test ! -e /var/lib/rancher/os/download.bundle"));
}

/// The bundle goes over scp, then `ros os upgrade` writes the other slot and reboots.
fn vm_upgrade(vm: &mut Qemu, ssh: &Ssh, bundle: &Path) -> String {
    must(
        vm,
        ssh.copy_to(bundle, "/home/rancher/upgrade.bundle")
            .map(|_| String::new()),
    );
    reboot_by(
        vm,
        ssh,
        "sudo ros os upgrade -i /home/rancher/upgrade.bundle -f",
    )
}

/// This build's files as version "0.1.0-big", the system image followed by 300 MiB of noise.
fn big_bundle(dir: &Path) -> PathBuf {
    use std::io::Write;
    let d = dist();
    let squashfs = dir.join("big.squashfs");
    std::fs::copy(d.squashfs(), &squashfs).unwrap_or_else(|e| panic!("{e}"));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&squashfs)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..300 {
        for chunk in block.chunks_mut(8) {
            // xorshift64: incompressible, so no layer below can make the write cheap.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).unwrap_or_else(|e| panic!("{e}"));
    }
    drop(f);
    write_bundle(
        dir.join("big.bundle"),
        "0.1.0-big",
        [&d.vmlinuz(), &d.small_initrd(), &squashfs],
        Some(&build_key()),
    )
}

#[test]
fn the_qcow2_image_grows_its_state_partition_and_survives_power_loss() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let d = dist();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let disk = dir.path().join("ros.qcow2");
    std::fs::copy(d.qcow2(), &disk).unwrap_or_else(|e| panic!("{}: {e}", d.qcow2().display()));
    // The operator gives the VM a bigger disk than the image.
    qemu_img(&["resize", "-q", &disk.to_string_lossy(), "+2G"]);
    let user_data = dir.path().join("user-data");
    std::fs::write(
        &user_data,
        format!(
            "#cloud-config\nhostname: from-qcow2\nssh_authorized_keys:\n  - {}\nrancher:\n  ntp:\n    servers: []\n",
            key.public
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The image first (/dev/vda: the firmware boots it), the NoCloud seed second.
    let seed = dir.path().join("cidata.iso");
    make_cidata(&user_data, None, &seed).unwrap_or_else(|e| panic!("{e}"));
    // Third disk (/dev/vdc): a bundle for the power-loss check below.
    let big = big_bundle(dir.path());
    let qcow2_boot = || {
        Qemu::builder()
            .from_disk(d.vmlinuz())
            .memory(1024)
            .disk_file(&disk)
            .disk_file(&seed)
            .disk_file(&big)
            // 20 MB/s: the upgrade's 400 MB take 20 s to reach the disk, so the cut falls inside.
            .disk_write_limit(20_000_000)
    };
    let (mut vm, ssh) = boot_ready(qcow2_boot(), &key.private);
    assert_eq!(must(&vm, ssh.ok("hostname")).trim(), "from-qcow2");
    let version = must(&vm, ssh.ok("sudo ros os version"));
    assert!(version.contains("slot: A"), "{version}");
    // The image is 2 GiB; its state partition (vda5) and filesystem now reach the 4 GiB end.
    let sectors = must(&vm, ssh.ok("cat /sys/class/block/vda5/size"));
    let part_mib = sectors.trim().parse::<u64>().unwrap_or(0) / 2048;
    assert!(
        part_mib > 2900,
        "vda5 is {part_mib} MiB: not grown\n{}",
        vm.serial_tail(200)
    );
    let sb = must(&vm, ssh.ok("sudo dumpe2fs -h /dev/vda5 2>/dev/null"));
    let field = |name: &str| -> u64 {
        sb.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{sb}"))
    };
    let fs_mib = (field("Block count:") * field("Block size:")) >> 20;
    assert!(
        fs_mib > 2900,
        "the state filesystem is {fs_mib} MiB: not grown\n{}",
        vm.serial_tail(200)
    );

    // Power loss: QEMU killed while `ros config set` runs in a loop and an upgrade writes slot B.
    // The bundle carries 300 MiB of noise after its system image (squashfs ignores a tail), so
    // the write lasts long enough to be cut; it is read from /dev/vdc, not copied in first.
    must(
        &vm,
        ssh.ok("sudo ros config set rancher.shutdown_timeout 45"),
    );
    must(
        &vm,
        ssh.ok("setsid -f sudo sh -c 'i=0; while true; do i=$((i+1)); ros config set rancher.shutdown_timeout $((100 + i % 2)); done' >/dev/null 2>&1 < /dev/null"),
    );
    must(
        &vm,
        // Its output goes to the serial console, where the host sees it at once.
        ssh.ok("setsid -f sudo sh -c 'ros os upgrade -i /dev/vdc -f --no-reboot > /dev/ttyS0 2>&1' > /dev/null 2>&1 < /dev/null"),
    );
    vm.wait_for_serial("==> writing slot B", Duration::from_secs(180))
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(500));
    vm.kill();
    assert!(
        !vm.serial_log().contains("the next boot tries it"),
        "the write finished before the cut:\n{}",
        vm.serial_tail(20)
    );
    drop(vm);

    let (vm, ssh) = boot_ready(qcow2_boot(), &key.private);
    let version = must(&vm, ssh.ok("sudo ros os version"));
    assert!(
        version.contains("slot: A") && version.contains("next boot: slot A"),
        "{version}"
    );
    assert!(
        !vm.serial_log().contains("ros.trial=1"),
        "{}",
        vm.serial_tail(200)
    );
    let value = must(&vm, ssh.ok("sudo ros config get rancher.shutdown_timeout"));
    assert!(
        ["45", "100", "101"].contains(&value.trim()),
        "rancher.shutdown_timeout is {value:?}: neither the old nor a new value"
    );
    must(
        &vm,
        ssh.ok("sudo ros config validate -i /var/lib/rancher/conf/cloud-config.yml"),
    );
}
