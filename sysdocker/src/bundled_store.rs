//! The system images, served ready-made: before System Docker starts, the build's image store
//! (`image_archive::docker_store`, on the read-only system image) is entered into the daemon's
//! overlay2 data root. Docker's metadata (layerdb, imagedb, tags) is written from the store's
//! index; each layer's `diff` is a symlink to its tree on the system image, so nothing is
//! copied or loaded. Only what an image writes lives in the data root (tmpfs or the state
//! partition).
//!
//! Every boot checks what it installed before: a damaged file is written again from the
//! store, a layer Docker itself unpacked (an older ros loaded it) is left as it is, and images
//! an earlier system image installed are reported as stale, for [`prune`] once the daemon is up.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt};
use std::path::{Path, PathBuf};

use image_archive::docker_store::{self, StoreIndex, StoredImage, StoredLayer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::client::DaemonClient;

/// Where the build puts the store in the system image.
pub const STORE_DIR: &str = "/usr/share/ros/system-docker";
/// The ids this module installed last, in the data root.
const RECORD_FILE: &str = "ros-bundled-images.json";

/// Why the store could not be installed at all.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the system image's image store {store}: {source}")]
    Index {
        store: PathBuf,
        source: image_archive::Error,
    },
    #[error("System Docker's data root {path}: {source}")]
    DataRoot { path: PathBuf, source: io::Error },
}

/// What [`install`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// Tags now present, from the store.
    pub images: Vec<String>,
    /// Images of the store that could not be served, each with why.
    pub damaged: Vec<Damaged>,
    /// Files of the data root that were damaged and were written again.
    pub repaired: Vec<String>,
    /// Ids a previous system image installed that this one does not have.
    pub stale: Vec<String>,
}

/// An image of the store that could not be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub tag: String,
    pub reason: String,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.tag, self.reason)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    ids: Vec<String>,
}

/// Docker's paths under a data root, for the overlay2 driver.
struct DataRoot {
    image: PathBuf,
    driver: PathBuf,
}

impl DataRoot {
    fn new(root: &Path) -> DataRoot {
        DataRoot {
            image: root.join("image/overlay2"),
            driver: root.join("overlay2"),
        }
    }
    fn layerdb(&self, chain_id: &str) -> PathBuf {
        self.image
            .join("layerdb/sha256")
            .join(docker_store::hex(chain_id))
    }
    fn imagedb(&self, id: &str) -> PathBuf {
        self.image
            .join("imagedb/content/sha256")
            .join(docker_store::hex(id))
    }
    fn repositories(&self) -> PathBuf {
        self.image.join("repositories.json")
    }
}

/// Whether `store` holds an image store at all.
pub fn has_store(store: &Path) -> bool {
    store.join(docker_store::INDEX_FILE).is_file()
}

/// Enters every image of `store` into the overlay2 data root `data_root`. The daemon must
/// not be running. An image the store holds damaged is left out (and named in the report);
/// the others are still served.
pub fn install(store: &Path, data_root: &Path) -> Result<InstallReport, StoreError> {
    let index = StoreIndex::read(store).map_err(|source| StoreError::Index {
        store: store.to_path_buf(),
        source,
    })?;
    let dr = DataRoot::new(data_root);
    let dr_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::DataRoot { path, source }
    };
    for (dir, mode) in [
        (dr.image.join("imagedb/content/sha256"), 0o700),
        (dr.image.join("layerdb/sha256"), 0o755),
        (dr.driver.join("l"), 0o700),
    ] {
        mkdir(&dir, mode).map_err(dr_err(&dir))?;
    }
    let mut report = InstallReport::default();
    let mut served = Vec::new();
    for image in &index.images {
        if let Err(reason) = check_in_store(store, image) {
            report.damaged.push(Damaged {
                tag: image.tag.clone(),
                reason: reason.to_string(),
            });
            continue;
        }
        match install_image(store, &dr, image, &mut report.repaired) {
            Ok(()) => {
                report.images.push(image.tag.clone());
                served.push(image);
            }
            Err(e) => report.damaged.push(Damaged {
                tag: image.tag.clone(),
                reason: e.to_string(),
            }),
        }
    }
    let displaced = tag(&dr, &served, &mut report.repaired).map_err(dr_err(&dr.repositories()))?;

    let record_path = data_root.join(RECORD_FILE);
    let previous: Record = fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let current: BTreeSet<&str> = index.images.iter().map(|i| i.id.as_str()).collect();
    // What an earlier system image entered, and what our tags pointed at before (an older ros
    // loaded its images with `docker load`, so it left no record).
    let stale: BTreeSet<String> = previous
        .ids
        .into_iter()
        .chain(displaced)
        .filter(|id| !current.contains(id.as_str()))
        .collect();
    report.stale = stale.into_iter().collect();
    let record = Record {
        ids: current.iter().map(|s| s.to_string()).collect(),
    };
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    os_config::atomic_write(&record_path, &bytes, 0o600).map_err(dr_err(&record_path))?;
    Ok(report)
}

