//! The release list at `rancher.upgrade.url` that `ros os list` shows and `ros os upgrade`
//! (without `-i`) takes the newest bundle from. The list is not trusted: each bundle's
//! signature is checked as for any other (see `upgrade::verify`).
//!
//! ```yaml
//! releases:
//!   - version: 1.2.0
//!     url: ros-1.2.0.bundle        # relative to the list's own URL, or absolute
//! ```

use serde::Deserialize;

/// Bounds on what a list may hold, so a hostile server cannot make `ros` use much memory.
pub const MAX_INDEX_BYTES: u64 = 1 << 20;
pub const MAX_RELEASES: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{url}: not a release list: {message}")]
    Parse { url: String, message: String },
    #[error("{url}: more than {MAX_RELEASES} releases")]
    TooMany { url: String },
    #[error("{url}: not a URL: {message}")]
    BadUrl { url: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    releases: Vec<RawRelease>,
}

#[derive(Debug, Deserialize)]
struct RawRelease {
    version: String,
    url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: semver::Version,
    /// Absolute: a relative entry is resolved against the list's URL.
    pub url: String,
}

#[derive(Debug, Clone, Default)]
pub struct ReleaseIndex {
    /// Newest first.
    pub releases: Vec<Release>,
    /// Entries left out, each with why (a version that is not semver, a bad URL).
    pub skipped: Vec<String>,
}

impl ReleaseIndex {
    /// Parses the list fetched from `index_url`.
    pub fn parse(text: &str, index_url: &str) -> Result<ReleaseIndex, IndexError> {
        let base = url::Url::parse(index_url).map_err(|e| IndexError::BadUrl {
            url: index_url.to_owned(),
            message: e.to_string(),
        })?;
        let file: IndexFile = yaml_serde::from_str(text).map_err(|e| IndexError::Parse {
            url: index_url.to_owned(),
            message: e.to_string(),
        })?;
        if file.releases.len() > MAX_RELEASES {
            return Err(IndexError::TooMany {
                url: index_url.to_owned(),
            });
        }
        let mut index = ReleaseIndex::default();
        for raw in file.releases {
            let version = match semver::Version::parse(raw.version.trim()) {
                Ok(v) => v,
                Err(e) => {
                    index
                        .skipped
                        .push(format!("version {:?}: {e}", raw.version));
                    continue;
                }
            };
            match base.join(raw.url.trim()) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => index.releases.push(Release {
                    version,
                    url: u.to_string(),
                }),
                Ok(u) => index.skipped.push(format!(
                    "{version}: {u}: only https:// and http:// are fetched"
                )),
                Err(e) => index
                    .skipped
                    .push(format!("{version}: url {:?}: {e}", raw.url)),
            }
        }
        index.releases.sort_by(|a, b| b.version.cmp(&a.version));
        Ok(index)
    }

    pub fn newest(&self) -> Option<&Release> {
        self.releases.first()
    }

    /// Whether `running` is at least as new as the newest release (a running version that is
    /// not semver never is).
    pub fn is_current(&self, running: &str) -> bool {
        match (semver::Version::parse(running.trim()), self.newest()) {
            (Ok(r), Some(n)) => r >= n.version,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_newest_first_resolves_relative_urls_and_skips_bad_entries() {
        let text = "releases:\n\
            - {version: 1.2.0, url: ros-1.2.0.bundle}\n\
            - {version: 1.10.0-rc1, url: /all/ros-1.10.0-rc1.bundle}\n\
            - {version: 1.10.0, url: 'https://cdn.example/ros-1.10.0.bundle'}\n\
            - {version: v2, url: x.bundle}\n\
            - {version: 3.0.0, url: 'file:///etc/shadow'}\n";
        let index = ReleaseIndex::parse(text, "https://rel.example/ros/releases.yml").unwrap();
        let got: Vec<(String, &str)> = index
            .releases
            .iter()
            .map(|r| (r.version.to_string(), r.url.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("1.10.0".into(), "https://cdn.example/ros-1.10.0.bundle"),
                (
                    "1.10.0-rc1".into(),
                    "https://rel.example/all/ros-1.10.0-rc1.bundle"
                ),
                ("1.2.0".into(), "https://rel.example/ros/ros-1.2.0.bundle"),
            ]
        );
        assert_eq!(index.newest().unwrap().version.to_string(), "1.10.0");
        assert!(index.is_current("1.10.0") && index.is_current("1.11.0"));
        assert!(!index.is_current("1.10.0-rc1") && !index.is_current("dev"));
        assert_eq!(index.skipped.len(), 2, "{:?}", index.skipped);
        assert!(index.skipped[1].contains("only https:// and http://"));
    }

    #[test]
    fn a_list_that_is_not_one_is_an_error_naming_the_url() {
        for bad in [
            "releases: 5\n",
            "other: []\n",
            "[1, 2]\n",
            "releases: [{version: 1.0.0}]\n",
        ] {
            let e = ReleaseIndex::parse(bad, "https://rel.example/r.yml").unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("https://rel.example/r.yml: not a release list"),
                "{e}"
            );
        }
        let many = format!(
            "releases:\n{}",
            "- {version: 1.0.0, url: a}\n".repeat(MAX_RELEASES + 1)
        );
        assert!(matches!(
            ReleaseIndex::parse(&many, "https://r.example/"),
            Err(IndexError::TooMany { .. })
        ));
    }
}
