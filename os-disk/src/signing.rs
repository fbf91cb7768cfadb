//! Who may make an upgrade bundle: ed25519 signatures over a bundle's exact `manifest.json`
//! bytes (the manifest pins every file's SHA-256), the `manifest.sig` member that carries one,
//! the public keys a system trusts, and the build's signing key file.
//!
//! Formats (docs/install.md, "How upgrades are trusted"):
//! - `manifest.sig`: JSON `{"algorithm": "ed25519", "key": KEYID, "signature": HEX}`, the
//!   64-byte signature in lower-case hex.
//! - a public key, `<KEYID>.pub`: the 32-byte key in hex on one line.
//! - the signing key file: the 32-byte secret seed in hex on one line, mode 0600.
//! - KEYID: the first 16 hex digits of the SHA-256 of the 32 public key bytes.

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The bundle member that holds the signature, right after `manifest.json`.
pub const SIGNATURE: &str = "manifest.sig";
/// Where the system image carries the keys `ros os upgrade` and `ros install -i` trust.
pub const TRUSTED_KEYS_DIR: &str = "/usr/share/ros/trusted-keys";
/// The build's signing key file; default `$XDG_CONFIG_HOME/ros/bundle-signing.key`, else
/// `~/.config/ros/bundle-signing.key` (see `default_key_path`).
pub const SIGNING_KEY_ENV: &str = "ROS_SIGNING_KEY";
pub const ALGORITHM: &str = "ed25519";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a key: expected 64 hex digits on one line")]
    BadKeyFile { path: PathBuf },
    #[error("{path}: the key in it has id {id}, so the file must be named {id}.pub")]
    MisnamedKey { path: PathBuf, id: String },
    #[error("{SIGNATURE} is malformed: {0}")]
    Malformed(String),
    #[error("the bundle is signed by key {key}, which this system does not trust (trusted keys in {dir}: {trusted})")]
    UntrustedKey {
        key: String,
        dir: PathBuf,
        trusted: String,
    },
    #[error("bad signature: key {key}'s signature does not match manifest.json (the bundle was altered after signing)")]
    BadSignature { key: String },
}

/// A public key's id: what `manifest.sig` names and `<KEYID>.pub` is called.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    digest.get(..16).unwrap_or(&digest).to_owned()
}

/// The contents of a `<KEYID>.pub` file.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{}\n", hex::encode(key.as_bytes()))
}

/// Makes `dir` trust `key`: writes `<KEYID>.pub` into it (created if missing), as the build
/// does into the system image's `TRUSTED_KEYS_DIR`.
pub fn add_trusted_key(dir: &Path, key: &VerifyingKey) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.pub", key_id(key)));
    std::fs::write(&path, public_key_text(key))?;
    Ok(path)
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

/// Parses the contents of a `<KEYID>.pub` file.
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    hex32(text).and_then(|b| VerifyingKey::from_bytes(&b).ok())
}

/// The build's secret key. Debug shows only the id.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey {
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    /// Reads a signing key file (the seed in hex).
    pub fn read(path: &Path) -> Result<SigningKey, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Io {
            path: path.to_owned(),
            source,
        })?;
        let seed = hex32(&text).ok_or_else(|| SignError::BadKeyFile {
            path: path.to_owned(),
        })?;
        Ok(SigningKey::from_seed(seed))
    }

    /// The contents of a signing key file.
    pub fn secret_text(&self) -> String {
        format!("{}\n", hex::encode(self.key.to_bytes()))
    }

    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn id(&self) -> String {
        key_id(&self.public())
    }

    /// Signs `manifest` (the exact bytes of `manifest.json`); returns `manifest.sig`'s bytes.
    pub fn sign(&self, manifest: &[u8]) -> Vec<u8> {
        let sig = SignatureFile {
            algorithm: ALGORITHM.to_owned(),
            key: self.id(),
            signature: hex::encode(self.key.sign(manifest).to_bytes()),
        };
        let mut text = serde_json::to_vec_pretty(&sig).unwrap_or_default();
        text.push(b'\n');
        text
    }
}

/// Where the build keeps its signing key: `$ROS_SIGNING_KEY`, else under the user's config
/// directory (outside the repository, and not in a cache someone may wipe).
pub fn default_key_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(SIGNING_KEY_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(config.join("ros/bundle-signing.key"))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    algorithm: String,
    key: String,
    signature: String,
}

/// The public keys a system accepts bundles from.
#[derive(Debug, Clone)]
pub struct TrustedKeys {
    dir: PathBuf,
    keys: Vec<(String, VerifyingKey)>,
}

