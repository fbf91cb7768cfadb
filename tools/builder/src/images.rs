//! The system images: each folder of `images/` becomes a `docker load`-able archive. `base` is
//! built first; every other image is base's root plus its own packages and files, and its
//! archive holds base's layer followed by one layer of what differs.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use image_archive::docker_store::{self, StoreWriter};
use image_archive::{write_archive, ImageConfig, Layer};
use serde::{Deserialize, Serialize};

use crate::command;
use crate::deb_extract;
use crate::deb_resolve::{Apt, Package};
use crate::dpkg_database;
use crate::layer_diff;
use crate::pipeline::Ctx;
use crate::rootfs;
use crate::spec::{ImageDef, ImageSpec, SharedSpec};
use crate::stage_cache::{self, sha256_file, Key};

/// One written image archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuiltImage {
    pub name: String,
    pub tag: String,
    pub file: PathBuf,
    /// Image id: sha256 of the config blob.
    pub id: String,
    pub size: u64,
    pub sha256: String,
    pub layers: Vec<String>,
    /// Packages installed in this image (base's included).
    pub packages: Vec<Package>,
    /// Packages of which only some files were taken.
    pub extracted: Vec<Package>,
}

/// Packages resolved for one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    /// Packages this image adds (base: all of its packages).
    own: Vec<Package>,
    extracted: Vec<Package>,
}

/// Resolves `spec`'s packages on top of `installed` (names whose candidate versions count as
/// present) with the shared and image exclusions faked as installed too.
pub fn resolve(
    apt: &Apt,
    shared: &SharedSpec,
    spec: &ImageSpec,
    installed: &[String],
    scratch: &Path,
) -> Result<Vec<Package>> {
    // An image with a dpkg database gets every package for real: apt would want a faked one.
    let shared_exclude: &[String] = if spec.dpkg_status {
        &[]
    } else {
        &shared.exclude
    };
    let mut excluded: Vec<String> = shared_exclude
        .iter()
        .chain(&spec.exclude)
        .filter(|e| !spec.packages.contains(e) && !installed.contains(e))
        .cloned()
        .collect();
    excluded.sort();
    excluded.dedup();
    let mut stanzas: Vec<String> = apt.stanzas(installed)?.into_values().collect();
    if spec.dpkg_status {
        // base was resolved with fakes this image does not have (base-files pre-depends on
        // awk): apt resolves nothing from a broken start, so base counts as self-contained
        // here, and the image lists what base needs (mawk). `apt-get check` in the artifacts
        // test proves the result whole.
        stanzas = stanzas.iter().map(|s| without_relations(s)).collect();
    }
    // Faked packages bring none of their own dependencies.
    stanzas.extend(
        apt.stanzas(&excluded)?
            .values()
            .map(|s| without_relations(s)),
    );
    apt.resolve(&spec.packages, &stanzas, scratch)
}

/// A package stanza without the fields that relate it to others.
fn without_relations(stanza: &str) -> String {
    let relation = |l: &str| {
        [
            "Depends:",
            "Pre-Depends:",
            "Recommends:",
            "Suggests:",
            "Conflicts:",
            "Breaks:",
            "Replaces:",
        ]
        .iter()
        .any(|f| l.starts_with(f))
    };
    let mut out = Vec::new();
    let mut skipping = false;
    for line in stanza.lines() {
        if line.starts_with(' ') {
            if !skipping {
                out.push(line);
            }
            continue;
        }
        skipping = relation(line);
        if !skipping {
            out.push(line);
        }
    }
    out.join("\n")
}

