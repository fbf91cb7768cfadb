//! One image layer: a deterministic tar of a directory tree, and its diff id.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::error::Error;

/// An uncompressed layer tar held in memory, with its diff id (`sha256:` of the tar).
#[derive(Clone)]
pub struct Layer {
    tar: Vec<u8>,
    diff_id: String,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("diff_id", &self.diff_id)
            .field("size", &self.tar.len())
            .finish()
    }
}

impl Layer {
    /// Tars every entry under `dir`. Modification times later than `mtime` are clamped to it.
    pub fn from_dir(dir: &Path, mtime: u64) -> Result<Layer, Error> {
        Self::from_dir_filtered(dir, mtime, |_| true)
    }

    /// Tars the entries under `dir` for which `include` (given the path relative to `dir`)
    /// returns true. Excluded directories are still walked so that their children can be
    /// included; this is how a layer holding only the files that differ from a lower one is made.
    pub fn from_dir_filtered(
        dir: &Path,
        mtime: u64,
        include: impl Fn(&Path) -> bool,
    ) -> Result<Layer, Error> {
        let mut writer = LayerWriter {
            root: dir.to_path_buf(),
            clamp: mtime,
            include: &include,
            builder: tar::Builder::new(Vec::new()),
            hardlinks: HashMap::new(),
        };
        writer.walk(Path::new(""))?;
        let tar = writer
            .builder
            .into_inner()
            .map_err(Error::io("finish layer tar of", dir))?;
        Ok(Layer::from_tar(tar))
    }

    /// Wraps an existing uncompressed layer tar.
    pub fn from_tar(tar: Vec<u8>) -> Layer {
        let diff_id = crate::sha256_digest(&tar);
        Layer { tar, diff_id }
    }

    /// `sha256:<hex>` of the uncompressed tar.
    pub fn diff_id(&self) -> &str {
        &self.diff_id
    }

    /// Size of the uncompressed tar in bytes.
    pub fn size(&self) -> u64 {
        self.tar.len() as u64
    }

    /// The uncompressed tar itself.
    pub fn tar_bytes(&self) -> &[u8] {
        &self.tar
    }
}

struct LayerWriter<'a, F: Fn(&Path) -> bool> {
    root: PathBuf,
    clamp: u64,
    include: &'a F,
    builder: tar::Builder<Vec<u8>>,
    // (dev, inode) of multiply-linked files already written, so later names become hard links.
    hardlinks: HashMap<(u64, u64), PathBuf>,
}

impl<F: Fn(&Path) -> bool> LayerWriter<'_, F> {
    fn walk(&mut self, rel: &Path) -> Result<(), Error> {
        let abs = self.root.join(rel);
        let mut names: Vec<_> = fs::read_dir(&abs)
            .map_err(Error::io("read directory", &abs))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(Error::io("read directory", &abs))?;
        // Byte order, independent of locale and of the filesystem's directory order.
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for name in names {
            let child = rel.join(&name);
            let child_abs = self.root.join(&child);
            let meta = fs::symlink_metadata(&child_abs).map_err(Error::io("stat", &child_abs))?;
            if (self.include)(&child) {
                self.append(&child, &child_abs, &meta)?;
            }
            if meta.is_dir() {
                self.walk(&child)?;
            }
        }
        Ok(())
    }

    fn append(&mut self, rel: &Path, abs: &Path, meta: &Metadata) -> Result<(), Error> {
        let mut header = Header::new_gnu();
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(u64::from(meta.uid()));
        header.set_gid(u64::from(meta.gid()));
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0).min(self.clamp));
        header.set_size(0);
        let file_type = meta.file_type();
        let err = Error::io("add to layer", abs);
        if file_type.is_dir() {
            header.set_entry_type(EntryType::Directory);
            let mut path = rel.as_os_str().to_os_string();
            path.push("/");
            self.builder
                .append_data(&mut header, path, std::io::empty())
                .map_err(err)
        } else if file_type.is_symlink() {
            header.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(abs).map_err(Error::io("read link", abs))?;
            self.builder
                .append_link(&mut header, rel, target)
                .map_err(err)
        } else if file_type.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.hardlinks.get(&key) {
                    header.set_entry_type(EntryType::Link);
                    let first = first.clone();
                    return self
                        .builder
                        .append_link(&mut header, rel, first)
                        .map_err(err);
                }
                self.hardlinks.insert(key, rel.to_path_buf());
            }
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(abs).map_err(Error::io("open", abs))?;
            self.builder
                .append_data(&mut header, rel, file)
                .map_err(err)
        } else if file_type.is_char_device() || file_type.is_block_device() {
            header.set_entry_type(if file_type.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            });
            let rdev = meta.rdev();
            header
                .set_device_major(major(rdev))
                .and_then(|()| header.set_device_minor(minor(rdev)))
                .map_err(Error::io("encode device number of", abs))?;
            self.builder
                .append_data(&mut header, rel, std::io::empty())
                .map_err(err)
        } else if file_type.is_fifo() {
            header.set_entry_type(EntryType::Fifo);
            self.builder
                .append_data(&mut header, rel, std::io::empty())
                .map_err(err)
        } else {
            // Sockets have no meaning in an image; nothing else is left.
            Ok(())
        }
    }
}

fn major(rdev: u64) -> u32 {
    (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0x0000_0fff)) as u32
}

fn minor(rdev: u64) -> u32 {
    (((rdev >> 12) & 0xffff_ff00) | (rdev & 0x0000_00ff)) as u32
}
