//! Loads an archive of a busybox-static rootfs into a real dockerd that this test starts on a
//! private socket and data root, runs it, and checks the output.

use std::path::Path;

use image_archive::{write_archive, ImageConfig, Layer};

fn busybox_rootfs(root: &Path) {
    test_support::busybox_rootfs(root).expect("busybox-static must be installed");
    std::fs::write(root.join("etc/greeting"), "hello from a daemonless image\n").unwrap();
}

#[test]
fn docker_loads_and_runs_a_written_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let base_root = tmp.path().join("base");
    busybox_rootfs(&base_root);
    let base = Layer::from_dir(&base_root, 1_700_000_000).unwrap();
    // A second layer on top, to check that layer stacking survives the load.
    let top_root = tmp.path().join("top");
    std::fs::create_dir_all(top_root.join("etc")).unwrap();
    std::fs::write(top_root.join("etc/extra"), "second layer\n").unwrap();
    let top = Layer::from_dir(&top_root, 1_700_000_000).unwrap();
    let config = ImageConfig {
        entrypoint: vec!["/bin/sh".into(), "-c".into()],
        cmd: vec!["cat /etc/greeting /etc/extra; echo $GREETER".into()],
        env: vec!["PATH=/bin".into(), "GREETER=image-archive".into()],
        ..ImageConfig::default()
    };
    let archive = tmp.path().join("image.tar");
    let info = write_archive(
        &archive,
        "ros/ia-test:1",
        &[&base, &top],
        &config,
        1_700_000_000,
    )
    .unwrap();

    let daemon = test_support::TestDockerd::start().expect("dockerd (apt-get install docker.io)");
    let load = daemon
        .docker(&["load", "-i", archive.to_str().unwrap()])
        .unwrap();
    assert!(
        load.status.success(),
        "docker load: {}\n{}",
        String::from_utf8_lossy(&load.stderr),
        daemon.log()
    );
    let inspect = daemon
        .docker(&["image", "inspect", "--format", "{{.Id}}", "ros/ia-test:1"])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&inspect.stdout).trim(), info.id);
    let run = daemon
        .docker(&["run", "--rm", "--network", "none", "ros/ia-test:1"])
        .unwrap();
    assert!(
        run.status.success(),
        "docker run: {}\n{}",
        String::from_utf8_lossy(&run.stderr),
        daemon.log()
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from a daemonless image\nsecond layer\nimage-archive\n"
    );
}
