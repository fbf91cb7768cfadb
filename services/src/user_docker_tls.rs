//! User Docker's TLS material (`rancher.docker.tls`), kept in the config as v1 kept it
//! (`rancher.docker.ca_cert`, `ca_key`, `server_cert`, `server_key`) and written to
//! `/etc/docker/tls` for dockerd: issued when missing, renewed within 30 days of its end, and
//! checked so a bad pair is named instead of stopping dockerd. `ros tls gen` uses it too.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use docker_tls::{HostNames, Pem, TlsError};
use os_config::model::DockerConfig;
use os_config::user_config::{self, UserConfigError};
use os_config::{paths, KeyPath, Value};

/// Where `rancher.docker.tls_args` (the defaults) point dockerd.
pub const SERVER_DIR: &str = "etc/docker/tls";

const CA_CERT: &str = "rancher.docker.ca_cert";
const CA_KEY: &str = "rancher.docker.ca_key";
const SERVER_CERT: &str = "rancher.docker.server_cert";
const SERVER_KEY: &str = "rancher.docker.server_key";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("saving the TLS material in the config: {0}")]
    Save(#[from] UserConfigError),
    #[error("no CA to sign with: set {CA_CERT} and {CA_KEY}, or run `sudo ros tls gen` first")]
    NoCa,
    #[error("{CA_CERT} is not set: dockerd needs it to verify clients")]
    NoCaCert,
}

/// What [`prepare_server`] did, for the log and the CLI.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    pub new_ca: bool,
    pub issued_server: bool,
    /// Why the server certificate was issued: missing, due for renewal, asked for, or broken.
    pub reason: Option<String>,
    /// Where the files went.
    pub dir: PathBuf,
}

/// The CA from the config, when both halves are there and belong together.
pub fn configured_ca(docker: &DockerConfig) -> Result<Option<Pem>, TlsError> {
    match (&docker.ca_cert, &docker.ca_key) {
        (Some(cert), Some(key)) => {
            docker_tls::check_pair(cert, key, CA_CERT, CA_KEY)?;
            Ok(Some(Pem {
                cert: cert.clone(),
                key: key.clone(),
            }))
        }
        _ => Ok(None),
    }
}

