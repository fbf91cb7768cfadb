//! The build, stage by stage: package lists, kernel, images, boot code, system image, initrd,
//! ISO, upgrade bundle, cloud disk images, manifest. Each stage prints a progress line and
//! reuses its last result when nothing changed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::deb_resolve::{Apt, Sources};
use crate::signing_key;
use crate::spec::{self, ImageSpec, KernelSpec};
use crate::{
    boot_code, bundle, disk_image, images, initrd, iso, kernel, manifest, size_report, squashfs,
};
use os_disk::signing::SigningKey;

/// Where the build reads and writes, and what it stamps into its outputs.
pub struct Ctx {
    pub repo: PathBuf,
    pub dist: PathBuf,
    /// Intermediate trees and stage results (inside the repo's ignored target/).
    pub work: PathBuf,
    /// Package lists and .debs, outside the repo.
    pub cache: PathBuf,
    pub epoch: u64,
    pub version: String,
    pub commit: String,
    pub ros_bin: PathBuf,
    /// Signs dist/ros.bundle; its public half is in the system image's trusted keys.
    pub signing_key: SigningKey,
    /// The system image's `usr/share/ros/trusted-keys/*.pub`: (file name, contents).
    pub trusted_keys: Vec<(String, String)>,
}

/// Options of `ros-build build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The ros binary (goes into the images, the system image and, as /init, the initrd).
    #[arg(long, default_value = "target/release/ros")]
    pub ros: PathBuf,
    /// Use another binary as the initrd's /init (for testing the pipeline only).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "dist")]
    pub dist: PathBuf,
    /// Refresh the Debian package lists even if they are recent.
    #[arg(long)]
    pub refresh: bool,
}

