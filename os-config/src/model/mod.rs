//! The typed configuration model. A read-only view: the YAML value stays the source of truth,
//! so keys ros does not know survive every load and save.

pub mod cloud_config;
pub mod compose_values;
pub mod docker;
pub mod network;
pub mod rancher;
pub mod service;
pub mod state;
pub mod swarm;
pub mod zram;

pub use cloud_config::{
    CloudConfig, ContentError, Encoding, MountEntry, WriteFile, MAX_INFLATED_CONTENT,
};
pub use compose_values::{BoolOrString, ByteSize, ListOrMap, StringOrList, Ulimit};
pub use docker::DockerConfig;
pub use network::{DnsConfig, InterfaceConfig, NetworkConfig};
pub use rancher::{
    CloudInitConfig, Defaults, NtpConfig, RancherConfig, RegistryAuth, Repository, SshConfig,
    UpgradeConfig,
};
pub use service::ServiceSpec;
pub use state::{StateConfig, StateWait};
pub use swarm::{SwarmConfig, SwarmRole, TokenKeys};
pub use zram::ZramConfig;
