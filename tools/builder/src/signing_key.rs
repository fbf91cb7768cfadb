//! The build's bundle signing key (outside the repository: `$ROS_SIGNING_KEY`, else
//! `~/.config/ros/bundle-signing.key`), made on first use, and the public keys the system image
//! trusts: the signing key's own plus any listed in `$ROS_TRUSTED_KEYS` (for key rotation).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use os_disk::signing::{self, SigningKey};

/// Extra public key files (`:`-separated) the image trusts besides the signing key's.
pub const TRUSTED_KEYS_ENV: &str = "ROS_TRUSTED_KEYS";

/// The key file's path: `--key`, else `$ROS_SIGNING_KEY`, else the default under ~/.config.
pub fn path(explicit: Option<&Path>) -> Result<PathBuf> {
    match explicit {
        Some(p) => Ok(p.to_path_buf()),
        None => signing::default_key_path().with_context(|| {
            format!(
                "set {} (or HOME) to say where the bundle signing key lives",
                signing::SIGNING_KEY_ENV
            )
        }),
    }
}

/// Reads the key at `path`, or makes a new one there (mode 0600) and says so.
pub fn load_or_generate(path: &Path) -> Result<SigningKey> {
    if path.exists() {
        return SigningKey::read(path).map_err(anyhow::Error::from);
    }
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading /dev/urandom for a new signing key")?;
    let key = SigningKey::from_seed(seed);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("create {}", dir.display()))?;
    }
    // create_new: never overwrite a key another build made meanwhile.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(key.secret_text().as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("write {}", path.display()))?;
    println!(
        "    generated a new bundle signing key {} at {} (keep it: systems built now trust only it)",
        key.id(),
        path.display()
    );
    Ok(key)
}

/// The `<KEYID>.pub` files the system image carries: (file name, contents), sorted: the
/// signing key's own, plus the public key files listed in `extra` (`:`-separated, the value
/// of `$ROS_TRUSTED_KEYS`).
pub fn trusted_files(key: &SigningKey, extra: &str) -> Result<Vec<(String, String)>> {
    let mut files = vec![(
        format!("{}.pub", key.id()),
        signing::public_key_text(&key.public()),
    )];
    for path in extra.split(':').map(str::trim).filter(|p| !p.is_empty()) {
        let text =
            fs::read_to_string(path).with_context(|| format!("{TRUSTED_KEYS_ENV}: read {path}"))?;
        let Some(public) = signing::parse_public_key(&text) else {
            bail!("{TRUSTED_KEYS_ENV}: {path}: not an ed25519 public key (64 hex digits)");
        };
        let name = format!("{}.pub", signing::key_id(&public));
        if !files.iter().any(|(n, _)| *n == name) {
            files.push((name, signing::public_key_text(&public)));
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_generated_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/bundle-signing.key");
        let key = load_or_generate(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_generate(&path).unwrap().id(), key.id());
        let files = trusted_files(&key, "").unwrap();
        assert_eq!(
            files,
            [(
                format!("{}.pub", key.id()),
                signing::public_key_text(&key.public())
            )]
        );
    }

    #[test]
    fn rotation_adds_the_listed_public_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (
            SigningKey::from_seed([1; 32]),
            SigningKey::from_seed([2; 32]),
        );
        let pub_new = dir.path().join("new.pub");
        fs::write(&pub_new, signing::public_key_text(&new.public())).unwrap();
        let files = trusted_files(&old, &format!(" {}:", pub_new.display())).unwrap();
        let mut want = vec![format!("{}.pub", old.id()), format!("{}.pub", new.id())];
        want.sort();
        assert_eq!(
            files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            want
        );
        fs::write(&pub_new, "nonsense").unwrap();
        let e = trusted_files(&old, &pub_new.display().to_string()).unwrap_err();
        assert!(e.to_string().contains("not an ed25519 public key"), "{e}");
    }
}
