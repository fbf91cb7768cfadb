//! Issuing and reading back: names, chains, renewal, mismatched pairs and file modes.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use docker_tls::*;

fn names() -> HostNames {
    HostNames::parse(["localhost", "ros-1", "127.0.0.1", "::1", "ros-1", ""]).unwrap()
}

#[test]
fn host_names_split_ips_from_dns_names_and_drop_duplicates() {
    let n = names();
    assert_eq!(n.dns, ["localhost", "ros-1"]);
    assert_eq!(n.ips.len(), 2);
    let bad = HostNames::parse(["bücher.example"]).unwrap_err();
    assert!(bad.to_string().contains("bücher.example"), "{bad}");
}

#[test]
fn a_server_certificate_is_due_for_renewal_30_days_before_its_end() {
    let now = SystemTime::now();
    let ca = new_ca("ros CA", now).unwrap();
    let server = issue_server(&ca, &names(), now).unwrap();
    let end = not_after(&server.cert, "server").unwrap();
    let left = end.duration_since(now).unwrap();
    assert!(left > Duration::from_secs(364 * 86400), "{left:?}");
    assert!(!renewal_due(&server.cert, "server", now).unwrap());
    let later = end - Duration::from_secs(29 * 86400);
    assert!(renewal_due(&server.cert, "server", later).unwrap());
    let expired = end + Duration::from_secs(1);
    assert!(renewal_due(&server.cert, "server", expired).unwrap());
    // The CA outlives many renewals.
    let ca_left = not_after(&ca.cert, "ca")
        .unwrap()
        .duration_since(now)
        .unwrap();
    assert!(ca_left > Duration::from_secs(9 * 365 * 86400));
}

#[test]
fn pairs_are_checked_and_named() {
    let now = SystemTime::now();
    let ca = new_ca("ros CA", now).unwrap();
    let server = issue_server(&ca, &names(), now).unwrap();
    let client = issue_client(&ca, now).unwrap();
    check_pair(&server.cert, &server.key, "cert", "key").unwrap();
    check_pair(&client.cert, &client.key, "cert", "key").unwrap();
    let e = check_pair(
        &server.cert,
        &client.key,
        "rancher.docker.server_cert",
        "rancher.docker.server_key",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("rancher.docker.server_key does not belong to rancher.docker.server_cert"),
        "{e}"
    );
    let e = not_after("not a certificate", "rancher.docker.ca_cert").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("rancher.docker.ca_cert is not a PEM certificate"),
        "{e}"
    );
    let e = check_pair(&server.cert, &server.cert, "c", "rancher.docker.server_key").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("rancher.docker.server_key is not a PEM private key"),
        "{e}"
    );
    // A CA whose key is not its own signs nothing.
    let wrong = Pem {
        cert: ca.cert.clone(),
        key: server.key.clone(),
    };
    assert!(issue_client(&wrong, now).is_err());
    // The key never reaches Debug output.
    assert!(!format!("{server:?}").contains("PRIVATE KEY"));
}

#[test]
fn files_are_written_mode_0600() {
    let now = SystemTime::now();
    let ca = new_ca("ros CA", now).unwrap();
    let server = issue_server(&ca, &names(), now).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("etc/docker/tls");
    write_server_files(&tls, &ca.cert, &server).unwrap();
    // Again over existing files: still 0600, and the new content.
    std::fs::set_permissions(tls.join("ca.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    write_server_files(&tls, &ca.cert, &server).unwrap();
    for name in SERVER_FILES {
        let meta = std::fs::metadata(tls.join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(tls.join("server-key.pem")).unwrap(),
        server.key
    );
    let names: Vec<_> = std::fs::read_dir(&tls)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
}
