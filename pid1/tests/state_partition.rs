//! The state partition on real block devices: sparse images attached with losetup, formatted
//! by the real mke2fs, found by label and UUID through the superblock probe, mounted for real.
//! Needs root, losetup and mke2fs; without them each test prints SKIPPED and passes. Loop
//! devices and mounts are released on drop, also when an assertion fails.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use pid1::state_partition::{
    self, blank_check_device, decide, mount_oem, mount_state, BlankCheck, Decision, EarlyLayers,
    Env, Settings, StateDevice, STATE_LABEL,
};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;
use test_support::{Loop, LoopOptions};

/// Two devices labelled RANCHER_STATE must never be attached at once: a lookup takes the first.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MIB: u64 = 1 << 20;

fn usable() -> bool {
    test_support::is_root()
        && [
            ("losetup", "mount"),
            ("mke2fs", "e2fsprogs"),
            ("blkid", "util-linux"),
        ]
        .iter()
        .all(|(tool, package)| test_support::have_tool(tool, package))
}

fn mke2fs() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v mke2fs"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn env() -> Env {
    Env {
        include_loop: true,
        mke2fs: vec![mke2fs()],
        mke2fs_config: None,
        poll: Duration::from_millis(50),
    }
}

/// A sparse (all-zero) image of `mib` MiB.
fn blank_image(dir: &Path, name: &str, mib: u64) -> PathBuf {
    let path = dir.join(name);
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(mib * MIB).unwrap();
    path
}

/// A mount point, detached on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

fn blkid(device: &Path, tag: &str) -> String {
    let out = Command::new("blkid")
        .args(["-p", "-o", "value", "-s", tag])
        .arg(device)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn settings(dev: &str, autoformat: &[&Path]) -> Settings {
    Settings {
        dev: Some(dev.to_owned()),
        fstype: None,
        directory: None,
        wait: Duration::ZERO,
        required: false,
        autoformat: autoformat.iter().map(|p| p.display().to_string()).collect(),
    }
}

fn unique_label(tag: &str) -> String {
    // ext4 labels hold 16 bytes.
    format!("RT{tag}{}", std::process::id() % 100_000)
}

#[test]
fn autoformat_makes_a_blank_device_an_ext4_labelled_rancher_state() {
    if !usable() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let lo = Loop::attach(
        &blank_image(dir.path(), "blank.img", 64),
        LoopOptions::default(),
    );
    assert_eq!(blank_check_device(&lo.0).unwrap(), BlankCheck::Blank);

    let s = settings(&format!("LABEL={STATE_LABEL}"), &[&lo.0]);
    let first = decide(&s, &env());
    assert_eq!(
        first,
        Decision::Device(StateDevice {
            device: lo.0.clone(),
            fstype: "ext4".into(),
            directory: None,
            formatted: true,
        })
    );
    assert_eq!(blkid(&lo.0, "TYPE"), "ext4");
    assert_eq!(blkid(&lo.0, "LABEL"), STATE_LABEL);

    // The next boot finds it by label and leaves it alone, although it is still listed.
    let uuid = blkid(&lo.0, "UUID");
    let second = decide(&s, &env());
    assert_eq!(
        second,
        Decision::Device(StateDevice {
            device: lo.0.clone(),
            fstype: "ext4".into(),
            directory: None,
            formatted: false,
        })
    );
    assert_eq!(blkid(&lo.0, "UUID"), uuid, "formatted twice");
}

#[test]
fn a_device_holding_data_is_never_formatted() {
    if !usable() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();

    // One byte, the last of the first MiB; the rest is zero.
    let one_byte = blank_image(dir.path(), "one-byte.img", 16);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&one_byte)
            .unwrap();
        f.seek(SeekFrom::Start(MIB - 1)).unwrap();
        f.write_all(&[0x01]).unwrap();
    }
    // A filesystem of someone else's.
    let other_fs = blank_image(dir.path(), "other.img", 16);
    let status = Command::new(mke2fs())
        .args(["-q", "-t", "ext4", "-L", "SOMEONES_DATA"])
        .arg(&other_fs)
        .status()
        .unwrap();
    assert!(status.success());
    let before: Vec<Vec<u8>> = [&one_byte, &other_fs]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    let a = Loop::attach(&one_byte, LoopOptions::default());
    let b = Loop::attach(&other_fs, LoopOptions::default());
    assert_eq!(
        blank_check_device(&a.0).unwrap(),
        BlankCheck::HoldsData { offset: MIB - 1 }
    );
    let s = settings(&format!("LABEL={}", unique_label("none")), &[&a.0, &b.0]);
    match decide(&s, &env()) {
        Decision::Ram { reason } => assert!(reason.contains("was not found"), "{reason}"),
        other => panic!("expected the RAM fallback, got {other:?}"),
    }
    // Required: the recovery shell, and still nothing formatted.
    let required = Settings {
        required: true,
        ..s.clone()
    };
    assert!(matches!(
        decide(&required, &env()),
        Decision::Missing { .. }
    ));
    drop((a, b));
    let after: Vec<Vec<u8>> = [&one_byte, &other_fs]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(before == after, "a device holding data was written to");
}

