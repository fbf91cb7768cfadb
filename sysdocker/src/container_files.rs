//! `write_files` entries with `container: NAME`: the engine puts them into that container
//! after creating it and before its first start, through the Docker API (PUT
//! /containers/{id}/archive with a tar whose headers carry each file's mode and owner). So
//! it works for any image and any entrypoint, and the service finds its files at startup.
//!
//! The files are part of the container's desired state: their digest joins the spec hash, so
//! changing them recreates the container (and a fresh one gets them), while an unchanged,
//! stopped container keeps what it already has (an `append` is not repeated).
//!
//! Owners are names in the container's own /etc/passwd and /etc/group (downloaded when a name
//! needs resolving); `append` downloads the file the image has, if any, and adds to it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::StreamExt;
use os_config::model::WriteFile;
use sha2::{Digest, Sha256};

use crate::client::DaemonClient;
use crate::error::{Error, Result};

/// Mode of a new file when `permissions` is not given (cloud-init's default).
const DEFAULT_MODE: u32 = 0o644;
/// Largest existing file `append` downloads; config files are far smaller.
const MAX_DOWNLOAD: usize = 16 << 20;

/// Where the engine gets the files meant for a container, by container (service) name. It is
/// asked each time a service is reconciled, so it sees the configuration as it is then
/// (cloud-init may have just saved new user-data).
#[derive(Clone)]
pub struct ContainerFiles(Arc<FilesFn>);

type FilesFn = dyn Fn(&str) -> Vec<WriteFile> + Send + Sync;

impl fmt::Debug for ContainerFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContainerFiles(..)")
    }
}

impl ContainerFiles {
    pub fn new(source: impl Fn(&str) -> Vec<WriteFile> + Send + Sync + 'static) -> Self {
        ContainerFiles(Arc::new(source))
    }

    /// The merged configuration under `root`, read at each call. Containers in `skip` write
    /// their own files from inside (the console does, at every start, as RancherOS v1 did);
    /// entries without `container:` are the console's too, so they never match here.
    pub fn from_config(root: PathBuf, skip: &'static [&'static str]) -> Self {
        ContainerFiles::new(move |name| {
            if skip.contains(&name) {
                return Vec::new();
            }
            for_container(&os_config::load(&root).config.write_files, name)
        })
    }

    pub fn for_container(&self, name: &str) -> Vec<WriteFile> {
        (self.0)(name)
    }
}

/// The entries of `files` whose `container:` is `name`, in order.
pub fn for_container(files: &[WriteFile], name: &str) -> Vec<WriteFile> {
    files
        .iter()
        .filter(|f| f.container.as_deref() == Some(name))
        .cloned()
        .collect()
}

