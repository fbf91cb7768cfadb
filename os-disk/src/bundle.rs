//! The upgrade bundle: one uncompressed tar whose first member is `manifest.json` (format,
//! version, and each file's size and SHA-256), followed by the kernel, the initrd and the
//! system image. A slot holds the same files. Nothing is written until the whole bundle checks.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const FORMAT: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
/// What a bundle and a slot hold, besides the manifest.
pub const FILES: [&str; 3] = ["vmlinuz", "initrd", "system.squashfs"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub version: String,
    #[serde(default)]
    pub commit: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the first member must be {MANIFEST}, found {found:?}")]
    NoManifest { path: PathBuf, found: String },
    #[error("{path}: {MANIFEST}: {source}")]
    BadManifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: bundle format {found}, this ros reads format {FORMAT}")]
    Format { path: PathBuf, found: u32 },
    #[error("{path}: the manifest must list exactly {FILES:?}, it lists {listed:?}")]
    FileList { path: PathBuf, listed: Vec<String> },
    #[error("{path}: {name}: unexpected or repeated member")]
    Unexpected { path: PathBuf, name: String },
    #[error("{path}: {name}: {what} mismatch (manifest {expected}, bundle {found}): the bundle is corrupt or truncated")]
    Mismatch {
        path: PathBuf,
        name: String,
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("{path}: {name} is missing: the bundle is truncated")]
    Missing { path: PathBuf, name: String },
}

impl Manifest {
    /// Describes files already on disk (a build's outputs, or the running system's boot files).
    pub fn describe(
        version: &str,
        commit: &str,
        files: &[(&str, &Path)],
    ) -> Result<Manifest, BundleError> {
        let mut entries = Vec::new();
        for (name, path) in files {
            let mut f = std::fs::File::open(path).map_err(io(path))?;
            let (size, sha256) = hash(&mut f, &mut std::io::sink()).map_err(io(path))?;
            entries.push(FileEntry {
                name: (*name).to_owned(),
                size,
                sha256,
            });
        }
        Ok(Manifest {
            format: FORMAT,
            version: version.to_owned(),
            commit: commit.to_owned(),
            files: entries,
        })
    }

