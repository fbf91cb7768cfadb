//! `rancher.network`: interfaces, DNS, proxies and hooks.

use super::compose_values::BoolOrString;
use crate::lenient_de::{
    flag, null_as_default, opt_flag, opt_num, opt_seconds, opt_string, string_list, string_map,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The longest `rancher.network.dhcp_timeout` accepted (an hour); more is a config error.
pub const DHCP_TIMEOUT_MAX: u64 = 3600;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkConfig {
    /// Keyed by interface name, glob (`eth*`) or `mac=…`.
    #[serde(deserialize_with = "null_as_default")]
    pub interfaces: IndexMap<String, InterfaceConfig>,
    #[serde(deserialize_with = "null_as_default")]
    pub dns: DnsConfig,
    #[serde(deserialize_with = "opt_string")]
    pub http_proxy: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub https_proxy: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub no_proxy: Option<String>,
    /// Seconds a DHCP client may hold boot before it continues in the background.
    #[serde(deserialize_with = "opt_seconds::<_, DHCP_TIMEOUT_MAX>")]
    pub dhcp_timeout: Option<u64>,
    #[serde(deserialize_with = "string_list")]
    pub pre_cmds: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub post_cmds: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsConfig {
    #[serde(deserialize_with = "string_list")]
    pub nameservers: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub search: Vec<String>,
    /// When true, DHCP-provided DNS never replaces the configured one.
    #[serde(rename = "override", deserialize_with = "flag")]
    pub override_dhcp: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceConfig {
    /// Overrides the map key as the match expression.
    #[serde(rename = "match", deserialize_with = "opt_string")]
    pub match_: Option<String>,
    #[serde(deserialize_with = "opt_flag")]
    pub dhcp: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub dhcp_args: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub address: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub addresses: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub gateway: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub gateway_ipv6: Option<String>,
    #[serde(deserialize_with = "opt_num")]
    pub mtu: Option<u32>,
    /// `true`: this interface is a bridge; a name: join that bridge.
    pub bridge: Option<BoolOrString>,
    /// The bond this interface joins as a slave.
    #[serde(deserialize_with = "opt_string")]
    pub bond: Option<String>,
    #[serde(deserialize_with = "string_map")]
    pub bond_opts: IndexMap<String, String>,
    /// `"100,200:name"`: VLAN ids, each optionally named.
    #[serde(deserialize_with = "opt_string")]
    pub vlans: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub pre_up: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub post_up: Vec<String>,
    #[serde(deserialize_with = "opt_flag")]
    pub ipv4ll: Option<bool>,
}

impl InterfaceConfig {
    /// `address` and `addresses` together, in that order.
    pub fn all_addresses(&self) -> Vec<String> {
        self.address
            .iter()
            .cloned()
            .chain(self.addresses.iter().cloned())
            .collect()
    }
}