/// The spec hash with the files mixed in; unchanged when there are none, so containers
/// without files keep the hash they had.
pub fn hash_with_files(spec_hash: String, files: &[WriteFile]) -> String {
    if files.is_empty() {
        return spec_hash;
    }
    let mut h = Sha256::new();
    h.update(spec_hash.as_bytes());
    for f in files {
        // serde_json of plain strings and bools cannot fail; Debug keeps it total anyway.
        let one = serde_json::to_string(f).unwrap_or_else(|_| format!("{f:?}"));
        h.update(b"\n");
        h.update(one.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// One file as it will be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// A file already in the container (for `append`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub content: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// Writes every entry into the created container `id` (service `service`, for messages).
/// Entries that cannot be prepared (bad encoding, unknown owner, relative path) are reported
/// and skipped; the rest go in one upload. Returns how many were written.
pub async fn upload(
    client: &DaemonClient,
    id: &str,
    service: &str,
    files: &[WriteFile],
) -> Result<usize> {
    if files.is_empty() {
        return Ok(0);
    }
    let mut users: Option<UserDb> = None;
    let mut staged: Vec<Prepared> = Vec::new();
    for f in files {
        let needs_names = f.owner.as_deref().is_some_and(|o| {
            o.split(':')
                .any(|p| !p.is_empty() && p.parse::<u64>().is_err())
        });
        if needs_names && users.is_none() {
            users = Some(UserDb {
                passwd: download_text(client, id, "/etc/passwd").await,
                group: download_text(client, id, "/etc/group").await,
            });
        }
        let existing = if f.append && !staged.iter().any(|p| p.path == f.path) {
            match download(client, id, &f.path).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(%service, path = %f.path, error = %e, "write_files: skipped");
                    continue;
                }
            }
        } else {
            None
        };
        match prepare(f, &staged, existing, users.as_ref()) {
            Ok(p) => {
                staged.retain(|s| s.path != p.path);
                staged.push(p);
            }
            Err(e) => tracing::error!(%service, path = %f.path, error = %e, "write_files: skipped"),
        }
    }
    if staged.is_empty() {
        return Ok(0);
    }
    let tar =
        build_tar(&staged).map_err(|e| Error::service(service, format!("write_files: {e}")))?;
    let opts = UploadToContainerOptions {
        path: "/".into(),
        ..Default::default()
    };
    client
        .docker
        .upload_to_container(id, Some(opts), bollard::body_full(tar.into()))
        .await
        .map_err(|e| Error::service(service, format!("write_files: upload: {}", client.err(e))))?;
    for p in &staged {
        tracing::info!(%service, path = %p.path, mode = format!("{:o}", p.mode), uid = p.uid, gid = p.gid, "write_files: written into the container");
    }
    Ok(staged.len())
}

/// Why one `write_files` entry is skipped (logged; the other entries still go up).
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("path must be absolute")]
    NotAbsolute,
    #[error(transparent)]
    Content(#[from] os_config::model::ContentError),
    #[error("permissions {0:?} are not octal")]
    NotOctal(String),
    #[error(transparent)]
    Owner(#[from] OwnerError),
    #[error("{path} is too large to append to")]
    TooLarge { path: String },
    #[error(transparent)]
    Daemon(Box<Error>),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// An owner the container's user database does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerError {
    #[error("no user {0:?} in the container")]
    NoUser(String),
    #[error("no group {0:?} in the container")]
    NoGroup(String),
}

/// The final bytes, mode and owner of one entry; `staged` holds what earlier entries of the
/// same upload made (a later `append` adds to it), `existing` what the image has.
pub fn prepare(
    f: &WriteFile,
    staged: &[Prepared],
    existing: Option<Existing>,
    users: Option<&UserDb>,
) -> Result<Prepared, EntryError> {
    if !Path::new(&f.path).is_absolute() {
        return Err(EntryError::NotAbsolute);
    }
    let content = f.decoded_content().map_err(EntryError::Content)?;
    let mode = match f.permissions.as_deref() {
        Some(p) => Some(
            f.mode()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| EntryError::NotOctal(p.to_owned()))?,
        ),
        None => None,
    };
    let owner = match f.owner.as_deref() {
        Some(o) => Some(resolve_owner(o, users)?),
        None => None,
    };
    let base = if f.append {
        staged
            .iter()
            .find(|p| p.path == f.path)
            .map(|p| Existing {
                content: p.content.clone(),
                mode: p.mode,
                uid: p.uid,
                gid: p.gid,
            })
            .or(existing)
    } else {
        None
    };
    Ok(match base {
        // Appending keeps the file's mode and owner unless the entry gives them.
        Some(b) => {
            let mut all = b.content;
            all.extend_from_slice(&content);
            let (uid, gid) = owner.unwrap_or((b.uid, b.gid));
            Prepared {
                path: f.path.clone(),
                content: all,
                mode: mode.unwrap_or(b.mode),
                uid,
                gid,
            }
        }
        None => {
            let (uid, gid) = owner.unwrap_or((0, 0));
            Prepared {
                path: f.path.clone(),
                content,
                mode: mode.unwrap_or(DEFAULT_MODE),
                uid,
                gid,
            }
        }
    })
}

/// The container's user database, as text.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    pub passwd: String,
    pub group: String,
}

