//! Config drives, once mounted: NoCloud (`cidata`: user-data, meta-data, network-config) and
//! config-2 (`openstack/latest/user_data`, `meta_data.json`).

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

/// Reads a mounted drive's files, each at most `max_bytes` (a drive is any disk with the
/// right label, so its files are not trusted to be small). A missing file is not an error;
/// any other read error is, naming the file, and so is a file over the limit.
pub fn read_files(kind: DriveKind, mount: &Path, max_bytes: u64) -> Result<DriveFiles, ReadError> {
    let read = |rel: &str| -> Result<Option<DriveFile>, ReadError> {
        let p = mount.join(rel);
        match read_bounded(&p, max_bytes) {
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

/// The file's bytes, or an error when it holds more than `max_bytes`.
fn read_bounded(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(io::Error::other(format!(
            "larger than {max_bytes} bytes; refused"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_raw_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("user-data"), [0x1f, 0x8b, 0]).unwrap();
        std::fs::write(d.path().join("network-config"), "version: 2\n").unwrap();
        let files = read_files(DriveKind::NoCloud, d.path(), 1024).unwrap();
        assert_eq!(files.user_data.unwrap().1, vec![0x1f, 0x8b, 0]);
        assert_eq!(files.meta_data, None);
        assert_eq!(
            files.network_config.unwrap().0,
            d.path().join("network-config")
        );
        std::fs::create_dir(d.path().join("openstack")).unwrap();
        std::fs::write(d.path().join("openstack/latest"), "not a directory").unwrap();
        let (path, _) = read_files(DriveKind::ConfigDrive, d.path(), 1024).unwrap_err();
        assert_eq!(path, d.path().join("openstack/latest/user_data"));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("user-data"), vec![b'#'; 1025]).unwrap();
        let (path, e) = read_files(DriveKind::NoCloud, d.path(), 1024).unwrap_err();
        assert_eq!(path, d.path().join("user-data"));
        assert_eq!(e.to_string(), "larger than 1024 bytes; refused");
        std::fs::write(d.path().join("user-data"), vec![b'#'; 1024]).unwrap();
        let files = read_files(DriveKind::NoCloud, d.path(), 1024).unwrap();
        assert_eq!(files.user_data.unwrap().1.len(), 1024);
    }

    #[test]
    fn datasource_names_select_drives() {
        let ds = vec!["nocloud".to_string()];
        assert!(DriveKind::NoCloud.enabled_by(&ds) && !DriveKind::ConfigDrive.enabled_by(&ds));
        assert!(DriveKind::ConfigDrive.enabled_by(&["configdrive:/media/config-2".into()]));
        assert!(DriveKind::ConfigDrive.enabled_by(&["*".into()]));
    }
}
