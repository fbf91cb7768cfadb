//! The upgrade bundle, dist/ros.bundle (`os_disk::bundle`'s format: manifest.json, vmlinuz,
//! initrd, system.squashfs), and `ros-build bundle`, which re-packs a dist directory's files
//! under another version (the upgrade tests' "bundle B"), optionally with a member replaced
//! (a deliberately broken "bundle C"). Both sign with the build's key (`signing_key`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use os_disk::bundle::Manifest;
use os_disk::signing::SigningKey;

use crate::pipeline::Ctx;
use crate::signing_key;
use crate::stage_cache::{self, Key};

/// Options of `ros-build bundle`.
#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    /// A dist directory: vmlinuz, initrd-small (packed as initrd) and system.squashfs.
    #[arg(long, default_value = "dist")]
    pub from: PathBuf,
    /// The version the bundle's manifest declares.
    #[arg(long)]
    pub version: String,
    /// Pack PATH as member NAME (vmlinuz, initrd or system.squashfs) instead of DIR's file.
    #[arg(long, value_name = "NAME=PATH")]
    pub replace: Vec<String>,
    /// The commit the manifest records (default: DIR/manifest.json's git_commit).
    #[arg(long)]
    pub commit: Option<String>,
    /// Where to write the bundle.
    #[arg(short, long)]
    pub out: PathBuf,
    /// The signing key file (default: $ROS_SIGNING_KEY, else ~/.config/ros/bundle-signing.key;
    /// made if missing).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// The bundle's members as a dist directory holds them: the small initrd is the slot's
/// initrd, since a slot carries system.squashfs beside it.
pub fn members(dist: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("vmlinuz", dist.join("vmlinuz")),
        ("initrd", dist.join("initrd-small")),
        ("system.squashfs", dist.join("system.squashfs")),
    ]
}

/// Describes, signs and writes a bundle; returns its manifest.
pub fn write(
    out: &Path,
    version: &str,
    commit: &str,
    key: &SigningKey,
    members: &[(&str, PathBuf)],
    mtime: u64,
) -> Result<Manifest> {
    let refs: Vec<(&str, &Path)> = members.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let manifest = Manifest::describe(version, commit, &refs)?;
    os_disk::bundle::write(out, &manifest, Some(key), &refs, mtime)?;
    Ok(manifest)
}

/// The build's stage: dist/ros.bundle from the build's own files.
pub fn build(ctx: &Ctx, members: &[(&str, PathBuf)], out: &Path) -> Result<()> {
    let mut key = Key::new("bundle");
    key.text(&out.to_string_lossy())
        .text(&ctx.version)
        .text(&ctx.commit)
        .text(&ctx.epoch.to_string())
        .text(&ctx.signing_key.id());
    for (name, path) in members {
        key.text(name).file(path)?;
    }
    let key = key.finish();
    if stage_cache::load(&ctx.work, "bundle", &key, |_: &()| vec![out.to_path_buf()]).is_some() {
        println!("    bundle unchanged");
        return Ok(());
    }
    stage_cache::forget(&ctx.work, "bundle");
    write(
        out,
        &ctx.version,
        &ctx.commit,
        &ctx.signing_key,
        members,
        ctx.epoch,
    )?;
    println!(
        "    {} ({} MB), version {}, signed by key {}",
        out.display(),
        fs::metadata(out)?.len() / 1_000_000,
        ctx.version,
        ctx.signing_key.id()
    );
    stage_cache::store(&ctx.work, "bundle", &key, &())
}