pub fn build(
    ctx: &Ctx,
    apt: &Apt,
    shared: &SharedSpec,
    defs: &[ImageDef],
) -> Result<Vec<BuiltImage>> {
    let scratch = ctx.work.join("images");
    fs::create_dir_all(&scratch)?;
    let plans = plan_all(ctx, apt, shared, defs, &scratch)?;

    let mut key = Key::new("images");
    // Outputs live in the output directory: another --dist is another build.
    key.text(&ctx.dist.to_string_lossy());
    key.json(shared)?
        .text(&ctx.version)
        .text(&ctx.epoch.to_string());
    key.dir(&ctx.repo.join("images"))?.json(&plans)?;
    if defs.iter().any(|d| d.spec.ros) {
        key.file(&ctx.ros_bin)?;
    }
    let key = key.finish();
    let store = store_dir(ctx);
    let outputs = |built: &Vec<BuiltImage>| {
        let mut files: Vec<PathBuf> = built.iter().map(|b| b.file.clone()).collect();
        files.push(store.join(docker_store::INDEX_FILE));
        files.extend(
            built
                .iter()
                .map(|b| docker_store::config_path(&store, &b.id)),
        );
        files
    };
    if let Some(built) = stage_cache::load(&ctx.work, "images", &key, outputs) {
        println!(
            "    images unchanged, reusing {}",
            ctx.dist.join("images").display()
        );
        return Ok(built);
    }
    stage_cache::forget(&ctx.work, "images");

    let out_dir = ctx.dist.join("images");
    fs::create_dir_all(&out_dir)?;
    // The same images as System Docker's ready-made store, layers shared: this is what the
    // system image carries (image_archive::docker_store), so no boot loads an image.
    let mut store = StoreWriter::create(&store_dir(ctx))?;
    let base_root = scratch.join("base.root");
    let mut base_layer: Option<Layer> = None;
    let mut built = Vec::new();
    for (def, plan) in defs.iter().zip(&plans) {
        println!("    {}: {} packages", def.name, plan.own.len());
        let root = if def.name == "base" {
            base_root.clone()
        } else {
            scratch.join(format!("{}.root", def.name))
        };
        if def.name == "base" {
            rootfs::prepare(&root)?;
        } else {
            copy_tree(&base_root, &root)?;
        }
        assemble(ctx, apt, shared, def, plan, &plans[0].own, &root)?;
        let layers: Vec<Layer> = match &base_layer {
            None => {
                let layer = Layer::from_dir(&root, ctx.epoch)?;
                base_layer = Some(layer.clone());
                vec![layer]
            }
            Some(base) => {
                let diff = layer_diff::diff(&base_root, &root)?;
                if !diff.removed.is_empty() {
                    tracing::warn!(image = %def.name, removed = ?diff.removed, "paths of base removed; they stay visible");
                }
                let top = Layer::from_dir_filtered(&root, ctx.epoch, |p| diff.include.contains(p))?;
                vec![base.clone(), top]
            }
        };
        let tag = format!("{}/{}:{}", shared.repository, def.name, ctx.version);
        let file = out_dir.join(format!("{}.tar", def.name));
        let refs: Vec<&Layer> = layers.iter().collect();
        let config = image_config(&def.spec);
        let info = write_archive(&file, &tag, &refs, &config, ctx.epoch)?;
        let stored = store.add(&def.name, &tag, &refs, &config, ctx.epoch)?;
        anyhow::ensure!(
            stored.id == info.id,
            "unpacked {} has id {}, archive {}",
            def.name,
            stored.id,
            info.id
        );
        let mut packages = plan.own.clone();
        if def.name != "base" {
            packages.extend(plans[0].own.iter().cloned());
            packages.sort();
        }
        built.push(BuiltImage {
            name: def.name.clone(),
            tag,
            sha256: sha256_file(&file)?,
            file,
            id: info.id,
            size: info.size,
            layers: info.diff_ids,
            packages,
            extracted: plan.extracted.clone(),
        });
        if def.name != "base" {
            fs::remove_dir_all(&root).ok();
        }
    }
    store.finish()?;
    stage_cache::store(&ctx.work, "images", &key, &built)?;
    Ok(built)
}

