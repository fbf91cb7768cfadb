//! The system image: a squashfs of `/usr` holding System Docker (dockerd, containerd, runc,
//! docker-init, iptables) with its libraries, `ros`, System Docker's image store, the built-in
//! os-config.yml, the kernel modules, GRUB's boot code for `ros install` and the public keys
//! upgrade bundles must be signed with. PID 1 mounts it; it is never unpacked.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use os_disk::signing::TRUSTED_KEYS_DIR;
use os_disk::slot_write::{BootCode, BOOT_CODE_DIR};
use serde::{Deserialize, Serialize};

use crate::command;
use crate::deb_extract;
use crate::deb_resolve::{Apt, Package};
use crate::images::{self, BuiltImage};
use crate::kernel::Kernel;
use crate::kernel_modules::ModuleIndex;
use crate::pipeline::Ctx;
use crate::rootfs;
use crate::spec::{ImageSpec, SharedSpec};
use crate::stage_cache::{self, sha256_file, Key};

/// What the system-image stage produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemImage {
    pub file: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub packages: Vec<Package>,
    pub modules: usize,
    pub compression: String,
    /// Whether the built-in os-config.yml was found and included.
    pub os_config: bool,
}

/// Inputs of the system image besides its spec.
pub struct SystemInputs<'a> {
    pub images: &'a [BuiltImage],
    pub kernel: &'a Kernel,
    /// Every module the system image carries (the initrd's and the running system's).
    pub modules: &'a [String],
    /// The modules PID 1 loads after switch_root (written to usr/share/ros/modules.list).
    pub runtime_modules: &'a [String],
    /// GRUB's boot code (see `boot_code`), installed at `BOOT_CODE_DIR`.
    pub boot_code: &'a BootCode,
    /// Catalogue services: (name, compose file), shipped in usr/share/ros/services.
    pub catalogue: &'a [(String, PathBuf)],
}

