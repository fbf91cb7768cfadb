//! Skipping a stage whose inputs have not changed: each stage hashes its inputs into a key and
//! stores its result beside the key; a warm build reuses the result when the key matches.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bump when the way stages build changes, so old results are not reused.
const FORMAT: &str = "ros-build-stage-v3";

/// A running hash of a stage's inputs.
pub struct Key(Sha256);

impl Key {
    pub fn new(stage: &str) -> Key {
        let mut h = Sha256::new();
        h.update(FORMAT);
        h.update(stage);
        Key(h)
    }

    pub fn text(&mut self, s: &str) -> &mut Key {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s);
        self
    }

    pub fn json<T: Serialize>(&mut self, value: &T) -> Result<&mut Key> {
        let s = serde_json::to_string(value)?;
        Ok(self.text(&s))
    }

    pub fn file(&mut self, path: &Path) -> Result<&mut Key> {
        let digest = sha256_file(path)?;
        Ok(self.text(&path.display().to_string()).text(&digest))
    }

    /// Names, modes and contents of every entry under `dir`, in sorted order.
    pub fn dir(&mut self, dir: &Path) -> Result<&mut Key> {
        let mut entries = Vec::new();
        collect(dir, Path::new(""), &mut entries)?;
        for rel in entries {
            let abs = dir.join(&rel);
            let meta = fs::symlink_metadata(&abs)?;
            self.text(&rel.to_string_lossy())
                .text(&meta.mode().to_string());
            if meta.file_type().is_symlink() {
                self.text(&fs::read_link(&abs)?.to_string_lossy());
            } else if meta.is_file() {
                self.text(&sha256_file(&abs)?);
            }
        }
        Ok(self)
    }

    pub fn finish(&self) -> String {
        format!("{:x}", self.0.clone().finalize())
    }
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))
        .with_context(|| format!("read {}", root.join(rel).display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        let child = rel.join(name);
        out.push(child.clone());
        if fs::symlink_metadata(root.join(&child))?.is_dir() {
            collect(root, &child, out)?;
        }
    }
    Ok(())
}

/// Hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    key: String,
    result: T,
}

/// The stored result of `stage` if it was made from the same key and `outputs` still exist.
pub fn load<T: DeserializeOwned>(
    work: &Path,
    stage: &str,
    key: &str,
    outputs: impl Fn(&T) -> Vec<PathBuf>,
) -> Option<T> {
    let text = fs::read_to_string(work.join(format!("{stage}.stage.json"))).ok()?;
    let stored: Stored<T> = serde_json::from_str(&text).ok()?;
    (stored.key == key && outputs(&stored.result).iter().all(|p| p.exists()))
        .then_some(stored.result)
}

pub fn store<T: Serialize>(work: &Path, stage: &str, key: &str, result: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(&Stored {
        key: key.to_string(),
        result,
    })?;
    fs::write(work.join(format!("{stage}.stage.json")), text).context("store stage result")
}

/// Forgets a stage's result (before rebuilding it, so a failed build is not reused).
pub fn forget(work: &Path, stage: &str) {
    let _ = fs::remove_file(work.join(format!("{stage}.stage.json")));
}