/// Resolves every image's packages; reuses the last answer while the package lists and the
/// specs are the same (apt takes most of a warm build otherwise).
fn plan_all(
    ctx: &Ctx,
    apt: &Apt,
    shared: &SharedSpec,
    defs: &[ImageDef],
    scratch: &Path,
) -> Result<Vec<Plan>> {
    let mut key = Key::new("images-plan");
    key.text(&apt.lists_stamp()).json(shared)?;
    for def in defs {
        key.text(&def.name).json(&def.spec)?;
    }
    let key = key.finish();
    if let Some(plans) =
        stage_cache::load(&ctx.work, "images-plan", &key, |_: &Vec<Plan>| Vec::new())
    {
        return Ok(plans);
    }
    let mut plans = Vec::new();
    let mut base_names: Vec<String> = Vec::new();
    for def in defs {
        let own = resolve(apt, shared, &def.spec, &base_names, scratch)
            .with_context(|| format!("image {}", def.name))?;
        if def.name == "base" {
            base_names = own.iter().map(|p| p.name.clone()).collect();
        }
        let extracted = apt.candidates(&def.spec.extract.keys().cloned().collect::<Vec<_>>())?;
        plans.push(Plan { own, extracted });
    }
    stage_cache::store(&ctx.work, "images-plan", &key, &plans)?;
    Ok(plans)
}

/// Where the images are stored as System Docker's store (see `image_archive::docker_store`).
pub fn store_dir(ctx: &Ctx) -> PathBuf {
    ctx.work.join("images/store")
}

/// Unpacks an image's packages and applies its spec on `root`.
fn assemble(
    ctx: &Ctx,
    apt: &Apt,
    shared: &SharedSpec,
    def: &ImageDef,
    plan: &Plan,
    base: &[Package],
    root: &Path,
) -> Result<()> {
    let debs = apt.download(&plan.own)?;
    for deb in &debs {
        deb_extract::extract(deb, root, &[])?;
    }
    if def.spec.dpkg_status && def.name != "base" {
        let base_debs = apt.download(base)?;
        let all: Vec<&Path> = base_debs
            .iter()
            .chain(&debs)
            .map(PathBuf::as_path)
            .collect();
        dpkg_database::write(root, &all)?;
        dpkg_database::write_sources(root, apt.suite())?;
    }
    for pkg in &plan.extracted {
        let deb = apt.download(std::slice::from_ref(pkg))?;
        deb_extract::extract(&deb[0], root, &def.spec.extract[&pkg.name])?;
    }
    if def.spec.ros {
        install_ros(&ctx.ros_bin, root)?;
    }
    if def.spec.busybox_links {
        rootfs::busybox_links(root)?;
    }
    if let Some(files) = def.files_dir() {
        rootfs::copy_overlay(&files, root)?;
    }
    rootfs::apply_spec(root, &def.spec)?;
    let keep: Vec<String> = shared.keep.iter().chain(&def.spec.keep).cloned().collect();
    rootfs::remove_matching(root, &rootfs::globs(&shared.prune)?, &rootfs::globs(&keep)?)?;
    rootfs::ensure_standard_dirs(root)?;
    rootfs::ldconfig(root)
}

/// Copies the `ros` binary to /usr/bin/ros.
pub fn install_ros(ros_bin: &Path, root: &Path) -> Result<()> {
    let dest = root.join("usr/bin/ros");
    fs::copy(ros_bin, &dest).with_context(|| format!("copy {}", ros_bin.display()))?;
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("clear {}", to.display()))?;
    }
    command::run(Command::new("cp").arg("-a").arg(from).arg(to))
}

fn image_config(spec: &ImageSpec) -> ImageConfig {
    let mut labels: BTreeMap<String, String> = spec.labels.clone();
    labels
        .entry("org.opencontainers.image.source".into())
        .or_insert_with(|| "ros".into());
    ImageConfig {
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        env: if spec.env.is_empty() {
            vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()]
        } else {
            spec.env.clone()
        },
        labels,
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
    }
}
