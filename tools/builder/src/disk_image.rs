//! The cloud images, dist/ros.raw (sparse, 2 GiB) and dist/ros.qcow2: a disk as `ros install`
//! leaves it (`os_disk::layout`): GRUB's BIOS code in the MBR and the BIOS boot partition, the
//! ESP (UEFI loader, menu, boot counter), slot A holding this build, an empty slot B and a
//! state partition. No root and no loop devices: each filesystem is made in a file of its
//! partition's size (mkfs.vfat + mtools, mkfs.ext4 -d) and copied in at its offset, skipping
//! zero blocks so the disk stays sparse. Times and ids derive from the build, so two builds of
//! the same inputs give the same bytes.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use os_disk::boot_state::BootState;
use os_disk::bundle::Manifest;
use os_disk::grub_cfg;
use os_disk::grubenv::GrubEnv;
use os_disk::layout::{self, Slot, SECTOR};
use os_disk::slot_write::BootCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::command;
use crate::pipeline::Ctx;
use crate::size_report::human;
use crate::stage_cache::{self, Key};

/// The kernel arguments of the cloud images: the datasources a cloud provides.
pub const CLOUD_ARGS: &str = "rancher.cloud_init.datasources=[ec2,openstack,configdrive,nocloud]";
/// The virtual size: above `layout::MIN_DISK_BYTES`; clouds grow the disk and the state partition.
pub const DISK_BYTES: u64 = 2 << 30;
/// The backup GPT at the end of the disk (header and entries).
const BACKUP_GPT_SECTORS: u64 = 33;

/// The files slot A holds.
pub struct DiskInputs<'a> {
    pub vmlinuz: &'a Path,
    /// The small initrd: the slot carries system.squashfs beside it.
    pub initrd: &'a Path,
    pub squashfs: &'a Path,
    pub boot_code: &'a BootCode,
}

/// What slot A's manifest records, and the time every file system entry gets.
pub struct Stamp<'a> {
    pub version: &'a str,
    pub commit: &'a str,
    pub epoch: u64,
}

/// An output as the stage left it. It is reused only while it is still that file (booting
/// ros.raw without -snapshot writes to it), and the manifest takes its digest from here
/// rather than hashing 2 GiB again on every build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    pub path: PathBuf,
    pub size: u64,
    mtime: (i64, i64),
    pub sha256: String,
}

