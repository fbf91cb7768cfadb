//! The initrd: a small zstd-compressed cpio with `ros` as /init, the libraries it links and the
//! modules needed to find the system image, busybox for the early recovery shell and mke2fs for
//! the state partition's autoformat; then, for boots without a medium, a second, uncompressed
//! cpio member carrying the squashfs (already compressed) at /ros/system.squashfs, preceded by
//! its sidecar /ros/system.squashfs.json (size and SHA-256). The sidecar comes first so that it
//! survives when the kernel runs out of RAM partway through the image: PID 1 then tells a
//! truncated image from a whole one without hashing it (pid1/src/system_image.rs).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::command;
use crate::deb_extract;
use crate::deb_resolve::{Apt, Package};
use crate::images;
use crate::kernel::Kernel;
use crate::kernel_modules::ModuleIndex;
use crate::pipeline::Ctx;
use crate::rootfs;
use crate::spec::{ImageSpec, SharedSpec};
use crate::stage_cache::{self, Key};

/// Path of the squashfs inside the initramfs; PID 1 looks there first.
pub const SQUASHFS_PATH: &str = "ros/system.squashfs";
/// The squashfs's sidecar, in the initrd and on the ISO (pid1/src/system_image.rs:
/// INITRD_SIDECAR, MEDIUM_SIDECAR).
pub const SIDECAR_PATH: &str = "ros/system.squashfs.json";
/// Debian packages unpacked (with their dependencies) into a root of their own, from which the
/// initrd takes single binaries: e2fsprogs for mke2fs.
const TOOL_PACKAGES: &[&str] = &["e2fsprogs"];
/// mke2fs and its configuration in that root, and where PID 1 finds them in the initrd
/// (pid1/src/state_partition/autoformat.rs: INITRD_MKE2FS, INITRD_MKE2FS_CONF).
const MKE2FS: &str = "usr/sbin/mke2fs";
const MKE2FS_CONF: &str = "etc/mke2fs.conf";
const INITRD_MKE2FS: &str = "ros/mke2fs";
const INITRD_MKE2FS_CONF: &str = "ros/mke2fs.conf";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Initrd {
    /// The first member alone, dist/initrd-small (what the ISO carries; its squashfs is on
    /// the medium).
    pub small: PathBuf,
    /// Both members (for `-kernel/-initrd` and PXE).
    pub full: PathBuf,
    pub modules: usize,
    pub libraries: Vec<String>,
}

pub struct InitrdInputs<'a> {
    pub init: &'a Path,
    pub kernel: &'a Kernel,
    pub modules: &'a [String],
    pub squashfs: &'a Path,
    /// A root holding Debian's libc6 (the system image's), where /init's libraries are taken.
    pub lib_root: &'a Path,
    /// The root [`tools_root`] made (mke2fs and its libraries).
    pub tools_root: &'a Path,
}

/// Unpacks TOOL_PACKAGES and their dependencies into work/initrd-tools/root (reused while the
/// package lists are unchanged) and returns that root.
pub fn tools_root(ctx: &Ctx, apt: &Apt, shared: &SharedSpec) -> Result<PathBuf> {
    let scratch = ctx.work.join("initrd-tools");
    let root = scratch.join("root");
    let mut key = Key::new("initrd-tools");
    key.text(&apt.lists_stamp()).json(&TOOL_PACKAGES)?;
    let key = key.finish();
    let outputs = |_: &Vec<Package>| vec![root.join(MKE2FS)];
    if stage_cache::load(&ctx.work, "initrd-tools", &key, outputs).is_some() {
        return Ok(root);
    }
    stage_cache::forget(&ctx.work, "initrd-tools");
    fs::create_dir_all(&scratch)?;
    let spec = ImageSpec {
        packages: TOOL_PACKAGES.iter().map(|p| p.to_string()).collect(),
        ..ImageSpec::default()
    };
    let packages = images::resolve(apt, shared, &spec, &[], &scratch)?;
    rootfs::prepare(&root)?;
    for deb in apt.download(&packages)? {
        deb_extract::extract(&deb, &root, &[])?;
    }
    if !root.join(MKE2FS).is_file() {
        bail!("{} holds no {MKE2FS}", root.display());
    }
    stage_cache::store(&ctx.work, "initrd-tools", &key, &packages)?;
    Ok(root)
}