impl Ctx {
    fn new(args: &BuildArgs) -> Result<Ctx> {
        let repo = std::env::current_dir()?;
        if !repo.join("images/images.yml").is_file() {
            bail!(
                "run ros-build from the repository root (no images/images.yml in {})",
                repo.display()
            );
        }
        let cache = match std::env::var_os("ROS_CACHE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
                .context("neither XDG_CACHE_HOME nor HOME is set")?
                .join("ros"),
        };
        let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v
                .trim()
                .parse()
                .context("SOURCE_DATE_EPOCH is not a number")?,
            Err(_) => git(&repo, &["log", "-1", "--format=%ct"])
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
        };
        let mut commit = git(&repo, &["rev-parse", "HEAD"])
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        if git(&repo, &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.trim().is_empty())
        {
            commit.push_str("-dirty");
        }
        let ros_bin = repo.join(&args.ros);
        if !ros_bin.is_file() {
            bail!(
                "{} not found: build it first with `cargo build --release -p ros`",
                ros_bin.display()
            );
        }
        let dist = repo.join(&args.dist);
        let work = std::env::var_os("ROS_WORK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/ros-build"));
        for dir in [&dist, &work, &cache] {
            fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let key_path = signing_key::path(None)?;
        let signing_key = signing_key::load_or_generate(&key_path)?;
        let trusted_keys = signing_key::trusted_files(
            &signing_key,
            &std::env::var(signing_key::TRUSTED_KEYS_ENV).unwrap_or_default(),
        )?;
        println!(
            "bundle signing key {} ({}); the image trusts {}",
            signing_key.id(),
            key_path.display(),
            trusted_keys
                .iter()
                .map(|(name, _)| name.trim_end_matches(".pub"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Ctx {
            repo,
            dist,
            work,
            cache,
            epoch,
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit,
            ros_bin,
            signing_key,
            trusted_keys,
        })
    }
}

fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The number of `Progress::stage` calls in `build`.
const STAGES: usize = 10;

struct Progress {
    start: Instant,
    step: usize,
}

impl Progress {
    fn stage(&mut self, what: &str) {
        self.step += 1;
        println!(
            "==> [{}/{STAGES}] {what} (+{:.1}s)",
            self.step,
            self.start.elapsed().as_secs_f64()
        );
    }
}

pub fn build(args: &BuildArgs) -> Result<()> {
    let ctx = Ctx::new(args)?;
    if fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0) != 0 {
        println!(
            "warning: not root; unpacked files cannot keep their owners (run the build as root)"
        );
    }
    let mut progress = Progress {
        start: Instant::now(),
        step: 0,
    };
    println!(
        "ros {} ({}), SOURCE_DATE_EPOCH={}, cache {}",
        ctx.version,
        ctx.commit,
        ctx.epoch,
        ctx.cache.display()
    );

    progress.stage("Debian package lists");
    let sources = Sources::load(&ctx.repo, None)?;
    println!("    Debian {}", sources.suite);
    let apt = Apt::new(&ctx.cache, &sources)?;
    let refreshed = apt.update(Duration::from_secs(24 * 3600), args.refresh)?;
    println!(
        "    {}",
        if refreshed {
            "refreshed"
        } else {
            "recent enough (pass --refresh to update)"
        }
    );

    progress.stage("kernel");
    let kernel_dir = ctx.repo.join("kernel");
    let kernel_spec: KernelSpec = spec::read_yaml(&kernel_dir.join("kernel.yml"))?;
    let kernel_package = std::env::var("ROS_KERNEL_PACKAGE").unwrap_or(kernel_spec.package);
    let kernel = kernel::fetch(&ctx, &apt, &kernel_package)?;
    println!(
        "    {} {} ({})",
        kernel.package.name, kernel.package.version, kernel.release
    );
    fs::copy(&kernel.vmlinuz, ctx.dist.join("vmlinuz")).context("copy vmlinuz")?;
    let initrd_modules = spec::read_list(&kernel_dir.join("initrd-modules.txt"))?;
    let runtime_modules = spec::read_list(&kernel_dir.join("system-modules.txt"))?;
    // Shipped but loaded only on demand (`rancher.modules`, mounts, modprobe).
    let optional_modules = spec::read_list(&kernel_dir.join("optional-modules.txt"))?;
    let mut system_modules = initrd_modules.clone();
    system_modules.extend(runtime_modules.iter().cloned());
    system_modules.extend(optional_modules);

    progress.stage("system images");
    let (shared, mut defs) = spec::read_images(&ctx.repo.join("images"))?;
    // The flavour is the metapackage's tail: linux-image-cloud-amd64 → cloud-amd64.
    let flavour = kernel_package
        .strip_prefix("linux-image-")
        .unwrap_or(&kernel_package);
    spec::fill_kernel_release(&mut defs, &kernel.release, flavour);
    let built = images::build(&ctx, &apt, &shared, &defs)?;

    progress.stage("boot code (GRUB for BIOS and UEFI)");
    let boot_code = boot_code::build(&ctx)?;

    progress.stage("system image (squashfs)");
    let system_spec: ImageSpec = spec::read_yaml(&ctx.repo.join("iso/system.yml"))?;
    let inputs = squashfs::SystemInputs {
        images: &built,
        kernel: &kernel,
        modules: &system_modules,
        runtime_modules: &runtime_modules,
        boot_code: &boot_code,
        catalogue: &spec::catalogue(&defs),
    };
    let system = squashfs::build(&ctx, &apt, &shared, &system_spec, &inputs)?;

    progress.stage("initrd");
    let tools_root = initrd::tools_root(&ctx, &apt, &shared)?;
    let init = args
        .init
        .as_ref()
        .map(|p| ctx.repo.join(p))
        .unwrap_or_else(|| ctx.ros_bin.clone());
    let initrd = initrd::build(
        &ctx,
        &initrd::InitrdInputs {
            init: &init,
            kernel: &kernel,
            modules: &initrd_modules,
            squashfs: &system.file,
            lib_root: &ctx.work.join("system/root"),
            tools_root: &tools_root,
        },
    )?;
    println!(
        "    /init {}, {} modules, libraries {:?}",
        init.display(),
        initrd.modules,
        initrd.libraries
    );

    progress.stage("ISO");
    let iso_path = ctx.dist.join("ros.iso");
    let iso_inputs = iso::IsoInputs {
        vmlinuz: &ctx.dist.join("vmlinuz"),
        initrd: &initrd.small,
        squashfs: &system.file,
        grub_cfg: &ctx.repo.join("iso/grub.cfg"),
    };
    iso::build(&ctx, &iso_inputs, &iso_path)?;

    progress.stage("upgrade bundle");
    bundle::build(
        &ctx,
        &bundle::members(&ctx.dist),
        &ctx.dist.join("ros.bundle"),
    )?;

    progress.stage("cloud disk images (raw, qcow2)");
    let disk_inputs = disk_image::DiskInputs {
        vmlinuz: &ctx.dist.join("vmlinuz"),
        initrd: &initrd.small,
        squashfs: &system.file,
        boot_code: &boot_code,
    };
    let disks = disk_image::build(
        &ctx,
        &disk_inputs,
        &ctx.dist.join("ros.raw"),
        &ctx.dist.join("ros.qcow2"),
    )?;

    progress.stage("manifest");
    let artifacts = [
        "ros.iso",
        "ros.raw",
        "ros.qcow2",
        "ros.bundle",
        "vmlinuz",
        "initrd",
        "initrd-small",
        "system.squashfs",
    ]
    .iter()
    .map(|name| match *name {
        // Hashed by their stage: 2 GiB is not read again on every build.
        "ros.raw" => Ok(manifest::known_artifact(name, &disks.raw)),
        "ros.qcow2" => Ok(manifest::known_artifact(name, &disks.qcow2)),
        _ => manifest::artifact(&ctx.dist, name),
    })
    .collect::<Result<Vec<_>>>()?;
    let manifest = manifest::build(&ctx, &sources.suite, &kernel, &built, &system, artifacts);
    manifest::write(&manifest, &ctx.dist.join("manifest.json"))?;
    size_report::print(&manifest, &ctx.dist);
    println!(
        "==> done in {:.1}s: {}",
        progress.start.elapsed().as_secs_f64(),
        ctx.dist.display()
    );
    Ok(())
}
