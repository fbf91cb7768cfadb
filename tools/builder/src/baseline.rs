//! `ros-build baseline`: the benchmark's baseline, "a kernel plus a container engine". A
//! zstd-compressed initramfs for dist/vmlinuz (the very kernel ros boots) whose /init is
//! `tools/bench/baseline/init`, a busybox shell script that starts one dockerd from the same Debian
//! docker.io/containerd/runc packages as the system image, loads dist/images/base.tar and runs
//! one container. Written to dist/bench/baseline-initrd and reused while its inputs are
//! unchanged; the unpacked packages live in ~/.cache/ros/baseline.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::deb_extract;
use crate::deb_resolve::{Apt, Package, Sources};
use crate::initrd;
use crate::kernel_modules::ModuleIndex;
use crate::stage_cache::{self, sha256_file, Key};

/// The Debian packages whose binaries the baseline runs; their versions are pinned to the
/// ones dist/manifest.json records, so both sides run the same dockerd. The CLI is its own
/// package from Debian 13 on (debian.yml omits it for older suites).
const PACKAGES: &[&str] = &["docker.io", "docker-cli", "containerd", "runc", "busybox"];
/// Binaries copied into the initramfs (paths in a merged-/usr root), with their libraries.
const BINARIES: &[&str] = &[
    "usr/sbin/dockerd",
    "usr/bin/containerd",
    "usr/bin/containerd-shim-runc-v2",
    "usr/sbin/runc",
    "usr/bin/docker",
    "usr/bin/busybox",
];
/// Kernel modules the baseline loads: overlay for dockerd's overlay2 storage driver.
const MODULES: &[&str] = &["overlay"];
/// The image the baseline loads and runs.
const IMAGE: &str = "base";

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    /// The build's output directory (vmlinuz, manifest.json, images/).
    #[arg(long, default_value = "dist")]
    pub dist: PathBuf,
    /// The baseline's /init script.
    #[arg(long, default_value = "tools/bench/baseline/init")]
    pub init: PathBuf,
    /// Where to write the initramfs (default: <dist>/bench/baseline-initrd).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What `ros-build baseline` made; stored beside the initramfs as baseline.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    pub initrd: PathBuf,
    pub size: u64,
    pub kernel: String,
    pub image_tag: String,
    pub packages: Vec<Package>,
}

/// The fields of dist/manifest.json the baseline needs.
#[derive(Deserialize)]
struct Manifest {
    /// Absent from manifests older than debian.yml, which were all bookworm.
    #[serde(default = "older_suite")]
    debian_suite: String,
    kernel: ManifestKernel,
    packages: Vec<ManifestPackage>,
    images: Vec<ManifestImage>,
}

#[derive(Deserialize)]
struct ManifestKernel {
    package: String,
    version: String,
    release: String,
}

#[derive(Deserialize)]
struct ManifestPackage {
    name: String,
    version: String,
}

#[derive(Deserialize)]
struct ManifestImage {
    name: String,
    tag: String,
    file: String,
}