/// Makes sure `root`/etc/docker/tls holds a CA certificate and a valid server pair: the
/// configured ones if sound and not due, else a server certificate issued for `names` (and a
/// new CA if the config has none). Anything issued is saved in `root`'s cloud-config.yml.
/// `reissue` issues a new server certificate even if the old one is good (`ros tls gen`).
pub fn prepare_server(
    root: &Path,
    docker: &DockerConfig,
    names: &HostNames,
    reissue: bool,
    now: SystemTime,
) -> Result<Prepared, Error> {
    let dir = root.join(SERVER_DIR);
    let mut prepared = Prepared {
        dir: dir.clone(),
        ..Prepared::default()
    };
    let configured_server = match (&docker.server_cert, &docker.server_key) {
        (Some(cert), Some(key)) => Some(Pem {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    let reason = match &configured_server {
        _ if reissue => Some("asked for".to_string()),
        None => Some(format!("{SERVER_CERT} and {SERVER_KEY} are not set")),
        Some(server) => server_problem(server, now),
    };
    let Some(reason) = reason else {
        // Sound and not due: written as configured (the CA certificate may stand alone).
        let ca_cert = docker.ca_cert.clone().ok_or(Error::NoCaCert)?;
        if let Some(server) = configured_server {
            docker_tls::write_server_files(&dir, &ca_cert, &server)?;
        }
        return Ok(prepared);
    };
    let ca = match configured_ca(docker)? {
        Some(ca) => ca,
        None if docker.ca_cert.is_some() => return Err(Error::NoCa),
        None => {
            prepared.new_ca = true;
            docker_tls::new_ca("ros Docker CA", now)?
        }
    };
    let server = docker_tls::issue_server(&ca, names, now)?;
    save(root, &ca, &server, prepared.new_ca)?;
    docker_tls::write_server_files(&dir, &ca.cert, &server)?;
    prepared.issued_server = true;
    prepared.reason = Some(reason);
    Ok(prepared)
}

/// Why a configured server pair cannot be used as it is (`None`: it can).
fn server_problem(server: &Pem, now: SystemTime) -> Option<String> {
    if let Err(e) = docker_tls::check_pair(&server.cert, &server.key, SERVER_CERT, SERVER_KEY) {
        return Some(e.to_string());
    }
    match docker_tls::renewal_due(&server.cert, SERVER_CERT, now) {
        Ok(false) => None,
        Ok(true) => Some(format!("{SERVER_CERT} ends within 30 days")),
        Err(e) => Some(e.to_string()),
    }
}

fn save(root: &Path, ca: &Pem, server: &Pem, new_ca: bool) -> Result<(), Error> {
    let mut values = vec![(SERVER_CERT, &server.cert), (SERVER_KEY, &server.key)];
    if new_ca {
        values.push((CA_CERT, &ca.cert));
        values.push((CA_KEY, &ca.key));
    }
    user_config::update(&paths::cloud_config(root), |doc| {
        for (key, text) in &values {
            KeyPath::parse(key)?.set(doc, Value::from(text.as_str()))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// This host's names for a server certificate: `localhost`, the loopback addresses, the
/// hostname, every configured address, then `extra` (`ros tls gen -H`).
pub fn host_names(extra: &[String]) -> Result<HostNames, TlsError> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Ok(h) = nix::unistd::gethostname() {
        names.push(h.to_string_lossy().into_owned());
    }
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let ip: Option<IpAddr> = a.address.and_then(|s| {
                s.as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            });
            // Link-local IPv6 needs a zone, which a certificate cannot name.
            if let Some(ip) = ip.filter(|ip| !is_link_local_v6(ip)) {
                names.push(ip.to_string());
            }
        }
    }
    names.extend(extra.iter().cloned());
    HostNames::parse(names.iter().map(String::as_str))
}

fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments().first().copied().unwrap_or(0) & 0xffc0) == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_config(root: &Path) -> DockerConfig {
        os_config::load(root).config.rancher.docker
    }

    fn names() -> HostNames {
        HostNames::parse(["localhost", "127.0.0.1"]).unwrap()
    }

    /// A root whose config holds what a first start with TLS on issued.
    fn first_start(now: SystemTime) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let docker = docker_config(root.path());
        prepare_server(root.path(), &docker, &names(), false, now).unwrap();
        root
    }

    #[test]
    fn first_start_makes_a_ca_and_a_server_pair_and_keeps_them() {
        let root = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let p = prepare_server(
            root.path(),
            &docker_config(root.path()),
            &names(),
            false,
            now,
        )
        .unwrap();
        assert!(p.new_ca && p.issued_server, "{p:?}");
        let saved = docker_config(root.path());
        let server_cert = saved.server_cert.clone().unwrap();
        assert!(saved.ca_key.is_some());
        // The next start uses what was saved, and writes the same files.
        let again = prepare_server(root.path(), &saved, &names(), false, now).unwrap();
        assert!(!again.issued_server && !again.new_ca, "{again:?}");
        let written = std::fs::read_to_string(root.path().join(SERVER_DIR).join("server-cert.pem"));
        assert_eq!(written.unwrap(), server_cert);
    }

    #[test]
    fn a_server_certificate_near_its_end_is_renewed_with_the_same_ca() {
        let now = SystemTime::now();
        let root = first_start(now);
        let before = docker_config(root.path());
        let later = now + std::time::Duration::from_secs(340 * 86400);
        let p = prepare_server(root.path(), &before, &names(), false, later).unwrap();
        assert!(p.issued_server && !p.new_ca, "{p:?}");
        assert!(p.reason.unwrap().contains("within 30 days"));
        let after = docker_config(root.path());
        assert_eq!(after.ca_cert, before.ca_cert);
        assert_ne!(after.server_cert, before.server_cert);
    }

    #[test]
    fn a_mismatched_pair_is_named_and_replaced_when_the_ca_can_sign() {
        let now = SystemTime::now();
        let root = first_start(now);
        let mut docker = docker_config(root.path());
        docker.server_key = docker.ca_key.clone();
        let p = prepare_server(root.path(), &docker, &names(), false, now).unwrap();
        assert!(p.issued_server);
        assert!(p.reason.unwrap().contains("does not belong to"), "named");
        // Without the CA key nothing can sign: an error, not a new CA behind the user's back.
        docker.server_key = docker.ca_key.take();
        let e = prepare_server(root.path(), &docker, &names(), false, now).unwrap_err();
        assert!(e.to_string().contains("no CA to sign with"), "{e}");
    }

    #[test]
    fn host_names_include_loopback_and_extra_names() {
        let n = host_names(&["docker.example".into(), "10.9.8.7".into()]).unwrap();
        assert!(n.dns.contains(&"localhost".to_string()));
        assert!(n.dns.contains(&"docker.example".to_string()));
        assert!(n.ips.contains(&"127.0.0.1".parse().unwrap()));
        assert!(n.ips.contains(&"10.9.8.7".parse().unwrap()));
    }
}
