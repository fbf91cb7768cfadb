//! dist/manifest.json: what was built from what, with sizes and digests.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::deb_resolve::Package;
use crate::disk_image::Output;
use crate::images::BuiltImage;
use crate::kernel::Kernel;
use crate::pipeline::Ctx;
use crate::squashfs::SystemImage;
use crate::stage_cache::sha256_file;

#[derive(Serialize)]
pub struct Manifest {
    pub ros_version: String,
    pub git_commit: String,
    pub source_date_epoch: u64,
    /// The Debian release the packages come from (debian.yml).
    pub debian_suite: String,
    pub kernel: KernelEntry,
    /// Every Debian package, with the parts of the build that use it.
    pub packages: Vec<PackageEntry>,
    pub images: Vec<ImageEntry>,
    pub system_image: SystemEntry,
    pub artifacts: Vec<Artifact>,
}

#[derive(Serialize)]
pub struct KernelEntry {
    pub flavour_package: String,
    pub flavour_version: String,
    pub package: String,
    pub version: String,
    pub release: String,
}

#[derive(Serialize)]
pub struct PackageEntry {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub used_by: Vec<String>,
}

#[derive(Serialize)]
pub struct ImageEntry {
    pub name: String,
    pub tag: String,
    pub file: String,
    /// Image id (sha256 of the config), as `docker images --no-trunc` shows it.
    pub id: String,
    pub size: u64,
    pub sha256: String,
    pub layers: Vec<String>,
}

#[derive(Serialize)]
pub struct SystemEntry {
    pub file: String,
    pub compression: String,
    pub modules: usize,
    pub os_config: bool,
}

#[derive(Serialize)]
pub struct Artifact {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

pub fn artifact(dist: &Path, name: &str) -> Result<Artifact> {
    let path = dist.join(name);
    Ok(Artifact {
        name: name.to_string(),
        size: fs::metadata(&path)
            .with_context(|| format!("stat {}", path.display()))?
            .len(),
        sha256: sha256_file(&path)?,
    })
}

/// An artifact whose stage already knows its size and digest.
pub fn known_artifact(name: &str, output: &Output) -> Artifact {
    Artifact {
        name: name.to_string(),
        size: output.size,
        sha256: output.sha256.clone(),
    }
}

pub fn build(
    ctx: &Ctx,
    suite: &str,
    kernel: &Kernel,
    images: &[BuiltImage],
    system: &SystemImage,
    artifacts: Vec<Artifact>,
) -> Manifest {
    let mut used: BTreeMap<Package, Vec<String>> = BTreeMap::new();
    let mut add =
        |p: &Package, user: &str| used.entry(p.clone()).or_default().push(user.to_string());
    add(&kernel.package, "kernel");
    for image in images {
        for p in image.packages.iter().chain(&image.extracted) {
            add(p, &format!("image:{}", image.name));
        }
    }
    for p in &system.packages {
        add(p, "system");
    }
    Manifest {
        ros_version: ctx.version.clone(),
        git_commit: ctx.commit.clone(),
        source_date_epoch: ctx.epoch,
        debian_suite: suite.to_owned(),
        kernel: KernelEntry {
            flavour_package: kernel.meta.name.clone(),
            flavour_version: kernel.meta.version.clone(),
            package: kernel.package.name.clone(),
            version: kernel.package.version.clone(),
            release: kernel.release.clone(),
        },
        packages: used
            .into_iter()
            .map(|(p, used_by)| PackageEntry {
                name: p.name,
                version: p.version,
                arch: p.arch,
                used_by,
            })
            .collect(),
        images: images
            .iter()
            .map(|i| ImageEntry {
                name: i.name.clone(),
                tag: i.tag.clone(),
                file: format!("images/{}.tar", i.name),
                id: i.id.clone(),
                size: i.size,
                sha256: i.sha256.clone(),
                layers: i.layers.clone(),
            })
            .collect(),
        system_image: SystemEntry {
            file: "system.squashfs".into(),
            compression: system.compression.clone(),
            modules: system.modules,
            os_config: system.os_config,
        },
        artifacts,
    }
}

pub fn write(manifest: &Manifest, path: &Path) -> Result<()> {
    let mut text = serde_json::to_string_pretty(manifest)?;
    text.push('\n');
    fs::write(path, text).with_context(|| format!("write {}", path.display()))
}
