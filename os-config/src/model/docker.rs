//! `rancher.docker`, `rancher.system_docker` and `rancher.bootstrap_docker`: engine options.

use crate::lenient_de::{flag, opt_flag, opt_num, opt_string, string_list, string_map};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerConfig {
    /// Which engine service to run (`docker-1.10.3`, a URL, ...); ros ships one.
    #[serde(deserialize_with = "opt_string")]
    pub engine: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub image: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub args: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub extra_args: Vec<String>,
    #[serde(deserialize_with = "flag")]
    pub tls: bool,
    #[serde(deserialize_with = "string_list")]
    pub tls_args: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub ca_cert: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub ca_key: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub server_cert: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub server_key: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub environment: Vec<String>,
    #[serde(deserialize_with = "opt_flag")]
    pub exec: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub storage_driver: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub bridge: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub bip: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub group: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub host: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub graph: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub data_root: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub exec_root: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub pid_file: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub log_driver: Option<String>,
    #[serde(deserialize_with = "string_map")]
    pub log_opts: IndexMap<String, String>,
    #[serde(deserialize_with = "string_list")]
    pub registry_mirror: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub insecure_registry: Vec<String>,
    #[serde(deserialize_with = "opt_flag")]
    pub live_restore: Option<bool>,
    #[serde(deserialize_with = "opt_flag")]
    pub userland_proxy: Option<bool>,
    #[serde(deserialize_with = "opt_flag")]
    pub selinux_enabled: Option<bool>,
    #[serde(deserialize_with = "opt_flag")]
    pub debug: Option<bool>,
    #[serde(deserialize_with = "opt_flag")]
    pub restart: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub config_file: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub containerd: Option<String>,
    #[serde(deserialize_with = "opt_num")]
    pub mtu: Option<u32>,
}
