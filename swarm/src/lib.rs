//! `rancher.swarm`: Docker Swarm from cloud-config alone (docs/swarm.md).
//!
//! The `swarm` system service runs [`agent::run`]: it compares the config with what User
//! Docker reports ([`plan`]), then creates the swarm, joins it with a token fetched over ssh
//! ([`token_fetch`]), or leaves it. Managers serve their join tokens to keys listed in
//! `rancher.swarm.token_keys`, through sshd and a forced command ([`ssh_access`],
//! [`token_files`]): no new port, and no token in anyone's cloud-config.

pub mod agent;
pub mod engine;
pub mod error;
pub mod marker;
pub mod plan;
pub mod ssh_access;
pub mod status;
pub mod token_fetch;
pub mod token_files;

pub use error::SwarmError;

/// Files that live only for this boot (on the host's /run, shared by the console and the
/// `swarm` service).
pub const RUN_DIR: &str = "/run/ros/swarm";

/// `rancher.swarm` from YAML, through the whole document's model as a real cloud-config.
#[cfg(test)]
pub(crate) fn config_from(yaml: &str) -> os_config::model::SwarmConfig {
    os_config::parse_document(&format!("rancher:\n  swarm: {yaml}\n"), None)
        .unwrap_or_else(|d| panic!("{d}"))
        .config
        .rancher
        .swarm
}
