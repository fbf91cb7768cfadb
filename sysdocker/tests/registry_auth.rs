//! `rancher.registry_auths` reach a real dockerd's pull: a loopback registry that demands Basic
//! authentication sees the configured user and password.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sysdocker::images::{pull, ImageSources};
use sysdocker::testing::{project_from_yaml, shared};
use sysdocker::Scope;

/// Answers like a registry that wants Basic auth: 401 without credentials, then "manifest
/// unknown". Records every Authorization header it is sent.
fn fake_registry() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut authorization = None;
            let mut line = String::new();
            // dockerd tries TLS first; a ClientHello is not a request line and is dropped.
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization:") {
                    authorization = Some(v.trim().to_string());
                    let original = line["authorization:".len()..].trim().to_string();
                    record.lock().unwrap().push(original);
                }
                line.clear();
            }
            let mut stream = stream;
            let response = if authorization.is_none() {
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\n\
                 Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
                    .to_string()
            } else {
                let body =
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
                format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                     Docker-Distribution-Api-Version: registry/2.0\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_sends_the_configured_credentials() {
    let d = shared(Scope::System);
    let client = d.client().await.unwrap();
    let (port, seen) = fake_registry();
    // user:secret, as the v1 docs' `auth` form; the key in the http:// URL form.
    let project = project_from_yaml(
        &format!(
            "rancher:\n  registry_auths:\n    http://127.0.0.1:{port}/v2/: {{auth: dXNlcjpzZWNyZXQ=}}\n"
        ),
        Path::new("/nonexistent"),
    );
    assert!(project.warnings.is_empty(), "{:?}", project.warnings);
    let sources = ImageSources {
        registry_auths: project.registry_auths.clone(),
        pull_timeout: std::time::Duration::from_secs(60),
        ..ImageSources::default()
    };
    let image = format!("127.0.0.1:{port}/team/app:1");
    let err = pull(&client, &image, &sources).await.unwrap_err();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|h| h == "Basic dXNlcjpzZWNyZXQ="),
        "the registry never saw the credentials; it saw {seen:?}; pull said {err}"
    );

    // Without an entry for that registry, nothing is sent.
    let (other, seen_other) = fake_registry();
    let image = format!("127.0.0.1:{other}/team/app:1");
    let _ = pull(&client, &image, &sources).await;
    assert!(seen_other.lock().unwrap().is_empty());
}
