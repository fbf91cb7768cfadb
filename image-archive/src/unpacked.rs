//! Images stored unpacked, for a squashfs: `layers/<hex>/` holds each layer's tree once, however
//! many images use it, and `<name>.json` describes each image. A compressed filesystem of such
//! a store keeps every file once (also when /usr has the same binaries), where tar archives
//! would each carry their own copy. [`UnpackedImage::write_archive_to`] streams the same
//! `docker load` archive the build wrote, byte for byte.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::archive::{write_archive_to, ImageInfo};
use crate::config::ImageConfig;
use crate::error::Error;
use crate::layer::Layer;

/// The subdirectory of a store holding the layer trees.
pub const LAYERS_DIR: &str = "layers";

/// One image of a store: `<store>/<name>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpackedImage {
    pub name: String,
    pub tag: String,
    /// The image id (`sha256:` of its config) that loading it gives.
    pub id: String,
    pub created: u64,
    /// Diff ids of the layers, lowest first.
    pub layers: Vec<String>,
    pub config: ImageConfig,
}

fn hex(diff_id: &str) -> &str {
    diff_id.strip_prefix("sha256:").unwrap_or(diff_id)
}

/// Adds an image to `store`: unpacks each of its layers not yet there (checking that the tree
/// gives the same diff id back) and writes `<name>.json`.
pub fn store(
    store: &Path,
    name: &str,
    repo_tag: &str,
    layers: &[&Layer],
    config: &ImageConfig,
    created: u64,
) -> Result<UnpackedImage, Error> {
    for layer in layers {
        let dir = store.join(LAYERS_DIR).join(hex(layer.diff_id()));
        if !dir.exists() {
            let partial = store
                .join(LAYERS_DIR)
                .join(format!(".{}.partial", hex(layer.diff_id())));
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
            fs::rename(&partial, &dir).map_err(Error::io("rename", &partial))?;
        }
    }
    // The id is computed the same way as write_archive does, without writing an archive.
    let mut sink = std::io::sink();
    let info = write_archive_to(&mut sink, repo_tag, layers, config, created)?;
    let image = UnpackedImage {
        name: name.to_string(),
        tag: repo_tag.to_string(),
        id: info.id,
        created,
        layers: info.diff_ids,
        config: config.clone(),
    };
    let path = store.join(format!("{name}.json"));
    let mut json = serde_json::to_string_pretty(&image)?;
    json.push('\n');
    fs::write(&path, json).map_err(Error::io("write", &path))?;
    Ok(image)
}

impl UnpackedImage {
    /// Reads `<store>/<name>.json`.
    pub fn read(store: &Path, name: &str) -> Result<UnpackedImage, Error> {
        let path = store.join(format!("{name}.json"));
        let text = fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// Every image of `store`, by name.
    pub fn list(store: &Path) -> Result<Vec<UnpackedImage>, Error> {
        let mut names: Vec<String> = fs::read_dir(store)
            .map_err(Error::io("read directory", store))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json").map(str::to_string)
            })
            .collect();
        names.sort();
        names
            .iter()
            .map(|n| UnpackedImage::read(store, n))
            .collect()
    }

    /// The image of `store` tagged `tag` (e.g. `ros/console:0.1.0`), if any.
    pub fn find(store: &Path, tag: &str) -> Result<Option<UnpackedImage>, Error> {
        Ok(UnpackedImage::list(store)?
            .into_iter()
            .find(|i| i.tag == tag))
    }

    /// The layer directories of this image, lowest first.
    pub fn layer_dirs(&self, store: &Path) -> Vec<PathBuf> {
        self.layers
            .iter()
            .map(|d| store.join(LAYERS_DIR).join(hex(d)))
            .collect()
    }

    /// Streams the image's `docker load` archive to `out`, checking each layer's digest as it
    /// goes: a changed tree fails (after its bytes were written; docker load refuses it too).
    pub fn write_archive_to<W: Write>(
        &self,
        store: &Path,
        out: &mut W,
    ) -> Result<ImageInfo, Error> {
        let layers = self
            .layer_dirs(store)
            .iter()
            .zip(&self.layers)
            .map(|(dir, diff_id)| Layer::from_dir_unverified(dir, self.created, diff_id))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&Layer> = layers.iter().collect();
        let info = write_archive_to(out, &self.tag, &refs, &self.config, self.created)?;
        if info.id != self.id {
            return Err(Error::Mismatch {
                what: format!("id of image {}", self.name),
                expected: self.id.clone(),
                got: info.id,
            });
        }
        Ok(info)
    }
}

/// A reader of an image's archive, written by a thread as it is read (for `docker load`
/// bodies that want a reader or a stream of chunks). The thread's outcome, including a layer
/// digest mismatch, is returned by [`ArchiveReader::finish`] and as a read error.
pub struct ArchiveReader {
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    current: std::io::Cursor<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<Result<ImageInfo, Error>>>,
    outcome: Option<Result<ImageInfo, Error>>,
}