/// `ros-build bundle`.
pub fn run(args: &BundleArgs) -> Result<()> {
    let mut members = members(&args.from);
    for spec in &args.replace {
        let Some((name, path)) = spec.split_once('=') else {
            bail!("--replace {spec}: expected NAME=PATH");
        };
        let Some(member) = members.iter_mut().find(|(n, _)| *n == name) else {
            bail!(
                "--replace {spec}: no member {name} (the members are vmlinuz, initrd, system.squashfs)"
            );
        };
        member.1 = PathBuf::from(path);
    }
    for (name, path) in &members {
        if !path.is_file() {
            bail!("{name}: {} not found", path.display());
        }
    }
    let dist_manifest: Option<serde_json::Value> = fs::read(args.from.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let commit = match &args.commit {
        Some(c) => c.clone(),
        None => dist_manifest
            .as_ref()
            .and_then(|m| m["git_commit"].as_str())
            .unwrap_or("")
            .to_string(),
    };
    // Same time stamps as the build's own bundle unless SOURCE_DATE_EPOCH says otherwise.
    let mtime = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .context("SOURCE_DATE_EPOCH is not a number")?,
        Err(_) => dist_manifest
            .as_ref()
            .and_then(|m| m["source_date_epoch"].as_u64())
            .unwrap_or(0),
    };
    let key = signing_key::load_or_generate(&signing_key::path(args.key.as_deref())?)?;
    let manifest = write(&args.out, &args.version, &commit, &key, &members, mtime)?;
    println!(
        "{}: version {}, signed by key {}, {}",
        args.out.display(),
        manifest.version,
        key.id(),
        manifest
            .files
            .iter()
            .map(|f| format!("{} {} B", f.name, f.size))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key under `dir` and the trust of a system image built with it.
    fn key(dir: &Path) -> (PathBuf, os_disk::signing::TrustedKeys) {
        let path = dir.join("signing.key");
        let key = signing_key::load_or_generate(&path).unwrap();
        let trusted = dir.join("trusted-keys");
        fs::create_dir_all(&trusted).unwrap();
        for (name, text) in signing_key::trusted_files(&key, "").unwrap() {
            fs::write(trusted.join(name), text).unwrap();
        }
        (path, os_disk::signing::TrustedKeys::load(&trusted).unwrap())
    }

    fn fake_dist(dir: &Path) {
        for name in ["vmlinuz", "initrd-small", "system.squashfs"] {
            fs::write(dir.join(name), format!("{name} ").repeat(500)).unwrap();
        }
        fs::write(
            dir.join("manifest.json"),
            r#"{"git_commit": "abc123", "source_date_epoch": 1700000000}"#,
        )
        .unwrap();
    }

    #[test]
    fn repacks_a_dist_dir_under_another_version() {
        let dir = tempfile::tempdir().unwrap();
        fake_dist(dir.path());
        let out = dir.path().join("b.bundle");
        let (key, trusted) = key(dir.path());
        run(&BundleArgs {
            from: dir.path().to_path_buf(),
            version: "9.9.9".into(),
            replace: vec![],
            commit: None,
            out: out.clone(),
            key: Some(key),
        })
        .unwrap();
        let manifest = os_disk::bundle::verify(&out, &trusted).unwrap();
        assert_eq!(manifest.version, "9.9.9");
        assert_eq!(manifest.commit, "abc123");
        let initrd = manifest.entry("initrd").unwrap();
        assert_eq!(
            initrd.sha256,
            stage_cache::sha256_file(&dir.path().join("initrd-small")).unwrap()
        );
    }

    #[test]
    fn replaces_a_member() {
        let dir = tempfile::tempdir().unwrap();
        fake_dist(dir.path());
        let garbage = dir.path().join("garbage");
        fs::write(&garbage, b"not a squashfs").unwrap();
        let out = dir.path().join("c.bundle");
        let (key, trusted) = key(dir.path());
        run(&BundleArgs {
            from: dir.path().to_path_buf(),
            version: "9.9.10".into(),
            replace: vec![format!("system.squashfs={}", garbage.display())],
            commit: Some("def".into()),
            out: out.clone(),
            key: Some(key.clone()),
        })
        .unwrap();
        let manifest = os_disk::bundle::verify(&out, &trusted).unwrap();
        assert_eq!(manifest.entry("system.squashfs").unwrap().size, 14);
        assert_eq!(manifest.commit, "def");
        let bad = BundleArgs {
            from: dir.path().to_path_buf(),
            version: "1".into(),
            replace: vec!["kernel=/x".into()],
            commit: None,
            out,
            key: Some(key),
        };
        assert!(run(&bad)
            .unwrap_err()
            .to_string()
            .contains("no member kernel"));
    }
}