/// `user`, `user:group` or numeric ids. A user without a group gets its primary group from
/// the container's passwd (0 when it has no entry).
pub fn resolve_owner(owner: &str, users: Option<&UserDb>) -> Result<(u64, u64), OwnerError> {
    let (user, group) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g).filter(|g| !g.is_empty())),
        None => (owner, None),
    };
    let empty = UserDb::default();
    let db = users.unwrap_or(&empty);
    let by_name = |text: &str, name: &str, field: usize| {
        text.lines().find_map(|l| {
            let cols: Vec<&str> = l.split(':').collect();
            (cols.first() == Some(&name))
                .then(|| cols.get(field)?.parse::<u64>().ok())
                .flatten()
        })
    };
    let (uid, primary) = match user.parse::<u64>() {
        Ok(n) => (
            n,
            db.passwd.lines().find_map(|l| {
                let cols: Vec<&str> = l.split(':').collect();
                (cols.get(2)?.parse::<u64>().ok()? == n).then(|| cols.get(3)?.parse().ok())?
            }),
        ),
        Err(_) => (
            by_name(&db.passwd, user, 2).ok_or_else(|| OwnerError::NoUser(user.to_owned()))?,
            by_name(&db.passwd, user, 3),
        ),
    };
    let gid = match group {
        Some(g) => match g.parse::<u64>() {
            Ok(n) => n,
            Err(_) => by_name(&db.group, g, 2).ok_or_else(|| OwnerError::NoGroup(g.to_owned()))?,
        },
        None => primary.unwrap_or(0),
    };
    Ok((uid, gid))
}

/// A tar of regular files only: parent directories that do not exist are created by Docker
/// (root, 0755); existing ones keep their mode and owner.
pub fn build_tar(files: &[Prepared]) -> std::io::Result<Vec<u8>> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut builder = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(f.content.len() as u64);
        header.set_mode(f.mode);
        header.set_uid(f.uid);
        header.set_gid(f.gid);
        header.set_mtime(mtime);
        builder.append_data(
            &mut header,
            f.path.trim_start_matches('/'),
            f.content.as_slice(),
        )?;
    }
    builder.into_inner()
}

/// The file at `path` in the container, `None` when there is none.
pub async fn download(
    client: &DaemonClient,
    id: &str,
    path: &str,
) -> std::result::Result<Option<Existing>, EntryError> {
    let opts = DownloadFromContainerOptions {
        path: path.to_owned(),
    };
    let mut stream = client.docker.download_from_container(id, Some(opts));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                bytes.extend_from_slice(&c);
                if bytes.len() > MAX_DOWNLOAD {
                    return Err(EntryError::TooLarge {
                        path: path.to_owned(),
                    });
                }
            }
            Err(e) if crate::reconcile::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(EntryError::Daemon(Box::new(client.err(e)))),
        }
    }
    first_file(&bytes).map_err(|source| EntryError::Read {
        path: path.to_owned(),
        source,
    })
}

async fn download_text(client: &DaemonClient, id: &str, path: &str) -> String {
    match download(client, id, path).await {
        Ok(Some(f)) => String::from_utf8_lossy(&f.content).into_owned(),
        _ => String::new(),
    }
}

