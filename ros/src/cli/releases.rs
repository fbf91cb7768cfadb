//! Fetching the release list of `rancher.upgrade.url` for `ros os list` and `ros os upgrade`.
//! Parsing and ordering are `os_disk::release_index`'s.

use anyhow::{bail, Context, Result};
use os_disk::release_index::{ReleaseIndex, MAX_INDEX_BYTES};
use std::path::Path;
use std::time::Duration;

/// Where the list is downloaded (RAM; it is at most 1 MiB), removed after reading.
const INDEX_FILE: &str = "/run/ros/os/releases.yml";

/// The configured list's URL, if any.
pub fn configured_url(root: &Path) -> Option<String> {
    os_config::load(root)
        .config
        .rancher
        .upgrade
        .url
        .filter(|u| !u.trim().is_empty())
        .map(|u| u.trim().to_owned())
}

/// Downloads and parses the list at `url` (bounded: 1 MiB, 60 s). Plain http:// needs
/// `insecure_url`, as for a bundle.
pub fn fetch(url: &str, insecure_url: bool, file: &Path) -> Result<ReleaseIndex> {
    if url.starts_with("http://") && !insecure_url {
        bail!("{url} (rancher.upgrade.url): plain http:// is refused: use https://, or pass --insecure-url");
    }
    if !url.starts_with("https://") && !url.starts_with("http://") {
        bail!("{url} (rancher.upgrade.url): only https:// (or http:// with --insecure-url) is fetched");
    }
    let settings = host::http_client::Settings {
        component: Some("os-releases"),
        connect_timeout: Some(Duration::from_secs(15)),
        timeout: Some(Duration::from_secs(30)),
        proxies: host::http_client::Proxies::FromEnvironment,
        redirects: host::http_client::Redirects::Any,
    };
    let bounds = host::http_client::Bounds {
        max_bytes: MAX_INDEX_BYTES,
        total: Duration::from_secs(60),
    };
    host::http_client::download(&settings, url, file, bounds)
        .with_context(|| format!("fetching the release list (rancher.upgrade.url) {url}"))?;
    let text = std::fs::read_to_string(file);
    let _ = std::fs::remove_file(file);
    let text = text.with_context(|| format!("{url}: the release list is not UTF-8 text"))?;
    let index = ReleaseIndex::parse(&text, url)?;
    for s in &index.skipped {
        eprintln!("warning: {url}: release skipped: {s}");
    }
    Ok(index)
}

/// [`fetch`] into the usual place.
pub fn fetch_configured(url: &str, insecure_url: bool) -> Result<ReleaseIndex> {
    fetch(url, insecure_url, Path::new(INDEX_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Serves `body` to each connection, once per request.
    fn serve(body: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://127.0.0.1:{port}/ros/releases.yml")
    }

    #[test]
    fn fetches_a_list_from_a_loopback_server_and_refuses_plain_http_unless_asked() {
        let url = serve(
            "releases:\n- {version: 0.1.0, url: ros-0.1.0.bundle}\n- {version: 0.2.0, url: ros-0.2.0.bundle}\n",
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("releases.yml");
        let e = fetch(&url, false, &file).unwrap_err().to_string();
        assert!(e.contains("plain http:// is refused"), "{e}");
        let index = fetch(&url, true, &file).unwrap();
        let newest = index.newest().unwrap();
        assert_eq!(newest.version.to_string(), "0.2.0");
        assert_eq!(newest.url, url.replace("releases.yml", "ros-0.2.0.bundle"));
        assert!(!file.exists(), "the downloaded list was left behind");
        let e = fetch("ftp://x/r.yml", true, &file).unwrap_err().to_string();
        assert!(e.contains("only https://"), "{e}");
    }

    #[test]
    fn an_unreachable_list_names_the_key_and_url() {
        let dir = tempfile::tempdir().unwrap();
        let e = fetch("http://127.0.0.1:9/r.yml", true, &dir.path().join("r")).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("rancher.upgrade.url") && e.contains("127.0.0.1:9"),
            "{e}"
        );
    }
}
