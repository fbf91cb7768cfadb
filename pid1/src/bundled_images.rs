//! The system images, served ready-made to System Docker: before the daemon starts, the
//! system image's store is entered into its data root (`sysdocker::bundled_store`), so no
//! boot loads an image. Images an earlier system image installed are removed once the
//! services are up. A damaged image is named in the log; services that need it fail and, if
//! that is the console, sysinit opens the recovery console instead.

use std::path::{Path, PathBuf};
use sysdocker::bundled_store::{self, Damaged, InstallReport, STORE_DIR};
use sysdocker::{DaemonClient, DaemonSpec};

/// The only storage driver the store can be served to.
const DRIVER: &str = "overlay2";

/// What serving the store left to do: ids to prune once the daemon is up, and the images
/// that could not be served.
#[derive(Debug, Default)]
pub struct Served {
    pub stale: Vec<String>,
    pub damaged: Vec<Damaged>,
}

/// Enters the system image's store into `spec`'s data root.
pub fn serve(spec: &mut DaemonSpec) -> Served {
    serve_from(Path::new(STORE_DIR), spec)
}

pub fn serve_from(store: &Path, spec: &mut DaemonSpec) -> Served {
    if !bundled_store::has_store(store) {
        tracing::warn!(store = %store.display(), "bundled images: the system image has no image store");
        return Served::default();
    }
    use_served_driver(spec);
    let data_root = spec
        .data_root
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/system-docker"));
    match bundled_store::install(store, &data_root) {
        Ok(report) => {
            log(&report);
            Served {
                stale: report.stale,
                damaged: report.damaged,
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "bundled images: none can be served");
            Served::default()
        }
    }
}

/// The System Docker that a restarted sysinit adopts already runs on the served store: only its
/// driver is set again (for a later restart); the store must not change under a running daemon.
pub fn keep_serving(spec: &mut DaemonSpec) -> Served {
    if bundled_store::has_store(Path::new(STORE_DIR)) {
        use_served_driver(spec);
    }
    Served::default()
}

fn use_served_driver(spec: &mut DaemonSpec) {
    match spec.storage_driver.as_deref() {
        None | Some(DRIVER) => {}
        Some(other) => {
            tracing::warn!(
                key = "rancher.system_docker.storage_driver",
                value = other,
                "bundled images: the system images are served to overlay2 only; System Docker uses overlay2"
            );
        }
    }
    spec.storage_driver = Some(DRIVER.to_string());
}

fn log(report: &InstallReport) {
    tracing::info!(
        images = report.images.len(),
        stale = report.stale.len(),
        "bundled images served from the system image (nothing loaded)"
    );
    for d in &report.damaged {
        tracing::error!("bundled images: {d}; services using it cannot start");
    }
    for r in &report.repaired {
        tracing::warn!("bundled images: {r}");
    }
}

/// Removes the images of earlier system images (in the background, after the services).
pub async fn prune(client: &DaemonClient, stale: Vec<String>) {
    let removed = bundled_store::prune(client, &stale).await;
    if removed > 0 {
        tracing::info!(
            removed,
            "bundled images: earlier system images' images removed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysdocker::Scope;

    #[test]
    fn no_store_leaves_the_spec_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spec = DaemonSpec::defaults(Scope::System);
        spec.storage_driver = Some("vfs".into());
        let served = serve_from(tmp.path(), &mut spec);
        assert!(served.stale.is_empty() && served.damaged.is_empty());
        assert_eq!(spec.storage_driver.as_deref(), Some("vfs"));
    }

    #[test]
    fn another_driver_is_replaced_by_overlay2() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        image_archive::docker_store::StoreWriter::create(&store)
            .unwrap()
            .finish()
            .unwrap();
        let mut spec = DaemonSpec::defaults(Scope::System);
        spec.storage_driver = Some("vfs".into());
        spec.data_root = Some(tmp.path().join("data"));
        let served = serve_from(&store, &mut spec);
        assert!(
            served.stale.is_empty() && served.damaged.is_empty(),
            "{served:?}"
        );
        assert_eq!(spec.storage_driver.as_deref(), Some("overlay2"));
        assert!(tmp
            .path()
            .join("data/image/overlay2/repositories.json")
            .is_file());
    }
}
