//! Bundled images against a real System Docker store (a dockerd the test starts on a private
//! socket): an image present with the bundled id is left alone, one rebuilt under the same tag
//! is loaded again, and a missing one is left for the engine to load on first use. Without a
//! dockerd on the host the test prints SKIPPED and passes.

use init::bundled_images::{self, Summary};
use std::path::Path;
use sysdocker::testing::{dockerd_path, shared, unique_prefix};
use sysdocker::Scope;

/// An archive of one layer holding `marker`, tagged `tag`; returns the image id it declares.
fn archive(dir: &Path, name: &str, tag: &str, marker: &str) -> String {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("marker"), marker).unwrap();
    let layer = image_archive::Layer::from_dir(root.path(), 0).unwrap();
    let config = image_archive::ImageConfig {
        cmd: vec!["/marker".into()],
        ..Default::default()
    };
    image_archive::write_archive(&dir.join(name), tag, &[&layer], &config, 0)
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_changed_images_are_loaded_again() {
    if dockerd_path().is_none() {
        println!("SKIPPED: no dockerd (apt-get install -y docker.io)");
        return;
    }
    let daemon = shared(Scope::System);
    let client = daemon.client().await.unwrap();
    let prefix = unique_prefix("bundled");
    let changed = format!("{prefix}/changed:1");
    let missing = format!("{prefix}/missing:1");

    // The image as an earlier boot loaded it.
    let old = tempfile::tempdir().unwrap();
    let old_id = archive(old.path(), "changed.tar", &changed, "old build");
    sysdocker::images::load_archive(&client, &old.path().join("changed.tar"))
        .await
        .unwrap();
    assert_eq!(
        bundled_images::refresh_changed(&client, old.path()).await,
        Summary {
            current: 1,
            ..Summary::default()
        }
    );

    // This boot's system image: the same tag rebuilt, and one image never loaded.
    let new = tempfile::tempdir().unwrap();
    let new_id = archive(new.path(), "changed.tar", &changed, "new build");
    archive(new.path(), "missing.tar", &missing, "missing");
    assert_ne!(old_id, new_id);
    assert_eq!(
        bundled_images::refresh_changed(&client, new.path()).await,
        Summary {
            current: 0,
            missing: 1,
            reloaded: 1,
            failed: 0
        }
    );
    let present = client.docker.inspect_image(&changed).await.unwrap();
    assert_eq!(present.id.as_deref(), Some(new_id.as_str()));
    assert!(
        client.docker.inspect_image(&missing).await.is_err(),
        "a missing image was loaded ahead of the engine"
    );

    // The next boot: nothing to do.
    assert_eq!(
        bundled_images::refresh_changed(&client, new.path()).await,
        Summary {
            current: 1,
            missing: 1,
            ..Summary::default()
        }
    );
}
