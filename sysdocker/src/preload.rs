//! The preload directories (RancherOS v1): `docker save` archives dropped in
//! `/var/lib/rancher/preload/system-docker` or `…/docker` are loaded into that daemon at boot,
//! once each. An archive is loaded again only when its name, size or modification time changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::DaemonClient;
use crate::images::load_archive;
use crate::scope::Scope;

/// The record of loaded archives, inside the directory it describes.
pub const RECORD: &str = ".loaded";
/// Bound on one archive's load, so a huge or stuck archive cannot hold boot.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// The preload directory of `scope` under `root`.
pub fn dir(root: &Path, scope: Scope) -> PathBuf {
    let name = match scope {
        Scope::System => "system-docker",
        Scope::User => "docker",
    };
    root.join("var/lib/rancher/preload").join(name)
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Report {
    pub loaded: Vec<PathBuf>,
    pub already_loaded: usize,
    /// Archive and why, one each; the others still load.
    pub failed: Vec<(PathBuf, String)>,
}

/// Loads every archive in `dir` not loaded before. A missing directory is an empty one.
pub async fn load_dir(client: &DaemonClient, dir: &Path) -> Report {
    let mut report = Report::default();
    let record_path = dir.join(RECORD);
    let mut record: Vec<String> = std::fs::read_to_string(&record_path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    for archive in archives(dir) {
        let Some(key) = identity(&archive) else {
            continue;
        };
        if record.contains(&key) {
            report.already_loaded = report.already_loaded.saturating_add(1);
            continue;
        }
        match tokio::time::timeout(LOAD_TIMEOUT, load_archive(client, &archive)).await {
            Ok(Ok(())) => {
                record.retain(|k| !same_name(k, &key));
                record.push(key);
                report.loaded.push(archive);
                // Saved after each load: a cut boot does not load the finished ones again.
                let text = record.join("\n") + "\n";
                if let Err(e) = os_config::atomic_write(&record_path, text.as_bytes(), 0o644) {
                    tracing::warn!(file = %record_path.display(), error = %e, "preload: cannot save the record; the archive loads again next boot");
                }
            }
            Ok(Err(e)) => report.failed.push((archive, e.to_string())),
            Err(_) => report.failed.push((
                archive,
                format!("not loaded within {} s", LOAD_TIMEOUT.as_secs()),
            )),
        }
    }
    report
}

/// The archives of `dir` in name order: regular files named `*.tar`, `*.tar.gz`, `*.tgz`,
/// `*.tar.xz` or `*.tar.bz2` (dockerd decompresses them), never the record.
fn archives(dir: &Path) -> Vec<PathBuf> {
    const SUFFIXES: &[&str] = &[".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2"];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| SUFFIXES.iter().any(|s| n.ends_with(s)))
        })
        .collect();
    out.sort();
    out
}

/// `name<TAB>size<TAB>mtime-ns`: what "the same archive" means for the record.
fn identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let name = path.file_name()?.to_str()?;
    let mtime = i128::from(meta.mtime())
        .saturating_mul(1_000_000_000)
        .saturating_add(i128::from(meta.mtime_nsec()));
    Some(format!("{name}\t{}\t{mtime}", meta.len()))
}

fn same_name(a: &str, b: &str) -> bool {
    a.split('\t').next() == b.split('\t').next()
}

/// Loads `scope`'s preload directory and logs the outcome, one line per archive.
pub async fn load_and_log(client: &DaemonClient, root: &Path, scope: Scope) {
    let dir = dir(root, scope);
    let report = load_dir(client, &dir).await;
    for a in &report.loaded {
        tracing::info!(%scope, archive = %a.display(), "preload: loaded");
    }
    for (a, why) in &report.failed {
        tracing::error!(%scope, archive = %a.display(), error = %why, "preload: cannot load; the other archives still load");
    }
    if report.already_loaded > 0 {
        tracing::info!(%scope, count = report.already_loaded, dir = %dir.display(), "preload: archives already loaded, skipped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_archives_by_name_and_skips_the_rest() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "b.tar",
            "a.tar.gz",
            "c.tgz",
            "notes.txt",
            RECORD,
            "d.tar.xz",
        ] {
            std::fs::write(d.path().join(f), "x").unwrap();
        }
        std::fs::create_dir(d.path().join("dir.tar")).unwrap();
        let names: Vec<String> = archives(d.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.tar.gz", "b.tar", "c.tgz", "d.tar.xz"]);
        assert!(archives(&d.path().join("missing")).is_empty());
    }

    #[test]
    fn identity_changes_with_content_size() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.tar");
        std::fs::write(&p, "x").unwrap();
        let first = identity(&p).unwrap();
        assert!(first.starts_with("a.tar\t1\t"));
        std::fs::write(&p, "xy").unwrap();
        let second = identity(&p).unwrap();
        assert_ne!(first, second);
        assert!(same_name(&first, &second));
    }
}
