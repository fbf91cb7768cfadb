//! `ros os upgrade`'s arguments: a bundle given with -i is used as it is, and the release list
//! (rancher.upgrade.url) is read only without one.

use std::process::Command;

#[test]
fn a_given_bundle_never_reads_the_release_list() {
    let out = Command::new(env!("CARGO_BIN_EXE_ros"))
        .args([
            "os",
            "upgrade",
            "-i",
            "/nonexistent/ros.bundle",
            "-f",
            "--no-reboot",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    // Refused for being run off an install, or without root, but never for lacking a bundle.
    assert!(!said.contains("no bundle given"), "{said}");
}