impl TrustedKeys {
    /// Every `*.pub` in `dir` (the running system's is `TRUSTED_KEYS_DIR`). A missing directory
    /// trusts nothing; a malformed or misnamed key file is an error, not skipped silently.
    pub fn load(dir: &Path) -> Result<TrustedKeys, SignError> {
        let io = |source| SignError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut keys = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TrustedKeys {
                    dir: dir.to_owned(),
                    keys,
                })
            }
            Err(e) => return Err(io(e)),
        };
        for entry in entries {
            let path = entry.map_err(io)?.path();
            if path.extension().is_none_or(|e| e != "pub") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|source| SignError::Io {
                path: path.clone(),
                source,
            })?;
            let key = parse_public_key(&text)
                .ok_or_else(|| SignError::BadKeyFile { path: path.clone() })?;
            let id = key_id(&key);
            if path.file_stem().is_none_or(|s| *s != *id) {
                return Err(SignError::MisnamedKey { path, id });
            }
            keys.push((id, key));
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(TrustedKeys {
            dir: dir.to_owned(),
            keys,
        })
    }

    /// The ids trusted, sorted.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Checks `sig` (the bytes of `manifest.sig`) over `manifest`; returns the signer's id.
    pub fn verify(&self, manifest: &[u8], sig: &[u8]) -> Result<String, SignError> {
        let file: SignatureFile =
            serde_json::from_slice(sig).map_err(|e| SignError::Malformed(e.to_string()))?;
        if file.algorithm != ALGORITHM {
            return Err(SignError::Malformed(format!(
                "algorithm {:?}, only {ALGORITHM:?} is known",
                file.algorithm
            )));
        }
        let bytes: [u8; 64] = hex::decode(&file.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SignError::Malformed("signature: expected 128 hex digits".into()))?;
        let Some((_, key)) = self.keys.iter().find(|(id, _)| *id == file.key) else {
            let trusted = if self.keys.is_empty() {
                "none".to_owned()
            } else {
                self.ids().join(", ")
            };
            return Err(SignError::UntrustedKey {
                key: file.key,
                dir: self.dir.clone(),
                trusted,
            });
        };
        // Strict: refuses weak keys and malleable signatures that plain `verify` accepts.
        key.verify_strict(manifest, &Signature::from_bytes(&bytes))
            .map_err(|_| SignError::BadSignature {
                key: file.key.clone(),
            })?;
        Ok(file.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(dir: &Path, keys: &[&SigningKey]) -> TrustedKeys {
        for k in keys {
            add_trusted_key(dir, &k.public()).unwrap();
        }
        TrustedKeys::load(dir).unwrap()
    }

    #[test]
    fn a_signature_verifies_only_for_its_bytes_and_a_trusted_key() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            SigningKey::from_seed([1; 32]),
            SigningKey::from_seed([2; 32]),
        );
        let trusted = trust(dir.path(), &[&a]);
        assert_eq!(trusted.ids(), [a.id().as_str()]);
        let sig = a.sign(b"manifest");
        assert_eq!(trusted.verify(b"manifest", &sig).unwrap(), a.id());
        let e = trusted.verify(b"manifesT", &sig).unwrap_err().to_string();
        assert!(e.starts_with("bad signature: key"), "{e}");
        let e = trusted
            .verify(b"manifest", &b.sign(b"manifest"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "signed by key {}, which this system does not trust",
                b.id()
            )),
            "{e}"
        );
        assert!(e.contains(&a.id()), "{e}");
        let e = trusted.verify(b"manifest", b"{}").unwrap_err().to_string();
        assert!(e.starts_with("manifest.sig is malformed"), "{e}");
    }

    #[test]
    fn key_files_round_trip_and_misnamed_or_bad_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed([7; 32]);
        let path = dir.path().join("secret.key");
        std::fs::write(&path, key.secret_text()).unwrap();
        assert_eq!(SigningKey::read(&path).unwrap().id(), key.id());
        assert_eq!(key.id().len(), 16);
        assert!(!format!("{key:?}").contains(&hex::encode([7u8; 32])));

        let none = TrustedKeys::load(&dir.path().join("missing")).unwrap();
        let e = none.verify(b"m", &key.sign(b"m")).unwrap_err().to_string();
        assert!(e.contains("trusted keys in"), "{e}");
        assert!(e.ends_with(": none)"), "{e}");

        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        std::fs::write(keys.join("0000.pub"), public_key_text(&key.public())).unwrap();
        let e = TrustedKeys::load(&keys).unwrap_err().to_string();
        assert!(
            e.contains(&format!("must be named {}.pub", key.id())),
            "{e}"
        );
        std::fs::write(keys.join("0000.pub"), "zz\n").unwrap();
        assert!(matches!(
            TrustedKeys::load(&keys),
            Err(SignError::BadKeyFile { .. })
        ));
    }
}