pub fn build(
    ctx: &Ctx,
    apt: &Apt,
    shared: &SharedSpec,
    spec: &ImageSpec,
    inputs: &SystemInputs,
) -> Result<SystemImage> {
    let scratch = ctx.work.join("system");
    fs::create_dir_all(&scratch)?;
    let mut plan_key = Key::new("system-plan");
    plan_key.text(&apt.lists_stamp()).json(shared)?.json(spec)?;
    let plan_key = plan_key.finish();
    let packages =
        match stage_cache::load(&ctx.work, "system-plan", &plan_key, |_: &Vec<Package>| {
            Vec::new()
        }) {
            Some(packages) => packages,
            None => {
                let packages = images::resolve(apt, shared, spec, &[], &scratch)?;
                stage_cache::store(&ctx.work, "system-plan", &plan_key, &packages)?;
                packages
            }
        };
    let os_config = ctx.repo.join("os-config/defaults/os-config.yml");
    // zstd, not xz: 11 % bigger, but xz's decompression made every read of dockerd and the
    // image archives the slowest part of boot under emulation (ready 49 s → 37 s).
    let compression = std::env::var("ROS_SQUASHFS_COMPRESSION").unwrap_or_else(|_| "zstd".into());

    let mut key = Key::new("system");
    // Outputs live in the output directory: another --dist is another build.
    key.text(&ctx.dist.to_string_lossy());
    key.json(spec)?
        .json(shared)?
        .json(&packages)?
        .text(&ctx.version)
        .text(&ctx.commit);
    key.text(&ctx.epoch.to_string())
        .text(&compression)
        .file(&ctx.ros_bin)?;
    key.json(&inputs.images.iter().map(|i| &i.id).collect::<Vec<_>>())?;
    key.json(&inputs.kernel.package)?
        .json(&inputs.modules)?
        .json(&inputs.runtime_modules)?;
    if os_config.is_file() {
        key.file(&os_config)?;
    }
    key.json(&ctx.trusted_keys)?;
    for (name, file) in inputs.catalogue {
        key.text(name).file(file)?;
    }
    for file in boot_code_files(inputs.boot_code) {
        key.file(file)?;
    }
    let key = key.finish();
    if let Some(image) = stage_cache::load(&ctx.work, "system", &key, |s: &SystemImage| {
        vec![s.file.clone()]
    }) {
        println!(
            "    system image unchanged, reusing {}",
            image.file.display()
        );
        return Ok(image);
    }
    stage_cache::forget(&ctx.work, "system");

    let root = scratch.join("root");
    rootfs::prepare(&root)?;
    for deb in apt.download(&packages)? {
        deb_extract::extract(&deb, &root, &[])?;
    }
    rootfs::apply_spec(&root, spec)?;
    if spec.busybox_links {
        rootfs::busybox_links(&root)?;
    }
    rootfs::remove_matching(
        &root,
        &rootfs::globs(&shared.prune)?,
        &rootfs::globs(&shared.keep)?,
    )?;
    images::install_ros(&ctx.ros_bin, &root)?;

    let share = root.join("usr/share/ros");
    fs::create_dir_all(&share)?;
    // System Docker's image store, served as it is at boot (sysdocker::bundled_store). In one
    // squashfs with /usr, each file is kept once.
    command::run(
        Command::new("cp")
            .arg("-a")
            .arg(images::store_dir(ctx))
            .arg(share.join("system-docker")),
    )
    .context("add the image store")?;
    // The keys `ros os upgrade` accepts bundles from (os_disk::signing::TRUSTED_KEYS_DIR).
    let trusted = root.join(TRUSTED_KEYS_DIR.trim_start_matches('/'));
    fs::create_dir_all(&trusted)?;
    for (name, text) in &ctx.trusted_keys {
        fs::write(trusted.join(name), text).with_context(|| format!("add trusted key {name}"))?;
    }
    let has_os_config = os_config.is_file();
    if has_os_config {
        fs::copy(&os_config, share.join("os-config.yml")).context("add os-config.yml")?;
    } else {
        println!(
            "    warning: {} does not exist yet; the system image has no built-in os-config.yml",
            os_config.display()
        );
    }
    write_engine_list(&share, &packages)?;
    write_console_list(&share, shared, inputs.images)?;
    // The service catalogue (sysdocker::includes::BUNDLED_DIR): listed, not enabled.
    let services = share.join("services");
    fs::create_dir_all(&services)?;
    for (name, file) in inputs.catalogue {
        fs::copy(file, services.join(format!("{name}.yml")))
            .with_context(|| format!("add catalogue service {}", file.display()))?;
    }
    fs::write(
        share.join("build.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "version": ctx.version, "commit": ctx.commit, "kernel": inputs.kernel.release,
        }))?,
    )?;

    let index = ModuleIndex::read(&inputs.kernel.root, &inputs.kernel.release)?;
    let sel = index.closure(inputs.modules);
    for name in &sel.missing {
        println!(
            "    warning: kernel module {name} not found in {}",
            inputs.kernel.package.name
        );
    }
    index.install(&sel.files, &root)?;
    // The names PID 1 loads after switch_root (it resolves dependencies itself).
    let wanted: String = inputs
        .runtime_modules
        .iter()
        .map(|m| m.trim_end_matches('?'))
        .filter(|m| index.has(m))
        .map(|m| format!("{m}\n"))
        .collect();
    fs::write(share.join("modules.list"), wanted).context("write modules.list")?;
    let boot_dir = root.join(BOOT_CODE_DIR.trim_start_matches('/'));
    fs::create_dir_all(&boot_dir)?;
    for file in boot_code_files(inputs.boot_code) {
        let name = file.file_name().context("boot code file name")?;
        fs::copy(file, boot_dir.join(name)).with_context(|| format!("add {}", file.display()))?;
    }

    let out = ctx.dist.join("system.squashfs");
    mksquashfs(&root.join("usr"), &out, &compression, ctx.epoch)?;
    let image = SystemImage {
        size: fs::metadata(&out)?.len(),
        sha256: sha256_file(&out)?,
        file: out,
        packages,
        modules: sel.files.len(),
        compression,
        os_config: has_os_config,
    };
    stage_cache::store(&ctx.work, "system", &key, &image)?;
    Ok(image)
}

