//! `rancher.swarm`: this host's place in a Docker Swarm (docs/swarm.md). The `swarm` system
//! service (`ros swarm agent`) initialises, joins or leaves to match it.

use crate::lenient_de::{flag, opt_num, opt_string, string_list};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// The longest host name or address accepted for `manager` and `advertise_addr`.
const MAX_ADDRESS_LEN: usize = 253;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SwarmConfig {
    /// `manager` or `worker`; unset, the host is in no swarm ros manages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<SwarmRole>,
    /// On a manager: create the swarm when this node is in none.
    #[serde(deserialize_with = "flag")]
    pub init: bool,
    /// The address other nodes reach this one at: an interface name (`eth1`) or an address.
    #[serde(deserialize_with = "opt_address")]
    pub advertise_addr: Option<String>,
    /// A manager's host name or address, for hosts that join (ssh on `manager_ssh_port`, the
    /// swarm on 2377).
    #[serde(deserialize_with = "opt_address")]
    pub manager: Option<String>,
    #[serde(deserialize_with = "opt_num")]
    pub manager_ssh_port: Option<u16>,
    /// The manager's ssh host public key (`ssh-ed25519 AAAA...`): pinned when set; otherwise
    /// the first key seen is kept and later ones must match.
    #[serde(deserialize_with = "opt_string")]
    pub manager_host_key: Option<String>,
    /// The private key whose public half is in the manager's `token_keys` (a secret).
    #[serde(deserialize_with = "opt_string")]
    pub join_key: Option<String>,
    /// On managers: the public keys that may fetch each join token over ssh.
    #[serde(deserialize_with = "crate::lenient_de::null_as_default")]
    pub token_keys: TokenKeys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwarmRole {
    Manager,
    Worker,
}

impl SwarmRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SwarmRole::Manager => "manager",
            SwarmRole::Worker => "worker",
        }
    }
}

impl std::fmt::Display for SwarmRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenKeys {
    #[serde(deserialize_with = "string_list")]
    pub worker: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub manager: Vec<String>,
}

impl SwarmConfig {
    pub const SWARM_PORT: u16 = 2377;
    pub const DEFAULT_SSH_PORT: u16 = 22;

    pub fn manager_ssh_port(&self) -> u16 {
        self.manager_ssh_port.unwrap_or(Self::DEFAULT_SSH_PORT)
    }

    /// Whether this host creates the swarm rather than joining one.
    pub fn initialises(&self) -> bool {
        self.role == Some(SwarmRole::Manager) && self.init
    }

    /// What keeps the configuration from being carried out, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(role) = self.role else {
            return out;
        };
        if self.init && role == SwarmRole::Worker {
            out.push("rancher.swarm.init: only a manager can create a swarm".to_owned());
        }
        if !self.initialises() {
            if self.manager.is_none() {
                out.push(format!(
                    "rancher.swarm.manager: a {role} that does not create the swarm needs a manager to join"
                ));
            }
            if self.join_key.as_deref().is_none_or(|k| k.trim().is_empty()) {
                out.push(format!(
                    "rancher.swarm.join_key: a {role} that joins needs the key the manager accepts"
                ));
            }
        }
        out
    }
}

/// A host name, an IP address or an interface name: letters, digits, `.`, `-`, `_`, `:`, `%`
/// and `[]`, not starting with `-` (these reach ssh's and dockerd's arguments).
fn opt_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(value) = opt_string(d)? else {
        return Ok(None);
    };
    let value = value.trim().to_owned();
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_:%[]".contains(c);
    if value.is_empty()
        || value.len() > MAX_ADDRESS_LEN
        || value.starts_with('-')
        || !value.chars().all(allowed)
    {
        return Err(de::Error::custom(format!(
            "invalid value: {value:?} is not a host name, an address or an interface name"
        )));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<SwarmConfig, yaml_serde::Error> {
        yaml_serde::from_str(yaml)
    }

    #[test]
    fn a_manager_that_creates_the_swarm_needs_nothing_else() {
        let c = parse("role: manager\ninit: true\nadvertise_addr: eth1\n").unwrap();
        assert!(c.initialises());
        assert_eq!(c.advertise_addr.as_deref(), Some("eth1"));
        assert!(c.problems().is_empty());
    }

    #[test]
    fn a_joiner_without_manager_or_key_is_told_which_keys_are_missing() {
        let c = parse("role: worker\n").unwrap();
        let problems = c.problems().join("\n");
        assert!(problems.contains("rancher.swarm.manager"), "{problems}");
        assert!(problems.contains("rancher.swarm.join_key"), "{problems}");
        let c = parse("role: worker\ninit: true\nmanager: m\njoin_key: k\n").unwrap();
        assert_eq!(
            c.problems(),
            vec!["rancher.swarm.init: only a manager can create a swarm"]
        );
    }

    #[test]
    fn unknown_roles_and_option_like_addresses_are_refused() {
        let err = parse("role: leader\n").unwrap_err().to_string();
        assert!(err.contains("manager") && err.contains("worker"), "{err}");
        for bad in ["-oProxyCommand=x", "a b", "10.0.0.1;reboot", "\"\""] {
            let err = parse(&format!("manager: {bad}\n")).unwrap_err().to_string();
            assert!(err.contains("not a host name"), "{bad}: {err}");
        }
        let c = parse("manager: 10.10.0.11\nmanager_ssh_port: \"2222\"\n").unwrap();
        assert_eq!(c.manager_ssh_port(), 2222);
        assert_eq!(SwarmConfig::default().manager_ssh_port(), 22);
    }

    #[test]
    fn token_keys_take_one_key_or_a_list() {
        let c = parse("token_keys: {worker: ssh-ed25519 AAAA w, manager: [a, b]}\n").unwrap();
        assert_eq!(c.token_keys.worker, vec!["ssh-ed25519 AAAA w"]);
        assert_eq!(c.token_keys.manager, vec!["a", "b"]);
    }
}
