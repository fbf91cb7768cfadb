//! `write_files` written by the container they are meant for, into its own filesystem: the
//! console's (entries without `container:`) are written by `console-init` at every start, as
//! RancherOS v1 did. Entries for other containers are uploaded by the service engine instead.

use os_config::model::{ContentError, WriteFile};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The container an entry without `container:` belongs to.
pub const DEFAULT_CONTAINER: &str = os_config::model::WriteFile::DEFAULT_CONTAINER;
/// Mode of a new file when `permissions` is not given (cloud-init's default).
const DEFAULT_MODE: u32 = 0o644;

/// Why one entry was not written (logged; the other entries are still written).
#[derive(Debug, thiserror::Error)]
pub enum WriteFileError {
    #[error("path must be absolute")]
    NotAbsolute,
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("permissions {0:?} are not octal")]
    NotOctal(String),
    #[error("unknown owner {0:?}")]
    UnknownOwner(String),
    #[error("creating {}: {source}", dir.display())]
    CreateDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes every entry meant for `container`; each failure is reported and the rest are still
/// written. Returns how many were written.
pub fn write_files(files: &[WriteFile], container: &str) -> usize {
    let mut written = 0;
    for f in files
        .iter()
        .filter(|f| f.container.as_deref().unwrap_or(DEFAULT_CONTAINER) == container)
    {
        match write_one(f) {
            Ok(()) => {
                written += 1;
                tracing::info!(path = %f.path, append = f.append, "write_files: written");
            }
            Err(e) => tracing::error!(path = %f.path, error = %e, "write_files: failed"),
        }
    }
    written
}

fn write_one(f: &WriteFile) -> Result<(), WriteFileError> {
    let path = Path::new(&f.path);
    if !path.is_absolute() {
        return Err(WriteFileError::NotAbsolute);
    }
    let bytes = f.decoded_content()?;
    let mode = match f.permissions.as_deref() {
        Some(p) => Some(
            f.mode()
                .ok_or_else(|| WriteFileError::NotOctal(p.to_owned()))?,
        ),
        None => None,
    };
    // Resolved before anything is written, so a bad owner leaves no half-made file.
    let owner = match f.owner.as_deref() {
        Some(o) => {
            Some(resolve_owner(o).ok_or_else(|| WriteFileError::UnknownOwner(o.to_owned()))?)
        }
        None => None,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| WriteFileError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    let existed = path.exists();
    if f.append {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(mode.unwrap_or(DEFAULT_MODE))
            .open(path)?;
        file.write_all(&bytes)?;
    } else {
        write_replacing(path, &bytes, mode.unwrap_or(DEFAULT_MODE))?;
    }
    // An appended-to file keeps its mode unless permissions are given.
    if let Some(m) = mode.or((!existed || !f.append).then_some(DEFAULT_MODE)) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))?;
    }
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), gid)?;
    }
    Ok(())
}

/// Atomic replace; a file that is itself a bind mount (/etc/hosts) cannot be renamed over, so
/// it is rewritten in place.
fn write_replacing(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    match os_config::atomic_write(path, bytes, mode) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::fs::write(path, bytes),
        other => other,
    }
}

