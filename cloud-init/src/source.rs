//! The datasource names of `rancher.cloud_init.datasources`, as RancherOS spelled them:
//! `configdrive`, `configdrive:/mounted/dir`, `nocloud`, `nocloud:/mounted/dir`, `cmdline`,
//! `url:URL`, `file:PATH`, `ec2`, `gce`, `digitalocean`, `openstack`, and `*` for every one
//! that needs no argument.

use crate::error::ProbeError;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datasource {
    /// An OpenStack config drive (`config-2`), or a directory where one is already mounted.
    ConfigDrive {
        dir: Option<PathBuf>,
    },
    /// A NoCloud seed (`cidata`), or a directory where one is already mounted.
    NoCloud {
        dir: Option<PathBuf>,
    },
    /// `cloud-config-url=URL` on the kernel command line.
    Cmdline,
    Url(String),
    File(PathBuf),
    Ec2,
    Gce,
    DigitalOcean,
    OpenStack,
}

/// What `*` stands for, in the order they are preferred.
pub const ALL: &[&str] = &[
    "configdrive",
    "nocloud",
    "cmdline",
    "ec2",
    "gce",
    "digitalocean",
    "openstack",
];

impl Datasource {
    /// Parses one name (not `*`).
    pub fn parse(name: &str) -> Result<Datasource, ProbeError> {
        let (kind, arg) = match name.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (name, None),
        };
        let invalid = |message: &str| ProbeError::Invalid {
            name: name.to_owned(),
            message: message.to_owned(),
        };
        let no_arg = |ds: Datasource| match arg {
            None => Ok(ds),
            Some(_) => Err(invalid("takes no argument")),
        };
        let dir = || arg.filter(|a| !a.is_empty()).map(PathBuf::from);
        match kind {
            "configdrive" => Ok(Datasource::ConfigDrive { dir: dir() }),
            "nocloud" => Ok(Datasource::NoCloud { dir: dir() }),
            "cmdline" => no_arg(Datasource::Cmdline),
            "url" => match arg {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                    Ok(Datasource::Url(u.to_owned()))
                }
                _ => Err(invalid("needs an http:// or https:// URL (url:http://...)")),
            },
            "file" => match arg {
                Some(p) if !p.is_empty() => Ok(Datasource::File(PathBuf::from(p))),
                _ => Err(invalid("needs a path (file:/path)")),
            },
            "ec2" => no_arg(Datasource::Ec2),
            "gce" => no_arg(Datasource::Gce),
            "digitalocean" => no_arg(Datasource::DigitalOcean),
            "openstack" => no_arg(Datasource::OpenStack),
            _ => Err(ProbeError::Unknown {
                name: name.to_owned(),
                known: "configdrive, nocloud, cmdline, url:URL, file:PATH, ec2, gce, \
                        digitalocean, openstack, *"
                    .into(),
            }),
        }
    }

    /// True for the datasources that only look at this machine (drives, files, the command
    /// line); false for those that ask a server.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            Datasource::ConfigDrive { .. }
                | Datasource::NoCloud { .. }
                | Datasource::File(_)
                | Datasource::Cmdline
        )
    }
}

/// The configured names in order, `*` expanded and repeats dropped, each parsed.
pub fn expand(names: &[String]) -> Vec<(String, Result<Datasource, ProbeError>)> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for raw in names {
        let name = raw.trim();
        let expanded: Vec<&str> = if name == "*" {
            ALL.to_vec()
        } else {
            vec![name]
        };
        for n in expanded {
            if n.is_empty() || seen.iter().any(|s| s == n) {
                continue;
            }
            seen.push(n.to_owned());
            out.push((n.to_owned(), Datasource::parse(n)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_like_rancheros() {
        assert_eq!(
            Datasource::parse("configdrive:/media/config-2").unwrap(),
            Datasource::ConfigDrive {
                dir: Some("/media/config-2".into())
            }
        );
        assert_eq!(
            Datasource::parse("configdrive").unwrap(),
            Datasource::ConfigDrive { dir: None }
        );
        assert_eq!(
            Datasource::parse("url:https://x/cc.yml").unwrap(),
            Datasource::Url("https://x/cc.yml".into())
        );
        assert_eq!(
            Datasource::parse("file:/etc/cc.yml").unwrap(),
            Datasource::File("/etc/cc.yml".into())
        );
        assert_eq!(
            Datasource::parse("url:ftp://x").unwrap_err().to_string(),
            "\"url:ftp://x\": needs an http:// or https:// URL (url:http://...)"
        );
        assert!(Datasource::parse("ec2:x").is_err());
        assert!(Datasource::parse("packet")
            .unwrap_err()
            .to_string()
            .starts_with("unknown datasource \"packet\""));
    }

    #[test]
    fn star_expands_in_order_without_repeats() {
        let names: Vec<String> = ["ec2", "*", "url:http://a/", "ec2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got: Vec<String> = expand(&names).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            got,
            [
                "ec2",
                "configdrive",
                "nocloud",
                "cmdline",
                "gce",
                "digitalocean",
                "openstack",
                "url:http://a/"
            ]
        );
    }
}
