//! The `docker save` archive: manifest.json, the config blob and one directory per layer.

use std::fs::File;
use std::io::{BufWriter, Write};

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::config::ImageConfig;
use crate::error::Error;
use crate::layer::Layer;

/// What a written archive is: the image id `docker images` will show, and the archive size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:<hex>` of the config blob, which is the image id after `docker load`.
    pub id: String,
    /// Size of the archive file in bytes.
    pub size: u64,
    /// Diff ids of the layers, lowest first.
    pub diff_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry<'a> {
    config: &'a str,
    repo_tags: [&'a str; 1],
    layers: Vec<String>,
}

/// Writes a `docker load`-able archive of `layers` (lowest first) to the file `out`.
/// The same inputs always give the same bytes.
pub fn write_archive(
    out: &Path,
    repo_tag: &str,
    layers: &[&Layer],
    config: &ImageConfig,
    created_epoch: u64,
) -> Result<ImageInfo, Error> {
    let file = File::create(out).map_err(Error::io("create", out))?;
    let mut writer = BufWriter::new(file);
    let info = write_archive_to(&mut writer, repo_tag, layers, config, created_epoch)?;
    writer.flush().map_err(Error::io("write", out))?;
    Ok(info)
}

/// Streams a `docker load`-able archive to `out` (a file, a pipe, an HTTP body); layers
/// backed by directories are read as they are written, never held in memory.
pub fn write_archive_to<W: Write>(
    out: &mut W,
    repo_tag: &str,
    layers: &[&Layer],
    config: &ImageConfig,
    created_epoch: u64,
) -> Result<ImageInfo, Error> {
    if layers.is_empty() {
        return Err(Error::NoLayers);
    }
    if !valid_repo_tag(repo_tag) {
        return Err(Error::RepoTag(repo_tag.to_string()));
    }
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id()).collect();
    let config_json = config.to_json(&diff_ids, created_epoch)?;
    let id = crate::sha256_digest(&config_json);
    let config_name = format!("{}.json", hex_part(&id));
    let layer_names: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", hex_part(d)))
        .collect();
    let manifest = serde_json::to_vec(&[ManifestEntry {
        config: &config_name,
        repo_tags: [repo_tag],
        layers: layer_names.clone(),
    }])?;

    let err = || Error::io("write archive", std::path::PathBuf::new());
    let mut size = 0u64;
    let mut written = std::collections::BTreeSet::new();
    for (layer, name) in layers.iter().zip(&layer_names) {
        // The same layer may be listed twice (an image of identical layers); write it once.
        if !written.insert(name.clone()) {
            continue;
        }
        let dir = format!("{}/", hex_part(layer.diff_id()));
        size = size
            .saturating_add(
                header(out, &dir, 0, EntryType::Directory, created_epoch).map_err(err())?,
            )
            .saturating_add(
                header(out, name, layer.size(), EntryType::Regular, created_epoch).map_err(err())?,
            );
        let mut counted = Counted {
            inner: &mut *out,
            count: 0,
            hash: (!layer.is_verified()).then(Sha256::new),
        };
        layer.write_tar(&mut counted)?;
        if counted.count != layer.size() {
            return Err(Error::LayerSize {
                diff_id: layer.diff_id().to_string(),
                expected: layer.size(),
                written: counted.count,
            });
        }
        // A layer taken on trust is checked as it streams (docker load would refuse it too).
        if let Some(hash) = counted.hash {
            let got = format!("sha256:{}", crate::hex(&hash.finalize()));
            if got != layer.diff_id() {
                return Err(Error::Mismatch {
                    what: "layer streamed from its directory".into(),
                    expected: layer.diff_id().to_string(),
                    got,
                });
            }
        }
        size = size
            .saturating_add(layer.size())
            .saturating_add(pad(out, layer.size()).map_err(err())?);
    }
    for (name, data) in [
        (config_name.as_str(), &config_json),
        ("manifest.json", &manifest),
    ] {
        size = size.saturating_add(
            header(
                out,
                name,
                data.len() as u64,
                EntryType::Regular,
                created_epoch,
            )
            .map_err(err())?,
        );
        out.write_all(data).map_err(err())?;
        size = size
            .saturating_add(data.len() as u64)
            .saturating_add(pad(out, data.len() as u64).map_err(err())?);
    }
    // End of archive: two zero blocks.
    out.write_all(&[0u8; 1024]).map_err(err())?;
    size = size.saturating_add(1024);
    Ok(ImageInfo {
        id,
        size,
        diff_ids: diff_ids.iter().map(|d| d.to_string()).collect(),
    })
}

