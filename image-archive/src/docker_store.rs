//! System Docker's image store, written at build time so that no boot loads an image.
//!
//! The store is the part of Docker's overlay2 layout that never changes once an image exists:
//! each layer's unpacked tree and each image's config blob, plus an index. At boot,
//! `sysdocker::bundled_store` turns the index into Docker's own metadata inside the daemon's
//! data root and points each layer's `diff` at the tree here, on the read-only system image.
//!
//! ```text
//! <store>/index.json              StoreIndex: images, tags, layers (chain ids, cache ids, links)
//! <store>/images/<id hex>.json    the config blob, whose sha256 is the image id
//! <store>/layers/<chain hex>/     one layer's tree, shared by every image that has it
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::error::Error;
use crate::layer::Layer;

pub const INDEX_FILE: &str = "index.json";
pub const IMAGES_DIR: &str = "images";
pub const LAYERS_DIR: &str = "layers";

/// What a store holds, lowest layers first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreIndex {
    pub images: Vec<StoredImage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    pub name: String,
    pub tag: String,
    /// `sha256:<hex>` of the config blob: the image id.
    pub id: String,
    pub created: u64,
    pub config: ImageConfig,
    /// Lowest first.
    pub layers: Vec<StoredLayer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLayer {
    /// `sha256:` of the layer tar.
    pub diff_id: String,
    /// `sha256:` of the chain (Docker's layer id): the diff id for the lowest layer, else
    /// sha256 of "<parent chain id> <diff id>".
    pub chain_id: String,
    /// The overlay2 directory name (Docker picks a random one; ours is derived, so that two
    /// builds of the same layer agree).
    pub cache_id: String,
    /// overlay2's short name for the layer (`l/<link>`), 26 characters of base32.
    pub link: String,
    /// Bytes of regular files in the tree (what `docker images` adds up).
    pub size: u64,
}

impl StoredLayer {
    fn new(diff_id: &str, parent: Option<&StoredLayer>, size: u64) -> StoredLayer {
        let chain_id = match parent {
            None => diff_id.to_string(),
            Some(p) => crate::sha256_digest(format!("{} {diff_id}", p.chain_id).as_bytes()),
        };
        let cache_id = hex(&chain_id).to_string();
        let link = short_link(&chain_id);
        StoredLayer {
            diff_id: diff_id.to_string(),
            chain_id,
            cache_id,
            link,
            size,
        }
    }
}

/// `sha256:<hex>` → `<hex>`.
pub fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The 26-character name overlay2 links a layer's diff by (base32 of 16 bytes, as Docker's).
fn short_link(chain_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("ros-overlay2-link {chain_id}").as_bytes());
    base32(digest.get(..16).unwrap_or(&digest))
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    // `& 31` keeps every index in range; `get` only satisfies the no-panic lint.
    let symbol = |v: u32| {
        ALPHABET
            .get((v & 31) as usize)
            .map_or('A', |&c| char::from(c))
    };
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits = bits.saturating_add(8);
        while bits >= 5 {
            bits = bits.saturating_sub(5);
            out.push(symbol(buffer >> bits));
        }
    }
    if bits > 0 {
        out.push(symbol(buffer << 5u32.saturating_sub(bits)));
    }
    out
}

impl StoreIndex {
    /// Reads `<store>/index.json`.
    pub fn read(store: &Path) -> Result<StoreIndex, Error> {
        let path = store.join(INDEX_FILE);
        let text = fs::read(&path).map_err(Error::io("read", &path))?;
        serde_json::from_slice(&text).map_err(|e| Error::Mismatch {
            what: path.display().to_string(),
            expected: "a store index".into(),
            got: e.to_string(),
        })
    }

    pub fn find(&self, tag: &str) -> Option<&StoredImage> {
        self.images.iter().find(|i| i.tag == tag || i.name == tag)
    }
}

/// Where an image's config blob lives in a store.
pub fn config_path(store: &Path, id: &str) -> PathBuf {
    store.join(IMAGES_DIR).join(format!("{}.json", hex(id)))
}

/// Where a layer's tree lives in a store.
pub fn layer_path(store: &Path, layer: &StoredLayer) -> PathBuf {
    store.join(LAYERS_DIR).join(&layer.cache_id)
}

/// Writes a store: layers unpacked once each, config blobs, then the index on `finish`.
pub struct StoreWriter {
    dir: PathBuf,
    index: StoreIndex,
}