fn boot_code_files(code: &BootCode) -> [&Path; 3] {
    [&code.mbr, &code.core, &code.efi]
}

/// Packs `dir` reproducibly: fixed times, no xattrs, entries sorted by mksquashfs itself.
/// Owners are kept: the image layers stored inside have files owned by service users.
pub fn mksquashfs(dir: &Path, out: &Path, compression: &str, epoch: u64) -> Result<()> {
    command::require_tool("mksquashfs", "squashfs-tools")?;
    let _ = fs::remove_file(out);
    let mut cmd = Command::new("mksquashfs");
    cmd.arg(dir)
        .arg(out)
        .args(["-noappend", "-no-progress", "-no-xattrs", "-b", "1M"]);
    cmd.args(["-comp", compression]);
    if compression == "xz" {
        cmd.args(["-Xbcj", "x86"]);
    } else if compression == "zstd" {
        cmd.args(["-Xcompression-level", "19"]);
    }
    cmd.arg("-mkfs-time")
        .arg(epoch.to_string())
        .arg("-all-time")
        .arg(epoch.to_string());
    // mksquashfs refuses SOURCE_DATE_EPOCH together with the explicit times above.
    cmd.env_remove("SOURCE_DATE_EPOCH");
    command::run(&mut cmd).context("mksquashfs")
}
/// `usr/share/ros/consoles.yml` (sysdocker::consoles): `images.yml`'s consoles with their
/// image tags, the default first.
fn write_console_list(share: &Path, shared: &SharedSpec, images: &[BuiltImage]) -> Result<()> {
    use sysdocker::consoles::{Console, ConsoleList, DEFAULT_CONSOLE};
    let mut consoles = Vec::new();
    for (name, spec) in &shared.consoles {
        let Some(image) = images.iter().find(|i| i.name == spec.image) else {
            anyhow::bail!(
                "images.yml: console {name}'s image {} is not in the images list",
                spec.image
            );
        };
        consoles.push(Console {
            name: name.clone(),
            image: image.tag.clone(),
            description: spec.description.clone(),
        });
    }
    consoles.sort_by_key(|c| c.name != DEFAULT_CONSOLE);
    if consoles.first().map(|c| c.name.as_str()) != Some(DEFAULT_CONSOLE) {
        anyhow::bail!("images.yml: consoles has no {DEFAULT_CONSOLE} console");
    }
    let text = format!(
        "# Written by the build: the consoles this system image ships (ros console list).\n{}",
        yaml_serde::to_string(&ConsoleList { consoles })?
    );
    fs::write(share.join("consoles.yml"), text).context("add consoles.yml")?;
    Ok(())
}

/// `usr/share/ros/engines.yml` (sysdocker::docker_engines): the Docker Engine this image
/// carries, named after its Debian version. Debian 13 carries one; the list is the mechanism
/// another would join.
fn write_engine_list(share: &Path, packages: &[Package]) -> Result<()> {
    let Some(docker) = packages.iter().find(|p| p.name == "docker.io") else {
        println!("    warning: no docker.io in the system image; no engine list");
        return Ok(());
    };
    let list = sysdocker::docker_engines::EngineList {
        engines: vec![sysdocker::docker_engines::DockerEngine {
            name: sysdocker::docker_engines::engine_name(&docker.version),
            version: docker.version.clone(),
            dockerd: "/usr/sbin/dockerd".into(),
            default: true,
        }],
    };
    let text = format!(
        "# Written by the build: the Docker Engines this system image ships (ros engine list).\n{}",
        yaml_serde::to_string(&list)?
    );
    fs::write(share.join("engines.yml"), text).context("add engines.yml")?;
    Ok(())
}