/// `user`, `user:group`, or numeric ids, looked up in this container's user database. A user
/// without a group gets the user's primary group.
pub fn resolve_owner(owner: &str) -> Option<(u32, Option<u32>)> {
    use nix::unistd::{Group, User};
    let (user, group) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let u = User::from_name(user).ok()??;
            (u.uid.as_raw(), Some(u.gid.as_raw()))
        }
    };
    let gid = match group.filter(|g| !g.is_empty()) {
        Some(g) => Some(match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => Group::from_name(g).ok()??.gid.as_raw(),
        }),
        None => primary,
    };
    Some((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use os_config::model::Encoding;
    use std::os::unix::fs::MetadataExt;

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn files_for_the_console_only_with_modes_appends_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        let files = vec![
            WriteFile {
                path: p("a/b.txt"),
                content: "hello\n".into(),
                permissions: Some("0600".into()),
                ..Default::default()
            },
            WriteFile {
                path: p("log"),
                content: "1\n".into(),
                append: true,
                ..Default::default()
            },
            WriteFile {
                path: p("log"),
                content: "2\n".into(),
                append: true,
                ..Default::default()
            },
            WriteFile {
                path: p("ntp.conf"),
                content: "x".into(),
                container: Some("ntp".into()),
                ..Default::default()
            },
            WriteFile {
                path: p("explicit"),
                content: "c".into(),
                container: Some("console".into()),
                ..Default::default()
            },
            WriteFile {
                path: "relative".into(),
                content: "x".into(),
                ..Default::default()
            },
            WriteFile {
                path: p("badmode"),
                content: "x".into(),
                permissions: Some("rw-r--r--".into()),
                ..Default::default()
            },
            WriteFile {
                path: p("badowner"),
                content: "x".into(),
                owner: Some("no-such-user-here".into()),
                ..Default::default()
            },
        ];
        assert_eq!(write_files(&files, "console"), 4);
        assert_eq!(std::fs::read_to_string(p("a/b.txt")).unwrap(), "hello\n");
        assert_eq!(mode_of(Path::new(&p("a/b.txt"))), 0o600);
        assert_eq!(std::fs::read_to_string(p("log")).unwrap(), "1\n2\n");
        assert_eq!(mode_of(Path::new(&p("log"))), 0o644);
        assert!(Path::new(&p("explicit")).exists());
        assert!(!Path::new(&p("ntp.conf")).exists());
        assert!(!Path::new(&p("badmode")).exists() && !Path::new(&p("badowner")).exists());
    }

    #[test]
    fn every_encoding_owner_and_append_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        // `printf 'hi\n' | gzip -n | base64`
        let gz_b64 = "H4sIAAAAAAAAA8vI5AIAenpv7QMAAAA=";
        let files = vec![
            WriteFile {
                path: p("b64"),
                content: "aGkK".into(),
                encoding: Some(Encoding::Base64),
                owner: Some("1234:5678".into()),
                permissions: Some("0755".into()),
                ..Default::default()
            },
            WriteFile {
                path: p("gzb64"),
                content: gz_b64.into(),
                encoding: Some(Encoding::GzipBase64),
                owner: Some("root".into()),
                ..Default::default()
            },
            WriteFile {
                path: p("text"),
                content: "plain".into(),
                encoding: Some(Encoding::Text),
                ..Default::default()
            },
        ];
        assert_eq!(write_files(&files, "console"), 3);
        let b64_path = p("b64");
        let b64 = Path::new(&b64_path);
        assert_eq!(std::fs::read(b64).unwrap(), b"hi\n");
        let meta = std::fs::metadata(b64).unwrap();
        assert_eq!((meta.uid(), meta.gid(), mode_of(b64)), (1234, 5678, 0o755));
        assert_eq!(std::fs::read(p("gzb64")).unwrap(), b"hi\n");
        assert_eq!(std::fs::read(p("text")).unwrap(), b"plain");

        // Appending to an existing file keeps its mode unless permissions are given.
        std::fs::set_permissions(b64, std::fs::Permissions::from_mode(0o700)).unwrap();
        let more = WriteFile {
            path: p("b64"),
            content: "more\n".into(),
            append: true,
            ..Default::default()
        };
        assert_eq!(write_files(&[more], "console"), 1);
        assert_eq!(std::fs::read(b64).unwrap(), b"hi\nmore\n");
        assert_eq!(mode_of(b64), 0o700);
    }

    #[test]
    fn owners_resolve() {
        assert_eq!(resolve_owner("0:0"), Some((0, Some(0))));
        assert_eq!(resolve_owner("root"), Some((0, Some(0))));
        assert_eq!(resolve_owner("root:"), Some((0, Some(0))));
        assert_eq!(resolve_owner("12"), Some((12, None)));
        assert_eq!(resolve_owner("no-such-user-here"), None);
        assert_eq!(resolve_owner("root:no-such-group-here"), None);
    }
}
