//! Config drives for real: images made with xorriso (iso9660), mkfs.vfat + mcopy (vfat) and
//! mke2fs (ext4), attached with losetup, found by label through `block_devices`, mounted
//! read-only, read and unmounted by the datasource. Needs root; a missing tool prints
//! `SKIPPED` with the apt-get command. A kernel without the filesystem (no module) cannot
//! mount the image: the test then checks the lookup and the error the user sees, and says
//! SKIPPED for the read.

mod common;

use cloud_init::user_data::UserData;
use cloud_init::{probe_all, Outcome, ProbeError, ProbeOptions};
use common::names;
use host::block_devices;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;
use test_support::{Loop, LoopOptions};

/// Two images with one label must never be attached at once: the lookup takes the first.
static ATTACHED: Mutex<()> = Mutex::new(());

const USER_DATA: &str = "#cloud-config\nhostname: from-drive\nrancher:\n  debug: true\n";
const NETWORK_CONFIG: &str = "version: 2\nethernets:\n  lan:\n    match: {macaddress: \"52:54:00:AA:BB:CC\"}\n    addresses: [192.168.77.5/24]\n    gateway4: 192.168.77.1\n    mtu: 1450\n    nameservers: {addresses: [192.168.77.53]}\n  eth1:\n    dhcp4: true\n";

fn have(tool: &str, package: &str) -> bool {
    test_support::have_tool(tool, package)
}

fn is_root() -> bool {
    test_support::is_root() && Path::new("/dev/loop-control").exists()
}

use test_support::run;

fn kernel_has(fstype: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fstype))
}

/// A directory tree of drive files.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn iso(src: &Path, label: &str, out: &Path) {
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", label, "-J", "-r", "-o"])
        .arg(out)
        .arg(src));
}

fn vfat(src: &Path, label: &str, out: &Path) {
    run(Command::new("truncate").args(["-s", "4M"]).arg(out));
    run(Command::new("mkfs.vfat").args(["-n", label]).arg(out));
    let entries: Vec<PathBuf> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    run(Command::new("mcopy")
        .args(["-s", "-i"])
        .arg(out)
        .args(&entries)
        .arg("::/"));
}

fn ext4(src: &Path, label: &str, out: &Path) {
    run(Command::new("truncate").args(["-s", "8M"]).arg(out));
    run(Command::new("mke2fs")
        .args(["-q", "-t", "ext4", "-L", label, "-d"])
        .arg(src)
        .arg(out));
}

fn config2_files() -> tempfile::TempDir {
    tree(&[
        ("openstack/latest/user_data", USER_DATA),
        (
            "openstack/latest/meta_data.json",
            r#"{"uuid": "u-1", "hostname": "cfg2-host", "public_keys": {"k": "ssh-ed25519 AAAAcfg2 k"}}"#,
        ),
    ])
}

fn cidata_files() -> tempfile::TempDir {
    tree(&[
        ("user-data", USER_DATA),
        (
            "meta-data",
            "instance-id: iid-1\nlocal-hostname: cidata-host\npublic-keys: [ssh-ed25519 AAAAnc nc]\n",
        ),
        ("network-config", NETWORK_CONFIG),
    ])
}

/// No mount is left under `dir`, and its mount points are gone.
fn assert_unmounted(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.display().to_string();
    assert!(
        !mounts.lines().any(|l| l.contains(&d)),
        "still mounted under {d}"
    );
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        0,
        "mount points left in {d}"
    );
}

/// Attaches `image`, finds it by `label`, probes `datasource`, and returns what it read
/// (`None` when this kernel cannot mount `fstype`; the error is checked then).
fn probe_image(
    image: &Path,
    label: &str,
    fstype: &str,
    datasource: &str,
) -> Option<cloud_init::Fetched> {
    let dev = Loop::attach(
        image,
        LoopOptions {
            read_only: true,
            ..Default::default()
        },
    );
    let found = block_devices::find_any(&format!("LABEL={label}")).expect("found by label");
    assert_eq!(found.device, dev.0, "another device is labelled {label}?");
    assert_eq!(found.fs.fstype, fstype);
    // PID 1's own lookup skips loop devices (they hold its squashfs).
    assert_ne!(
        block_devices::find(&format!("LABEL={label}")).map(|f| f.device),
        Some(dev.0.clone())
    );

    let mounts = tempfile::tempdir().unwrap();
    let opts = ProbeOptions {
        mount_dir: mounts.path().to_path_buf(),
        total_timeout: Duration::from_secs(20),
        ..ProbeOptions::default()
    };
    let mut report = probe_all(&names(&[datasource]), &opts);
    assert_unmounted(mounts.path());
    let s = report.sources.remove(0);
    match s.outcome {
        Outcome::Found(f) => Some(*f),
        Outcome::Failed(
            e @ ProbeError::Mount {
                source: nix::Error::ENODEV,
                ..
            },
        ) if !kernel_has(fstype) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!(
                    "cannot mount {} ({fstype}) read-only on ",
                    dev.0.display()
                )),
                "{msg}"
            );
            assert!(
                msg.ends_with(&format!(
                    "(this kernel has no {fstype} support: is its module loaded?)"
                )),
                "{msg}"
            );
            println!(
                "SKIPPED: this kernel cannot mount {fstype} (not in /proc/filesystems, no module); \
                 found {} by label {label} and checked the error: {msg}",
                dev.0.display()
            );
            None
        }
        other => panic!("{datasource}: {other:?}"),
    }
}

