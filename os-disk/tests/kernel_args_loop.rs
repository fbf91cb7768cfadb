//! `ros config boot-args` on a real ESP (vfat on a loop device): the stored arguments and the
//! menu change together, bad arguments change nothing, and a write that cannot finish (the ESP
//! full) leaves the old menu whole. Needs root.

use os_disk::boot_state::BootState;
use os_disk::layout::Slot;
use os_disk::slot_write::{self, BootCode, SlotError};
use os_disk::tools::TempMount;
use std::path::{Path, PathBuf};
use test_support::{have, is_root, Loop, LoopOptions};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn menu(esp: &Path, work: &Path) -> String {
    let m = TempMount::new(esp, "vfat", &work.join("peek"), true).unwrap();
    std::fs::read_to_string(m.dir.join("boot/grub/grub.cfg")).unwrap()
}

#[test]
fn boot_args_change_with_the_menu_and_a_cut_write_keeps_the_old_menu() {
    let vfat = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("vfat");
    if !is_root() || !have(&["mkfs.vfat", "losetup"]) || !vfat {
        eprintln!("skipped: needs root, mkfs.vfat, losetup and vfat");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let work = d.join("work");
    let image = d.join("esp.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(34 << 20)
        .unwrap();
    let esp = Loop::attach(&image, LoopOptions::default());
    let code = BootCode {
        mbr: write(d, "mbr", &[0x33; 440]),
        core: write(d, "core", &[0x44; 4096]),
        efi: write(d, "efi", b"an EFI application"),
    };
    slot_write::write_esp(
        esp.path(),
        &code,
        "rancher.debug=true",
        BootState::installed(Slot::A),
        &work,
    )
    .unwrap();
    assert_eq!(
        slot_write::read_kernel_args(esp.path(), &work).unwrap(),
        "rancher.debug=true"
    );

    let before = slot_write::write_kernel_args(esp.path(), &work, " quiet  nomodeset ").unwrap();
    assert_eq!(before, "rancher.debug=true");
    assert_eq!(
        slot_write::read_kernel_args(esp.path(), &work).unwrap(),
        "quiet nomodeset"
    );
    let cfg = menu(esp.path(), &work);
    assert_eq!(cfg.matches("quiet nomodeset\n").count(), 2, "{cfg}");
    assert!(!cfg.contains("rancher.debug"), "{cfg}");
    // A later menu rewrite (an upgrade's) carries them.
    slot_write::update_boot_state(esp.path(), &work, true, |_| {}).unwrap();
    assert!(menu(esp.path(), &work).contains("quiet nomodeset\n"));

    // Arguments that would script GRUB change nothing.
    let e = slot_write::write_kernel_args(esp.path(), &work, "a; reboot").unwrap_err();
    assert!(matches!(e, SlotError::KernelArgs(_)), "{e}");
    assert_eq!(menu(esp.path(), &work), cfg);

    // The ESP full: the new menu cannot be written whole, and the old one is still there.
    {
        let m = TempMount::new(esp.path(), "vfat", &work.join("fill"), false).unwrap();
        let free = nix::sys::statvfs::statvfs(&m.dir).unwrap();
        let bytes = free.blocks_available() * free.fragment_size();
        let f = std::fs::File::create(m.dir.join("filler")).unwrap();
        f.set_len(0).unwrap();
        use std::io::Write;
        let mut w = std::io::BufWriter::new(f);
        let chunk = vec![0u8; 1 << 16];
        let mut left = bytes;
        while left > 0 {
            if w.write_all(&chunk).is_err() {
                break;
            }
            left = left.saturating_sub(chunk.len() as u64);
        }
        let _ = w.flush();
    }
    let long = format!("quiet {}", "x".repeat(1000));
    let e = slot_write::write_kernel_args(esp.path(), &work, &long);
    assert!(e.is_err(), "a write to a full ESP succeeded");
    let now = menu(esp.path(), &work);
    assert!(now == cfg || now.contains(&long), "a torn menu:\n{now}");
    assert!(now.contains("menuentry \"ros (recovery shell)\""));
}
