//! Config drives, once mounted: NoCloud (`cidata`: user-data, meta-data, network-config) and
//! config-2 (`openstack/latest/user_data`, `meta_data.json`).

use os_config::metadata::Metadata;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveKind {
    NoCloud,
    ConfigDrive,
}

impl DriveKind {
    pub fn label(self) -> &'static str {
        match self {
            DriveKind::NoCloud => "cidata",
            DriveKind::ConfigDrive => "config-2",
        }
    }

    /// Where the user-data, metadata and network configuration sit, relative to the root.
    pub fn file_names(self) -> DriveFileNames {
        match self {
            DriveKind::NoCloud => DriveFileNames {
                user_data: "user-data",
                meta_data: "meta-data",
                network_config: Some("network-config"),
            },
            DriveKind::ConfigDrive => DriveFileNames {
                user_data: "openstack/latest/user_data",
                meta_data: "openstack/latest/meta_data.json",
                network_config: None,
            },
        }
    }

    /// The datasource names that select this drive in `rancher.cloud_init.datasources`.
    pub fn enabled_by(self, datasources: &[String]) -> bool {
        datasources.iter().any(|d| {
            let name = d.split(':').next().unwrap_or(d);
            name == "*"
                || match self {
                    DriveKind::NoCloud => name == "nocloud",
                    DriveKind::ConfigDrive => name == "configdrive",
                }
        })
    }
}

/// What a drive holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DriveData {
    pub user_data: Option<(PathBuf, String)>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriveFileNames {
    pub user_data: &'static str,
    pub meta_data: &'static str,
    pub network_config: Option<&'static str>,
}

/// One file read from a drive: its path and bytes.
pub type DriveFile = (PathBuf, Vec<u8>);
/// A file that could not be read, and why.
pub type ReadError = (PathBuf, io::Error);

/// A drive's files as bytes, each with its path; a missing file is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriveFiles {
    pub user_data: Option<DriveFile>,
    pub meta_data: Option<DriveFile>,
    pub network_config: Option<DriveFile>,
}

/// Reads a mounted drive's files. A missing file is not an error; any other read error is,
/// naming the file.
pub fn read_files(kind: DriveKind, mount: &Path) -> Result<DriveFiles, ReadError> {
    let read = |rel: &str| -> Result<Option<DriveFile>, ReadError> {
        let p = mount.join(rel);
        match std::fs::read(&p) {
            Ok(bytes) => Ok(Some((p, bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err((p, e)),
        }
    };
    let names = kind.file_names();
    Ok(DriveFiles {
        user_data: read(names.user_data)?,
        meta_data: read(names.meta_data)?,
        network_config: match names.network_config {
            Some(n) => read(n)?,
            None => None,
        },
    })
}

pub fn read(kind: DriveKind, mount: &Path) -> DriveData {
    let read = |rel: &str| {
        let p = mount.join(rel);
        std::fs::read_to_string(&p).ok().map(|t| (p, t))
    };
    match kind {
        DriveKind::NoCloud => DriveData {
            user_data: read("user-data"),
            metadata: read("meta-data")
                .and_then(|(_, t)| yaml_serde::from_str(&t).ok())
                .map(|v| Metadata::from_value(&v))
                .unwrap_or_default(),
        },
        DriveKind::ConfigDrive => DriveData {
            user_data: read("openstack/latest/user_data"),
            metadata: read("openstack/latest/meta_data.json")
                .and_then(|(_, t)| yaml_serde::from_str(&t).ok())
                .map(|v| Metadata::from_value(&v))
                .unwrap_or_default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nocloud_and_config2() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("user-data"), "#cloud-config\nhostname: x\n").unwrap();
        std::fs::write(
            d.path().join("meta-data"),
            "instance-id: i-1\nlocal-hostname: md\n",
        )
        .unwrap();
        let data = read(DriveKind::NoCloud, d.path());
        assert_eq!(data.metadata.hostname.as_deref(), Some("md"));
        assert!(data.user_data.unwrap().1.contains("hostname: x"));

        let c = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(c.path().join("openstack/latest")).unwrap();
        std::fs::write(
            c.path().join("openstack/latest/meta_data.json"),
            r#"{"hostname": "os", "public_keys": {"k": "ssh-rsa AAA k"}}"#,
        )
        .unwrap();
        let data = read(DriveKind::ConfigDrive, c.path());
        assert_eq!(data.metadata.hostname.as_deref(), Some("os"));
        assert_eq!(data.metadata.ssh_keys, vec!["ssh-rsa AAA k"]);
        assert!(data.user_data.is_none());
    }

    #[test]
    fn reads_raw_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("user-data"), [0x1f, 0x8b, 0]).unwrap();
        std::fs::write(d.path().join("network-config"), "version: 2\n").unwrap();
        let files = read_files(DriveKind::NoCloud, d.path()).unwrap();
        assert_eq!(files.user_data.unwrap().1, vec![0x1f, 0x8b, 0]);
        assert_eq!(files.meta_data, None);
        assert_eq!(
            files.network_config.unwrap().0,
            d.path().join("network-config")
        );
        std::fs::create_dir(d.path().join("openstack")).unwrap();
        std::fs::write(d.path().join("openstack/latest"), "not a directory").unwrap();
        let (path, _) = read_files(DriveKind::ConfigDrive, d.path()).unwrap_err();
        assert_eq!(path, d.path().join("openstack/latest/user_data"));
    }

    #[test]
    fn datasource_names_select_drives() {
        let ds = vec!["nocloud".to_string()];
        assert!(DriveKind::NoCloud.enabled_by(&ds) && !DriveKind::ConfigDrive.enabled_by(&ds));
        assert!(DriveKind::ConfigDrive.enabled_by(&["configdrive:/media/config-2".into()]));
        assert!(DriveKind::ConfigDrive.enabled_by(&["*".into()]));
    }
}