fn check_config2(f: &cloud_init::Fetched, source: &str, device_hint: &str) {
    assert_eq!(f.source, source);
    assert!(
        f.origin.ends_with("/openstack/latest/user_data"),
        "{}",
        f.origin
    );
    assert!(f.origin.starts_with(device_hint), "{}", f.origin);
    assert_eq!(f.metadata.hostname.as_deref(), Some("cfg2-host"));
    assert_eq!(f.metadata.ssh_keys, vec!["ssh-ed25519 AAAAcfg2 k"]);
    assert!(matches!(&f.user_data[0].data, UserData::CloudConfig(v)
        if v["hostname"] == yaml_serde::Value::String("from-drive".into())));
}

fn check_cidata(f: &cloud_init::Fetched) {
    assert_eq!(f.source, "nocloud");
    assert_eq!(f.metadata.hostname.as_deref(), Some("cidata-host"));
    assert_eq!(f.metadata.ssh_keys, vec!["ssh-ed25519 AAAAnc nc"]);
    assert_eq!(f.raw_user_data.as_deref(), Some(USER_DATA.as_bytes()));
    assert_eq!(
        f.metadata.network,
        Some(
            yaml_serde::from_str(
                "interfaces:\n  mac=52:54:00:aa:bb:cc: {addresses: [192.168.77.5/24], gateway: 192.168.77.1, mtu: 1450}\n  eth1: {dhcp: true, dhcp_args: \"-4\"}\ndns: {nameservers: [192.168.77.53]}\n"
            )
            .unwrap()
        )
    );
    assert!(f.diagnostics.is_empty(), "{:?}", f.diagnostics);
}

#[test]
fn config2_iso9660_by_label() {
    if !is_root() || !have("xorriso", "xorriso") || !have("losetup", "mount") {
        return;
    }
    let _one = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("config-2.iso");
    iso(config2_files().path(), "config-2", &image);
    if let Some(f) = probe_image(&image, "config-2", "iso9660", "configdrive") {
        check_config2(&f, "configdrive", "/dev/loop");
    }
}

#[test]
fn config2_vfat_by_label() {
    if !is_root()
        || !have("mkfs.vfat", "dosfstools")
        || !have("mcopy", "mtools")
        || !have("losetup", "mount")
    {
        return;
    }
    let _one = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("config-2.img");
    vfat(config2_files().path(), "config-2", &image);
    if let Some(f) = probe_image(&image, "config-2", "vfat", "configdrive") {
        check_config2(&f, "configdrive", "/dev/loop");
    }
}

#[test]
fn cidata_iso9660_with_network_config() {
    if !is_root() || !have("xorriso", "xorriso") || !have("losetup", "mount") {
        return;
    }
    let _one = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("cidata.iso");
    iso(cidata_files().path(), "cidata", &image);
    if let Some(f) = probe_image(&image, "cidata", "iso9660", "nocloud") {
        check_cidata(&f);
    }
}

/// ext4 mounts on every Linux kernel, so the full path (label, mount, read, unmount) always
/// runs here, also where iso9660 and vfat cannot.
#[test]
fn cidata_ext4_is_mounted_read_and_unmounted() {
    if !is_root() || !have("mke2fs", "e2fsprogs") || !have("losetup", "mount") {
        return;
    }
    let _one = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("cidata.ext4");
    ext4(cidata_files().path(), "cidata", &image);
    let f = probe_image(&image, "cidata", "ext4", "nocloud").expect("ext4 mounts everywhere");
    check_cidata(&f);
    assert!(
        f.origin.starts_with("/dev/loop") && f.origin.ends_with(":/user-data"),
        "{}",
        f.origin
    );

    // Saved, it becomes the configuration: boot.yml, metadata with the network.
    let root = tempfile::tempdir().unwrap();
    let saved = cloud_init::save_fetched(root.path(), &f);
    assert!(saved.diagnostics.is_empty(), "{:?}", saved.diagnostics);
    let cfg = os_config::load(root.path());
    assert_eq!(cfg.config.hostname.as_deref(), Some("from-drive"));
    assert!(cfg.config.rancher.debug);
    let net = &cfg.config.rancher.network;
    assert_eq!(net.interfaces["mac=52:54:00:aa:bb:cc"].mtu, Some(1450));
    assert_eq!(net.dns.nameservers, vec!["192.168.77.53"]);
}

#[test]
fn no_drive_is_not_present_and_an_already_mounted_directory_is_read() {
    let mounts = tempfile::tempdir().unwrap();
    let opts = ProbeOptions {
        mount_dir: mounts.path().to_path_buf(),
        ..ProbeOptions::default()
    };
    let dir = config2_files();
    let given = format!("configdrive:{}", dir.path().display());
    let missing = "configdrive:/nonexistent/config-2";
    let report = probe_all(&names(&[missing, &given]), &opts);
    assert_eq!(
        report.sources[0].to_string(),
        format!("{missing}: not present: /nonexistent/config-2: no such directory")
    );
    let f = report.fetched().expect("the directory is read");
    check_config2(f, &given, &dir.path().display().to_string());
    assert_eq!(
        f.origin,
        dir.path()
            .join("openstack/latest/user_data")
            .display()
            .to_string()
    );

    // No device has this label.
    let _one = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    if block_devices::find_any("LABEL=cidata").is_none() {
        let report = probe_all(&names(&["nocloud"]), &opts);
        assert_eq!(
            report.sources[0].to_string(),
            "nocloud: not present: no block device labelled cidata"
        );
    }
}