struct Counted<'a, W: Write> {
    inner: &'a mut W,
    count: u64,
    hash: Option<Sha256>,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count = self.count.saturating_add(n as u64);
        if let Some(hash) = &mut self.hash {
            hash.update(buf.get(..n).unwrap_or(buf));
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one ustar-compatible GNU header (paths here are short); returns its size.
fn header<W: Write>(
    out: &mut W,
    path: &str,
    size: u64,
    kind: EntryType,
    mtime: u64,
) -> std::io::Result<u64> {
    let mut header = Header::new_gnu();
    header.set_path(path)?;
    header.set_entry_type(kind);
    header.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    Ok(512)
}

fn pad<W: Write>(out: &mut W, size: u64) -> std::io::Result<u64> {
    let padding = 512u64.saturating_sub(size % 512) % 512;
    out.write_all(&vec![0u8; padding as usize])?;
    Ok(padding)
}

fn hex_part(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn valid_repo_tag(repo_tag: &str) -> bool {
    match repo_tag.rsplit_once(':') {
        Some((name, tag)) => !name.is_empty() && !tag.is_empty() && !tag.contains('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn sample_tree(dir: &Path) {
        std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
        std::fs::write(dir.join("usr/bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(
            dir.join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        std::fs::write(dir.join("b.txt"), b"b").unwrap();
        std::fs::write(dir.join("a.txt"), b"a").unwrap();
        std::fs::hard_link(dir.join("a.txt"), dir.join("z-hardlink")).unwrap();
        symlink("usr/bin", dir.join("bin")).unwrap();
        let long = "d".repeat(120);
        std::fs::create_dir_all(dir.join(&long)).unwrap();
        std::fs::write(dir.join(&long).join("f".repeat(110)), b"long").unwrap();
    }

    fn entries(tar_bytes: &[u8]) -> Vec<(String, EntryType, u32, u64, Option<String>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.entry_type(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    e.link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn layer_is_sorted_clamped_and_keeps_links() {
        let tmp = tempfile::tempdir().unwrap();
        sample_tree(tmp.path());
        let layer = Layer::from_dir(tmp.path(), 1000).unwrap();
        let got = entries(layer.tar_bytes().unwrap());
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        let long_dir = format!("{}/", "d".repeat(120));
        let long_file = format!("{}/{}", "d".repeat(120), "f".repeat(110));
        assert_eq!(
            names,
            vec![
                "a.txt",
                "b.txt",
                "bin",
                long_dir.as_str(),
                long_file.as_str(),
                "usr/",
                "usr/bin/",
                "usr/bin/tool",
                "z-hardlink"
            ]
        );
        assert!(got.iter().all(|e| e.3 == 1000), "mtimes clamped: {got:?}");
        let bin = got.iter().find(|e| e.0 == "bin").unwrap();
        assert_eq!(
            (bin.1, bin.4.as_deref()),
            (EntryType::Symlink, Some("usr/bin"))
        );
        let hard = got.iter().find(|e| e.0 == "z-hardlink").unwrap();
        assert_eq!(
            (hard.1, hard.4.as_deref()),
            (EntryType::Link, Some("a.txt"))
        );
        let tool = got.iter().find(|e| e.0 == "usr/bin/tool").unwrap();
        assert_eq!(tool.2, 0o4755);
    }

    #[test]
    fn filtered_layer_holds_only_selected_entries() {
        let tmp = tempfile::tempdir().unwrap();
        sample_tree(tmp.path());
        let layer = Layer::from_dir_filtered(tmp.path(), 1000, |p| p.starts_with("usr")).unwrap();
        let names: Vec<String> = entries(layer.tar_bytes().unwrap())
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, vec!["usr/", "usr/bin/", "usr/bin/tool"]);
    }

    #[test]
    fn archive_is_deterministic_and_well_formed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        sample_tree(&root);
        let layer = Layer::from_dir(&root, 1_700_000_000).unwrap();
        let config = ImageConfig {
            entrypoint: vec!["/usr/bin/tool".into()],
            labels: BTreeMap::from([("io.rancher.os.scope".into(), "system".into())]),
            ..ImageConfig::default()
        };
        let a = tmp.path().join("a.tar");
        let b = tmp.path().join("b.tar");
        let info_a = write_archive(&a, "ros/test:1", &[&layer], &config, 1_700_000_000).unwrap();
        // Touch the tree: a later mtime is clamped, so the bytes must not change.
        std::fs::write(root.join("b.txt"), b"b").unwrap();
        let layer2 = Layer::from_dir(&root, 1_700_000_000).unwrap();
        let info_b = write_archive(&b, "ros/test:1", &[&layer2], &config, 1_700_000_000).unwrap();
        assert_eq!(info_a, info_b);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(info_a.size, std::fs::metadata(&a).unwrap().len());

        let mut archive = tar::Archive::new(File::open(&a).unwrap());
        let mut files = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            files.insert(path, data);
        }
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        let config_name = manifest[0]["Config"].as_str().unwrap();
        assert_eq!(manifest[0]["RepoTags"][0], "ros/test:1");
        let config_blob = &files[config_name];
        assert_eq!(crate::sha256_digest(config_blob), info_a.id);
        let config_json: serde_json::Value = serde_json::from_slice(config_blob).unwrap();
        assert_eq!(config_json["rootfs"]["diff_ids"][0], layer.diff_id());
        assert_eq!(config_json["created"], "2023-11-14T22:13:20Z");
        assert_eq!(config_json["config"]["Entrypoint"][0], "/usr/bin/tool");
        let layer_path = manifest[0]["Layers"][0].as_str().unwrap();
        assert_eq!(crate::sha256_digest(&files[layer_path]), layer.diff_id());
    }

    #[test]
    fn rejects_bad_input() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("x.tar");
        let err = write_archive(&out, "ros/test:1", &[], &ImageConfig::default(), 0).unwrap_err();
        assert_eq!(err.to_string(), "an image needs at least one layer");
        let layer = Layer::from_tar(Vec::new());
        let err = write_archive(&out, "no-tag", &[&layer], &ImageConfig::default(), 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid repo tag \"no-tag\": expected name:tag"
        );
    }
}
