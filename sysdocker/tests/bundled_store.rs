//! The ready-made image store against a real dockerd (overlay2, started by the test on a
//! private socket): images served with nothing loaded, an upgrade to a store whose image
//! changed, a rollback, and damage in the data root and in the store itself.

use std::fs;
use std::path::{Path, PathBuf};

use image_archive::docker_store::{config_path, StoreIndex, StoreWriter};
use image_archive::{ImageConfig, Layer};
use sysdocker::bundled_store::{install, prune};
use sysdocker::testing::{busybox_rootfs, TestDaemon};
use sysdocker::Scope;

/// Writes a store with `ros/app:1` (busybox + /etc/version = `version`) and `ros/tool:1`
/// (busybox alone) at `dir`.
fn write_store(dir: &Path, version: &str) -> StoreIndex {
    let tmp = tempfile::tempdir().unwrap();
    let base_root = tmp.path().join("base");
    busybox_rootfs(&base_root).unwrap();
    let base = Layer::from_dir(&base_root, 1_700_000_000).unwrap();
    let top_root = tmp.path().join("top");
    fs::create_dir_all(top_root.join("etc")).unwrap();
    fs::write(top_root.join("etc/version"), version).unwrap();
    let top = Layer::from_dir(&top_root, 1_700_000_000).unwrap();
    let mut labels = std::collections::BTreeMap::new();
    labels.insert("org.opencontainers.image.source".into(), "ros".into());
    let config = ImageConfig {
        cmd: vec!["/bin/sh".into()],
        env: vec!["PATH=/bin".into()],
        labels,
        ..ImageConfig::default()
    };
    let mut w = StoreWriter::create(dir).unwrap();
    w.add("app", "ros/app:1", &[&base, &top], &config, 1_700_000_000)
        .unwrap();
    w.add("tool", "ros/tool:1", &[&base], &config, 1_700_000_000)
        .unwrap();
    w.finish().unwrap()
}