pub fn build(ctx: &Ctx, inputs: &InitrdInputs) -> Result<Initrd> {
    let mut key = Key::new("initrd");
    // Outputs live in the output directory: another --dist is another build.
    key.text(&ctx.dist.to_string_lossy());
    let busybox = inputs.lib_root.join("usr/bin/busybox");
    let mke2fs = inputs.tools_root.join(MKE2FS);
    let mke2fs_conf = inputs.tools_root.join(MKE2FS_CONF);
    key.file(inputs.init)?
        .file(&busybox)?
        .file(&mke2fs)?
        .file(inputs.squashfs)?
        .json(&inputs.kernel.package)?;
    key.json(&inputs.modules)?
        .text(&ctx.epoch.to_string())
        .text(SIDECAR_PATH);
    let key = key.finish();
    let outputs = |i: &Initrd| vec![i.small.clone(), i.full.clone()];
    if let Some(initrd) = stage_cache::load(&ctx.work, "initrd", &key, outputs) {
        println!("    initrd unchanged");
        return Ok(initrd);
    }
    stage_cache::forget(&ctx.work, "initrd");

    let stage = ctx.work.join("initrd/root");
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    for dir in ["dev", "proc", "sys", "run", "tmp", "ros"] {
        fs::create_dir_all(stage.join(dir))?;
    }
    fs::copy(inputs.init, stage.join("init"))
        .with_context(|| format!("copy {}", inputs.init.display()))?;
    fs::set_permissions(stage.join("init"), fs::Permissions::from_mode(0o755))?;
    let mut libraries = copy_libraries(inputs.init, inputs.lib_root, &stage)?;
    // The recovery shell for failures before the system image is mounted.
    fs::copy(&busybox, stage.join("ros/busybox"))
        .with_context(|| format!("copy {}", busybox.display()))?;
    fs::set_permissions(stage.join("ros/busybox"), fs::Permissions::from_mode(0o755))?;
    for lib in copy_libraries(&busybox, inputs.lib_root, &stage)? {
        if !libraries.contains(&lib) {
            libraries.push(lib);
        }
    }
    // mke2fs, for the state partition's autoformat (PID 1 formats before the root exists).
    fs::copy(&mke2fs, stage.join(INITRD_MKE2FS))
        .with_context(|| format!("copy {}", mke2fs.display()))?;
    fs::set_permissions(stage.join(INITRD_MKE2FS), fs::Permissions::from_mode(0o755))?;
    if mke2fs_conf.is_file() {
        fs::copy(&mke2fs_conf, stage.join(INITRD_MKE2FS_CONF))
            .with_context(|| format!("copy {}", mke2fs_conf.display()))?;
    }
    for lib in copy_libraries(&mke2fs, inputs.tools_root, &stage)? {
        if !libraries.contains(&lib) {
            libraries.push(lib);
        }
    }

    let index = ModuleIndex::read(&inputs.kernel.root, &inputs.kernel.release)?;
    let sel = index.closure(inputs.modules);
    for name in &sel.missing {
        println!(
            "    warning: initrd module {name} not found in {}",
            inputs.kernel.package.name
        );
    }
    index.install(&sel.files, &stage)?;

    let small = ctx.dist.join("initrd-small");
    let mut cpio = Vec::new();
    write_tree(&stage, ctx.epoch, &mut cpio)?;
    let compressed = zstd(&cpio)?;
    let mut first = compressed;
    // The kernel expects the next member at a 4-byte boundary; pad with zeros, which it skips.
    first.resize(first.len().div_ceil(512) * 512, 0);
    fs::write(&small, &first).context("write the initrd")?;

    let full = ctx.dist.join("initrd");
    let mut out = io::BufWriter::new(File::create(&full).context("create dist/initrd")?);
    out.write_all(&first)?;
    write_squashfs_member(inputs.squashfs, ctx.epoch, &mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let initrd = Initrd {
        small,
        full,
        modules: sel.files.len(),
        libraries,
    };
    stage_cache::store(&ctx.work, "initrd", &key, &initrd)?;
    Ok(initrd)
}

/// Copies the dynamic loader and libraries `bin` needs, taken from `lib_root`.
pub(crate) fn copy_libraries(bin: &Path, lib_root: &Path, stage: &Path) -> Result<Vec<String>> {
    // The tree's own loader lists them (`--list`); its paths then name lib_root, which is taken
    // off again. Without a loader in the tree, the host's ldd.
    let out = if lib_root
        .join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        .is_file()
    {
        crate::rootfs::own_loader(lib_root)
            .arg("--list")
            .arg(bin)
            .output()
    } else {
        Command::new("ldd").arg(bin).output()
    }
    .context("cannot list the libraries")?;
    let root_prefix = lib_root.to_string_lossy().trim_end_matches('/').to_owned();
    let text = String::from_utf8_lossy(&out.stdout).replace(&format!("{root_prefix}/"), "/");
    // Before the exit status: a loader that misses a library may also exit non-zero.
    if let Some(missing) = text.lines().find(|l| l.contains("=> not found")) {
        bail!(
            "{} needs a library ldd cannot find: {}",
            bin.display(),
            missing.trim()
        );
    }
    if !out.status.success() || text.contains("statically linked") {
        // A static(-pie) binary needs no libraries.
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            // The interpreter, as the loader lists itself: the binary asks for the left side.
            Some((left, _)) if left.trim().starts_with('/') => left.split_whitespace().next(),
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let source = resolve_in_root(lib_root, path).unwrap_or_else(|| PathBuf::from(path));
        let dest = stage.join(path.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().context("library path")?)?;
        fs::copy(&source, &dest).with_context(|| format!("copy {}", source.display()))?;
        libs.push(path.to_string());
    }
    if libs.is_empty() {
        bail!("ldd found no libraries for {}:\n{text}", bin.display());
    }
    Ok(libs)
}

/// `path` inside `root`, following symlinks (absolute ones relative to `root`).
fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut current = root.join(path.trim_start_matches('/'));
    for _ in 0..16 {
        let meta = fs::symlink_metadata(&current).ok()?;
        if !meta.file_type().is_symlink() {
            return meta.is_file().then_some(current);
        }
        let target = fs::read_link(&current).ok()?;
        current = if target.is_absolute() {
            root.join(target.strip_prefix("/").ok()?)
        } else {
            current.parent()?.join(target)
        };
    }
    None
}

