//! Config drives, once mounted: NoCloud (`cidata`: user-data, meta-data) and config-2
//! (`openstack/latest/user_data`, `meta_data.json`).

use crate::metadata::Metadata;
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
    fn datasource_names_select_drives() {
        let ds = vec!["nocloud".to_string()];
        assert!(DriveKind::NoCloud.enabled_by(&ds) && !DriveKind::ConfigDrive.enabled_by(&ds));
        assert!(DriveKind::ConfigDrive.enabled_by(&["configdrive:/media/config-2".into()]));
        assert!(DriveKind::ConfigDrive.enabled_by(&["*".into()]));
    }
}