/// An overlay2 daemon over `data_root` (which outlives it).
fn daemon(data_root: &Path) -> TestDaemon {
    let data_root = data_root.to_path_buf();
    TestDaemon::start_with(Scope::System, move |spec| {
        spec.storage_driver = Some("overlay2".into());
        spec.data_root = Some(data_root);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn cli(d: &TestDaemon, args: &[&str]) -> String {
    let out = d.docker_cli(args).unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_tail(30)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// [`prune`] on `d`, from a runtime of its own.
fn prune_on(d: &TestDaemon, stale: &[String]) -> usize {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = d.client().await.unwrap();
        prune(&client, stale).await
    })
}

fn skip() -> bool {
    !(test_support::is_root() && test_support::have(&["dockerd"]))
}

#[test]
fn images_are_served_from_the_store_then_upgraded_rolled_back_and_repaired() {
    if skip() {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("ros-store-")
        .tempdir_in("/tmp")
        .unwrap();
    let (store_a, store_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let index_a = write_store(&store_a, "A");
    let index_b = write_store(&store_b, "B");
    let app_a = index_a.find("ros/app:1").unwrap().id.clone();
    let app_b = index_b.find("ros/app:1").unwrap().id.clone();
    assert_ne!(app_a, app_b);
    let data_root: PathBuf = tmp.path().join("data");

    // First boot: both images present, nothing loaded.
    let report = install(&store_a, &data_root).unwrap();
    assert_eq!(report.images, vec!["ros/app:1", "ros/tool:1"]);
    assert!(report.damaged.is_empty() && report.repaired.is_empty() && report.stale.is_empty());
    {
        let d = daemon(&data_root);
        let images = cli(
            &d,
            &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
        );
        assert!(
            images.contains(&format!("ros/app:1 {}", &app_a[7..19])),
            "{images}"
        );
        assert!(images.contains("ros/tool:1"), "{images}");
        let out = cli(
            &d,
            &[
                "run",
                "--name",
                "store-c",
                "--network",
                "none",
                "ros/app:1",
                "sh",
                "-c",
                "cat /etc/version; echo w > /etc/written; cat /etc/written",
            ],
        );
        assert_eq!(
            out, "Aw",
            "the image's file, then the container's own write"
        );
        // The container's writes stay in the data root; the store is untouched.
        assert!(!store_a.join("layers").read_dir().unwrap().any(|l| l
            .unwrap()
            .path()
            .join("etc/written")
            .exists()));
        let events = cli(
            &d,
            &[
                "events",
                "--since",
                "0",
                "--until",
                "1s",
                "--filter",
                "type=image",
            ],
        );
        assert!(
            !events.contains(" load") && !events.contains(" pull") && !events.contains(" import"),
            "images were loaded: {events}"
        );
        cli(&d, &["rm", "store-c"]);
    }

    // Upgrade: the new store's app image is the one that runs; the old one is pruned.
    let report = install(&store_b, &data_root).unwrap();
    assert_eq!(report.stale, vec![app_a.clone()]);
    {
        let d = daemon(&data_root);
        let id = cli(
            &d,
            &["image", "inspect", "--format", "{{.Id}}", "ros/app:1"],
        );
        assert_eq!(id, app_b);
        assert_eq!(
            cli(
                &d,
                &[
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "ros/app:1",
                    "cat",
                    "/etc/version"
                ]
            ),
            "B"
        );
        // Someone's own tag keeps an earlier image; without it the image goes.
        cli(&d, &["tag", &app_a, "mine/kept:1"]);
        assert_eq!(prune_on(&d, &report.stale), 0);
        assert!(cli(&d, &["images", "-q", "--no-trunc"]).contains(&app_a));
        // `docker rmi` of the last tag would delete it; drop the tag from the store instead.
        cli(&d, &["tag", "ros/tool:1", "mine/kept:1"]);
        assert_eq!(prune_on(&d, &report.stale), 1);
        let all = cli(&d, &["images", "-a", "-q", "--no-trunc"]);
        assert!(!all.contains(&app_a), "{all}");
    }

    // Rollback: the first store again gives its image back.
    let report = install(&store_a, &data_root).unwrap();
    assert_eq!(report.stale, vec![app_b.clone()]);
    {
        let d = daemon(&data_root);
        assert_eq!(
            cli(
                &d,
                &[
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "ros/app:1",
                    "cat",
                    "/etc/version"
                ]
            ),
            "A"
        );
        assert_eq!(prune_on(&d, &report.stale), 1, "the upgrade's image goes");
    }

    // A truncated file in the data root is written again from the store.
    let tool = index_a.find("ros/tool:1").unwrap().id.clone();
    let in_data_root = data_root
        .join("image/overlay2/imagedb/content/sha256")
        .join(&tool[7..]);
    fs::write(&in_data_root, b"{").unwrap();
    let report = install(&store_a, &data_root).unwrap();
    assert_eq!(
        report.repaired,
        vec![format!(
            "{} was damaged; written again",
            in_data_root.display()
        )]
    );
    fs::write(
        data_root.join("image/overlay2/repositories.json"),
        b"{\"Repos",
    )
    .unwrap();
    let report = install(&store_a, &data_root).unwrap();
    assert!(
        report.repaired[0].contains("repositories.json was damaged"),
        "{report:?}"
    );
    {
        let d = daemon(&data_root);
        assert_eq!(
            cli(
                &d,
                &[
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "ros/tool:1",
                    "echo",
                    "ok"
                ]
            ),
            "ok"
        );
    }

    // A damaged image in the store itself is named and left out; the others are served.
    let blob = config_path(&store_a, &tool);
    let bytes = fs::read(&blob).unwrap();
    fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap();
    let report = install(&store_a, &data_root).unwrap();
    assert_eq!(report.images, vec!["ros/app:1"]);
    assert_eq!(report.damaged.len(), 1);
    assert!(
        report.damaged[0].to_string().starts_with(&format!(
            "ros/tool:1: {} is damaged (its digest is sha256:",
            blob.display()
        )),
        "{report:?}"
    );
}