impl StoreWriter {
    /// A new, empty store at `dir` (whatever was there is removed).
    pub fn create(dir: &Path) -> Result<StoreWriter, Error> {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(Error::io("clear", dir))?;
        }
        for sub in [IMAGES_DIR, LAYERS_DIR] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(Error::io("create", &d))?;
        }
        Ok(StoreWriter {
            dir: dir.to_path_buf(),
            index: StoreIndex::default(),
        })
    }

    /// An existing store, to add images to (an image of the same name is replaced).
    pub fn open(dir: &Path) -> Result<StoreWriter, Error> {
        Ok(StoreWriter {
            index: StoreIndex::read(dir)?,
            dir: dir.to_path_buf(),
        })
    }

    /// Adds an image: unpacks each of its layers not yet in the store (checking that the tree
    /// gives the same diff id back) and writes its config blob.
    pub fn add(
        &mut self,
        name: &str,
        repo_tag: &str,
        layers: &[&Layer],
        config: &ImageConfig,
        created: u64,
    ) -> Result<StoredImage, Error> {
        if layers.is_empty() {
            return Err(Error::NoLayers);
        }
        let mut stored: Vec<StoredLayer> = Vec::new();
        for layer in layers {
            let probe = StoredLayer::new(layer.diff_id(), stored.last(), 0);
            let dir = layer_path(&self.dir, &probe);
            if !dir.exists() {
                unpack_checked(layer, &dir, created)?;
            }
            stored.push(StoredLayer::new(
                layer.diff_id(),
                stored.last(),
                tree_size(&dir)?,
            ));
        }
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id()).collect();
        let blob = config.to_json(&diff_ids, created)?;
        let id = crate::sha256_digest(&blob);
        let path = config_path(&self.dir, &id);
        fs::write(&path, &blob).map_err(Error::io("write", &path))?;
        let image = StoredImage {
            name: name.to_string(),
            tag: repo_tag.to_string(),
            id,
            created,
            config: config.clone(),
            layers: stored,
        };
        self.index.images.retain(|i| i.name != name);
        self.index.images.push(image.clone());
        Ok(image)
    }

    /// Writes the index (images in name order) and returns it.
    pub fn finish(mut self) -> Result<StoreIndex, Error> {
        self.index.images.sort_by(|a, b| a.name.cmp(&b.name));
        let path = self.dir.join(INDEX_FILE);
        let mut json = serde_json::to_vec_pretty(&self.index)?;
        json.push(b'\n');
        fs::write(&path, json).map_err(Error::io("write", &path))?;
        Ok(self.index)
    }
}

/// The layer of a stored image as a [`Layer`] streamed from its tree (for writing a
/// `docker load` archive of it, or adding it to another image).
pub fn stored_layer(store: &Path, image: &StoredImage, i: usize) -> Result<Layer, Error> {
    let layer = image.layers.get(i).ok_or(Error::NoLayers)?;
    Layer::from_dir_unverified(&layer_path(store, layer), image.created, &layer.diff_id)
}

fn unpack_checked(layer: &Layer, dir: &Path, created: u64) -> Result<(), Error> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = dir.with_file_name(format!(".{name}.partial"));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(Error::io("remove", &partial))?;
    }
    layer.unpack(&partial)?;
    let again = Layer::from_dir(&partial, created)?;
    if again.diff_id() != layer.diff_id() {
        return Err(Error::Mismatch {
            what: format!("layer unpacked in {}", partial.display()),
            expected: layer.diff_id().to_string(),
            got: again.diff_id().to_string(),
        });
    }
    fs::rename(&partial, dir).map_err(Error::io("rename", &partial))
}

/// Bytes of the regular files under `dir`, each inode once.
fn tree_size(dir: &Path) -> Result<u64, Error> {
    let mut seen = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(Error::io("read directory", &d))? {
            let entry = entry.map_err(Error::io("read directory", &d))?;
            let meta = entry.metadata().map_err(Error::io("stat", entry.path()))?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                seen.insert((meta.dev(), meta.ino()), meta.len());
            }
        }
    }
    Ok(seen.values().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(&[0xff; 16]).len(), 26);
    }

    #[test]
    fn chain_ids_follow_docker() {
        let a = StoredLayer::new("sha256:aa", None, 0);
        assert_eq!(a.chain_id, "sha256:aa");
        let b = StoredLayer::new("sha256:bb", Some(&a), 0);
        assert_eq!(b.chain_id, crate::sha256_digest(b"sha256:aa sha256:bb"));
        assert_eq!(b.cache_id, hex(&b.chain_id));
        assert_eq!(b.link.len(), 26);
        assert_ne!(a.link, b.link);
    }

    #[test]
    fn layers_are_stored_once_and_ids_match_the_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/a"), "aaaa").unwrap();
        fs::hard_link(root.join("bin/a"), root.join("bin/b")).unwrap();
        let top = tmp.path().join("top");
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::write(top.join("etc/c"), "cc").unwrap();
        let base = Layer::from_dir(&root, 1_700_000_000).unwrap();
        let upper = Layer::from_dir(&top, 1_700_000_000).unwrap();
        let config = ImageConfig::default();
        let written = crate::write_archive(
            &tmp.path().join("x.tar"),
            "ros/x:1",
            &[&base, &upper],
            &config,
            1_700_000_000,
        )
        .unwrap();

        let dir = tmp.path().join("store");
        let mut w = StoreWriter::create(&dir).unwrap();
        let x = w
            .add("x", "ros/x:1", &[&base, &upper], &config, 1_700_000_000)
            .unwrap();
        w.add("y", "ros/y:1", &[&base], &config, 1_700_000_000)
            .unwrap();
        let index = w.finish().unwrap();
        assert_eq!(x.id, written.id);
        assert_eq!(x.layers[0].size, 4, "a hard link counts once");
        assert_eq!(x.layers[1].size, 2);
        assert_eq!(fs::read_dir(dir.join(LAYERS_DIR)).unwrap().count(), 2);
        assert_eq!(StoreIndex::read(&dir).unwrap(), index);
        let blob = fs::read(config_path(&dir, &x.id)).unwrap();
        assert_eq!(crate::sha256_digest(&blob), x.id);
        assert_eq!(index.find("ros/y:1").unwrap().name, "y");

        // A stored layer streams back into the same archive.
        let again: Vec<Layer> = (0..2).map(|i| stored_layer(&dir, &x, i).unwrap()).collect();
        let refs: Vec<&Layer> = again.iter().collect();
        let mut bytes = Vec::new();
        let info =
            crate::write_archive_to(&mut bytes, "ros/x:1", &refs, &config, 1_700_000_000).unwrap();
        assert_eq!(info.id, written.id);
        assert_eq!(bytes, fs::read(tmp.path().join("x.tar")).unwrap());
    }
}
