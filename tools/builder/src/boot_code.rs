//! GRUB's boot code for installed disks and the cloud images: a BIOS core image and a UEFI
//! loader from `grub-mkimage`, each with a tiny embedded config that finds the ESP by label and
//! reads its grub.cfg, and the MBR code from boot.img, patched for the fixed layout by
//! `os_disk::bios_boot`. The three files go into the system image (`ros install` copies them)
//! and onto the cloud images. grub-mkimage's output is byte-identical across runs, so the stage
//! simply runs every time (well under a second).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use os_disk::layout::ESP_LABEL;
use os_disk::slot_write::BootCode;

use crate::command;
use crate::pipeline::Ctx;

/// Modules both images need for grub.cfg (`os_disk::grub_cfg`): GPT, the ESP's FAT and the
/// slots' ext4, search by label, grubenv, the serial console, Linux, power.
const MODULES: &[&str] = &[
    "part_gpt",
    "fat",
    "ext2",
    "search",
    "search_label",
    "configfile",
    "normal",
    "linux",
    "loadenv",
    "echo",
    "test",
    "serial",
    "terminal",
    "gzio",
    "sleep",
    "halt",
    "reboot",
];
const BIOS_MODULES: &[&str] = &["biosdisk"];
/// A framebuffer for the kernel's console on UEFI machines without a serial port.
const EFI_MODULES: &[&str] = &["efi_gop", "all_video"];
const GRUB_LIB: &str = "/usr/lib/grub";

/// Embedded in both images: the ESP holds the real menu, which ros rewrites.
pub fn early_config() -> String {
    format!(
        "search --no-floppy --label {ESP_LABEL} --set=root\n\
         set prefix=($root)/boot/grub\n\
         configfile $prefix/grub.cfg\n"
    )
}

/// Makes the boot code in the build's work directory.
pub fn build(ctx: &Ctx) -> Result<BootCode> {
    let code = make(&ctx.work.join("boot-code"))?;
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "    {} ({} B), {} ({} KB), {} ({} KB)",
        name(&code.mbr),
        size(&code.mbr),
        name(&code.core),
        size(&code.core) / 1024,
        name(&code.efi),
        size(&code.efi) / 1024
    );
    Ok(code)
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Writes bios-mbr.bin, bios-core.img and BOOTX64.EFI into `dir` (emptied first).
pub fn make(dir: &Path) -> Result<BootCode> {
    command::require_tool("grub-mkimage", "grub-common")?;
    for (target, package) in [
        ("i386-pc", "grub-pc-bin"),
        ("x86_64-efi", "grub-efi-amd64-bin"),
    ] {
        if !Path::new(GRUB_LIB).join(target).is_dir() {
            anyhow::bail!(
                "{GRUB_LIB}/{target} missing: install it with `apt-get install {package}`"
            );
        }
    }
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    let scratch = dir.join("scratch");
    fs::create_dir_all(&scratch)?;
    let cfg = scratch.join("early.cfg");
    fs::write(&cfg, early_config())?;
    let core = scratch.join("core.img");
    mkimage("i386-pc", &cfg, &core, BIOS_MODULES)?;
    let code = BootCode::in_dir(dir);
    mkimage("x86_64-efi", &cfg, &code.efi, EFI_MODULES)?;

    let boot_img_path = Path::new(GRUB_LIB).join("i386-pc/boot.img");
    let boot_img =
        fs::read(&boot_img_path).with_context(|| format!("read {}", boot_img_path.display()))?;
    let (mbr, core) = os_disk::bios_boot::patch(&boot_img, &fs::read(&core)?)
        .context("patch GRUB's BIOS boot code for the ros layout")?;
    fs::write(&code.mbr, mbr)?;
    fs::write(&code.core, core)?;
    fs::remove_dir_all(&scratch)?;
    Ok(code)
}

fn mkimage(format: &str, cfg: &Path, out: &Path, extra: &[&str]) -> Result<()> {
    command::run(
        Command::new("grub-mkimage")
            .args(["-O", format, "-p", "/boot/grub", "-c"])
            .arg(cfg)
            .arg("-o")
            .arg(out)
            .args(MODULES)
            .args(extra),
    )
    .with_context(|| format!("grub-mkimage -O {format}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_reproducible_boot_code_for_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let a = make(&dir.path().join("a")).unwrap();
        let b = make(&dir.path().join("b")).unwrap();
        for (x, y) in [(&a.mbr, &b.mbr), (&a.core, &b.core), (&a.efi, &b.efi)] {
            assert_eq!(
                fs::read(x).unwrap(),
                fs::read(y).unwrap(),
                "{}",
                x.display()
            );
        }
        let mbr = fs::read(&a.mbr).unwrap();
        assert_eq!(mbr.len(), os_disk::bios_boot::MBR_CODE_LEN);
        // boot.img's LBA of the core image: the BIOS boot partition.
        assert_eq!(&mbr[0x5c..0x64], &2048u64.to_le_bytes());
        let core = fs::read(&a.core).unwrap();
        assert!(core.len() as u64 <= os_disk::layout::BIOS_BOOT.size.unwrap() * 512);
        assert_eq!(&core[500..508], &2049u64.to_le_bytes());
        assert!(fs::read(&a.efi).unwrap().starts_with(b"MZ"));
        assert!(!dir.path().join("a/scratch").exists());
    }
}
