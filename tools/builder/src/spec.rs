//! The declarative inputs: `images/images.yml`, `images/<name>/image.yml`, `iso/system.yml`
//! and `kernel/kernel.yml`. They say what goes in; the other modules say how.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Settings shared by every image (`images/images.yml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSpec {
    /// Images are tagged `<repository>/<name>:<version>`.
    pub repository: String,
    /// Build order; `base` comes first and every other image is layered on it.
    pub images: Vec<String>,
    /// Packages never installed (faked as present): maintainer-script machinery we never run.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Globs of paths removed from every root filesystem (docs, man pages, locales).
    #[serde(default)]
    pub prune: Vec<String>,
    /// Globs kept even when `prune` matches them (copyright files).
    #[serde(default)]
    pub keep: Vec<String>,
    /// The consoles `ros console` offers, by name (`default` is the one that runs unless
    /// `rancher.console` names another).
    #[serde(default)]
    pub consoles: BTreeMap<String, ConsoleSpec>,
}

/// One console: the image folder it runs, and a line saying what it is.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSpec {
    pub image: String,
    #[serde(default)]
    pub description: String,
}

/// One image (`images/<name>/image.yml`), also used for the system image (`iso/system.yml`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    #[serde(default)]
    pub description: String,
    /// Debian packages, installed with their dependencies.
    #[serde(default)]
    pub packages: Vec<String>,
    /// More packages to keep out, for this image only.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Packages of which only these paths are taken, without dependencies.
    #[serde(default)]
    pub extract: BTreeMap<String, Vec<String>>,
    /// Copy the `ros` binary to /usr/bin/ros.
    #[serde(default)]
    pub ros: bool,
    /// Create a symlink for every busybox applet that no package provides.
    #[serde(default)]
    pub busybox_links: bool,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// Symlinks to create (path: target), e.g. what update-alternatives would make.
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
    /// Directories to create, with mode and owner.
    #[serde(default)]
    pub directories: Vec<DirSpec>,
    /// Globs of paths to remove after unpacking.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Globs kept although the shared `prune` matches them (the Debian console's man pages).
    #[serde(default)]
    pub keep: Vec<String>,
    /// Keep apt and dpkg working inside: write the dpkg database (see `dpkg_database`), and
    /// install the shared `exclude` packages for real instead of faking them.
    #[serde(default)]
    pub dpkg_status: bool,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    pub gid: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    pub uid: u32,
    /// Primary group id; a group of the user's name is made when none has it.
    pub gid: u32,
    #[serde(default)]
    pub home: Option<String>,
    #[serde(default)]
    pub shell: Option<String>,
    /// Supplementary groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    pub path: String,
    /// Octal, e.g. "0755".
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
}

/// Which kernel (`kernel/kernel.yml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// The Debian metapackage naming the kernel, e.g. linux-image-cloud-amd64.
    pub package: String,
}

/// An image definition read from its folder.
#[derive(Debug, Clone)]
pub struct ImageDef {
    pub name: String,
    pub dir: PathBuf,
    pub spec: ImageSpec,
}

impl ImageDef {
    /// The `files/` overlay copied over the image's root, when present.
    pub fn files_dir(&self) -> Option<PathBuf> {
        let dir = self.dir.join("files");
        dir.is_dir().then_some(dir)
    }
}

pub fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    yaml_serde::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// Reads `images/images.yml` and every image it lists, `base` first.
pub fn read_images(images_dir: &Path) -> Result<(SharedSpec, Vec<ImageDef>)> {
    let shared: SharedSpec = read_yaml(&images_dir.join("images.yml"))?;
    if shared.images.first().map(String::as_str) != Some("base") {
        bail!("images/images.yml: the first image must be base");
    }
    let defs = shared
        .images
        .iter()
        .map(|name| {
            let dir = images_dir.join(name);
            Ok(ImageDef {
                name: name.clone(),
                spec: read_yaml(&dir.join("image.yml"))?,
                dir,
            })
        })
        .collect::<Result<_>>()?;
    Ok((shared, defs))
}

/// What an image's package names write for the kernel's `uname -r` (kernel-headers).
pub const KERNEL_RELEASE: &str = "{kernel_release}";
/// ... and for that release without its flavour (`6.12.118+deb13` of `…-cloud-amd64`), the
/// name of the flavour-independent packages (`linux-headers-<abi>-common`, `linux-kbuild-<abi>`).
pub const KERNEL_ABI: &str = "{kernel_abi}";

/// Puts the built kernel's release (and ABI) into every package name that asks for it.
pub fn fill_kernel_release(defs: &mut [ImageDef], release: &str, flavour: &str) {
    let abi = release
        .strip_suffix(&format!("-{flavour}"))
        .unwrap_or(release);
    let fill = |p: &str| p.replace(KERNEL_RELEASE, release).replace(KERNEL_ABI, abi);
    for def in defs {
        for p in def
            .spec
            .packages
            .iter_mut()
            .chain(def.spec.exclude.iter_mut())
        {
            *p = fill(p);
        }
        def.spec.extract = std::mem::take(&mut def.spec.extract)
            .into_iter()
            .map(|(k, v)| (fill(&k), v))
            .collect();
    }
}

/// The catalogue: (image name, its `service.yml`) for each image folder that has one. The
/// system image ships them as `usr/share/ros/services/<name>.yml` (`ros service list`).
pub fn catalogue(defs: &[ImageDef]) -> Vec<(String, PathBuf)> {
    defs.iter()
        .map(|d| (d.name.clone(), d.dir.join("service.yml")))
        .filter(|(_, f)| f.is_file())
        .collect()
}

/// Module names from a list file: one per line, `#` comments and blank lines ignored.
pub fn read_list(path: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_with_the_key_name() {
        let err = yaml_serde::from_str::<ImageSpec>("packages: [a]\npackage: [b]\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `package`"), "{err}");
    }

    #[test]
    fn list_files_skip_comments() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("l.txt");
        fs::write(&path, "# head\nloop\n\n squashfs  # why\n").unwrap();
        assert_eq!(read_list(&path).unwrap(), vec!["loop", "squashfs"]);
    }
}
