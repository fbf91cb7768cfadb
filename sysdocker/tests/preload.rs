//! The preload directory against a real dockerd: each archive loads once, a changed archive
//! loads again, and a broken one is reported without stopping the others.

use sysdocker::preload::{load_dir, RECORD};
use sysdocker::testing::{busybox_archive, shared, unique_prefix};
use sysdocker::Scope;

#[tokio::test(flavor = "multi_thread")]
async fn archives_load_once_and_a_broken_one_does_not_stop_the_rest() {
    let d = shared(Scope::User);
    let client = d.client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("{}/preloaded:1", unique_prefix("preload"));
    busybox_archive(&dir.path().join("b-app.tar"), &tag).unwrap();
    std::fs::write(dir.path().join("a-broken.tar"), "not an archive").unwrap();

    let first = load_dir(&client, dir.path()).await;
    assert_eq!(first.loaded, [dir.path().join("b-app.tar")]);
    assert_eq!(first.failed.len(), 1, "{:?}", first.failed);
    assert_eq!(first.failed[0].0, dir.path().join("a-broken.tar"));
    client.docker.inspect_image(&tag).await.unwrap();
    let record = std::fs::read_to_string(dir.path().join(RECORD)).unwrap();
    assert!(record.starts_with("b-app.tar\t"), "{record}");

    // Loaded once: removed from the daemon, it is not loaded again on the next pass.
    client
        .docker
        .remove_image(
            &tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
    let second = load_dir(&client, dir.path()).await;
    assert!(second.loaded.is_empty());
    assert_eq!(second.already_loaded, 1);
    assert!(client.docker.inspect_image(&tag).await.is_err());

    // A new archive under the same name is loaded again, and recorded once.
    busybox_archive(&dir.path().join("b-app.tar"), &tag).unwrap();
    let third = load_dir(&client, dir.path()).await;
    assert_eq!(third.loaded.len(), 1);
    client.docker.inspect_image(&tag).await.unwrap();
    let record = std::fs::read_to_string(dir.path().join(RECORD)).unwrap();
    assert_eq!(record.lines().count(), 1, "{record}");
}