    pub fn entry(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    fn check(&self, path: &Path) -> Result<(), BundleError> {
        if self.format != FORMAT {
            return Err(BundleError::Format {
                path: path.to_owned(),
                found: self.format,
            });
        }
        let mut listed: Vec<String> = self.files.iter().map(|f| f.name.clone()).collect();
        listed.sort();
        let mut want: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
        want.sort();
        if listed != want {
            return Err(BundleError::FileList {
                path: path.to_owned(),
                listed,
            });
        }
        Ok(())
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Copies `from` to `to`, returning the size and the SHA-256 in hex.
fn hash(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let data = buf.get(..n).unwrap_or_default();
        hasher.update(data);
        to.write_all(data)?;
        size = size.saturating_add(n as u64);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Writes a bundle: the manifest, then each file, with fixed owners and times.
pub fn write(
    out: &Path,
    manifest: &Manifest,
    files: &[(&str, &Path)],
    mtime: u64,
) -> Result<(), BundleError> {
    let tmp = out.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let header = |size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    let json = serde_json::to_vec_pretty(manifest).map_err(|source| BundleError::BadManifest {
        path: out.to_owned(),
        source,
    })?;
    let mut h = header(json.len() as u64);
    tar.append_data(&mut h, MANIFEST, json.as_slice())
        .map_err(io(&tmp))?;
    for (name, path) in files {
        let f = std::fs::File::open(path).map_err(io(path))?;
        let len = f.metadata().map_err(io(path))?.len();
        let mut h = header(len);
        tar.append_data(&mut h, name, f).map_err(io(path))?;
    }
    let mut inner = tar.into_inner().map_err(io(&tmp))?;
    inner.flush().map_err(io(&tmp))?;
    drop(inner);
    std::fs::rename(&tmp, out).map_err(io(out))
}

/// Checks every member against the manifest without writing anything; returns the manifest.
pub fn verify(path: &Path) -> Result<Manifest, BundleError> {
    walk(path, |_| Ok(Box::new(std::io::sink())))
}

/// Verifies and writes the files into `dir` (the inactive slot, mounted), each synced. Call
/// `verify` first: this checks again as it writes, but only after the bytes are on disk.
pub fn extract(path: &Path, dir: &Path) -> Result<Manifest, BundleError> {
    let manifest = walk(path, |name| {
        let target = dir.join(name);
        let f = std::fs::File::create(&target).map_err(io(&target))?;
        Ok(Box::new(SyncOnDrop(f)))
    })?;
    let json = serde_json::to_vec_pretty(&manifest).map_err(|source| BundleError::BadManifest {
        path: path.to_owned(),
        source,
    })?;
    let target = dir.join(MANIFEST);
    std::fs::write(&target, json).map_err(io(&target))?;
    Ok(manifest)
}

struct SyncOnDrop(std::fs::File);

impl Write for SyncOnDrop {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.sync_all()
    }
}

type Sink<'a> = Box<dyn Write + 'a>;

fn walk<'a>(
    path: &Path,
    mut open: impl FnMut(&str) -> Result<Sink<'a>, BundleError>,
) -> Result<Manifest, BundleError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = archive.entries().map_err(io(path))?;
    let mut first = match entries.next() {
        Some(e) => e.map_err(io(path))?,
        None => {
            return Err(BundleError::NoManifest {
                path: path.to_owned(),
                found: "nothing (empty file)".into(),
            })
        }
    };
    let first_name = first
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if first_name != MANIFEST {
        return Err(BundleError::NoManifest {
            path: path.to_owned(),
            found: first_name,
        });
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json).map_err(io(path))?;
    drop(first);
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|source| BundleError::BadManifest {
            path: path.to_owned(),
            source,
        })?;
    manifest.check(path)?;
    let mut seen: Vec<String> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(io(path))?;
        let name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let Some(expected) = manifest.entry(&name).filter(|_| !seen.contains(&name)) else {
            return Err(BundleError::Unexpected {
                path: path.to_owned(),
                name,
            });
        };
        let mut sink = open(&name)?;
        let (size, sha256) = hash(&mut entry, &mut sink).map_err(io(path))?;
        sink.flush().map_err(io(path))?;
        let mismatch = |what, expected: String, found: String| BundleError::Mismatch {
            path: path.to_owned(),
            name: name.clone(),
            what,
            expected,
            found,
        };
        if size != expected.size {
            return Err(mismatch(
                "size",
                expected.size.to_string(),
                size.to_string(),
            ));
        }
        if sha256 != expected.sha256 {
            return Err(mismatch("sha256", expected.sha256.clone(), sha256));
        }
        seen.push(name);
    }
    if let Some(missing) = FILES.iter().find(|f| !seen.iter().any(|s| s == *f)) {
        return Err(BundleError::Missing {
            path: path.to_owned(),
            name: (*missing).to_owned(),
        });
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
        FILES
            .iter()
            .map(|name| {
                let p = dir.join(name);
                std::fs::write(&p, format!("contents of {name}").repeat(1000)).unwrap();
                (*name, p)
            })
            .collect()
    }

    fn make(dir: &Path) -> (PathBuf, Manifest) {
        let owned = files(dir);
        let refs: Vec<(&str, &Path)> = owned.iter().map(|(n, p)| (*n, p.as_path())).collect();
        let manifest = Manifest::describe("1.2.3", "abc", &refs).unwrap();
        let out = dir.join("ros.bundle");
        write(&out, &manifest, &refs, 0).unwrap();
        (out, manifest)
    }

    #[test]
    fn a_bundle_verifies_and_extracts() {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, manifest) = make(dir.path());
        assert_eq!(verify(&bundle).unwrap(), manifest);
        let slot = dir.path().join("slot");
        std::fs::create_dir(&slot).unwrap();
        extract(&bundle, &slot).unwrap();
        for name in FILES {
            assert_eq!(
                std::fs::read(slot.join(name)).unwrap(),
                std::fs::read(dir.path().join(name)).unwrap()
            );
        }
        let saved: Manifest =
            serde_json::from_slice(&std::fs::read(slot.join(MANIFEST)).unwrap()).unwrap();
        assert_eq!(saved.version, "1.2.3");
    }

    #[test]
    fn a_flipped_byte_or_a_truncation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, _) = make(dir.path());
        let mut bytes = std::fs::read(&bundle).unwrap();
        // The last member's data: well past the manifest and the headers.
        let at = bytes.len() - 3000;
        bytes[at] ^= 1;
        let corrupt = dir.path().join("corrupt.bundle");
        std::fs::write(&corrupt, &bytes).unwrap();
        let e = verify(&corrupt).unwrap_err().to_string();
        assert!(e.contains("sha256 mismatch"), "{e}");

        let good = std::fs::read(&bundle).unwrap();
        let short = dir.path().join("short.bundle");
        std::fs::write(&short, &good[..good.len() / 2]).unwrap();
        assert!(verify(&short).is_err());
    }

    #[test]
    fn a_tar_without_a_manifest_first_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let owned = files(dir.path());
        let out = dir.path().join("plain.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&out).unwrap());
        tar.append_path_with_name(&owned[0].1, "vmlinuz").unwrap();
        tar.finish().unwrap();
        let e = verify(&out).unwrap_err().to_string();
        assert!(e.contains("first member must be manifest.json"), "{e}");
    }
}