pub fn build(args: &BaselineArgs) -> Result<()> {
    let dist = &args.dist;
    let manifest_path = dist.join("manifest.json");
    let manifest: Manifest =
        serde_json::from_slice(&fs::read(&manifest_path).with_context(|| {
            format!("read {}: run scripts/build first", manifest_path.display())
        })?)
        .with_context(|| format!("parse {}", manifest_path.display()))?;
    let image = manifest
        .images
        .iter()
        .find(|i| i.name == IMAGE)
        .with_context(|| format!("{} lists no {IMAGE} image", manifest_path.display()))?;
    let image_tar = dist.join(&image.file);
    let vmlinuz = dist.join("vmlinuz");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dist.join("bench/baseline-initrd"));
    let out_dir = out.parent().context("output path")?.to_path_buf();
    fs::create_dir_all(&out_dir).with_context(|| format!("create {}", out_dir.display()))?;

    let wanted: Vec<String> = PACKAGES
        .iter()
        .map(
            |name| match manifest.packages.iter().find(|p| p.name == *name) {
                Some(p) => format!("{name}={}", p.version),
                None => name.to_string(),
            },
        )
        .collect();
    let mut key = Key::new("baseline");
    key.text(&out.to_string_lossy())
        .file(&args.init)?
        .file(&vmlinuz)?
        .file(&image_tar)?
        .json(&wanted)?
        .json(&MODULES)?
        .json(&BINARIES)?
        .text(&manifest.kernel.version);
    let key = key.finish();
    let outputs = |b: &Baseline| vec![b.initrd.clone()];
    if let Some(b) = stage_cache::load::<Baseline>(&out_dir, "baseline", &key, outputs) {
        println!(
            "    baseline unchanged: {} ({} MB)",
            b.initrd.display(),
            b.size / 1_000_000
        );
        return Ok(());
    }
    stage_cache::forget(&out_dir, "baseline");

    let cache = cache_dir()?;
    let work = cache.join("baseline");
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    // The suite the dist was built from: the pinned versions exist only there.
    let sources = Sources::load(Path::new("."), Some(&manifest.debian_suite))?;
    let apt = Apt::new(&cache, &sources)?;
    apt.update(Duration::from_secs(24 * 3600), false)?;

    println!("    resolving {}", wanted.join(" "));
    let packages = apt.resolve(&wanted, &[], &work)?;
    let debs = apt.download(&packages)?;
    let root = work.join("root");
    crate::rootfs::prepare(&root)?;
    for deb in &debs {
        deb_extract::extract(deb, &root, &[])?;
    }

    println!(
        "    kernel {} {}",
        manifest.kernel.package, manifest.kernel.version
    );
    let kernel_pkg = Package {
        name: manifest.kernel.package.clone(),
        version: manifest.kernel.version.clone(),
        arch: "amd64".into(),
    };
    let kernel_deb = apt.download(std::slice::from_ref(&kernel_pkg))?;
    let kernel_root = work.join("kernel");
    crate::rootfs::prepare(&kernel_root)?;
    deb_extract::extract(&kernel_deb[0], &kernel_root, &[])?;
    let release = &manifest.kernel.release;
    let packaged = kernel_root.join("boot").join(format!("vmlinuz-{release}"));
    if sha256_file(&packaged)? != sha256_file(&vmlinuz)? {
        bail!(
            "{} is not the kernel of {} {}: rebuild dist with scripts/build",
            vmlinuz.display(),
            kernel_pkg.name,
            kernel_pkg.version
        );
    }
    crate::command::require_tool("depmod", "kmod")?;
    crate::command::run(
        Command::new("depmod")
            .arg("-b")
            .arg(&kernel_root)
            .arg(release),
    )
    .context("depmod on the kernel package")?;

    let stage = work.join("stage");
    crate::rootfs::prepare(&stage)?;
    for dir in [
        "dev", "proc", "sys", "run", "tmp", "etc", "var/lib", "var/log", "bench",
    ] {
        fs::create_dir_all(stage.join(dir)).with_context(|| format!("create {dir}"))?;
    }
    for bin in BINARIES {
        let source = root.join(bin);
        if !source.is_file() {
            bail!("{bin} is not in the packages {}", wanted.join(" "));
        }
        let dest = stage.join(bin);
        fs::copy(&source, &dest).with_context(|| format!("copy {bin}"))?;
        initrd::copy_libraries(&source, &root, &stage)?;
    }
    crate::rootfs::busybox_links(&stage)?;
    let index = ModuleIndex::read(&kernel_root, release)?;
    let modules: Vec<String> = MODULES.iter().map(|m| m.to_string()).collect();
    let selection = index.closure(&modules);
    if !selection.missing.is_empty() {
        bail!("kernel {release} lacks the modules {:?}", selection.missing);
    }
    index.install(&selection.files, &stage)?;
    fs::copy(&image_tar, stage.join("bench/image.tar"))
        .with_context(|| format!("copy {}", image_tar.display()))?;
    fs::write(stage.join("bench/image.tag"), format!("{}\n", image.tag))?;
    fs::copy(&args.init, stage.join("init"))
        .with_context(|| format!("copy {}", args.init.display()))?;
    fs::set_permissions(stage.join("init"), fs::Permissions::from_mode(0o755))?;

    println!("    compressing the initramfs (zstd -19)");
    let mut cpio = Vec::new();
    initrd::write_tree(&stage, 0, &mut cpio)?;
    let compressed = initrd::zstd(&cpio)?;
    fs::write(&out, &compressed).with_context(|| format!("write {}", out.display()))?;
    let baseline = Baseline {
        initrd: out.clone(),
        size: compressed.len() as u64,
        kernel: release.clone(),
        image_tag: image.tag.clone(),
        packages,
    };
    stage_cache::store(&out_dir, "baseline", &key, &baseline)?;
    println!(
        "    baseline: {} ({} MB, {} MB unpacked)",
        out.display(),
        compressed.len() / 1_000_000,
        cpio.len() / 1_000_000
    );
    Ok(())
}

/// `$ROS_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/ros`, as the build uses.
fn older_suite() -> String {
    "bookworm".into()
}

fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ROS_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    Ok(std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set")?
        .join("ros"))
}
