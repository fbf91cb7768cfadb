//! One image layer: a deterministic tar of a directory tree, and its diff id.
//!
//! A layer is either held in memory (built and hashed from a directory) or streamed from a
//! directory whose diff id is already known (an image stored unpacked, see [`crate::unpacked`]).
//! Both produce the same bytes for the same tree.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::error::Error;

/// An uncompressed layer tar and its diff id (`sha256:` of the tar).
#[derive(Clone)]
pub struct Layer {
    source: Source,
    diff_id: String,
    size: u64,
}

#[derive(Clone)]
enum Source {
    Memory(Vec<u8>),
    Dir { root: PathBuf, mtime: u64 },
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("diff_id", &self.diff_id)
            .field("size", &self.size)
            .finish()
    }
}

impl Layer {
    /// Tars every entry under `dir`; every entry gets the modification time `mtime`.
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
        let mut tar = Vec::new();
        write_tree(dir, mtime, &include, true, &mut tar)?;
        Ok(Layer::from_tar(tar))
    }

    /// Wraps an existing uncompressed layer tar.
    pub fn from_tar(tar: Vec<u8>) -> Layer {
        let diff_id = crate::sha256_digest(&tar);
        let size = tar.len() as u64;
        Layer {
            source: Source::Memory(tar),
            diff_id,
            size,
        }
    }

    /// A layer streamed from `dir` when written, trusting `diff_id` (not re-hashed: that would
    /// read the tree twice). Only metadata is read here, to know the tar's size.
    pub fn from_dir_unverified(dir: &Path, mtime: u64, diff_id: &str) -> Result<Layer, Error> {
        let mut counter = CountingSink(0);
        write_tree(dir, mtime, &|_| true, false, &mut counter)?;
        Ok(Layer {
            source: Source::Dir {
                root: dir.to_path_buf(),
                mtime,
            },
            diff_id: diff_id.to_string(),
            size: counter.0,
        })
    }

    /// `sha256:<hex>` of the uncompressed tar.
    pub fn diff_id(&self) -> &str {
        &self.diff_id
    }

    /// Size of the uncompressed tar in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tar bytes of a layer held in memory (`None` for one streamed from a directory).
    pub fn tar_bytes(&self) -> Option<&[u8]> {
        match &self.source {
            Source::Memory(tar) => Some(tar),
            Source::Dir { .. } => None,
        }
    }

    /// Whether the diff id was computed here (true) or taken on trust.
    pub fn is_verified(&self) -> bool {
        matches!(self.source, Source::Memory(_))
    }

    /// Writes the tar to `out`.
    pub fn write_tar<W: Write>(&self, out: &mut W) -> Result<(), Error> {
        match &self.source {
            Source::Memory(tar) => out
                .write_all(tar)
                .map_err(Error::io("write layer", PathBuf::new())),
            Source::Dir { root, mtime } => write_tree(root, *mtime, &|_| true, true, out),
        }
    }

    /// Unpacks the layer into `dir` with owners, modes and times, so that
    /// [`Layer::from_dir`] of `dir` gives this layer back.
    pub fn unpack(&self, dir: &Path) -> Result<(), Error> {
        let mut tar = Vec::new();
        self.write_tar(&mut tar)?;
        fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
        let mut archive = tar::Archive::new(&tar[..]);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_preserve_mtime(true);
        archive.set_unpack_xattrs(false);
        archive.set_overwrite(true);
        archive
            .unpack(dir)
            .map_err(Error::io("unpack layer into", dir))
    }
}

struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn write_tree<W: Write>(
    dir: &Path,
    mtime: u64,
    include: &dyn Fn(&Path) -> bool,
    contents: bool,
    out: &mut W,
) -> Result<(), Error> {
    let mut writer = LayerWriter {
        root: dir.to_path_buf(),
        mtime,
        include,
        contents,
        builder: tar::Builder::new(out),
        hardlinks: HashMap::new(),
    };
    writer.walk(Path::new(""))?;
    writer
        .builder
        .into_inner()
        .map_err(Error::io("finish layer tar of", dir))?;
    Ok(())
}

struct LayerWriter<'a, W: Write> {
    root: PathBuf,
    mtime: u64,
    include: &'a dyn Fn(&Path) -> bool,
    // False when only the size is wanted: file data is replaced by zeros of the same length.
    contents: bool,
    builder: tar::Builder<W>,
    // (dev, inode) of multiply-linked files already written, so later names become hard links.
    hardlinks: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> LayerWriter<'_, W> {
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
        header.set_mtime(self.mtime);
        header.set_size(0);
        let file_type = meta.file_type();
        let err = Error::io("add to layer", abs);
        if file_type.is_dir() {
            header.set_entry_type(EntryType::Directory);
            let mut path = rel.as_os_str().to_os_string();
            path.push("/");
            self.builder
                .append_data(&mut header, path, io::empty())
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
            if self.contents {
                let file = File::open(abs).map_err(Error::io("open", abs))?;
                self.builder
                    .append_data(&mut header, rel, file)
                    .map_err(err)
            } else {
                let zeros = io::repeat(0).take(meta.len());
                self.builder
                    .append_data(&mut header, rel, zeros)
                    .map_err(err)
            }
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
                .append_data(&mut header, rel, io::empty())
                .map_err(err)
        } else if file_type.is_fifo() {
            header.set_entry_type(EntryType::Fifo);
            self.builder
                .append_data(&mut header, rel, io::empty())
                .map_err(err)
        } else {
            // Sockets have no meaning in an image; nothing else is left.
            Ok(())
        }
    }
}

use std::io::Read as _;

fn major(rdev: u64) -> u32 {
    (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0x0000_0fff)) as u32
}

fn minor(rdev: u64) -> u32 {
    (((rdev >> 12) & 0xffff_ff00) | (rdev & 0x0000_00ff)) as u32
}
