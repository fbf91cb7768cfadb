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

/// The most a `write_files` entry's gzip content may inflate to; a small bomb must not fill
/// the memory of the console or of the engine that uploads it.
pub const MAX_INFLATED_CONTENT: u64 = 16 * 1024 * 1024;

/// Why a `write_files` entry's content cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("invalid base64 content: {0}")]
    Base64(String),
    #[error("invalid gzip content: {0}")]
    Gzip(String),
    #[error("{path}: gzip content inflates to more than {limit} bytes; not written")]
    TooLarge { path: String, limit: u64 },
}

impl WriteFile {
    /// Where a file without `container:` is written: the console writes those itself.
    pub const DEFAULT_CONTAINER: &'static str = "console";

    /// The bytes to write, after `encoding` is undone; gzip stops at `MAX_INFLATED_CONTENT`.
    pub fn decoded_content(&self) -> Result<Vec<u8>, ContentError> {
        self.decoded_content_within(MAX_INFLATED_CONTENT)
    }

    /// `decoded_content` with gzip bounded by `limit` bytes.
    fn decoded_content_within(&self, limit: u64) -> Result<Vec<u8>, ContentError> {
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
                .take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| ContentError::Gzip(e.to_string()))?;
            if out.len() as u64 > limit {
                return Err(ContentError::TooLarge {
                    path: self.path.clone(),
                    limit,
                });
            }
            Ok(out)
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

    #[test]
    fn a_gzip_bomb_stops_at_the_bound_naming_the_path() {
        use base64::Engine as _;
        use std::io::Write;
        // One byte past the bound, in a few KiB of gzip.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..16 {
            gz.write_all(&zeros).unwrap();
        }
        gz.write_all(&[0]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let f = WriteFile {
            path: "/etc/bomb".into(),
            content: base64::engine::general_purpose::STANDARD.encode(&bomb),
            encoding: Some(Encoding::GzipBase64),
            ..WriteFile::default()
        };
        let e = f.decoded_content().unwrap_err();
        assert_eq!(
            e,
            ContentError::TooLarge {
                path: "/etc/bomb".into(),
                limit: MAX_INFLATED_CONTENT
            }
        );
        assert_eq!(
            e.to_string(),
            "/etc/bomb: gzip content inflates to more than 16777216 bytes; not written"
        );
        // Exactly at the bound is still written.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&[1u8; 100]).unwrap();
        let small = WriteFile {
            content: base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap()),
            ..f
        };
        assert_eq!(small.decoded_content_within(100).unwrap(), vec![1u8; 100]);
        assert!(matches!(
            small.decoded_content_within(99),
            Err(ContentError::TooLarge { .. })
        ));
    }
}
