//! Finding the build's artifacts: `$ROS_DIST`, else the workspace's `dist/`.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// The output directory of `scripts/build`.
#[derive(Debug, Clone)]
pub struct Dist {
    dir: PathBuf,
}

impl Dist {
    /// Locates the artifacts and checks that the bootable ones exist.
    pub fn locate() -> Result<Dist, Error> {
        let dir = std::env::var_os("ROS_DIST")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist"));
        let dist = Dist { dir };
        for path in [dist.iso(), dist.vmlinuz(), dist.initrd(), dist.manifest()] {
            if !path.is_file() {
                return Err(Error::MissingArtifact(path));
            }
        }
        Ok(dist)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn iso(&self) -> PathBuf {
        self.dir.join("ros.iso")
    }
    pub fn vmlinuz(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initrd")
    }
    /// The initrd without the system image (the ISO's /boot/initrd).
    pub fn small_initrd(&self) -> PathBuf {
        self.dir.join("initrd-small")
    }
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }
    pub fn squashfs(&self) -> PathBuf {
        self.dir.join("system.squashfs")
    }
    /// The upgrade bundle (kernel, small initrd, system image, manifest).
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("ros.bundle")
    }
    /// The cloud images: GPT, GRUB for BIOS and UEFI, slot A filled, a small state partition.
    pub fn raw(&self) -> PathBuf {
        self.dir.join("ros.raw")
    }
    pub fn qcow2(&self) -> PathBuf {
        self.dir.join("ros.qcow2")
    }
    pub fn image(&self, name: &str) -> PathBuf {
        self.dir.join("images").join(format!("{name}.tar"))
    }
}