pub(crate) fn zstd(data: &[u8]) -> Result<Vec<u8>> {
    command::require_tool("zstd", "zstd")?;
    let mut child = Command::new("zstd")
        .args(["-19", "-q", "-c", "-T1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start zstd")?;
    let mut stdin = child.stdin.take().context("zstd stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .context("zstd stdout")?
        .read_to_end(&mut out)?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("zstd writer panicked"))??;
    if !child.wait()?.success() {
        bail!("zstd failed");
    }
    Ok(out)
}

/// Deterministic newc writer: sorted paths, sequential inodes, root owner, fixed mtime.
struct CpioWriter<'a, W: Write> {
    out: &'a mut W,
    ino: u32,
    mtime: u32,
}

impl<W: Write> CpioWriter<'_, W> {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        self.ino += 1;
        let mut w = cpio::newc::Builder::new(name)
            .ino(self.ino)
            .mode(mode)
            .uid(0)
            .gid(0)
            .nlink(if mode & 0o170000 == 0o040000 { 2 } else { 1 })
            .mtime(self.mtime)
            .write(&mut *self.out, data.len() as u32);
        w.write_all(data)?;
        w.finish()?;
        Ok(())
    }

    fn device(&mut self, name: &str, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        self.ino += 1;
        cpio::newc::Builder::new(name)
            .ino(self.ino)
            .mode(mode)
            .nlink(1)
            .mtime(self.mtime)
            .rdev_major(major)
            .rdev_minor(minor)
            .write(&mut *self.out, 0)
            .finish()?;
        Ok(())
    }

    fn file(&mut self, name: &str, mode: u32, path: &Path, size: u64) -> Result<()> {
        self.ino += 1;
        let size32 = u32::try_from(size).context("file too large for cpio")?;
        let mut w = cpio::newc::Builder::new(name)
            .ino(self.ino)
            .mode(mode)
            .nlink(1)
            .mtime(self.mtime)
            .write(&mut *self.out, size32);
        io::copy(&mut File::open(path)?, &mut w)?;
        w.finish()?;
        Ok(())
    }
}