/// Why the store's own copy of an image cannot be served.
#[derive(Debug, thiserror::Error)]
enum StoreDamage {
    #[error("{}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is damaged (its digest is {digest}, not the image id)", path.display())]
    WrongDigest { path: PathBuf, digest: String },
    #[error("the store's index gives layer {diff_id} the wrong chain id")]
    WrongChain { diff_id: String },
    #[error("layer tree {} is missing", .0.display())]
    MissingTree(PathBuf),
    #[error("it has no layers")]
    NoLayers,
}

/// The store's own copy of an image is whole: its config blob has the id's digest, its
/// chain of layer ids adds up, and every layer's tree is there.
fn check_in_store(store: &Path, image: &StoredImage) -> Result<(), StoreDamage> {
    let blob_path = docker_store::config_path(store, &image.id);
    let blob = fs::read(&blob_path).map_err(|source| StoreDamage::Unreadable {
        path: blob_path.clone(),
        source,
    })?;
    let digest = format!("sha256:{}", hex(&Sha256::digest(&blob)));
    if digest != image.id {
        return Err(StoreDamage::WrongDigest {
            path: blob_path,
            digest,
        });
    }
    let mut parent: Option<&StoredLayer> = None;
    for layer in &image.layers {
        let chain = match parent {
            None => layer.diff_id.clone(),
            Some(p) => format!(
                "sha256:{}",
                hex(&Sha256::digest(
                    format!("{} {}", p.chain_id, layer.diff_id).as_bytes()
                ))
            ),
        };
        if chain != layer.chain_id {
            return Err(StoreDamage::WrongChain {
                diff_id: layer.diff_id.clone(),
            });
        }
        let tree = docker_store::layer_path(store, layer);
        if !tree.is_dir() {
            return Err(StoreDamage::MissingTree(tree));
        }
        parent = Some(layer);
    }
    if image.layers.is_empty() {
        return Err(StoreDamage::NoLayers);
    }
    Ok(())
}

fn install_image(
    store: &Path,
    dr: &DataRoot,
    image: &StoredImage,
    repaired: &mut Vec<String>,
) -> io::Result<()> {
    let mut parent: Option<(&StoredLayer, PathBuf)> = None;
    for layer in &image.layers {
        let cache_dir = install_layer(store, dr, layer, parent.as_ref(), repaired)?;
        parent = Some((layer, cache_dir));
    }
    let blob = fs::read(docker_store::config_path(store, &image.id))?;
    ensure_file(&dr.imagedb(&image.id), &blob, 0o600, repaired)
}

/// Enters one layer and returns its overlay2 directory. A layer Docker already has under
/// the same chain id with its content present (unpacked by an older ros) is kept as it is.
fn install_layer(
    store: &Path,
    dr: &DataRoot,
    layer: &StoredLayer,
    parent: Option<&(&StoredLayer, PathBuf)>,
    repaired: &mut Vec<String>,
) -> io::Result<PathBuf> {
    let meta = dr.layerdb(&layer.chain_id);
    if let Ok(cache_id) = fs::read_to_string(meta.join("cache-id")) {
        let existing = dr.driver.join(cache_id.trim());
        if cache_id.trim() != layer.cache_id && existing.join("diff").is_dir() {
            return Ok(existing);
        }
    }
    mkdir(&meta, 0o700)?;
    ensure_file(
        &meta.join("diff"),
        layer.diff_id.as_bytes(),
        0o644,
        repaired,
    )?;
    ensure_file(
        &meta.join("size"),
        layer.size.to_string().as_bytes(),
        0o644,
        repaired,
    )?;
    ensure_file(
        &meta.join("cache-id"),
        layer.cache_id.as_bytes(),
        0o644,
        repaired,
    )?;
    let dir = dr.driver.join(&layer.cache_id);
    mkdir(&dir, 0o700)?;
    let link = fs::read_to_string(dir.join("link"))
        .ok()
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(|| layer.link.clone());
    ensure_file(&dir.join("link"), link.trim().as_bytes(), 0o644, repaired)?;
    if let Some((p, p_dir)) = parent {
        ensure_file(&meta.join("parent"), p.chain_id.as_bytes(), 0o644, repaired)?;
        // overlay2's lower list: the parent's short link, then the parent's own lowers.
        let p_link = fs::read_to_string(p_dir.join("link"))?;
        let mut lower = format!("l/{}", p_link.trim());
        if let Ok(p_lower) = fs::read_to_string(p_dir.join("lower")) {
            if !p_lower.trim().is_empty() {
                lower = format!("{lower}:{}", p_lower.trim());
            }
        }
        ensure_file(&dir.join("lower"), lower.as_bytes(), 0o644, repaired)?;
    }
    // overlay2 marks a layer that has children by creating this file: it must be writable.
    if !dir.join("committed").exists() {
        fs::write(dir.join("committed"), b"")?;
    }
    ensure_symlink(&dir.join("diff"), &docker_store::layer_path(store, layer))?;
    ensure_symlink(
        &dr.driver.join("l").join(link.trim()),
        &Path::new("..").join(&layer.cache_id).join("diff"),
    )?;
    Ok(dir)
}

