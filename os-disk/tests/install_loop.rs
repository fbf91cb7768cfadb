//! `ros install` and an upgrade's slot write on a loop device: the real sfdisk, mkfs and mounts,
//! checked from outside with sfdisk, blkid and the files themselves. Needs root.

use os_disk::boot_info::BootFiles;
use os_disk::boot_state::BootState;
use os_disk::bundle::{self, Manifest};
use os_disk::install::{self, InstallError, Plan};
use os_disk::layout::{self, Slot};
use os_disk::signing::{add_trusted_key, SigningKey, TrustedKeys};
use os_disk::slot_write::{self, BootCode, Source};
use os_disk::tools::TempMount;
use std::path::{Path, PathBuf};
use std::process::Command;
use test_support::{have, is_root, Loop, LoopOptions};

fn out(program: &str, args: &[&str]) -> String {
    let o = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn label(dev: &Path) -> String {
    out(
        "blkid",
        &["-p", "-o", "value", "-s", "LABEL", &dev.to_string_lossy()],
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A signing key and a trusted-keys directory under `dir` that trusts it.
fn signer(dir: &Path) -> (SigningKey, TrustedKeys) {
    let key = SigningKey::from_seed([5; 32]);
    let keys = dir.join("trusted-keys");
    add_trusted_key(&keys, &key.public()).unwrap();
    let trusted = TrustedKeys::load(&keys).unwrap();
    (key, trusted)
}

fn kernel_has_vfat() -> bool {
    let has = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some("vfat"));
    if !has {
        eprintln!("skipped: this kernel cannot mount vfat (the ESP); the QEMU test covers it");
    }
    has
}

#[test]
fn install_lays_out_the_disk_and_an_upgrade_fills_the_other_slot() {
    if !is_root()
        || !have(&["sfdisk", "mkfs.ext4", "mkfs.vfat", "blkid", "losetup"])
        || !kernel_has_vfat()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = d.join("disk.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(layout::MIN_DISK_BYTES + (64 << 20))
        .unwrap();
    let dev = Loop::attach(&image, LoopOptions::default());

    let code = BootCode {
        mbr: write(d, "mbr", &[0x33; 440]),
        core: write(d, "core", &[0x44; 64 * 1024]),
        efi: write(d, "efi", b"an EFI application"),
    };
    let files = BootFiles {
        vmlinuz: write(d, "vmlinuz", &[1; 3000]),
        initrd: write(d, "initrd", &[2; 5000]),
        squashfs: write(d, "system.squashfs", &[3; 70000]),
    };
    let cc = write(d, "cc.yml", b"#cloud-config\nhostname: seeded\n");

    let disk = install::inspect(dev.path()).unwrap();
    assert!(disk.partitions.is_empty(), "{disk:?}");
    install::check(&disk, false).unwrap();
    let plan = Plan {
        disk,
        source: Source::Files {
            files: files.clone(),
            version: "9.9.9".into(),
        },
        version: "9.9.9".into(),
        cloud_config: Some(cc),
        kernel_args: "rancher.debug=true".into(),
        boot_code: code,
        work: d.join("work"),
    };
    assert!(install::describe(&plan).contains("EVERYTHING ON IT WILL BE ERASED"));
    // The kernel here makes no partition devices for loop devices: one loop per partition.
    install::partition(dev.path()).unwrap();
    let part_loops: Vec<Loop> = layout::ALL
        .iter()
        .map(|p| {
            let start = p.start * layout::SECTOR;
            let size = p
                .size
                .map(|s| s * layout::SECTOR)
                .unwrap_or(std::fs::metadata(&image).unwrap().len() - start - 33 * layout::SECTOR);
            Loop::attach(
                &image,
                LoopOptions {
                    range: Some((start, size)),
                    ..Default::default()
                },
            )
        })
        .collect();
    let part = |n: u32| part_loops[(n - 1) as usize].path().to_path_buf();
    let parts = install::Partitions {
        esp: part(2),
        slot_a: part(3),
        slot_b: part(4),
        state: part(5),
    };
    install::populate(&plan, &parts, &|step| eprintln!("{step}")).unwrap();

    // The table, the boot code around it, and every filesystem's label.
    let table = out("sfdisk", &["-d", &dev.path().to_string_lossy()]);
    for p in layout::ALL {
        assert!(
            table.contains(&format!("start={:>12}", p.start)),
            "{}:\n{table}",
            p.name
        );
        assert!(table.contains(&format!("name=\"{}\"", p.name)), "{table}");
    }
    let raw = std::fs::read(&image).unwrap();
    assert_eq!(&raw[..440], &[0x33; 440]);
    assert_eq!(&raw[510..512], &[0x55, 0xaa], "the protective MBR survives");
    let core_at = (layout::BIOS_BOOT.start * layout::SECTOR) as usize;
    assert_eq!(&raw[core_at..core_at + 64 * 1024], &[0x44; 64 * 1024][..]);
    assert_eq!(label(&part(2)), "ROS_EFI");
    assert_eq!(label(&part(3)), "ROS_A");
    assert_eq!(label(&part(4)), "ROS_B");
    assert_eq!(label(&part(5)), "RANCHER_STATE");

    {
        let esp = TempMount::new(&part(2), "vfat", &d.join("m-esp"), true).unwrap();
        let cfg = std::fs::read_to_string(esp.dir.join("boot/grub/grub.cfg")).unwrap();
        assert!(cfg.contains("rancher.debug=true"), "{cfg}");
        assert_eq!(
            std::fs::read(esp.dir.join("EFI/BOOT/BOOTX64.EFI")).unwrap(),
            b"an EFI application"
        );
        assert_eq!(
            std::fs::metadata(esp.dir.join("boot/grub/grubenv"))
                .unwrap()
                .len(),
            1024
        );
    }
    {
        let slot = TempMount::new(&part(3), "ext4", &d.join("m-a"), true).unwrap();
        assert_eq!(
            std::fs::read(slot.dir.join("system.squashfs")).unwrap(),
            vec![3; 70000]
        );
        let m: Manifest =
            serde_json::from_slice(&std::fs::read(slot.dir.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(m.version, "9.9.9");
    }
    {
        let state = TempMount::new(&part(5), "ext4", &d.join("m-state"), true).unwrap();
        let seeded = state.dir.join(install::SEEDED_CONFIG);
        assert_eq!(
            std::fs::read_to_string(&seeded).unwrap(),
            "#cloud-config\nhostname: seeded\n"
        );
    }
    let work = d.join("work");
    assert_eq!(
        slot_write::read_boot_state(&part(2), &work).unwrap(),
        BootState::installed(Slot::A)
    );

    // A second install is refused without -f: the disk has partitions now.
    let again = install::inspect(dev.path()).unwrap();
    assert!(matches!(
        install::check(&again, false),
        Err(InstallError::HasPartitions { .. })
    ));
    install::check(&again, true).unwrap();

    // An upgrade: slot B from a bundle, then the trial scheduled in grubenv.
    let refs: Vec<(&str, &Path)> = files.list().to_vec();
    let m = Manifest::describe("10.0.0", "", &refs).unwrap();
    let b = d.join("b.bundle");
    let (key, trusted) = signer(d);
    bundle::write(&b, &m, Some(&key), &refs, 0).unwrap();
    bundle::verify(&b, &trusted).unwrap();
    let source = Source::Bundle { path: b, trusted };
    slot_write::write_slot(&part(4), Slot::B, &source, &work).unwrap();
    assert_eq!(
        slot_write::read_slot_manifest(&part(4), &work)
            .unwrap()
            .version,
        "10.0.0"
    );
    let (before, after) =
        slot_write::update_boot_state(&part(2), &work, true, |s| s.schedule_trial(Slot::B))
            .unwrap();
    assert_eq!(before.next, None);
    assert_eq!((after.next, after.tries), (Some(Slot::B), 3));
    assert_eq!(slot_write::read_boot_state(&part(2), &work).unwrap(), after);
    // The menu was rewritten from the kept kernel arguments.
    let esp = TempMount::new(&part(2), "vfat", &d.join("m-esp2"), true).unwrap();
    let cfg = std::fs::read_to_string(esp.dir.join("boot/grub/grub.cfg")).unwrap();
    assert!(cfg.contains("rancher.debug=true"), "{cfg}");
}

#[test]
fn a_too_small_disk_is_refused_before_anything_is_written() {
    if !is_root() || !have(&["losetup"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("small.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let dev = Loop::attach(&image, LoopOptions::default());
    let disk = install::inspect(dev.path()).unwrap();
    let e = install::check(&disk, true).unwrap_err().to_string();
    assert!(e.contains("ros needs at least"), "{e}");
    assert!(install::inspect(Path::new("/dev/nonexistent-disk")).is_err());
}

/// What needs no vfat: the table, the BIOS boot code, both slots and their manifests.
#[test]
fn the_table_the_bios_code_and_the_slots_without_the_esp() {
    if !is_root() || !have(&["sfdisk", "mkfs.ext4", "blkid", "losetup"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = d.join("disk.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(layout::MIN_DISK_BYTES)
        .unwrap();
    let dev = Loop::attach(&image, LoopOptions::default());
    install::partition(dev.path()).unwrap();
    let table = out("sfdisk", &["-d", &dev.path().to_string_lossy()]);
    for p in layout::ALL {
        assert!(
            table.contains(&format!("start={:>12}", p.start)),
            "{}:\n{table}",
            p.name
        );
    }
    let code = BootCode {
        mbr: write(d, "mbr", &[0x33; 440]),
        core: write(d, "core", &[0x44; 4096]),
        efi: write(d, "efi", b"x"),
    };
    install::write_bios_boot(dev.path(), &code).unwrap();
    let raw = std::fs::read(&image).unwrap();
    assert_eq!(&raw[..440], &[0x33; 440]);
    assert_eq!(&raw[510..512], &[0x55, 0xaa], "the protective MBR survives");

    let slot_a = Loop::attach(
        &image,
        LoopOptions {
            range: Some((layout::SLOT_A.start * layout::SECTOR, 512 << 20)),
            ..Default::default()
        },
    );
    let files = BootFiles {
        vmlinuz: write(d, "vmlinuz", &[1; 3000]),
        initrd: write(d, "initrd", &[2; 5000]),
        squashfs: write(d, "system.squashfs", &[3; 70000]),
    };
    let work = d.join("work");
    let source = Source::Files {
        files: files.clone(),
        version: "9.9.9".into(),
    };
    slot_write::write_slot(slot_a.path(), Slot::A, &source, &work).unwrap();
    assert_eq!(label(slot_a.path()), "ROS_A");
    let m = slot_write::read_slot_manifest(slot_a.path(), &work).unwrap();
    assert_eq!(m.version, "9.9.9");
    assert_eq!(m.entry("system.squashfs").unwrap().size, 70000);

    // A corrupt bundle is refused by verify, so nothing reaches the slot.
    let refs: Vec<(&str, &Path)> = files.list().to_vec();
    let manifest = Manifest::describe("10.0.0", "", &refs).unwrap();
    let b = d.join("b.bundle");
    let (key, trusted) = signer(d);
    bundle::write(&b, &manifest, Some(&key), &refs, 0).unwrap();
    let mut bytes = std::fs::read(&b).unwrap();
    let n = bytes.len();
    bytes[n - 2000] ^= 0xff;
    std::fs::write(d.join("bad.bundle"), &bytes).unwrap();
    assert!(bundle::verify(&d.join("bad.bundle"), &trusted).is_err());
    assert_eq!(
        slot_write::read_slot_manifest(slot_a.path(), &work)
            .unwrap()
            .version,
        "9.9.9"
    );
}