pub(crate) fn write_tree<W: Write>(stage: &Path, epoch: u64, out: &mut W) -> Result<()> {
    let mut w = CpioWriter {
        out,
        ino: 0,
        mtime: epoch as u32,
    };
    let mut paths = Vec::new();
    collect(stage, Path::new(""), &mut paths)?;
    for rel in paths {
        let abs = stage.join(&rel);
        let meta = fs::symlink_metadata(&abs)?;
        let name = rel.to_string_lossy();
        let perm = meta.mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&abs)?;
            w.entry(&name, 0o120777, target.as_os_str().as_encoded_bytes())?;
        } else if meta.is_dir() {
            w.entry(&name, 0o040000 | perm, &[])?;
        } else {
            w.file(&name, 0o100000 | perm, &abs, meta.len())?;
        }
        // The kernel opens /dev/console for PID 1 before anything can be mounted.
        if name == "dev" {
            w.device("dev/console", 0o020600, 5, 1)?;
        }
    }
    cpio::newc::trailer(&mut *w.out)?;
    Ok(())
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let child = rel.join(name);
        out.push(child.clone());
        if fs::symlink_metadata(root.join(&child))?.is_dir() {
            collect(root, &child, out)?;
        }
    }
    Ok(())
}

/// The sidecar of a squashfs: `{"size": <bytes>, "sha256": "<hex>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub size: u64,
    pub sha256: String,
}

impl Sidecar {
    pub fn of(squashfs: &Path) -> Result<Sidecar> {
        Ok(Sidecar {
            size: fs::metadata(squashfs)
                .with_context(|| format!("stat {}", squashfs.display()))?
                .len(),
            sha256: stage_cache::sha256_file(squashfs)?,
        })
    }

    pub fn to_json(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }
}

/// The second member: /ros, the sidecar, then the squashfs. The sidecar goes first: the kernel
/// unpacks in order, so a member cut short by a lack of RAM still has it.
pub(crate) fn write_squashfs_member<W: Write>(
    squashfs: &Path,
    epoch: u64,
    out: &mut W,
) -> Result<()> {
    let sidecar = Sidecar::of(squashfs)?;
    let mut w = CpioWriter {
        out,
        ino: 1000,
        mtime: epoch as u32,
    };
    w.entry("ros", 0o040755, &[])?;
    w.entry(SIDECAR_PATH, 0o100644, &sidecar.to_json()?)?;
    w.file(SQUASHFS_PATH, 0o100644, squashfs, sidecar.size)?;
    cpio::newc::trailer(&mut *w.out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_tree_is_deterministic_and_has_a_console() {
        let tmp = tempfile::tempdir().unwrap();
        let stage = tmp.path();
        fs::create_dir_all(stage.join("dev")).unwrap();
        fs::write(stage.join("init"), "x").unwrap();
        std::os::unix::fs::symlink("init", stage.join("linuxrc")).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_tree(stage, 1_700_000_000, &mut a).unwrap();
        write_tree(stage, 1_700_000_000, &mut b).unwrap();
        assert_eq!(a, b);
        let mut names = Vec::new();
        let mut rest: &[u8] = &a;
        loop {
            let reader = cpio::newc::Reader::new(rest).unwrap();
            if reader.entry().is_trailer() {
                break;
            }
            names.push((reader.entry().name().to_string(), reader.entry().mode()));
            rest = reader.finish().unwrap();
        }
        assert_eq!(
            names,
            vec![
                ("dev".to_string(), 0o040755),
                ("dev/console".to_string(), 0o020600),
                ("init".to_string(), 0o100644),
                ("linuxrc".to_string(), 0o120777),
            ]
        );
    }

    #[test]
    fn squashfs_member_has_the_sidecar_before_the_image() {
        let tmp = tempfile::tempdir().unwrap();
        let squashfs = tmp.path().join("system.squashfs");
        fs::write(&squashfs, b"hsqs and the rest").unwrap();
        let mut member = Vec::new();
        write_squashfs_member(&squashfs, 1_700_000_000, &mut member).unwrap();
        let mut entries = Vec::new();
        let mut rest: &[u8] = &member;
        loop {
            let mut reader = cpio::newc::Reader::new(rest).unwrap();
            if reader.entry().is_trailer() {
                break;
            }
            let name = reader.entry().name().to_string();
            let mut data = Vec::new();
            reader.read_to_end(&mut data).unwrap();
            entries.push((name, data));
            rest = reader.finish().unwrap();
        }
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ros", SIDECAR_PATH, SQUASHFS_PATH]);
        let sidecar: serde_json::Value = serde_json::from_slice(&entries[1].1).unwrap();
        assert_eq!(
            sidecar,
            serde_json::json!({
                "size": 17,
                "sha256": stage_cache::sha256_file(&squashfs).unwrap(),
            })
        );
        assert_eq!(entries[2].1, b"hsqs and the rest");
    }
}
