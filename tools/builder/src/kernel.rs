//! The kernel: Debian's kernel package named by `kernel/kernel.yml`, its vmlinuz and modules.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::deb_extract;
use crate::deb_resolve::{package_of, Apt, Package};
use crate::pipeline::Ctx;
use crate::stage_cache::{self, Key};

/// What the kernel stage produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kernel {
    /// The metapackage asked for (e.g. linux-image-cloud-amd64) at its current version.
    pub meta: Package,
    /// The versioned image package it depends on.
    pub package: Package,
    /// `uname -r` of the kernel, e.g. 6.1.0-56-cloud-amd64.
    pub release: String,
    /// The unpacked package (modules under lib/modules/<release>).
    pub root: PathBuf,
    pub vmlinuz: PathBuf,
}

/// Resolves the current version of `meta_name`, downloads and unpacks it.
pub fn fetch(ctx: &Ctx, apt: &Apt, meta_name: &str) -> Result<Kernel> {
    let stanzas = apt.stanzas(&[meta_name.to_string()])?;
    let meta_stanza = stanzas
        .get(meta_name)
        .context("kernel metapackage stanza")?;
    let meta = package_of(meta_stanza)?;
    let image_name = image_dependency(meta_stanza)
        .with_context(|| format!("{meta_name} depends on no linux-image package"))?;
    let package = apt
        .candidates(std::slice::from_ref(&image_name))?
        .into_iter()
        .next()
        .context("kernel image package")?;

    let mut key = Key::new("kernel");
    key.json(&package)?;
    let key = key.finish();
    let outputs = |k: &Kernel| {
        vec![
            k.vmlinuz.clone(),
            k.root.join("lib/modules").join(&k.release),
        ]
    };
    if let Some(kernel) = stage_cache::load(&ctx.work, "kernel", &key, outputs) {
        return Ok(kernel);
    }
    stage_cache::forget(&ctx.work, "kernel");
    let deb = apt.download(std::slice::from_ref(&package))?;
    let root = ctx.work.join("kernel");
    if root.exists() {
        fs::remove_dir_all(&root).context("clear the kernel tree")?;
    }
    crate::rootfs::prepare(&root)?;
    deb_extract::extract(&deb[0], &root, &[])?;
    let release = single_dir_name(&root.join("lib/modules"))?;
    // Debian's package leaves modules.dep to its postinst; make it as depmod there would.
    crate::command::require_tool("depmod", "kmod")?;
    crate::command::run(
        std::process::Command::new("depmod")
            .arg("-b")
            .arg(&root)
            .arg(&release),
    )
    .context("depmod on the kernel package")?;
    let vmlinuz = root.join("boot").join(format!("vmlinuz-{release}"));
    if !vmlinuz.is_file() {
        bail!("{} has no {}", package.name, vmlinuz.display());
    }
    let kernel = Kernel {
        meta,
        package,
        release,
        root,
        vmlinuz,
    };
    stage_cache::store(&ctx.work, "kernel", &key, &kernel)?;
    Ok(kernel)
}

/// The first `linux-image-*` name in a stanza's Depends.
fn image_dependency(stanza: &str) -> Option<String> {
    let depends = stanza.lines().find_map(|l| l.strip_prefix("Depends:"))?;
    depends
        .split([',', '|'])
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|d| d.starts_with("linux-image-"))
        .map(str::to_string)
}

fn single_dir_name(dir: &Path) -> Result<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one kernel release in {}, found {names:?}",
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_versioned_image_package() {
        let stanza = "Package: linux-image-cloud-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)\n";
        assert_eq!(
            image_dependency(stanza).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
    }
}
