//! A compose-style service definition, as RancherOS v1 wrote them under `rancher.services`.

use super::compose_values::{ByteSize, ListOrMap, StringOrList, Ulimit};
use crate::lenient_de::{flag, null_as_default, opt_num, opt_string, string_list, string_map};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Label: `system` runs the service on System Docker; anything else on User Docker.
pub const LABEL_SCOPE: &str = "io.rancher.os.scope";
/// Label: comma-separated services this one starts after.
pub const LABEL_AFTER: &str = "io.rancher.os.after";
/// Label: comma-separated services this one starts before.
pub const LABEL_BEFORE: &str = "io.rancher.os.before";
/// Label: `"false"` makes a one-shot whose dependents wait for it to exit 0.
pub const LABEL_DETACH: &str = "io.rancher.os.detach";
/// Label: `"true"` creates the container but never starts it (volume containers).
pub const LABEL_CREATEONLY: &str = "io.rancher.os.createonly";
/// Label: `"true"` reloads the config after the service ran and brings up new services.
pub const LABEL_RELOADCONFIG: &str = "io.rancher.os.reloadconfig";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSpec {
    #[serde(deserialize_with = "opt_string")]
    pub image: Option<String>,
    pub command: Option<StringOrList>,
    pub entrypoint: Option<StringOrList>,
    #[serde(deserialize_with = "null_as_default")]
    pub environment: ListOrMap,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: ListOrMap,
    #[serde(deserialize_with = "string_list")]
    pub volumes: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub volumes_from: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub net: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub network_mode: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub pid: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub ipc: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub uts: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub privileged: bool,
    #[serde(deserialize_with = "string_list")]
    pub cap_add: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub cap_drop: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub devices: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub restart: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub tty: bool,
    #[serde(deserialize_with = "flag")]
    pub stdin_open: bool,
    #[serde(deserialize_with = "opt_string")]
    pub user: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub working_dir: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub read_only: bool,
    #[serde(deserialize_with = "opt_string")]
    pub log_driver: Option<String>,
    #[serde(deserialize_with = "string_map")]
    pub log_opt: IndexMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub ulimits: IndexMap<String, Ulimit>,
    #[serde(deserialize_with = "string_list")]
    pub security_opt: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub depends_on: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub links: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub ports: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub dns: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub dns_search: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub extra_hosts: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub tmpfs: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub hostname: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub stop_signal: Option<String>,
    pub mem_limit: Option<ByteSize>,
    pub shm_size: Option<ByteSize>,
    #[serde(deserialize_with = "opt_num")]
    pub cpu_shares: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    pub cpuset: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub group_add: Vec<String>,
    /// How readily the OOM killer picks the container's processes, -1000 (never) to 1000.
    #[serde(deserialize_with = "opt_num")]
    pub oom_score_adj: Option<i64>,
}

impl ServiceSpec {
    /// The label's value, whichever form the labels were written in.
    pub fn label(&self, key: &str) -> Option<String> {
        self.labels.get(key)
    }

    /// True when `io.rancher.os.scope` is `system`.
    pub fn is_system(&self) -> bool {
        self.label(LABEL_SCOPE).as_deref() == Some("system")
    }

    /// The network mode, preferring compose's `network_mode` over v1's `net`.
    pub fn network(&self) -> Option<&str> {
        self.network_mode.as_deref().or(self.net.as_deref())
    }
}
