//! Images: loading bundled `docker load` archives when an image is missing, and pulling only
//! when nothing bundled has it and the network is up (bounded).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;

use crate::client::DaemonClient;
use crate::error::{Error, Result};
use crate::registry_auth::RegistryAuths;

/// Where images may come from when a service names a missing one.
#[derive(Debug, Clone)]
pub struct ImageSources {
    /// Directories of `docker load`-able `.tar` archives (e.g. `/usr/share/ros/images`).
    pub archive_dirs: Vec<PathBuf>,
    /// Whether pulling is allowed at all (still only when the network is up).
    pub allow_pull: bool,
    pub pull_timeout: Duration,
    pub load_timeout: Duration,
    /// How many missing images `up` loads at once ahead of need (see `image_loads`).
    pub parallel_loads: usize,
    /// Images that must come from the system image but could not (tag → why): never pulled,
    /// and a service naming one fails at once with the reason.
    pub unavailable: Vec<(String, String)>,
    /// Credentials sent with pulls (`rancher.registry_auths`).
    pub registry_auths: RegistryAuths,
}

impl Default for ImageSources {
    fn default() -> Self {
        ImageSources {
            archive_dirs: vec![PathBuf::from("/usr/share/ros/images")],
            allow_pull: true,
            pull_timeout: Duration::from_secs(300),
            load_timeout: Duration::from_secs(300),
            // Two: under emulation both vCPUs stay busy without starving the services' starts.
            parallel_loads: 2,
            unavailable: Vec::new(),
            registry_auths: RegistryAuths::default(),
        }
    }
}

/// `busybox` → `busybox:latest`; `docker.io/library/x:1` → `x:1`; digests are kept.
pub fn normalize(reference: &str) -> String {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    let r = r.strip_prefix("library/").unwrap_or(r);
    let last = r.rsplit('/').next().unwrap_or(r);
    if r.contains('@') || last.contains(':') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

/// The entries of an archive's `manifest.json` (tar headers only; layers are skipped), or
/// none when the archive has no manifest.
pub fn archive_manifest(path: &Path) -> Result<Vec<serde_json::Value>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive = tar::Archive::new(file);
    let entries = archive
        .entries_with_seek()
        .map_err(|e| Error::io(path, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::io(path, e))?;
        let is_manifest = entry
            .path()
            .map(|p| p.as_os_str() == "manifest.json" || p.as_os_str() == "./manifest.json")
            .unwrap_or(false);
        if !is_manifest {
            continue;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).map_err(|e| Error::io(path, e))?;
        return serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: manifest.json: {e}", path.display())));
    }
    Ok(Vec::new())
}

/// The `RepoTags` an archive's `manifest.json` declares.
pub fn archive_tags(path: &Path) -> Result<Vec<String>> {
    Ok(archive_manifest(path)?
        .iter()
        .filter_map(|m| m.get("RepoTags")?.as_array().cloned())
        .flatten()
        .filter_map(|t| t.as_str().map(normalize))
        .collect())
}

/// The first archive under `dirs` that holds `image`.
pub fn find_archive(dirs: &[PathBuf], image: &str) -> Option<PathBuf> {
    let wanted = normalize(image);
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut tars: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tar"))
            .collect();
        tars.sort();
        for tar in tars {
            match archive_tags(&tar) {
                Ok(tags) if tags.contains(&wanted) => return Some(tar),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(archive = %tar.display(), error = %e, "unreadable image archive")
                }
            }
        }
    }
    None
}

/// `docker load` of one archive, streamed from disk.
pub async fn load_archive(client: &DaemonClient, path: &Path) -> Result<()> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::io(path, e))?;
    let body = tokio_util::io::ReaderStream::new(file);
    let options = bollard::query_parameters::ImportImageOptionsBuilder::default()
        .quiet(true)
        .build();
    let mut progress = Box::pin(client.docker.import_image_stream(options, body, None));
    while let Some(item) = progress.next().await {
        item.map_err(|e| client.err(e))?;
    }
    tracing::info!(archive = %path.display(), host = %client.host, "image archive loaded");
    Ok(())
}

/// True when a default route exists on an interface other than loopback.
pub fn network_is_up() -> bool {
    let Ok(routes) = std::fs::read_to_string("/proc/net/route") else {
        return false;
    };
    routes.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        matches!(f.as_slice(), [iface, dest, ..] if *iface != "lo" && *dest == "00000000")
    })
}

/// Makes sure `image` exists for `service` and returns its id: present → as is; in a bundled
/// archive → loaded; else pulled when allowed and the network is up; else one clear error.
pub async fn ensure_image(
    client: &DaemonClient,
    service: &str,
    image: &str,
    sources: &ImageSources,
) -> Result<String> {
    if let Ok(found) = client.docker.inspect_image(image).await {
        return Ok(found.id.unwrap_or_default());
    }
    let missing = |reason: String| Error::ImageMissing {
        service: service.to_string(),
        image: image.to_string(),
        reason,
    };
    if let Some((_, why)) = sources
        .unavailable
        .iter()
        .find(|(tag, _)| normalize(tag) == normalize(image))
    {
        return Err(missing(format!(
            "the system image's copy of it cannot be served: {why}"
        )));
    }
    let dirs = sources.archive_dirs.clone();
    let wanted = image.to_string();
    let archive = tokio::task::spawn_blocking(move || find_archive(&dirs, &wanted))
        .await
        .ok()
        .flatten();
    if let Some(archive) = archive {
        tokio::time::timeout(sources.load_timeout, load_archive(client, &archive))
            .await
            .map_err(|_| missing(format!("loading {} timed out", archive.display())))??;
    } else if !sources.allow_pull {
        return Err(missing("no bundled archive has it (pulling is off)".into()));
    } else if !network_is_up() {
        return Err(missing(
            "no bundled archive has it and the network is down".into(),
        ));
    } else {
        pull(client, image, sources)
            .await
            .map_err(|e| missing(format!("pulling failed: {e}")))?;
    }
    client
        .docker
        .inspect_image(image)
        .await
        .map(|i| i.id.unwrap_or_default())
        .map_err(|e| missing(format!("still absent after loading: {e}")))
}

/// Pulls `image` with its registry's credentials, if `rancher.registry_auths` has them.
pub async fn pull(client: &DaemonClient, image: &str, sources: &ImageSources) -> Result<()> {
    let timeout = sources.pull_timeout;
    let options = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let credentials = sources.registry_auths.for_image(image);
    let run = async {
        let mut progress = Box::pin(client.docker.create_image(Some(options), None, credentials));
        while let Some(item) = progress.next().await {
            item.map_err(|e| client.err(e))?;
        }
        Ok(())
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| Error::Timeout {
            what: format!("pulling {image}"),
            seconds: timeout.as_secs(),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_references() {
        assert_eq!(normalize("busybox"), "busybox:latest");
        assert_eq!(normalize("docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(normalize("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(normalize("rancher/os-console:v1"), "rancher/os-console:v1");
    }
}
