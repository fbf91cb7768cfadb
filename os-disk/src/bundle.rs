//! The upgrade bundle: one uncompressed tar whose first member is `manifest.json` (format,
//! version, and each file's size and SHA-256), the second `manifest.sig` (an ed25519 signature
//! of the manifest's exact bytes, see `signing`), followed by the kernel, the initrd and the
//! system image. A slot holds the same files. Nothing is written until the whole bundle checks.

use crate::signing::{SignError, SigningKey, TrustedKeys, SIGNATURE};
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
    #[error(
        "{path}: the bundle is not signed: its second member is {found}, not {SIGNATURE}; refused"
    )]
    Unsigned { path: PathBuf, found: String },
    #[error("{path}: {source}; refused")]
    Signature { path: PathBuf, source: SignError },
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

    /// Parses `manifest.json` (of the bundle at `path`, for messages) and checks its format
    /// and file list.
    pub fn parse(json: &[u8], path: &Path) -> Result<Manifest, BundleError> {
        let manifest: Manifest =
            serde_json::from_slice(json).map_err(|source| BundleError::BadManifest {
                path: path.to_owned(),
                source,
            })?;
        manifest.check(path)?;
        Ok(manifest)
    }

    /// `manifest.json` as a bundle and a slot hold it.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
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

/// Writes a bundle: the manifest, its signature by `key`, then each file, with fixed owners
/// and times. `None` writes an unsigned bundle, which `verify` refuses (for tests of that).
pub fn write(
    out: &Path,
    manifest: &Manifest,
    key: Option<&SigningKey>,
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
    let json = manifest
        .to_json()
        .map_err(|source| BundleError::BadManifest {
            path: out.to_owned(),
            source,
        })?;
    let mut h = header(json.len() as u64);
    tar.append_data(&mut h, MANIFEST, json.as_slice())
        .map_err(io(&tmp))?;
    if let Some(key) = key {
        let sig = key.sign(&json);
        let mut h = header(sig.len() as u64);
        tar.append_data(&mut h, SIGNATURE, sig.as_slice())
            .map_err(io(&tmp))?;
    }
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

/// Checks the signature against `trusted` and every member against the manifest, without
/// writing anything; returns the manifest.
pub fn verify(path: &Path, trusted: &TrustedKeys) -> Result<Manifest, BundleError> {
    walk(path, trusted, |_| Ok(Box::new(std::io::sink())))
}

/// Verifies and writes the files into `dir` (the inactive slot, mounted), each synced. Call
/// `verify` first: this checks again as it writes, but only after the bytes are on disk.
pub fn extract(path: &Path, trusted: &TrustedKeys, dir: &Path) -> Result<Manifest, BundleError> {
    let manifest = walk(path, trusted, |name| {
        let target = dir.join(name);
        let f = std::fs::File::create(&target).map_err(io(&target))?;
        Ok(Box::new(SyncOnDrop(f)))
    })?;
    let json = manifest
        .to_json()
        .map_err(|source| BundleError::BadManifest {
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

fn member_name<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    entry
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The next member's bytes (up to `limit`) if it is named `want`; otherwise `Err` with the
/// name found there, or `None` at the end of the archive.
fn small_member<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    want: &str,
    limit: u64,
    path: &Path,
) -> Result<Result<Vec<u8>, Option<String>>, BundleError> {
    let Some(entry) = entries.next() else {
        return Ok(Err(None));
    };
    let entry = entry.map_err(io(path))?;
    let name = member_name(&entry);
    if name != want {
        return Ok(Err(Some(name)));
    }
    let mut data = Vec::new();
    entry.take(limit).read_to_end(&mut data).map_err(io(path))?;
    Ok(Ok(data))
}

fn walk<'a>(
    path: &Path,
    trusted: &TrustedKeys,
    mut open: impl FnMut(&str) -> Result<Sink<'a>, BundleError>,
) -> Result<Manifest, BundleError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = archive.entries().map_err(io(path))?;
    // Bounded: a manifest is a few hundred bytes, and a hostile one must not fill memory.
    let json = match small_member(&mut entries, MANIFEST, 1 << 20, path)? {
        Ok(json) => json,
        Err(found) => {
            return Err(BundleError::NoManifest {
                path: path.to_owned(),
                found: found.unwrap_or_else(|| "nothing (empty file)".into()),
            })
        }
    };
    let manifest = Manifest::parse(&json, path)?;
    // The signature before any file's bytes: an unsigned or untrusted bundle is refused at once.
    let sig = match small_member(&mut entries, SIGNATURE, 4096, path)? {
        Ok(sig) => sig,
        Err(found) => {
            return Err(BundleError::Unsigned {
                path: path.to_owned(),
                found: found.unwrap_or_else(|| "nothing".into()),
            })
        }
    };
    let signer = trusted
        .verify(&json, &sig)
        .map_err(|source| BundleError::Signature {
            path: path.to_owned(),
            source,
        })?;
    tracing::info!(bundle = %path.display(), key = %signer, "bundle signature verified");
    let mut seen: Vec<String> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(io(path))?;
        let name = member_name(&entry);
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
    use crate::signing::add_trusted_key;

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

    fn key() -> SigningKey {
        SigningKey::from_seed([42; 32])
    }

    /// A directory trusting `key()` only, as the system image's trusted-keys directory does.
    fn trusted(dir: &Path) -> TrustedKeys {
        let keys = dir.join("trusted-keys");
        add_trusted_key(&keys, &key().public()).unwrap();
        TrustedKeys::load(&keys).unwrap()
    }

    fn make_with(dir: &Path, key: Option<&SigningKey>, name: &str) -> (PathBuf, Manifest) {
        let owned = files(dir);
        let refs: Vec<(&str, &Path)> = owned.iter().map(|(n, p)| (*n, p.as_path())).collect();
        let manifest = Manifest::describe("1.2.3", "abc", &refs).unwrap();
        let out = dir.join(name);
        write(&out, &manifest, key, &refs, 0).unwrap();
        (out, manifest)
    }

    fn make(dir: &Path) -> (PathBuf, Manifest) {
        make_with(dir, Some(&key()), "ros.bundle")
    }

    /// The members of `bundle` in order, with their bytes.
    fn members(bundle: &Path) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (e.path().unwrap().display().to_string(), data)
            })
            .collect()
    }

    fn repack(out: &Path, members: &[(String, Vec<u8>)]) {
        let mut tar = tar::Builder::new(std::fs::File::create(out).unwrap());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            tar.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        tar.finish().unwrap();
    }

    #[test]
    fn a_signed_bundle_verifies_and_extracts() {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, manifest) = make(dir.path());
        let trust = trusted(dir.path());
        let names: Vec<String> = members(&bundle).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [MANIFEST, SIGNATURE, "vmlinuz", "initrd", "system.squashfs"]
        );
        assert_eq!(verify(&bundle, &trust).unwrap(), manifest);
        let slot = dir.path().join("slot");
        std::fs::create_dir(&slot).unwrap();
        extract(&bundle, &trust, &slot).unwrap();
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
    fn an_unsigned_bundle_is_refused_and_nothing_is_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, _) = make_with(dir.path(), None, "unsigned.bundle");
        let trust = trusted(dir.path());
        let e = verify(&bundle, &trust).unwrap_err();
        assert!(matches!(e, BundleError::Unsigned { .. }), "{e}");
        assert!(
            e.to_string().ends_with(
                "the bundle is not signed: its second member is vmlinuz, not manifest.sig; refused"
            ),
            "{e}"
        );
        let slot = dir.path().join("slot");
        std::fs::create_dir(&slot).unwrap();
        assert!(extract(&bundle, &trust, &slot).is_err());
        assert_eq!(std::fs::read_dir(&slot).unwrap().count(), 0);
    }

    #[test]
    fn a_tampered_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, _) = make(dir.path());
        let trust = trusted(dir.path());
        let mut m = members(&bundle);
        // Another version, still a valid manifest whose hashes all match the files.
        let text = String::from_utf8(m[0].1.clone()).unwrap();
        m[0].1 = text.replace("1.2.3", "6.6.6").into_bytes();
        let tampered = dir.path().join("tampered.bundle");
        repack(&tampered, &m);
        let e = verify(&tampered, &trust).unwrap_err();
        assert!(
            matches!(
                e,
                BundleError::Signature {
                    source: SignError::BadSignature { .. },
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().contains(&format!(
                "bad signature: key {}'s signature does not match manifest.json",
                key().id()
            )),
            "{e}"
        );
    }

    #[test]
    fn a_bundle_signed_by_an_untrusted_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let stranger = SigningKey::from_seed([9; 32]);
        let (bundle, _) = make_with(dir.path(), Some(&stranger), "stranger.bundle");
        let e = verify(&bundle, &trusted(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "the bundle is signed by key {}, which this system does not trust (trusted keys in {}: {})",
                stranger.id(),
                dir.path().join("trusted-keys").display(),
                key().id()
            )),
            "{e}"
        );
    }

    #[test]
    fn members_out_of_order_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, _) = make(dir.path());
        let trust = trusted(dir.path());
        let m = members(&bundle);
        // The signature after a file: the bundle reads as unsigned.
        let late = dir.path().join("late.bundle");
        repack(
            &late,
            &[
                m[0].clone(),
                m[2].clone(),
                m[1].clone(),
                m[3].clone(),
                m[4].clone(),
            ],
        );
        let e = verify(&late, &trust).unwrap_err().to_string();
        assert!(
            e.contains("its second member is vmlinuz, not manifest.sig"),
            "{e}"
        );
        // The signature first.
        let first = dir.path().join("first.bundle");
        repack(
            &first,
            &[
                m[1].clone(),
                m[0].clone(),
                m[2].clone(),
                m[3].clone(),
                m[4].clone(),
            ],
        );
        let e = verify(&first, &trust).unwrap_err().to_string();
        assert!(
            e.contains("first member must be manifest.json, found \"manifest.sig\""),
            "{e}"
        );
        // A second signature member after the files.
        let twice = dir.path().join("twice.bundle");
        let mut extra = m.clone();
        extra.push(m[1].clone());
        repack(&twice, &extra);
        let e = verify(&twice, &trust).unwrap_err().to_string();
        assert!(
            e.contains("manifest.sig: unexpected or repeated member"),
            "{e}"
        );
        // Signature alone, no files.
        let short = dir.path().join("short.bundle");
        repack(&short, &m[..2]);
        let e = verify(&short, &trust).unwrap_err().to_string();
        assert!(e.contains("vmlinuz is missing"), "{e}");
    }

    #[test]
    fn a_flipped_byte_or_a_truncation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, _) = make(dir.path());
        let trust = trusted(dir.path());
        let mut bytes = std::fs::read(&bundle).unwrap();
        // The last member's data: well past the manifest and the headers.
        let at = bytes.len() - 3000;
        bytes[at] ^= 1;
        let corrupt = dir.path().join("corrupt.bundle");
        std::fs::write(&corrupt, &bytes).unwrap();
        let e = verify(&corrupt, &trust).unwrap_err().to_string();
        assert!(e.contains("sha256 mismatch"), "{e}");

        let good = std::fs::read(&bundle).unwrap();
        let short = dir.path().join("short.bundle");
        std::fs::write(&short, &good[..good.len() / 2]).unwrap();
        assert!(verify(&short, &trust).is_err());
    }

    #[test]
    fn a_tar_without_a_manifest_first_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let owned = files(dir.path());
        let out = dir.path().join("plain.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&out).unwrap());
        tar.append_path_with_name(&owned[0].1, "vmlinuz").unwrap();
        tar.finish().unwrap();
        let e = verify(&out, &trusted(dir.path())).unwrap_err().to_string();
        assert!(e.contains("first member must be manifest.json"), "{e}");
    }
}