#[test]
fn label_and_uuid_lookups_find_the_device_and_wait_for_it() {
    if !usable() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let label = unique_label("lk");
    let image = blank_image(dir.path(), "labelled.img", 16);
    let status = Command::new(mke2fs())
        .args(["-q", "-t", "ext4", "-L", &label])
        .arg(&image)
        .status()
        .unwrap();
    assert!(status.success());

    // Attached while PID 1 waits: the bounded wait sees it appear.
    let attach = {
        let image = image.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            Loop::attach(&image, LoopOptions::default())
        })
    };
    let waiting = Settings {
        wait: Duration::from_secs(10),
        ..settings(&format!("LABEL={label}"), &[])
    };
    let found = decide(&waiting, &env());
    let lo = attach.join().unwrap();
    match found {
        Decision::Device(d) => {
            assert_eq!(d.device, lo.0);
            assert_eq!((d.fstype.as_str(), d.formatted), ("ext4", false));
        }
        other => panic!("LABEL={label} not found: {other:?}"),
    }

    let uuid = blkid(&lo.0, "UUID");
    match decide(&settings(&format!("UUID={uuid}"), &[]), &env()) {
        Decision::Device(d) => assert_eq!(d.device, lo.0),
        other => panic!("UUID={uuid} not found: {other:?}"),
    }
    // A path with an explicit fstype is taken as it is.
    let by_path = Settings {
        fstype: Some("ext4".into()),
        ..settings(&lo.0.display().to_string(), &[])
    };
    assert!(matches!(decide(&by_path, &env()), Decision::Device(d) if d.device == lo.0));
}

#[test]
fn directory_becomes_the_root_and_is_created_once() {
    if !usable() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let lo = Loop::attach(
        &blank_image(dir.path(), "state.img", 32),
        LoopOptions::default(),
    );
    state_partition::format_ext4(&lo.0, &env()).unwrap();
    let dev = StateDevice {
        device: lo.0.clone(),
        fstype: "ext4".into(),
        directory: Some(PathBuf::from("ros/root")),
        formatted: true,
    };
    let target = dir.path().join("sysroot");
    let staging = dir.path().join("staging");
    for boot in ["first", "second"] {
        mount_state(&dev, &target, &staging).unwrap();
        let guard = Mounted(target.clone());
        assert!(
            !is_mount_point(&staging),
            "the staging mount was left behind"
        );
        let marker = target.join("home-marker");
        if boot == "second" {
            assert_eq!(
                std::fs::read_to_string(&marker).unwrap(),
                "from the first boot\n"
            );
        } else {
            assert!(!marker.exists());
            std::fs::write(&marker, "from the first boot\n").unwrap();
        }
        drop(guard);
        assert!(!is_mount_point(&target));
    }

    // On the device itself, the root is the directory.
    let whole = dir.path().join("whole");
    std::fs::create_dir_all(&whole).unwrap();
    mount(
        Some(&lo.0),
        &whole,
        Some("ext4"),
        MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .unwrap();
    let _whole = Mounted(whole.clone());
    assert_eq!(
        std::fs::read_to_string(whole.join("ros/root/home-marker")).unwrap(),
        "from the first boot\n"
    );
    assert!(!whole.join("home-marker").exists());
}

#[test]
fn a_path_device_without_a_known_filesystem_is_not_mounted_blind() {
    if !usable() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let lo = Loop::attach(
        &blank_image(dir.path(), "unknown.img", 4),
        LoopOptions::default(),
    );
    let s = settings(&lo.0.display().to_string(), &[]);
    match decide(&s, &env()) {
        Decision::Ram { reason } => assert_eq!(
            reason,
            format!("rancher.state.dev={} was not found", lo.0.display())
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_oem_partition_is_mounted_read_only_and_its_config_is_a_layer() {
    if !usable() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("oem-content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(
        content.join("oem-config.yml"),
        "rancher:\n  state:\n    dev: LABEL=FROM_OEM\n    required: true\n",
    )
    .unwrap();
    let image = blank_image(dir.path(), "oem.img", 8);
    let label = unique_label("oem");
    let status = Command::new(mke2fs())
        .args(["-q", "-t", "ext4", "-L", &label, "-d"])
        .arg(&content)
        .arg(&image)
        .status()
        .unwrap();
    assert!(status.success());
    let lo = Loop::attach(&image, LoopOptions::default());
    let target = dir.path().join("usr/share/ros/oem");
    std::fs::create_dir_all(&target).unwrap();

    let oem = mount_oem(
        &format!("LABEL={label}"),
        None,
        Duration::ZERO,
        &target,
        &env(),
    )
    .expect("the OEM partition was not mounted");
    let _mounted = Mounted(target.clone());
    assert_eq!(oem.device, lo.0);
    let err = std::fs::write(target.join("new-file"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc_erofs()), "{err}");

    // Above the defaults, below the kernel cmdline.
    let defaults = "rancher:\n  state:\n    dev: LABEL=RANCHER_STATE\n    wait: true\n";
    let layers = EarlyLayers::new(Some(defaults), "rancher.state.required=false")
        .with_oem(oem.config_text.as_deref().unwrap());
    let s = layers.settings();
    assert_eq!(s.dev.as_deref(), Some("LABEL=FROM_OEM"));
    assert!(!s.required);
    assert_eq!(s.wait, Duration::from_secs(30));

    // No partition with that label: nothing mounted, no error.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    assert!(mount_oem("LABEL=RT_NO_SUCH_OEM", None, Duration::ZERO, &other, &env()).is_none());
    assert!(!is_mount_point(&other));
}

fn libc_erofs() -> i32 {
    nix::errno::Errno::EROFS as i32
}

fn is_mount_point(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .any(|mp| Path::new(mp) == path)
}
