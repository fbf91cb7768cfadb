//! `ros tls gen` end to end: the real binary against a temporary root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn ros(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ros"))
        .arg("tls")
        .args(args)
        .arg("--root")
        .arg(root)
        .env_remove("SUDO_USER")
        .env("HOME", root.join("home/rancher"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn gen_makes_the_ca_and_server_pair_then_client_pairs_from_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let defaults =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../os-config/defaults/os-config.yml");
    fs::create_dir_all(root.join("usr/share/ros")).unwrap();
    fs::copy(defaults, root.join("usr/share/ros/os-config.yml")).unwrap();

    // No CA yet: a client certificate cannot be made.
    let none = ros(root, &["gen", "--client"]);
    assert!(!none.status.success());
    assert!(
        text(&none).contains("no CA to sign with"),
        "{}",
        text(&none)
    );

    let server = ros(root, &["gen", "-H", "docker.example", "-H", "192.0.2.7"]);
    assert!(server.status.success(), "{}", text(&server));
    let out = text(&server);
    assert!(out.contains("made a new CA"), "{out}");
    assert!(
        out.contains("docker.example") && out.contains("192.0.2.7"),
        "{out}"
    );
    assert!(
        out.contains("sudo ros config set rancher.docker.tls true"),
        "{out}"
    );
    let config = fs::read_to_string(root.join("var/lib/rancher/conf/cloud-config.yml")).unwrap();
    for key in ["ca_cert", "ca_key", "server_cert", "server_key"] {
        assert!(
            config.contains(&format!("{key}: ")),
            "{key} not saved:\n{config}"
        );
    }
    assert_eq!(
        mode(&root.join("var/lib/rancher/conf/cloud-config.yml")),
        0o600
    );
    for name in ["ca.pem", "server-cert.pem", "server-key.pem"] {
        assert_eq!(
            mode(&root.join("etc/docker/tls").join(name)),
            0o600,
            "{name}"
        );
    }
    let ca_before = fs::read_to_string(root.join("etc/docker/tls/ca.pem")).unwrap();

    // Again (v1 spelling): a new server certificate, the same CA.
    let again = ros(root, &["gen", "--server"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(!text(&again).contains("made a new CA"));
    assert_eq!(
        fs::read_to_string(root.join("etc/docker/tls/ca.pem")).unwrap(),
        ca_before
    );

    let client = ros(root, &["gen", "--client"]);
    assert!(client.status.success(), "{}", text(&client));
    let docker_dir = root.join("home/rancher/.docker");
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        assert_eq!(mode(&docker_dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(
        fs::read_to_string(docker_dir.join("ca.pem")).unwrap(),
        ca_before
    );

    // --client takes no server names.
    let wrong = ros(root, &["gen", "--client", "-H", "x"]);
    assert!(!wrong.status.success());
}
