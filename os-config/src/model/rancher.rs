//! The `rancher:` section: everything that is ros-specific rather than generic cloud-init.

use super::compose_values::StringOrList;
use super::docker::DockerConfig;
use super::network::NetworkConfig;
use super::service::ServiceSpec;
use super::state::StateConfig;
use super::swarm::SwarmConfig;
use super::zram::ZramConfig;
use crate::lenient_de::{
    flag, null_as_default, opt_flag, opt_num, opt_seconds, opt_string, string_list, string_map,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The longest `rancher.shutdown_timeout` accepted (an hour per stop); more is a config error.
pub const SHUTDOWN_TIMEOUT_MAX: u64 = 3600;
/// `rancher.runcmd_timeout` when none is set, and the most accepted (a day).
pub const RUNCMD_TIMEOUT_DEFAULT: u64 = 300;
pub const RUNCMD_TIMEOUT_MAX: u64 = 86_400;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RancherConfig {
    /// The console image to run (`default`, `debian`, ...).
    #[serde(deserialize_with = "opt_string")]
    pub console: Option<String>,
    /// Variables for `${VAR}` interpolation and `KEY`/`KEY*` environment items in services.
    #[serde(deserialize_with = "string_map")]
    pub environment: IndexMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub services: IndexMap<String, ServiceSpec>,
    /// Optional services by name, path or URL, each enabled (`true`) or not.
    #[serde(deserialize_with = "null_as_default")]
    pub services_include: IndexMap<String, bool>,
    #[serde(deserialize_with = "null_as_default")]
    pub bootstrap: IndexMap<String, ServiceSpec>,
    #[serde(deserialize_with = "null_as_default")]
    pub cloud_init_services: IndexMap<String, ServiceSpec>,
    #[serde(deserialize_with = "null_as_default")]
    pub system_docker: DockerConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub docker: DockerConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub bootstrap_docker: DockerConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub cloud_init: CloudInitConfig,
    #[serde(deserialize_with = "flag")]
    pub debug: bool,
    #[serde(deserialize_with = "flag")]
    pub log: bool,
    /// Kernel modules to load, each optionally with parameters (`nbd nbds_max=1024`).
    #[serde(deserialize_with = "string_list")]
    pub modules: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub network: NetworkConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub repositories: IndexMap<String, Repository>,
    #[serde(deserialize_with = "null_as_default")]
    pub ssh: SshConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub state: StateConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub upgrade: UpgradeConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub registry_auths: IndexMap<String, RegistryAuth>,
    #[serde(deserialize_with = "null_as_default")]
    pub defaults: Defaults,
    #[serde(deserialize_with = "opt_string")]
    pub resize_device: Option<String>,
    /// Keyed by the dotted sysctl name (`net.ipv4.ip_forward`).
    #[serde(deserialize_with = "string_map")]
    pub sysctl: IndexMap<String, String>,
    #[serde(deserialize_with = "string_list")]
    pub restart_services: Vec<String>,
    /// Seconds each `runcmd` command may run before it is killed (`RUNCMD_TIMEOUT_DEFAULT`).
    #[serde(deserialize_with = "opt_seconds::<_, RUNCMD_TIMEOUT_MAX>")]
    pub runcmd_timeout: Option<u64>,
    /// Seconds each shutdown stop may take before it is forced.
    #[serde(deserialize_with = "opt_seconds::<_, SHUTDOWN_TIMEOUT_MAX>")]
    pub shutdown_timeout: Option<u64>,
    #[serde(deserialize_with = "opt_string")]
    pub password: Option<String>,
    /// Consoles (`tty1`, `ttyS0`) that log in automatically.
    pub autologin: Option<StringOrList>,
    /// Default services that must not run.
    #[serde(deserialize_with = "string_list")]
    pub disable: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub ntp: NtpConfig,
    #[serde(deserialize_with = "flag")]
    pub preload_wait: bool,
    /// Enable the guest agent of the hypervisor the machine runs under (RancherOS v1).
    #[serde(deserialize_with = "flag")]
    pub hypervisor_service: bool,
    /// Boot straight into the recovery shell.
    #[serde(deserialize_with = "flag")]
    pub recovery: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub zram: ZramConfig,
    /// This host's place in a Docker Swarm (docs/swarm.md).
    #[serde(deserialize_with = "null_as_default")]
    pub swarm: SwarmConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloudInitConfig {
    /// `nocloud`, `configdrive`, `ec2`, `url:URL`, `file:PATH`, `*`, ...
    #[serde(deserialize_with = "string_list")]
    pub datasources: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Repository {
    #[serde(deserialize_with = "opt_string")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SshConfig {
    /// Host keys by type (`rsa`, `ecdsa`, `ed25519`), private and `-pub`.
    #[serde(deserialize_with = "string_map")]
    pub keys: IndexMap<String, String>,
    #[serde(deserialize_with = "opt_flag")]
    pub daemon: Option<bool>,
    #[serde(deserialize_with = "opt_num")]
    pub port: Option<u16>,
    #[serde(deserialize_with = "opt_string")]
    pub listen_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpgradeConfig {
    #[serde(deserialize_with = "opt_string")]
    pub url: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryAuth {
    #[serde(deserialize_with = "opt_string")]
    pub auth: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub username: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub password: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub email: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub identitytoken: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Defaults {
    #[serde(deserialize_with = "opt_string")]
    pub hostname: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub docker: DockerConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub network: NetworkConfig,
    /// Where System Docker's own log goes.
    #[serde(deserialize_with = "opt_string")]
    pub system_docker_logs: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NtpConfig {
    #[serde(deserialize_with = "string_list")]
    pub servers: Vec<String>,
}