struct ChunkWriter(std::sync::mpsc::SyncSender<Vec<u8>>);

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf.to_vec()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "archive reader dropped")
        })?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl UnpackedImage {
    /// Starts writing this image's archive on a thread; read it from the returned reader.
    pub fn archive_reader(&self, store: &Path) -> ArchiveReader {
        // A few 64 KiB chunks in flight: enough to keep docker busy, little memory.
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let image = self.clone();
        let store = store.to_path_buf();
        let worker = std::thread::spawn(move || {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, ChunkWriter(tx));
            let info = image.write_archive_to(&store, &mut out)?;
            out.flush()
                .map_err(Error::io("stream archive of", &store))?;
            Ok(info)
        });
        ArchiveReader {
            chunks: rx,
            current: std::io::Cursor::new(Vec::new()),
            worker: Some(worker),
            outcome: None,
        }
    }
}

impl ArchiveReader {
    /// Waits for the writer thread: the archive's [`ImageInfo`], or why it failed.
    pub fn finish(mut self) -> Result<ImageInfo, Error> {
        self.join();
        self.outcome.take().unwrap_or(Err(Error::NoLayers))
    }

    fn join(&mut self) {
        if let Some(worker) = self.worker.take() {
            // Drain what is left so that the writer is never blocked on a full channel.
            while self.chunks.recv().is_ok() {}
            self.outcome = Some(worker.join().unwrap_or_else(|_| {
                Err(Error::Mismatch {
                    what: "archive writer".into(),
                    expected: "completion".into(),
                    got: "a panic".into(),
                })
            }));
        }
    }
}

impl std::io::Read for ArchiveReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.chunks.recv() {
                Ok(chunk) => self.current = std::io::Cursor::new(chunk),
                // The writer is done: end of archive, or its error.
                Err(_) => {
                    self.join();
                    return match &self.outcome {
                        Some(Err(e)) => Err(std::io::Error::other(e.to_string())),
                        _ => Ok(0),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn stored_image_streams_the_same_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::write(root.join("usr/bin/a"), "a").unwrap();
        fs::hard_link(root.join("usr/bin/a"), root.join("usr/bin/b")).unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        let top = tmp.path().join("top");
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::write(top.join("etc/conf"), "c").unwrap();
        let base = Layer::from_dir(&root, 1_700_000_000).unwrap();
        let upper = Layer::from_dir(&top, 1_700_000_000).unwrap();
        let config = ImageConfig {
            cmd: vec!["/bin/a".into()],
            ..ImageConfig::default()
        };

        let file = tmp.path().join("img.tar");
        let written =
            crate::write_archive(&file, "ros/x:1", &[&base, &upper], &config, 1_700_000_000)
                .unwrap();
        let store_dir = tmp.path().join("store");
        let stored = store(
            &store_dir,
            "x",
            "ros/x:1",
            &[&base, &upper],
            &config,
            1_700_000_000,
        )
        .unwrap();
        // A second image sharing the base layer reuses its directory.
        store(&store_dir, "y", "ros/y:1", &[&base], &config, 1_700_000_000).unwrap();
        assert_eq!(stored.id, written.id);

        let read = UnpackedImage::read(&store_dir, "x").unwrap();
        assert_eq!(read, stored);
        let mut streamed = Vec::new();
        let info = read.write_archive_to(&store_dir, &mut streamed).unwrap();
        assert_eq!(info, written);
        assert_eq!(streamed, fs::read(&file).unwrap());
        let mut from_reader = Vec::new();
        std::io::Read::read_to_end(&mut read.archive_reader(&store_dir), &mut from_reader).unwrap();
        assert_eq!(from_reader, streamed);
        let names: Vec<String> = UnpackedImage::list(&store_dir)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(
            UnpackedImage::find(&store_dir, "ros/y:1")
                .unwrap()
                .unwrap()
                .name,
            "y"
        );
        assert_eq!(UnpackedImage::find(&store_dir, "ros/z:1").unwrap(), None);
        assert_eq!(names, vec!["x", "y"]);
        assert_eq!(fs::read_dir(store_dir.join(LAYERS_DIR)).unwrap().count(), 2);
    }

    #[test]
    fn a_changed_tree_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("f"), "1").unwrap();
        let layer = Layer::from_dir(&root, 1).unwrap();
        let store_dir = tmp.path().join("store");
        let image = store(
            &store_dir,
            "x",
            "ros/x:1",
            &[&layer],
            &ImageConfig::default(),
            1,
        )
        .unwrap();
        fs::write(image.layer_dirs(&store_dir)[0].join("f"), "2").unwrap();
        let err = image
            .write_archive_to(&store_dir, &mut std::io::sink())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("layer streamed from its directory: expected sha256:"),
            "{err}"
        );
    }
}
