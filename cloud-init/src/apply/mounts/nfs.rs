//! NFS rows (`nfs`, `nfs4`), mounted by the kernel's own NFS client: mount(2) with the server's
//! address in `addr=`, which is all mount.nfs adds for text-based options. So no nfs-common is
//! needed in the image. What that leaves out: NFSv3 file locking needs rpc.statd (use `nolock`,
//! or NFSv4, which locks in-protocol), and Kerberos (`sec=krb5*`) needs rpc.gssd.

use std::net::{IpAddr, ToSocketAddrs};

const NFS_PORT: u16 = 2049;

/// Why an NFS row's server could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum NfsError {
    /// The source, as written, is neither `server:/path` nor `[v6addr]:/path`.
    #[error("{0:?} is not server:/path")]
    NotServerPath(String),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("{0} has no address")]
    NoAddress(String),
}

pub fn is_nfs(fstype: &str) -> bool {
    matches!(fstype, "nfs" | "nfs4")
}

/// `server:/export` or `[v6addr]:/export` → (server, export).
pub fn split_source(source: &str) -> Result<(String, String), NfsError> {
    let bad = || NfsError::NotServerPath(source.to_owned());
    let (host, path) = if let Some(rest) = source.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        source.split_once(':').ok_or_else(bad)?
    };
    if host.is_empty() || !path.starts_with('/') {
        return Err(bad());
    }
    Ok((host.to_owned(), path.to_owned()))
}

/// The server's address; names are resolved here, in the container, where the network
/// service keeps /etc/resolv.conf. IPv4 is preferred, as mount.nfs does.
pub fn resolve(host: &str) -> Result<IpAddr, NfsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = (host, NFS_PORT)
        .to_socket_addrs()
        .map_err(|source| NfsError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| NfsError::NoAddress(host.to_owned()))
}

/// The data strings to try, in order, for mount(2). Without a version, `nfs` tries NFSv4 and
/// then NFSv3, as mount.nfs negotiates; `nfs4` is always version 4.
pub fn attempts(fstype: &str, data: &[String], addr: IpAddr) -> Vec<String> {
    let mut base: Vec<String> = data
        .iter()
        .filter(|o| !o.starts_with("addr="))
        .cloned()
        .collect();
    base.push(format!("addr={addr}"));
    let has_version = data
        .iter()
        .any(|o| o.starts_with("vers=") || o.starts_with("nfsvers="));
    if fstype == "nfs4" || has_version {
        return vec![base.join(",")];
    }
    ["vers=4", "vers=3"]
        .iter()
        .map(|v| {
            let mut d = base.clone();
            d.push((*v).to_owned());
            d.join(",")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_split() {
        assert_eq!(
            split_source("nas:/export/a").unwrap(),
            ("nas".into(), "/export/a".into())
        );
        assert_eq!(
            split_source("[fd00::1]:/x").unwrap(),
            ("fd00::1".into(), "/x".into())
        );
        assert_eq!(
            split_source("/dev/vdb").unwrap_err().to_string(),
            "\"/dev/vdb\" is not server:/path"
        );
        assert!(split_source("nas:export").is_err());
        assert!(split_source(":/x").is_err());
    }

    #[test]
    fn addresses_and_version_negotiation() {
        assert_eq!(
            resolve("10.0.0.5").unwrap(),
            "10.0.0.5".parse::<IpAddr>().unwrap()
        );
        assert!(resolve("localhost").unwrap().is_loopback());
        assert!(resolve("no-such-host.invalid").is_err());
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(
            attempts("nfs", &["soft".into(), "addr=1.2.3.4".into()], ip),
            vec!["soft,addr=10.0.0.5,vers=4", "soft,addr=10.0.0.5,vers=3"]
        );
        assert_eq!(
            attempts("nfs", &["nfsvers=3".into()], ip),
            vec!["nfsvers=3,addr=10.0.0.5"]
        );
        assert_eq!(attempts("nfs4", &[], ip), vec!["addr=10.0.0.5"]);
    }
}
