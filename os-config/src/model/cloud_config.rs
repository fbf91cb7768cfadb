//! The whole document: generic cloud-init keys at the top level, ros's own under `rancher:`.

use super::compose_values::StringOrList;
use super::rancher::RancherConfig;
use crate::lenient_de::{flag, null_as_default, opt_string, string_list};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloudConfig {
    #[serde(deserialize_with = "string_list")]
    pub ssh_authorized_keys: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub write_files: Vec<WriteFile>,
    #[serde(deserialize_with = "opt_string")]
    pub hostname: Option<String>,
    /// fstab-like rows: `[device, mountpoint, fstype, options, ...]`.
    #[serde(deserialize_with = "null_as_default")]
    pub mounts: Vec<MountEntry>,
    /// A list item runs as argv; a string runs with `sh -c`.
    #[serde(deserialize_with = "null_as_default")]
    pub runcmd: Vec<StringOrList>,
    #[serde(deserialize_with = "null_as_default")]
    pub bootcmd: Vec<StringOrList>,
    #[serde(deserialize_with = "null_as_default")]
    pub rancher: RancherConfig,
}

impl CloudConfig {
    /// Every image the system, bootstrap and cloud-init services name, sorted and unique.
    pub fn service_images(&self) -> std::collections::BTreeSet<&str> {
        let r = &self.rancher;
        r.services
            .values()
            .chain(r.bootstrap.values())
            .chain(r.cloud_init_services.values())
            .filter_map(|s| s.image.as_deref())
            .collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountEntry(#[serde(deserialize_with = "string_list")] pub Vec<String>);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriteFile {
    pub path: String,
    #[serde(deserialize_with = "null_as_default")]
    pub content: String,
    pub encoding: Option<Encoding>,
    /// Octal mode as written (`"0644"`); an unquoted 0644 arrives as 644 and means the same.
    #[serde(deserialize_with = "opt_string")]
    pub permissions: Option<String>,
    /// `user`, `user:group` or numeric ids.
    #[serde(deserialize_with = "opt_string")]
    pub owner: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub append: bool,
    /// Write inside this system container instead of the console.
    #[serde(deserialize_with = "opt_string")]
    pub container: Option<String>,
}

/// Why a `write_files` entry's content cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("invalid base64 content: {0}")]
    Base64(String),
    #[error("invalid gzip content: {0}")]
    Gzip(String),
}

impl WriteFile {
    /// Where a file without `container:` is written: the console writes those itself.
    pub const DEFAULT_CONTAINER: &'static str = "console";

    /// The bytes to write, after `encoding` is undone.
    pub fn decoded_content(&self) -> Result<Vec<u8>, ContentError> {
        use base64::Engine as _;
        use std::io::Read;
        let b64 = |s: &str| {
            let compact: String = s.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| ContentError::Base64(e.to_string()))
        };
        let gunzip = |bytes: &[u8]| {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map(|_| out)
                .map_err(|e| ContentError::Gzip(e.to_string()))
        };
        match self.encoding {
            None | Some(Encoding::Text) => Ok(self.content.clone().into_bytes()),
            Some(Encoding::Base64) => b64(&self.content),
            Some(Encoding::Gzip) => gunzip(self.content.as_bytes()),
            Some(Encoding::GzipBase64) => gunzip(&b64(&self.content)?),
        }
    }

    /// The file mode, if `permissions` is a valid octal number.
    pub fn mode(&self) -> Option<u32> {
        self.permissions
            .as_deref()
            .and_then(|p| u32::from_str_radix(p.trim(), 8).ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[serde(rename = "b64", alias = "base64")]
    Base64,
    #[serde(rename = "gzip", alias = "gz")]
    Gzip,
    #[serde(
        rename = "gz+b64",
        alias = "gzip+base64",
        alias = "gz+base64",
        alias = "gzip+b64"
    )]
    GzipBase64,
    #[serde(rename = "text/plain", alias = "text")]
    Text,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decodes_by_encoding() {
        let wf = |enc: Option<Encoding>, content: &str| WriteFile {
            path: "/x".into(),
            content: content.into(),
            encoding: enc,
            ..WriteFile::default()
        };
        assert_eq!(wf(None, "hi\n").decoded_content().unwrap(), b"hi\n");
        assert_eq!(
            wf(Some(Encoding::Base64), "aGkK")
                .decoded_content()
                .unwrap(),
            b"hi\n"
        );
        // `printf 'hi\n' | gzip -n | base64`
        let gz = "H4sIAAAAAAAAA8vI5AIAenpv7QMAAAA=";
        assert_eq!(
            wf(Some(Encoding::GzipBase64), gz)
                .decoded_content()
                .unwrap(),
            b"hi\n"
        );
        assert!(wf(Some(Encoding::Base64), "!!")
            .decoded_content()
            .unwrap_err()
            .to_string()
            .contains("base64"));
        let doc: CloudConfig =
            yaml_serde::from_str("write_files: [{path: /a, permissions: 0644}]").unwrap();
        assert_eq!(doc.write_files[0].mode(), Some(0o644));
    }
}