impl Output {
    fn of(path: &Path) -> Result<Output> {
        let meta = fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
        Ok(Output {
            path: path.to_path_buf(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            sha256: stage_cache::sha256_file(path)?,
        })
    }

    fn unchanged(&self) -> bool {
        fs::metadata(&self.path)
            .is_ok_and(|m| m.len() == self.size && (m.mtime(), m.mtime_nsec()) == self.mtime)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiskImages {
    pub raw: Output,
    pub qcow2: Output,
}

/// The build's stage: dist/ros.raw and dist/ros.qcow2, reused while the inputs are unchanged.
pub fn build(ctx: &Ctx, inputs: &DiskInputs, raw: &Path, qcow2: &Path) -> Result<DiskImages> {
    let mut key = Key::new("disk");
    key.text(&raw.to_string_lossy())
        .text(&qcow2.to_string_lossy())
        .text(&ctx.version)
        .text(&ctx.commit)
        .text(&ctx.epoch.to_string());
    key.file(inputs.vmlinuz)?
        .file(inputs.initrd)?
        .file(inputs.squashfs)?;
    let code = inputs.boot_code;
    key.file(&code.mbr)?.file(&code.core)?.file(&code.efi)?;
    // What os-disk defines for the disk: a change there makes new images.
    key.text(CLOUD_ARGS)
        .text(&grub_cfg::render(CLOUD_ARGS))
        .text(&layout::sfdisk_script())
        .text(&DISK_BYTES.to_string());
    let key = key.finish();
    let outputs = |d: &DiskImages| vec![d.raw.path.clone(), d.qcow2.path.clone()];
    if let Some(images) = stage_cache::load(&ctx.work, "disk", &key, outputs)
        .filter(|d| d.raw.unchanged() && d.qcow2.unchanged())
    {
        println!("    disk images unchanged");
        return Ok(images);
    }
    stage_cache::forget(&ctx.work, "disk");
    let start = Instant::now();
    let stamp = Stamp {
        version: &ctx.version,
        commit: &ctx.commit,
        epoch: ctx.epoch,
    };
    write_raw(&ctx.work.join("disk"), inputs, &stamp, raw)?;
    let meta = fs::metadata(raw)?;
    println!(
        "    {}: {} virtual, {} allocated ({:.1}s)",
        raw.display(),
        human(meta.len()),
        human(meta.blocks() * 512),
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    write_qcow2(raw, qcow2)?;
    println!(
        "    {}: {} ({:.1}s)",
        qcow2.display(),
        human(fs::metadata(qcow2)?.len()),
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let images = DiskImages {
        raw: Output::of(raw)?,
        qcow2: Output::of(qcow2)?,
    };
    println!("    digests ({:.1}s)", start.elapsed().as_secs_f64());
    stage_cache::store(&ctx.work, "disk", &key, &images)?;
    Ok(images)
}

/// Writes the raw disk; `work` is scratch space (emptied first).
pub fn write_raw(work: &Path, inputs: &DiskInputs, stamp: &Stamp, out: &Path) -> Result<()> {
    for (tool, package) in [
        ("sfdisk", "fdisk"),
        ("mkfs.ext4", "e2fsprogs"),
        ("debugfs", "e2fsprogs"),
        ("mkfs.vfat", "dosfstools"),
        ("mmd", "mtools"),
        ("mcopy", "mtools"),
    ] {
        command::require_tool(tool, package)?;
    }
    if work.exists() {
        fs::remove_dir_all(work).with_context(|| format!("remove {}", work.display()))?;
    }
    fs::create_dir_all(work)?;

    // Slot A's manifest, as `ros install` would write it; it also seeds every id on the disk.
    let slot_files = [
        ("vmlinuz", inputs.vmlinuz),
        ("initrd", inputs.initrd),
        ("system.squashfs", inputs.squashfs),
    ];
    let manifest = Manifest::describe(stamp.version, stamp.commit, &slot_files)?;
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;
    let ids = Ids::new(&manifest_json, stamp.epoch);

    let tmp = PathBuf::from(format!("{}.tmp", out.display()));
    let _ = fs::remove_file(&tmp);
    let disk = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    disk.set_len(DISK_BYTES)?;
    partition(&tmp, &ids)?;
    let table = read_table(&tmp)?;

    let code = inputs.boot_code;
    let mbr = fs::read(&code.mbr).with_context(|| format!("read {}", code.mbr.display()))?;
    ensure!(
        mbr.len() == os_disk::bios_boot::MBR_CODE_LEN,
        "{}: {} bytes, expected the MBR's {}-byte code area",
        code.mbr.display(),
        mbr.len(),
        os_disk::bios_boot::MBR_CODE_LEN
    );
    // Only the code area: the protective MBR's partition table after it stays.
    disk.write_all_at(&mbr, 0)?;
    copy_sparse(&code.core, &disk, &table[0])?;

    let esp = work.join("esp.img");
    make_esp(work, &esp, code, &ids, stamp.epoch)?;
    copy_sparse(&esp, &disk, &table[1])?;

    let slot_a = work.join("slot-a");
    fs::create_dir_all(&slot_a)?;
    for (name, from) in slot_files {
        link_or_copy(from, &slot_a.join(name))?;
    }
    fs::write(slot_a.join(os_disk::bundle::MANIFEST), &manifest_json)?;
    for (slot, content) in [(Slot::A, Some(slot_a.as_path())), (Slot::B, None)] {
        let img = work.join(format!("slot-{}.img", slot.name().to_lowercase()));
        let part = &table[slot.partition().number as usize - 1];
        mkfs_ext4(&img, slot.label(), part.bytes(), content, &ids, stamp.epoch)?;
        copy_sparse(&img, &disk, part)?;
        fs::remove_file(&img)?;
    }
    let state = &table[layout::STATE.number as usize - 1];
    let img = work.join("state.img");
    mkfs_ext4(
        &img,
        layout::STATE_LABEL,
        state.bytes(),
        None,
        &ids,
        stamp.epoch,
    )?;
    copy_sparse(&img, &disk, state)?;
    disk.sync_all()?;
    drop(disk);
    fs::remove_dir_all(work)?;
    fs::rename(&tmp, out).with_context(|| format!("rename {}", tmp.display()))
}

pub fn write_qcow2(raw: &Path, out: &Path) -> Result<()> {
    command::require_tool("qemu-img", "qemu-utils")?;
    let tmp = PathBuf::from(format!("{}.tmp", out.display()));
    let _ = fs::remove_file(&tmp);
    command::run(
        Command::new("qemu-img")
            .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
            .arg(raw)
            .arg(&tmp),
    )
    .context("qemu-img convert")?;
    fs::rename(&tmp, out).with_context(|| format!("rename {}", tmp.display()))
}

/// Ids (GPT, file systems) derived from the build, so that they differ between builds but a
/// rebuild of the same inputs gives the same disk.
struct Ids([u8; 32]);

impl Ids {
    fn new(manifest: &[u8], epoch: u64) -> Ids {
        let mut h = Sha256::new();
        h.update(manifest);
        h.update(epoch.to_le_bytes());
        Ids(h.finalize().into())
    }

    fn bytes(&self, what: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.0);
        h.update(what);
        h.finalize().into()
    }

    /// A random-looking (version 4) UUID.
    fn uuid(&self, what: &str) -> String {
        let mut b = self.bytes(what);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b[..16].iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// A FAT volume id (8 hex digits).
    fn volume_id(&self) -> String {
        self.bytes("vfat")[..4]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    }
}

/// A partition as sfdisk wrote it, in sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Extent {
    pub start: u64,
    pub size: u64,
}

impl Extent {
    fn bytes(&self) -> u64 {
        self.size * SECTOR
    }
}

/// Writes `layout::sfdisk_script()`, then the build's disk and partition UUIDs (sfdisk would
/// pick random ones).
fn partition(disk: &Path, ids: &Ids) -> Result<()> {
    let mut child = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(disk)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start sfdisk")?;
    child
        .stdin
        .take()
        .context("sfdisk stdin")?
        .write_all(layout::sfdisk_script().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "sfdisk {} failed ({}):\n{}",
            disk.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let sfdisk = |args: &[&str]| {
        command::run(
            Command::new("sfdisk")
                .args(["-q", "--no-reread", "--no-tell-kernel"])
                .args(args),
        )
    };
    let d = disk.to_string_lossy();
    sfdisk(&["--disk-id", &d, &ids.uuid("disk")])?;
    for p in layout::ALL {
        let n = p.number.to_string();
        sfdisk(&["--part-uuid", &d, &n, &ids.uuid(p.name)])?;
    }
    Ok(())
}

/// The partitions as `sfdisk -J` reads them back, checked against the layout. The last one's
/// size is sfdisk's: it ends before the backup GPT, aligned down to a MiB.
pub fn read_table(disk: &Path) -> Result<Vec<Extent>> {
    #[derive(Deserialize)]
    struct Dump {
        partitiontable: Table,
    }
    #[derive(Deserialize)]
    struct Table {
        label: String,
        partitions: Vec<Extent>,
    }
    let json = command::output(Command::new("sfdisk").arg("-J").arg(disk))?;
    let dump: Dump = serde_json::from_str(&json).context("parse sfdisk -J")?;
    let table = dump.partitiontable;
    ensure!(table.label == "gpt", "{}: not a GPT", disk.display());
    ensure!(
        table.partitions.len() == layout::ALL.len(),
        "{}: {} partitions, expected {}",
        disk.display(),
        table.partitions.len(),
        layout::ALL.len()
    );
    let disk_sectors = fs::metadata(disk)?.len() / SECTOR;
    for (want, got) in layout::ALL.iter().zip(&table.partitions) {
        ensure!(
            got.start == want.start && want.size.is_none_or(|s| s == got.size),
            "{}: partition {} is {got:?}, the layout says {want:?}",
            disk.display(),
            want.number
        );
        ensure!(
            got.start + got.size <= disk_sectors - BACKUP_GPT_SECTORS,
            "{}: partition {} overlaps the backup GPT",
            disk.display(),
            want.number
        );
    }
    Ok(table.partitions)
}

/// The ESP as `os_disk::slot_write::write_esp` makes it, in a file: the UEFI loader, the menu
/// with the cloud arguments, a grubenv that boots slot A, and the arguments for later rewrites.
fn make_esp(work: &Path, img: &Path, code: &BootCode, ids: &Ids, epoch: u64) -> Result<()> {
    let staged = work.join("esp");
    fs::create_dir_all(&staged)?;
    let mut env = GrubEnv::default();
    BootState::installed(Slot::A).write_to(&mut env);
    let mut files = vec![(grub_cfg::EFI_LOADER, code.efi.clone())];
    for (dest, bytes) in [
        (
            grub_cfg::GRUB_CFG,
            grub_cfg::render(CLOUD_ARGS).into_bytes(),
        ),
        (grub_cfg::GRUBENV, env.render()?),
        (grub_cfg::KERNEL_ARGS, CLOUD_ARGS.trim().as_bytes().to_vec()),
    ] {
        let path = staged.join(dest.replace('/', "_"));
        fs::write(&path, bytes)?;
        files.push((dest, path));
    }
    // Parents sort before their children.
    let dirs: BTreeSet<String> = files
        .iter()
        .flat_map(|(dest, _)| Path::new(dest).ancestors().skip(1))
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| format!("::{}", p.display()))
        .collect();

    let _ = fs::remove_file(img);
    let esp = layout::ESP;
    let kib = esp.size.context("the ESP has a fixed size")? * SECTOR / 1024;
    // FAT32, as the UEFI spec asks of a fixed disk's ESP. --invariant fixes times and the boot
    // sector; -i (after it) sets our volume id; -h is the partition's offset, which some
    // firmware checks.
    command::run(
        Command::new("mkfs.vfat")
            .args([
                "-C",
                "-F",
                "32",
                "-n",
                layout::ESP_LABEL,
                "--invariant",
                "-i",
            ])
            .arg(ids.volume_id())
            .arg("-h")
            .arg(esp.start.to_string())
            .arg(img)
            .arg(kib.to_string()),
    )
    .context("mkfs.vfat")?;
    let mtools = |tool: &str| {
        let mut cmd = Command::new(tool);
        // mtools stamps new entries with SOURCE_DATE_EPOCH when it is set.
        cmd.env("SOURCE_DATE_EPOCH", epoch.to_string())
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(img);
        cmd
    };
    command::run(mtools("mmd").args(&dirs)).context("mmd")?;
    for (dest, from) in &files {
        command::run(mtools("mcopy").arg(from).arg(format!("::{dest}")))
            .with_context(|| format!("mcopy {dest}"))?;
    }
    Ok(())
}

/// An ext4 of `bytes` in the file `img`, labelled `label`, holding `content`'s files (owned by
/// root) or nothing. Times are `epoch` everywhere: mke2fs takes them from E2FSPROGS_FAKE_TIME,
/// except that -d copies each file's own times, which debugfs then resets.
fn mkfs_ext4(
    img: &Path,
    label: &str,
    bytes: u64,
    content: Option<&Path>,
    ids: &Ids,
    epoch: u64,
) -> Result<()> {
    let _ = fs::remove_file(img);
    let mut cmd = Command::new("mkfs.ext4");
    cmd.env("E2FSPROGS_FAKE_TIME", epoch.to_string())
        .args(["-q", "-F", "-L", label, "-U"])
        .arg(ids.uuid(label))
        .arg("-E")
        .arg(format!(
            "root_owner=0:0,hash_seed={}",
            ids.uuid(&format!("{label} hash seed"))
        ));
    let mut entries = vec!["/".to_string(), "/lost+found".to_string()];
    if let Some(dir) = content {
        cmd.arg("-d").arg(dir);
        let mut names: Vec<String> = fs::read_dir(dir)?
            .map(|e| e.map(|e| format!("/{}", e.file_name().to_string_lossy())))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        entries.extend(names);
    }
    cmd.arg(img).arg(format!("{}k", bytes / 1024));
    command::run(&mut cmd).with_context(|| format!("mkfs.ext4 {label}"))?;

    let mut script = String::new();
    for entry in &entries {
        for field in ["atime", "mtime", "ctime", "crtime"] {
            script.push_str(&format!("set_inode_field {entry} {field} @{epoch}\n"));
        }
        for field in ["uid", "gid"] {
            script.push_str(&format!("set_inode_field {entry} {field} 0\n"));
        }
    }
    let script_path = PathBuf::from(format!("{}.debugfs", img.display()));
    fs::write(&script_path, script)?;
    let out = Command::new("debugfs")
        .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
        .arg("-w")
        .arg("-f")
        .arg(&script_path)
        .arg(img)
        .stdin(Stdio::null())
        .output()
        .context("cannot start debugfs")?;
    // debugfs exits 0 even when a command fails; anything on stderr but its banner is an error.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    ensure!(
        out.status.success() && errors.is_empty(),
        "debugfs -w {}: {}",
        img.display(),
        errors.join("\n")
    );
    fs::remove_file(&script_path)?;
    Ok(())
}

/// Copies `from` into `disk` at the partition's offset, writing only the blocks that are not
/// all zeros (the disk file is sparse and reads zeros elsewhere).
fn copy_sparse(from: &Path, disk: &File, part: &Extent) -> Result<()> {
    const BLOCK: usize = 4096;
    let mut src = File::open(from).with_context(|| format!("open {}", from.display()))?;
    let len = src.metadata()?.len();
    ensure!(
        len <= part.bytes(),
        "{} is {len} bytes, larger than its partition ({} bytes)",
        from.display(),
        part.bytes()
    );
    let base = part.start * SECTOR;
    let zeros = [0u8; BLOCK];
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    loop {
        let n = read_full(&mut src, &mut buf)?;
        if n == 0 {
            break;
        }
        // Runs of non-zero blocks, each written at once.
        let mut run: Option<usize> = None;
        for (i, block) in buf[..n].chunks(BLOCK).enumerate() {
            // Slice equality is a memcmp, fast even in unoptimised test builds.
            let zero = block == &zeros[..block.len()];
            match (zero, run) {
                (false, None) => run = Some(i * BLOCK),
                (true, Some(start)) => {
                    disk.write_all_at(&buf[start..i * BLOCK], base + pos + start as u64)?;
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(start) = run {
            disk.write_all_at(&buf[start..n], base + pos + start as u64)?;
        }
        pos += n as u64;
    }
    Ok(())
}

fn read_full(src: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    fs::hard_link(from, to)
        .or_else(|_| fs::copy(from, to).map(|_| ()))
        .with_context(|| format!("stage {}", from.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fake slot files and boot code (the image is never booted here).
    fn inputs(dir: &Path) -> (Vec<PathBuf>, BootCode) {
        let files: Vec<PathBuf> = ["vmlinuz", "initrd", "system.squashfs"]
            .iter()
            .map(|n| {
                let p = dir.join(n);
                fs::write(&p, format!("fake {n}\n").repeat(20_000)).unwrap();
                p
            })
            .collect();
        let code = BootCode::in_dir(dir);
        fs::write(&code.mbr, [0xeb; 440]).unwrap();
        fs::write(&code.core, [0xcc; 5000]).unwrap();
        fs::write(&code.efi, b"MZ fake loader").unwrap();
        (files, code)
    }

    fn make(dir: &Path, out: &Path) {
        let (files, code) = inputs(dir);
        let inputs = DiskInputs {
            vmlinuz: &files[0],
            initrd: &files[1],
            squashfs: &files[2],
            boot_code: &code,
        };
        let stamp = Stamp {
            version: "1.2.3",
            commit: "abc",
            epoch: 1_700_000_000,
        };
        write_raw(&dir.join("work"), &inputs, &stamp, out).unwrap();
    }

    /// A partition of `disk` as e2fsprogs (`img?offset=N`) opens it.
    fn at(disk: &Path, part: &Extent, sep: &str) -> String {
        format!("{}{sep}{}", disk.display(), part.start * SECTOR)
    }

    fn tool(cmd: &mut Command) -> String {
        command::output(cmd).unwrap()
    }

    #[test]
    fn the_raw_disk_has_the_layout_boot_code_and_filesystems() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let raw = d.join("ros.raw");
        make(d, &raw);
        let meta = fs::metadata(&raw).unwrap();
        assert_eq!(meta.len(), DISK_BYTES);
        assert!(
            meta.blocks() * 512 < 64 << 20,
            "not sparse: {}",
            meta.blocks()
        );
        assert!(!d.join("work").exists());

        let table = read_table(&raw).unwrap();
        let starts: Vec<u64> = table.iter().map(|p| p.start).collect();
        assert_eq!(starts, [2048, 4096, 135168, 1183744, 2232320]);
        let state = table[4];
        assert!(state.start + state.size <= DISK_BYTES / SECTOR - 33);
        assert!(state.bytes() > layout::MIN_STATE_BYTES);
        let dump = tool(Command::new("sfdisk").arg("-d").arg(&raw));
        assert!(dump.contains("name=\"RANCHER_STATE\""), "{dump}");

        let bytes = |at: u64, n: usize| {
            let mut b = vec![0u8; n];
            File::open(&raw).unwrap().read_exact_at(&mut b, at).unwrap();
            b
        };
        assert_eq!(bytes(0, 440), vec![0xeb; 440]);
        // The protective MBR sfdisk wrote is kept after the code.
        assert_eq!(bytes(510, 2), [0x55, 0xaa]);
        assert_eq!(bytes(2048 * 512, 5000), vec![0xcc; 5000]);

        // mtools opens a partition as `img@@offset`.
        let esp = at(&raw, &table[1], "@@");
        let mtools = |t: &str, arg: &str| tool(Command::new(t).arg("-i").arg(&esp).arg(arg));
        assert_eq!(mtools("mtype", "::EFI/BOOT/BOOTX64.EFI"), "MZ fake loader");
        assert_eq!(
            mtools("mtype", "::boot/grub/grub.cfg"),
            grub_cfg::render(CLOUD_ARGS)
        );
        assert_eq!(mtools("mtype", "::ros/kernel-args"), CLOUD_ARGS);
        let grubenv = mtools("mtype", "::boot/grub/grubenv");
        assert_eq!(grubenv.len(), 1024);
        let env = GrubEnv::parse(grubenv.as_bytes(), "esp").unwrap();
        assert_eq!(
            BootState::from_env(&env),
            BootState::installed(Slot::A),
            "{grubenv}"
        );
        assert!(mtools("mdir", "::").contains("ROS_EFI"));
        // The FAT32 boot sector names its type at 0x52 (FAT16's is at 0x36).
        assert_eq!(bytes(table[1].start * SECTOR + 0x52, 8), b"FAT32   ");

        let label = |n: usize| tool(Command::new("e2label").arg(at(&raw, &table[n], "?offset=")));
        let slot_a = at(&raw, &table[2], "?offset=");
        assert_eq!(label(2).trim(), "ROS_A");
        let ls = tool(
            Command::new("debugfs")
                .arg("-R")
                .arg("ls -l /")
                .arg(&slot_a),
        );
        for name in ["vmlinuz", "initrd", "system.squashfs", "manifest.json"] {
            assert!(ls.contains(name), "{ls}");
        }
        let manifest: Manifest = serde_json::from_str(&tool(
            Command::new("debugfs")
                .arg("-R")
                .arg("cat /manifest.json")
                .arg(&slot_a),
        ))
        .unwrap();
        assert_eq!(manifest.version, "1.2.3");
        assert_eq!(manifest.commit, "abc");
        assert_eq!(manifest.entry("initrd").unwrap().size, 12 * 20_000);
        let stat = tool(
            Command::new("debugfs")
                .arg("-R")
                .arg("stat /system.squashfs")
                .arg(&slot_a),
        );
        assert!(stat.contains("User:     0   Group:     0"), "{stat}");
        assert!(stat.contains(" ctime: 0x6553f100"), "{stat}");

        assert_eq!(label(3).trim(), "ROS_B");
        assert_eq!(label(4).trim(), layout::STATE_LABEL);
    }

    #[test]
    fn the_same_inputs_give_the_same_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.raw"), dir.path().join("b.raw"));
        make(dir.path(), &a);
        // New source files: other inode times, same contents.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        make(dir.path(), &b);
        // cmp, not a hash: 2 GiB each, and the test build is unoptimised.
        let same = Command::new("cmp")
            .arg("-s")
            .arg(&a)
            .arg(&b)
            .status()
            .unwrap();
        assert!(same.success(), "the two disks differ");
    }

    #[test]
    fn an_output_written_to_after_the_stage_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ros.raw");
        fs::write(&path, b"disk").unwrap();
        let out = Output::of(&path).unwrap();
        assert!(out.unchanged());
        assert_eq!(out.sha256, stage_cache::sha256_file(&path).unwrap());
        // A boot without -snapshot: same size, new mtime.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(b"D", 0)
            .unwrap();
        assert!(!out.unchanged());
    }

    #[test]
    fn ids_are_stable_and_well_formed() {
        let ids = Ids::new(b"manifest", 1);
        let u = ids.uuid("disk");
        assert_eq!(u, Ids::new(b"manifest", 1).uuid("disk"));
        assert_ne!(u, ids.uuid("efi"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(ids.volume_id().len(), 8);
    }

    #[test]
    fn sparse_copy_skips_zero_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let mut data = vec![0u8; 3 << 20];
        data[10] = 1;
        data[(2 << 20) + 5000] = 2;
        fs::write(&src, &data).unwrap();
        let disk_path = dir.path().join("disk");
        let disk = File::create(&disk_path).unwrap();
        disk.set_len(8 << 20).unwrap();
        let part = Extent {
            start: 2048,
            size: 8192,
        };
        copy_sparse(&src, &disk, &part).unwrap();
        let back = fs::read(&disk_path).unwrap();
        assert_eq!(&back[1 << 20..(1 << 20) + data.len()], &data[..]);
        assert!(fs::metadata(&disk_path).unwrap().blocks() * 512 <= 2 * 4096);
        let small = Extent { start: 0, size: 8 };
        assert!(copy_sparse(&src, &disk, &small).is_err());
    }
}
