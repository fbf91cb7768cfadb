//! `ros console` end to end: the real binary against a temporary root with a console list and
//! no System Docker (nothing runs, so no console is current).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use test_support::write_file;

fn ros(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ros"))
        .arg("console")
        .args(args)
        .arg("--root")
        .arg(root)
        .env(
            "ROS_SYSTEM_DOCKER_HOST",
            format!("unix://{}", root.join("no-such.sock").display()),
        )
        .output()
        .unwrap()
}

#[test]
fn list_enable_and_unknown_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    test_support::ros_root(root);
    write_file(
        root,
        "usr/share/ros/consoles.yml",
        "consoles:\n- {name: default, image: 'ros/console:1', description: small}\n\
         - {name: debian, image: 'ros/console-debian:1', description: apt and man pages}\n",
    );

    let out = ros(root, &["list"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        lines[0].starts_with("default") && lines[0].contains("enabled"),
        "{said}"
    );
    assert!(
        lines[1].starts_with("debian") && !lines[1].contains("enabled"),
        "{said}"
    );

    let out = ros(root, &["enable", "centos"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("centos is not a console this system ships (it has: default, debian)"),
        "{err}"
    );
    let out = ros(root, &["switch", "centos", "-f"]);
    assert!(!out.status.success());

    let out = ros(root, &["enable", "debian"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved = fs::read_to_string(root.join("var/lib/rancher/conf/cloud-config.yml")).unwrap();
    assert!(saved.contains("console: debian"), "{saved}");
    let said = String::from_utf8_lossy(&ros(root, &["list"]).stdout).into_owned();
    let debian = said.lines().find(|l| l.starts_with("debian")).unwrap();
    assert!(debian.contains("enabled"), "{said}");
}
