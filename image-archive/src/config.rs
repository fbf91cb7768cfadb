//! The image configuration (what `docker inspect` shows under Config) and its JSON blob.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The runtime defaults of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

// Field order here is the order in the JSON, which keeps the config digest stable.
#[derive(Serialize)]
struct ConfigBlob<'a> {
    architecture: &'static str,
    config: RuntimeConfig<'a>,
    created: String,
    history: Vec<History<'a>>,
    os: &'static str,
    rootfs: RootFs<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuntimeConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    env: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entrypoint: &'a Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cmd: &'a Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: &'static str,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<&'a str>,
}

impl ImageConfig {
    /// The config blob for an image made of layers with `diff_ids`, created at `created_epoch`.
    pub(crate) fn to_json(
        &self,
        diff_ids: &[&str],
        created_epoch: u64,
    ) -> Result<Vec<u8>, serde_json::Error> {
        let created = rfc3339(created_epoch);
        let blob = ConfigBlob {
            architecture: "amd64",
            config: RuntimeConfig {
                user: self.user.as_deref(),
                env: &self.env,
                entrypoint: &self.entrypoint,
                cmd: &self.cmd,
                working_dir: self.working_dir.as_deref(),
                labels: &self.labels,
            },
            created: created.clone(),
            history: diff_ids
                .iter()
                .map(|_| History {
                    created: &created,
                    created_by: "ros-build",
                })
                .collect(),
            os: "linux",
            rootfs: RootFs {
                kind: "layers",
                diff_ids: diff_ids.to_vec(),
            },
        };
        serde_json::to_vec(&blob)
    }
}

pub(crate) fn rfc3339(epoch: u64) -> String {
    let t = UNIX_EPOCH
        .checked_add(Duration::from_secs(epoch))
        .unwrap_or(UNIX_EPOCH);
    humantime::format_rfc3339_seconds(t).to_string()
}
