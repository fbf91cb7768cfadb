//! The hybrid ISO (BIOS and UEFI through grub-mkrescue), volume label ROS: the kernel, the
//! small initrd, GRUB's menu from `iso/grub.cfg`, and the system image at /ros/system.squashfs
//! with its sidecar /ros/system.squashfs.json (the same as the full initrd's: PID 1 compares
//! them to use the medium's copy instead of the initrd's).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::command;
use crate::initrd::{Sidecar, SIDECAR_PATH};
use crate::pipeline::Ctx;
use crate::stage_cache::{self, Key};

/// Where PID 1 finds the system image on the medium.
pub const ISO_SQUASHFS_PATH: &str = "ros/system.squashfs";
pub const VOLUME_LABEL: &str = "ROS";

/// The GRUB modules grub.cfg uses (serial console, menus, Linux boot) on top of those
/// grub-mkrescue puts in the core image to find the ISO.
const GRUB_MODULES: &str = "linux normal configfile echo test search search_label \
    search_fs_file iso9660 part_msdos part_gpt fat serial terminal gzio xzio zstd video all_video";

pub struct IsoInputs<'a> {
    pub vmlinuz: &'a Path,
    pub initrd: &'a Path,
    pub squashfs: &'a Path,
    pub grub_cfg: &'a Path,
}

pub fn build(ctx: &Ctx, inputs: &IsoInputs, out: &Path) -> Result<()> {
    let mut key = Key::new("iso");
    // Outputs live in the output directory: another --dist is another build.
    key.text(&ctx.dist.to_string_lossy());
    key.file(inputs.vmlinuz)?
        .file(inputs.initrd)?
        .file(inputs.squashfs)?
        .file(inputs.grub_cfg)?;
    key.text(&ctx.epoch.to_string()).text(SIDECAR_PATH);
    let key = key.finish();
    if stage_cache::load(&ctx.work, "iso", &key, |_: &()| vec![out.to_path_buf()]).is_some() {
        println!("    ISO unchanged");
        return Ok(());
    }
    stage_cache::forget(&ctx.work, "iso");
    for (tool, package) in [
        ("grub-mkrescue", "grub-common"),
        ("xorriso", "xorriso"),
        ("mformat", "mtools"),
    ] {
        command::require_tool(tool, package)?;
    }
    for (dir, package) in [
        ("i386-pc", "grub-pc-bin"),
        ("x86_64-efi", "grub-efi-amd64-bin"),
    ] {
        if !Path::new("/usr/lib/grub").join(dir).is_dir() {
            anyhow::bail!(
                "/usr/lib/grub/{dir} missing: install it with `apt-get install {package}`"
            );
        }
    }

    let stage = ctx.work.join("iso");
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    fs::create_dir_all(stage.join("boot/grub"))?;
    fs::create_dir_all(stage.join("ros"))?;
    link_or_copy(inputs.vmlinuz, &stage.join("boot/vmlinuz"))?;
    link_or_copy(inputs.initrd, &stage.join("boot/initrd"))?;
    link_or_copy(inputs.squashfs, &stage.join(ISO_SQUASHFS_PATH))?;
    fs::write(
        stage.join(SIDECAR_PATH),
        Sidecar::of(inputs.squashfs)?.to_json()?,
    )
    .context("write the squashfs sidecar")?;
    fs::copy(inputs.grub_cfg, stage.join("boot/grub/grub.cfg")).context("copy grub.cfg")?;

    let _ = fs::remove_file(out);
    command::run(
        Command::new("grub-mkrescue")
            .arg("--output")
            .arg(out)
            // Menus only: no themes, fonts, translations or unused modules keep the ISO small.
            .args(["--themes=", "--fonts=", "--locales=", "--compress=xz"])
            .arg(format!("--install-modules={GRUB_MODULES}"))
            .arg(&stage)
            .args(["--", "-volid", VOLUME_LABEL])
            .env("SOURCE_DATE_EPOCH", ctx.epoch.to_string()),
    )
    .context("grub-mkrescue")?;
    stage_cache::store(&ctx.work, "iso", &key, &())
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    fs::hard_link(from, to)
        .or_else(|_| fs::copy(from, to).map(|_| ()))
        .with_context(|| format!("stage {}", from.display()))
}