/// Points every served image's tag at it in repositories.json, keeping all other tags, and
/// returns the ids those tags pointed at before. A file Docker cannot read is kept beside it
/// as `.damaged` and a new one written.
fn tag(
    dr: &DataRoot,
    images: &[&StoredImage],
    repaired: &mut Vec<String>,
) -> io::Result<Vec<String>> {
    let path = dr.repositories();
    let mut doc = match fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) if v.get("Repositories").is_some_and(|r| r.is_object()) => v,
            _ => {
                let aside = path.with_extension("json.damaged");
                fs::rename(&path, &aside)?;
                repaired.push(format!(
                    "{} was damaged (kept as {}); tags other than the system images' are lost",
                    path.display(),
                    aside.display()
                ));
                serde_json::json!({ "Repositories": {} })
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => serde_json::json!({ "Repositories": {} }),
        Err(e) => return Err(e),
    };
    let before = doc.clone();
    let mut displaced = Vec::new();
    if let Some(repos) = doc.get_mut("Repositories").and_then(|r| r.as_object_mut()) {
        for image in images {
            let repo = image
                .tag
                .rsplit_once(':')
                .map(|(r, _)| r)
                .unwrap_or(&image.tag);
            let entry = repos
                .entry(repo.to_string())
                .or_insert_with(|| serde_json::json!({}));
            if let Some(tags) = entry.as_object_mut() {
                if let Some(old) = tags.insert(image.tag.clone(), serde_json::json!(image.id)) {
                    displaced.extend(old.as_str().map(str::to_string));
                }
            }
        }
    }
    if doc == before && path.exists() {
        return Ok(displaced);
    }
    let bytes = serde_json::to_vec(&doc).map_err(io::Error::other)?;
    os_config::atomic_write(&path, &bytes, 0o600)?;
    Ok(displaced)
}

/// Writes `bytes` to `path` unless it already holds them; a file that held something else
/// is reported as repaired.
fn ensure_file(path: &Path, bytes: &[u8], mode: u32, repaired: &mut Vec<String>) -> io::Result<()> {
    match fs::read(path) {
        Ok(existing) if existing == bytes => return Ok(()),
        Ok(_) => repaired.push(format!("{} was damaged; written again", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    os_config::atomic_write(path, bytes, mode)
}

fn ensure_symlink(link: &Path, target: &Path) -> io::Result<()> {
    match fs::read_link(link) {
        Ok(t) if t == target => return Ok(()),
        Ok(_) => fs::remove_file(link)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // Something that is not a symlink: leave Docker's own directory alone.
        Err(_) if link.is_dir() => return Ok(()),
        Err(_) => fs::remove_file(link)?,
    }
    symlink(target, link)
}

fn mkdir(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes, on a running daemon, the images an earlier system image installed or our tags
/// pointed at before (`stale`). An image that still has a tag (someone tagged it) or that a
/// container uses is kept. Returns how many were removed.
pub async fn prune(client: &DaemonClient, stale: &[String]) -> usize {
    use bollard::query_parameters::RemoveImageOptionsBuilder;
    let mut removed = 0usize;
    for id in stale {
        match client.docker.inspect_image(id).await {
            Ok(image) if image.repo_tags.as_ref().is_some_and(|t| !t.is_empty()) => {
                tracing::info!(image = %id, tags = ?image.repo_tags, "bundled images: an earlier image is kept: it has a tag");
                continue;
            }
            Ok(_) => {}
            // Already gone.
            Err(_) => continue,
        }
        let options = RemoveImageOptionsBuilder::default().build();
        match client.docker.remove_image(id, Some(options), None).await {
            Ok(_) => {
                removed = removed.saturating_add(1);
                tracing::info!(image = %id, "bundled images: removed an image of an earlier system image");
            }
            Err(e) => {
                tracing::info!(image = %id, error = %e, "bundled images: an earlier image stays")
            }
        }
    }
    removed
}
