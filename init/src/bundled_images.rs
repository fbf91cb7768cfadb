//! The bundled system images against System Docker's store. On a persistent state the store
//! outlives the boot, so an image is loaded once: the engine loads a missing one on first use
//! (the tag carries the OS version, so a new version loads its images once). What it cannot see
//! is an image rebuilt under the same tag; this check compares each present tag's image id with
//! the id the bundled archive declares (the sha256 of its config) and loads the archive again
//! when they differ. The tag moves only when `docker load` succeeds.

use std::path::{Path, PathBuf};
use sysdocker::DaemonClient;

/// What a bundled archive's `manifest.json` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    pub archive: PathBuf,
    /// `sha256:<hex>`, the image id `docker load` gives it.
    pub id: String,
    pub tags: Vec<String>,
}

/// The image id a manifest's `Config` entry names: `<hex>.json` (docker save) or
/// `blobs/sha256/<hex>` (OCI layout).
pub fn id_of_config(config: &str) -> Option<String> {
    let name = config.rsplit('/').next().unwrap_or(config);
    let hex = name.strip_suffix(".json").unwrap_or(name);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// Reads the first image of an archive's `manifest.json` (headers only; layers are skipped).
pub fn read_archive(path: &Path) -> std::io::Result<Option<ArchiveImage>> {
    let manifest = sysdocker::images::archive_manifest(path)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let Some(first) = manifest.first() else {
        return Ok(None);
    };
    let id = first
        .get("Config")
        .and_then(|c| c.as_str())
        .and_then(id_of_config);
    let tags: Vec<String> = first
        .get("RepoTags")
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(id.map(|id| ArchiveImage {
        archive: path.to_path_buf(),
        id,
        tags,
    }))
}

/// Every `*.tar` archive under `dir`, in name order.
pub fn archives(dir: &Path) -> Vec<ArchiveImage> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| match read_archive(&p) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(archive = %p.display(), error = %e, "bundled images: unreadable archive");
                None
            }
        })
        .collect()
}

/// How each bundled image stood.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Present with the bundled id: nothing to do.
    pub current: usize,
    /// Absent: loaded by the engine when a service first needs it.
    pub missing: usize,
    /// Present under another id: loaded again now.
    pub reloaded: usize,
    pub failed: usize,
}

/// Loads again every bundled image whose tag is present with another id.
pub async fn refresh_changed(client: &DaemonClient, dir: &Path) -> Summary {
    let dir = dir.to_path_buf();
    let bundled = tokio::task::spawn_blocking(move || archives(&dir))
        .await
        .unwrap_or_default();
    let mut summary = Summary::default();
    for image in bundled {
        let Some(tag) = image.tags.first() else {
            continue;
        };
        let present = match client.docker.inspect_image(tag).await {
            Ok(found) => found.id.unwrap_or_default(),
            Err(_) => {
                summary.missing += 1;
                continue;
            }
        };
        if present == image.id {
            summary.current += 1;
            continue;
        }
        tracing::info!(
            image = %tag,
            present = %present,
            bundled = %image.id,
            archive = %image.archive.display(),
            "bundled images: the image changed under the same tag; loading it again"
        );
        match sysdocker::images::load_archive(client, &image.archive).await {
            Ok(()) => summary.reloaded += 1,
            Err(e) => {
                tracing::error!(image = %tag, error = %e, "bundled images: loading failed; the old image stays");
                summary.failed += 1;
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_both_manifest_forms() {
        let hex = "ab".repeat(32);
        assert_eq!(
            id_of_config(&format!("{hex}.json")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            id_of_config(&format!("blobs/sha256/{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(id_of_config("config.json"), None);
    }

    #[test]
    fn reads_the_manifest_without_the_layers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.tar");
        let hex = "0123456789abcdef".repeat(4);
        let manifest = format!(
            r#"[{{"Config":"{hex}.json","RepoTags":["ros/base:0.1.0"],"Layers":["l/layer.tar"]}}]"#
        );
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for (name, data) in [
            ("l/layer.tar", vec![7u8; 4096]),
            (&format!("{hex}.json")[..], b"{}".to_vec()),
            ("manifest.json", manifest.into_bytes()),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        b.finish().unwrap();
        drop(b);
        std::fs::write(dir.path().join("notes.txt"), "not an archive").unwrap();
        assert_eq!(
            archives(dir.path()),
            vec![ArchiveImage {
                archive: path,
                id: format!("sha256:{hex}"),
                tags: vec!["ros/base:0.1.0".into()],
            }]
        );
    }
}
