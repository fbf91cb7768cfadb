//! `ros service` operations on the configuration: enable, disable, delete, and the list of
//! every known service. Writes go to `cloud-config.yml` atomically (mode 0600).

use std::path::{Path, PathBuf};

use os_config::key_path::KeyPath;
use yaml_serde::Value;

use crate::error::{Error, Result};
use crate::includes;
use crate::project::Project;

/// Loads the merged config under `root` and resolves its service set. Config diagnostics
/// come first in `warnings`.
/// The engine boot and `ros service` both run: after an `io.rancher.os.reloadconfig` service
/// it reloads the project from `root`'s configuration, and it uploads each container's
/// `write_files` before the container starts, except for the default container (the
/// console), which writes its own.
pub fn engine_for_root(root: &Path, options: crate::EngineOptions) -> crate::Engine {
    const SELF_WRITING: &[&str] = &[os_config::model::WriteFile::DEFAULT_CONTAINER];
    let reload_root = root.to_path_buf();
    crate::Engine::new(options)
        .with_reloader(std::sync::Arc::new(move || load_project(&reload_root)))
        .with_container_files(crate::ContainerFiles::from_config(
            root.to_path_buf(),
            SELF_WRITING,
        ))
}

pub fn load_project(root: &Path) -> Project {
    let loaded = os_config::load(root);
    let mut project = Project::from_value(&loaded.value, root);
    let mut warnings: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    warnings.append(&mut project.warnings);
    project.warnings = warnings;
    project
}

fn include_key(name: &str) -> KeyPath {
    KeyPath::keys(["rancher", "services_include", name])
}

fn set_include(root: &Path, name: &str, enabled: Option<bool>) -> Result<bool> {
    let key = include_key(name);
    let updated = os_config::user_config::update(&os_config::paths::cloud_config(root), |doc| {
        match enabled {
            Some(on) => key.set(doc, Value::Bool(on))?,
            None => {
                key.remove(doc);
            }
        }
        Ok(())
    })
    .map_err(|e| Error::Config(e.to_string()))?;
    Ok(updated.written)
}

/// Where an enable argument's definition would come from, checked before enabling.
fn check_definition(root: &Path, name: &str) -> Result<PathBuf> {
    includes::resolve(root, name).map_err(|looked| {
        let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
        Error::Config(format!(
            "{name}: no service definition found (looked at {})",
            looked.join(", ")
        ))
    })
}

/// Validates a definition file: it must parse as a fragment with at least one service.
fn check_fragment(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let map = includes::parse_fragment(&text, path).map_err(|e| Error::Config(e.to_string()))?;
    if map.is_empty() {
        return Err(Error::Config(format!(
            "{}: defines no service",
            path.display()
        )));
    }
    Ok(())
}

/// `ros service enable NAME|PATH|URL`: a URL is fetched once into the cache first. A bare NAME
/// that no bundled or local definition has, but a `rancher.repositories` index lists, is
/// enabled as that repository's URL for it. Returns the include name set and whether the
/// config changed.
pub async fn enable_named(root: &Path, name: &str) -> Result<(String, bool)> {
    if !includes::is_url(name) && !includes::is_path(name) && includes::resolve(root, name).is_err()
    {
        let (found, _) = repository_services(root).await;
        if let Some(s) = found.into_iter().find(|s| s.name == name) {
            let changed = enable(root, &s.url).await?;
            return Ok((s.url, changed));
        }
    }
    Ok((name.to_owned(), enable(root, name).await?))
}

/// A service a `rancher.repositories` index lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryService {
    pub name: String,
    /// The repository's key in `rancher.repositories`.
    pub repository: String,
    /// `<repository url>/<name>.yml`, the include name it is enabled under.
    pub url: String,
}

/// Every service of every `rancher.repositories` index (`<url>/index.yml`: `services:` a list
/// of names), and one warning per repository that could not be read.
pub async fn repository_services(root: &Path) -> (Vec<RepositoryService>, Vec<String>) {
    let repositories = os_config::load(root).config.rancher.repositories;
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    for (key, repo) in repositories {
        let Some(base) = repo.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            warnings.push(format!("rancher.repositories.{key}: no url"));
            continue;
        };
        let base = base.trim_end_matches('/');
        let index_url = format!("{base}/index.yml");
        let names = match fetch(&index_url)
            .await
            .and_then(|b| index_names(&b, &index_url))
        {
            Ok(n) => n,
            Err(e) => {
                warnings.push(format!("rancher.repositories.{key}: {e}"));
                continue;
            }
        };
        for name in names {
            found.push(RepositoryService {
                url: format!("{base}/{name}.yml"),
                name,
                repository: key.clone(),
            });
        }
    }
    (found, warnings)
}

