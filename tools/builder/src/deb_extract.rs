//! Unpacking .deb files into a root filesystem with dpkg-deb and GNU tar, keeping numeric
//! owners and the merged-/usr symlinks that are already in place.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Extracts `deb` into `root`; with `only` non-empty, just those paths (relative, globs allowed).
pub fn extract(deb: &Path, root: &Path, only: &[String]) -> Result<()> {
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start dpkg-deb")?;
    let stdout = dpkg.stdout.take().context("dpkg-deb stdout")?;
    let mut tar = Command::new("tar");
    tar.arg("-x")
        .arg("-C")
        .arg(root)
        // Without this, tar replaces the /bin -> usr/bin symlink by a directory.
        // As root tar keeps the packages' numeric owners (the default for root).
        .args([
            "--keep-directory-symlink",
            "--numeric-owner",
            "--same-permissions",
        ])
        .stdin(Stdio::from(stdout));
    if !only.is_empty() {
        tar.arg("--wildcards");
        for path in only {
            tar.arg(format!("./{}", path.trim_start_matches('/')));
        }
    }
    let tar_out = tar.output().context("cannot start tar")?;
    let dpkg_status = dpkg.wait().context("wait for dpkg-deb")?;
    if !tar_out.status.success() || !dpkg_status.success() {
        bail!(
            "extracting {} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&tar_out.stderr).trim_end()
        );
    }
    Ok(())
}
