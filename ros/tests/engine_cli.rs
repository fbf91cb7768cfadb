//! `ros engine` end to end: the real binary against a temporary root with an engine list.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use test_support::write_file;

fn ros(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ros"))
        .arg("engine")
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap()
}

#[test]
fn list_enable_and_the_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    test_support::ros_root(root);
    write_file(
        root,
        "usr/share/ros/engines.yml",
        "engines:\n- {name: docker-26.1.5, version: 26.1.5+dfsg1-9, dockerd: /usr/sbin/dockerd, default: true}\n\
         - {name: docker-20.10.24, version: 20.10.24+dfsg1-1, dockerd: /usr/lib/ros/engines/20/dockerd}\n",
    );
    write_file(root, "var/lib/docker/.ros-engine", "docker-26.1.5\n");

    let out = ros(root, &["list"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    let first = said.lines().next().unwrap();
    assert!(
        first.starts_with("docker-26.1.5")
            && first.contains("enabled, last ran on the data, default"),
        "{said}"
    );

    let out = ros(root, &["enable", "docker-1.12.6"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("docker-1.12.6 is not shipped"),
        "{err}"
    );

    let out = ros(root, &["enable", "docker-20.10.24"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Docker cannot move its data back"),
        "{err}"
    );
    let cc = root.join("var/lib/rancher/conf/cloud-config.yml");
    assert!(!cc.exists(), "a refused enable wrote the config");

    fs::remove_file(root.join("var/lib/docker/.ros-engine")).unwrap();
    let out = ros(root, &["enable", "docker-20.10.24"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs::read_to_string(&cc)
        .unwrap()
        .contains("engine: docker-20.10.24"));
    let said = String::from_utf8_lossy(&ros(root, &["list"]).stdout).into_owned();
    assert!(
        said.lines()
            .any(|l| l.starts_with("docker-20.10.24") && l.contains("enabled")),
        "{said}"
    );
}