/// The names of an index: `services: [a, b]` or `services: [{name: a}, …]`. Names that could
/// leave the repository's directory in a URL are refused.
fn index_names(body: &[u8], url: &str) -> Result<Vec<String>> {
    let bad = |m: String| Error::Config(format!("{url}: {m}"));
    let doc: Value = yaml_serde::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let Some(Value::Sequence(items)) = doc.get("services") else {
        return Err(bad("no `services:` list".into()));
    };
    let mut names = Vec::new();
    for item in items {
        let name = match item {
            Value::String(s) => s.clone(),
            other => match other.get("name") {
                Some(Value::String(s)) => s.clone(),
                _ => continue,
            },
        };
        let safe = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !safe {
            return Err(bad(format!("service name {name:?} is not a plain name")));
        }
        names.push(name);
    }
    Ok(names)
}

/// `ros service enable NAME|PATH|URL`: a URL is fetched once into the cache first.
/// Returns whether the config changed.
pub async fn enable(root: &Path, name: &str) -> Result<bool> {
    if includes::is_url(name) {
        let cache = includes::cache_file(root, name);
        if !cache.is_file() {
            let body = fetch(name).await?;
            if let Some(dir) = cache.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            os_config::atomic_write(&cache, &body, 0o644).map_err(|e| Error::io(&cache, e))?;
        }
    }
    let path = check_definition(root, name)?;
    check_fragment(&path)?;
    set_include(root, name, Some(true))
}

/// `ros service disable NAME`: keeps the entry, set to `false`.
pub fn disable(root: &Path, name: &str) -> Result<bool> {
    set_include(root, name, Some(false))
}

/// `ros service delete NAME`: drops the entry and any cached download.
pub fn delete(root: &Path, name: &str) -> Result<bool> {
    if includes::is_url(name) {
        let cache = includes::cache_file(root, name);
        if cache.is_file() {
            std::fs::remove_file(&cache).map_err(|e| Error::io(&cache, e))?;
        }
    }
    set_include(root, name, None)
}

/// A known service and whether it is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownService {
    /// The include name (or service name for `rancher.services`).
    pub name: String,
    pub enabled: bool,
    /// Services it defines that are in the current project (empty when disabled).
    pub services: Vec<String>,
}

/// Every known service: `rancher.services`, every `services_include` entry, and every
/// bundled or local definition not mentioned in the config (disabled).
pub fn known_services(root: &Path, project: &Project) -> Vec<KnownService> {
    let mut out: Vec<KnownService> = Vec::new();
    for s in project.services.values() {
        let include = match &s.origin {
            crate::service::Origin::Config => s.name.clone(),
            crate::service::Origin::Include { name, .. } => name.clone(),
        };
        match out.iter_mut().find(|k| k.name == include) {
            Some(k) => k.services.push(s.name.clone()),
            None => out.push(KnownService {
                name: include,
                enabled: true,
                services: vec![s.name.clone()],
            }),
        }
    }
    for d in &project.disabled {
        if !out.iter().any(|k| &k.name == d) {
            out.push(KnownService {
                name: d.clone(),
                enabled: false,
                services: Vec::new(),
            });
        }
    }
    for a in includes::available(root) {
        if !out.iter().any(|k| k.name == a) {
            out.push(KnownService {
                name: a,
                enabled: false,
                services: Vec::new(),
            });
        }
    }
    out
}

/// Largest service definition or repository index fetched.
const MAX_FETCH_BYTES: usize = 1 << 20;

/// Fetches a service definition over HTTP(S), bounded to 30 s and 1 MiB.
async fn fetch(url: &str) -> Result<Vec<u8>> {
    let client = host::http_client::asynchronous(&host::http_client::Settings {
        timeout: Some(std::time::Duration::from_secs(30)),
        ..Default::default()
    })
    .map_err(|e| Error::Config(format!("{url}: {e}")))?;
    let resp = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| Error::Config(format!("fetching {url}: {e}")))?;
    let too_big = || Error::Config(format!("{url}: larger than {MAX_FETCH_BYTES} bytes"));
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_FETCH_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::Config(format!("fetching {url}: {e}")))?
    {
        if body.len().saturating_add(chunk.len()) > MAX_FETCH_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