/// The first entry of a tar, when it is a regular file.
pub fn first_file(tar_bytes: &[u8]) -> std::io::Result<Option<Existing>> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut entries = archive.entries()?;
    let Some(entry) = entries.next() else {
        return Ok(None);
    };
    let mut entry = entry?;
    let header = entry.header();
    if header.entry_type() != tar::EntryType::Regular {
        return Err(std::io::Error::other("not a regular file"));
    }
    let (mode, uid, gid) = (header.mode()?, header.uid()?, header.gid()?);
    let mut content = Vec::new();
    entry.read_to_end(&mut content)?;
    Ok(Some(Existing {
        content,
        mode: mode & 0o7777,
        uid,
        gid,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use os_config::model::Encoding;

    fn wf(path: &str, content: &str) -> WriteFile {
        WriteFile {
            path: path.into(),
            content: content.into(),
            container: Some("ntp".into()),
            ..WriteFile::default()
        }
    }

    fn db() -> UserDb {
        UserDb {
            passwd: "root:x:0:0:root:/root:/bin/sh\n_chrony:x:102:104::/var/lib/chrony:/usr/sbin/nologin\n".into(),
            group: "root:x:0:\n_chrony:x:104:\nadm:x:4:\n".into(),
        }
    }

    #[test]
    fn owners_resolve_in_the_containers_database() {
        let d = db();
        assert_eq!(resolve_owner("_chrony", Some(&d)), Ok((102, 104)));
        assert_eq!(resolve_owner("_chrony:adm", Some(&d)), Ok((102, 4)));
        assert_eq!(resolve_owner("102", Some(&d)), Ok((102, 104)));
        assert_eq!(resolve_owner("1234:5678", None), Ok((1234, 5678)));
        assert_eq!(resolve_owner("root:", Some(&d)), Ok((0, 0)));
        assert_eq!(
            resolve_owner("nobody-here", Some(&d)).map_err(|e| e.to_string()),
            Err("no user \"nobody-here\" in the container".to_owned())
        );
        assert_eq!(
            resolve_owner("root:nogroup", Some(&d)),
            Err(OwnerError::NoGroup("nogroup".into()))
        );
    }

    #[test]
    fn entries_prepare_with_modes_owners_and_appends() {
        let mut a = wf("/etc/a.conf", "one\n");
        a.permissions = Some("0600".into());
        a.owner = Some("_chrony".into());
        let p = prepare(&a, &[], None, Some(&db())).unwrap();
        assert_eq!((p.mode, p.uid, p.gid), (0o600, 102, 104));

        // Append to what the image has: its mode and owner stay.
        let mut b = wf("/etc/b.conf", "added\n");
        b.append = true;
        let existing = Existing {
            content: b"image\n".to_vec(),
            mode: 0o640,
            uid: 7,
            gid: 8,
        };
        let p = prepare(&b, &[], Some(existing), None).unwrap();
        assert_eq!(p.content, b"image\nadded\n");
        assert_eq!((p.mode, p.uid, p.gid), (0o640, 7, 8));

        // Append to an earlier entry of the same upload, not to the image's file.
        let staged = vec![p];
        let p2 = prepare(&b, &staged, None, None).unwrap();
        assert_eq!(p2.content, b"image\nadded\nadded\n");

        // Append to nothing: a new file.
        let p3 = prepare(&b, &[], None, None).unwrap();
        assert_eq!((p3.content.as_slice(), p3.mode), (&b"added\n"[..], 0o644));

        let mut enc = wf("/x", "aGkK");
        enc.encoding = Some(Encoding::Base64);
        assert_eq!(prepare(&enc, &[], None, None).unwrap().content, b"hi\n");
        assert!(prepare(&wf("relative", "x"), &[], None, None).is_err());
        let mut bad = wf("/x", "x");
        bad.permissions = Some("rwx".into());
        assert!(prepare(&bad, &[], None, None).is_err());
    }

    #[test]
    fn tar_round_trips_headers() {
        let files = vec![Prepared {
            path: "/etc/deep/dir/file.conf".into(),
            content: b"hello".to_vec(),
            mode: 0o4755,
            uid: 1000,
            gid: 1001,
        }];
        let tar = build_tar(&files).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<_> = archive.entries().unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(entries.len(), 1, "no directory entries");
        assert_eq!(
            entries[0].path().unwrap().as_ref(),
            Path::new("etc/deep/dir/file.conf")
        );
        let got = first_file(&tar).unwrap().unwrap();
        assert_eq!(
            got,
            Existing {
                content: b"hello".to_vec(),
                mode: 0o4755,
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(first_file(&[0u8; 1024]).unwrap(), None);
    }

    #[test]
    fn files_join_the_hash_only_when_present() {
        assert_eq!(hash_with_files("abc".into(), &[]), "abc");
        let one = hash_with_files("abc".into(), &[wf("/a", "1")]);
        let two = hash_with_files("abc".into(), &[wf("/a", "2")]);
        assert_ne!(one, "abc");
        assert_ne!(one, two);
        assert_eq!(one, hash_with_files("abc".into(), &[wf("/a", "1")]));
    }

    #[test]
    fn entries_are_picked_by_container_and_skips_are_honoured() {
        let files = vec![
            wf("/a", "1"),
            WriteFile {
                path: "/console".into(),
                ..WriteFile::default()
            },
            WriteFile {
                container: Some("console".into()),
                ..wf("/c", "1")
            },
        ];
        assert_eq!(for_container(&files, "ntp").len(), 1);
        assert_eq!(for_container(&files, "console").len(), 1);
        let src = ContainerFiles::new(move |n| for_container(&files, n));
        assert_eq!(src.for_container("ntp")[0].path, "/a");
        assert!(src.for_container("udev").is_empty());
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("var/lib/rancher/conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("cloud-config.yml"),
            "write_files:\n- {container: ntp, path: /etc/x, content: y}\n- {container: console, path: /etc/z, content: y}\n",
        )
        .unwrap();
        let from_cfg = ContainerFiles::from_config(dir.path().to_path_buf(), &["console"]);
        assert_eq!(from_cfg.for_container("ntp").len(), 1);
        assert!(from_cfg.for_container("console").is_empty());
    }
}
