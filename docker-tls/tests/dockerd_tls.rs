//! A real dockerd with `--tlsverify` and our certificates: a client with a certificate from
//! the CA is served; one without a certificate, or with one from another CA, is refused.

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::SystemTime;

use docker_tls::*;
use test_support::TestDockerd;

fn docker(host: &str, tls: &[String]) -> Output {
    Command::new("docker")
        .args(["--host", host])
        .args(tls)
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .unwrap()
}

#[test]
fn dockerd_serves_only_clients_with_a_certificate_from_the_ca() {
    let now = SystemTime::now();
    let ca = new_ca("ros CA", now).unwrap();
    let names = HostNames::parse(["localhost", "127.0.0.1"]).unwrap();
    let server = issue_server(&ca, &names, now).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    write_server_files(&server_dir, &ca.cert, &server).unwrap();
    let client_dir = dir.path().join("client");
    write_client_files(&client_dir, &ca.cert, &issue_client(&ca, now).unwrap()).unwrap();
    let other_ca = new_ca("another CA", now).unwrap();
    let stranger_dir = dir.path().join("stranger");
    write_client_files(
        &stranger_dir,
        &ca.cert,
        &issue_client(&other_ca, now).unwrap(),
    )
    .unwrap();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let file = |d: &std::path::Path, n: &str| d.join(n).to_string_lossy().into_owned();
    let daemon = TestDockerd::start_with(&[
        "--tlsverify",
        &format!("--tlscacert={}", file(&server_dir, "ca.pem")),
        &format!("--tlscert={}", file(&server_dir, "server-cert.pem")),
        &format!("--tlskey={}", file(&server_dir, "server-key.pem")),
        &format!("-H={host}"),
    ])
    .unwrap_or_else(|e| panic!("{e}"));

    let with = |d: &std::path::Path| {
        vec![
            "--tlsverify".to_string(),
            format!("--tlscacert={}", file(d, "ca.pem")),
            format!("--tlscert={}", file(d, "cert.pem")),
            format!("--tlskey={}", file(d, "key.pem")),
        ]
    };
    let ok = docker(&host, &with(&client_dir));
    assert!(
        ok.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&ok.stderr),
        daemon.log()
    );
    assert!(!String::from_utf8_lossy(&ok.stdout).trim().is_empty());

    let no_cert = docker(
        &host,
        &[
            "--tlsverify".into(),
            format!("--tlscacert={}", file(&client_dir, "ca.pem")),
        ],
    );
    assert!(
        !no_cert.status.success(),
        "a client without a certificate was served"
    );
    // "remote error": the server refused the handshake, not the client its own settings.
    let refused = |o: &Output| String::from_utf8_lossy(&o.stderr).contains("remote error: tls:");
    assert!(
        refused(&no_cert),
        "{}",
        String::from_utf8_lossy(&no_cert.stderr)
    );
    let stranger = docker(&host, &with(&stranger_dir));
    assert!(
        !stranger.status.success(),
        "a certificate from another CA was accepted"
    );
    assert!(
        refused(&stranger),
        "{}",
        String::from_utf8_lossy(&stranger.stderr)
    );
    // The same names by DNS: the server certificate carries localhost.
    let by_name = docker(&format!("tcp://localhost:{port}"), &with(&client_dir));
    assert!(
        by_name.status.success(),
        "{}",
        String::from_utf8_lossy(&by_name.stderr)
    );
}
