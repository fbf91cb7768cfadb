//! cloud-init network configuration (NoCloud's `network-config`, version 1 and 2) translated
//! to ros's `rancher.network` model (see docs/networking.md). The subset: physical/ethernet
//! interfaces matched by name or MAC, static IPv4/IPv6 addresses, default gateways, DHCP
//! (v4, v6 or both), MTU, nameservers and search domains. Bonds, bridges, VLANs, extra routes
//! and renames are reported as warnings and skipped.

use std::net::Ipv4Addr;
use yaml_serde::{Mapping, Value};

/// A network config this translation cannot use (reported as an error diagnostic).
#[derive(Debug, thiserror::Error)]
pub enum NetworkConfigError {
    #[error("network-config needs `version: 1` or `version: 2`")]
    NoVersion,
    #[error("network-config version 1 needs a `config` list")]
    NoConfigList,
    #[error("{at}: a static subnet needs an address")]
    NoAddress { at: String },
    #[error("{at}: {source}")]
    Netmask {
        at: String,
        #[source]
        source: BadNetmask,
    },
    #[error("network-config `ethernets` must be a map")]
    EthernetsNotAMap,
}

/// A netmask that is neither a prefix length nor a dotted IPv4 mask.
#[derive(Debug, thiserror::Error)]
#[error("invalid netmask {netmask:?} for {addr}")]
pub struct BadNetmask {
    addr: String,
    netmask: String,
}

/// Builds a `rancher.network` fragment: `interfaces` keyed by name or `mac=…`, and `dns`.
#[derive(Debug, Default)]
pub(crate) struct NetworkBuilder {
    interfaces: Vec<(String, Mapping)>,
    nameservers: Vec<String>,
    search: Vec<String>,
}

impl NetworkBuilder {
    fn entry(&mut self, key: &str) -> &mut Mapping {
        let i = match self.interfaces.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                self.interfaces.push((key.to_owned(), Mapping::new()));
                self.interfaces.len() - 1
            }
        };
        &mut self.interfaces[i].1
    }

    /// Declares the interface even when it gets no settings (so it is listed).
    pub fn interface(&mut self, key: &str) {
        self.entry(key);
    }

    pub fn address(&mut self, key: &str, cidr: String) {
        let e = self.entry(key);
        let list = e
            .entry("addresses".into())
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if let Value::Sequence(s) = list {
            let v = Value::String(cidr);
            if !s.contains(&v) {
                s.push(v);
            }
        }
    }

    /// A default gateway; IPv6 ones go to `gateway_ipv6`. The first one given wins.
    pub fn gateway(&mut self, key: &str, gw: &str) {
        let field = if gw.contains(':') {
            "gateway_ipv6"
        } else {
            "gateway"
        };
        let e = self.entry(key);
        if !e.contains_key(field) {
            e.insert(field.into(), Value::String(gw.to_owned()));
        }
    }

    pub fn mtu(&mut self, key: &str, mtu: u64) {
        self.entry(key)
            .insert("mtu".into(), Value::Number(mtu.into()));
    }

    /// DHCP for IPv4, IPv6 or both: `dhcp: true`, with `dhcp_args` `-4` or `-6` for one.
    pub fn dhcp(&mut self, key: &str, v4: bool, v6: bool) {
        if !v4 && !v6 {
            return;
        }
        let e = self.entry(key);
        let (had4, had6) = match e.get("dhcp_args").and_then(Value::as_str) {
            Some("-4") => (true, false),
            Some("-6") => (false, true),
            _ if e.contains_key("dhcp") => (true, true),
            _ => (false, false),
        };
        let (v4, v6) = (v4 || had4, v6 || had6);
        e.insert("dhcp".into(), Value::Bool(true));
        match (v4, v6) {
            (true, false) => {
                e.insert("dhcp_args".into(), "-4".into());
            }
            (false, true) => {
                e.insert("dhcp_args".into(), "-6".into());
            }
            _ => {
                e.remove("dhcp_args");
            }
        }
    }

    pub fn nameservers<'a>(&mut self, servers: impl IntoIterator<Item = &'a str>) {
        for s in servers {
            if !self.nameservers.iter().any(|n| n == s) {
                self.nameservers.push(s.to_owned());
            }
        }
    }

    pub fn search<'a>(&mut self, domains: impl IntoIterator<Item = &'a str>) {
        for s in domains {
            if !self.search.iter().any(|n| n == s) {
                self.search.push(s.to_owned());
            }
        }
    }

    /// The fragment, or `None` when nothing was described.
    pub fn build(self) -> Option<Value> {
        let mut out = Mapping::new();
        if !self.interfaces.is_empty() {
            let ifaces = self
                .interfaces
                .into_iter()
                .map(|(k, v)| (Value::String(k), Value::Mapping(v)))
                .collect();
            out.insert("interfaces".into(), Value::Mapping(ifaces));
        }
        let mut dns = Mapping::new();
        let list = |v: Vec<String>| Value::Sequence(v.into_iter().map(Value::String).collect());
        if !self.nameservers.is_empty() {
            dns.insert("nameservers".into(), list(self.nameservers));
        }
        if !self.search.is_empty() {
            dns.insert("search".into(), list(self.search));
        }
        if !dns.is_empty() {
            out.insert("dns".into(), Value::Mapping(dns));
        }
        (!out.is_empty()).then_some(Value::Mapping(out))
    }
}

/// The prefix length of a dotted IPv4 netmask (`255.255.255.0` → 24), or a number given as is.
pub(crate) fn prefix_len(netmask: &str) -> Option<u32> {
    if let Ok(n) = netmask.trim_start_matches('/').parse::<u32>() {
        return (n <= 128).then_some(n);
    }
    let bits = u32::from(netmask.parse::<Ipv4Addr>().ok()?);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len)
}

/// `addr` with its prefix: kept when it has one, else from `netmask`, else a host address.
pub(crate) fn cidr(addr: &str, netmask: Option<&str>) -> Result<String, BadNetmask> {
    if addr.contains('/') {
        return Ok(addr.to_owned());
    }
    match netmask {
        Some(m) => prefix_len(m)
            .map(|p| format!("{addr}/{p}"))
            .ok_or_else(|| BadNetmask {
                addr: addr.to_owned(),
                netmask: m.to_owned(),
            }),
        None => Ok(addr.to_owned()),
    }
}

/// The translated fragment (or `None` for an empty config) and warnings about what was
/// skipped. An error means the document is not a network config this understands.
pub fn translate(doc: &Value) -> Result<(Option<Value>, Vec<String>), NetworkConfigError> {
    // Both `network: {version: ...}` and the bare `{version: ...}` are written in the wild.
    let doc = match doc.get("network") {
        Some(inner @ Value::Mapping(_)) => inner,
        _ => doc,
    };
    if let Some(cfg) = doc.get("config").and_then(Value::as_str) {
        if cfg == "disabled" {
            return Ok((None, Vec::new()));
        }
    }
    let version = match doc.get("version") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let mut warnings = Vec::new();
    let mut b = NetworkBuilder::default();
    match version {
        Some(1) => v1(doc, &mut b, &mut warnings)?,
        Some(2) => v2(doc, &mut b, &mut warnings)?,
        _ => return Err(NetworkConfigError::NoVersion),
    }
    Ok((b.build(), warnings))
}

fn str_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s.iter().filter_map(|x| str_of(Some(x))).collect(),
        Some(Value::String(s)) => s
            .split([',', ' '])
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => os_config::truthiness::flag_word(s) == Some(true),
        _ => false,
    }
}

fn mtu_of(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn mac_key(mac: &str) -> String {
    format!("mac={}", mac.to_ascii_lowercase())
}

fn is_default_route(to: &str) -> bool {
    matches!(to, "default" | "0.0.0.0/0" | "::/0" | "0.0.0.0")
}

fn v1(
    doc: &Value,
    b: &mut NetworkBuilder,
    warnings: &mut Vec<String>,
) -> Result<(), NetworkConfigError> {
    let Some(Value::Sequence(items)) = doc.get("config") else {
        return Err(NetworkConfigError::NoConfigList);
    };
    for (i, item) in items.iter().enumerate() {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "physical" => {
                let name = str_of(item.get("name"));
                let key = match (str_of(item.get("mac_address")), &name) {
                    (Some(mac), _) => mac_key(&mac),
                    (None, Some(n)) => n.clone(),
                    (None, None) => {
                        warnings.push(format!(
                            "config[{i}]: a physical interface needs a name or mac_address; skipped"
                        ));
                        continue;
                    }
                };
                b.interface(&key);
                if let Some(mtu) = mtu_of(item.get("mtu")) {
                    b.mtu(&key, mtu);
                }
                let subnets = match item.get("subnets") {
                    Some(Value::Sequence(s)) => s.as_slice(),
                    _ => &[],
                };
                for (j, s) in subnets.iter().enumerate() {
                    v1_subnet(s, &key, b, warnings, &format!("config[{i}].subnets[{j}]"))?;
                }
            }
            "nameserver" => {
                let addrs = strings(item.get("address"));
                b.nameservers(addrs.iter().map(String::as_str));
                let search = strings(item.get("search"));
                b.search(search.iter().map(String::as_str));
            }
            "route" => {
                warnings.push(format!(
                    "config[{i}]: global routes are not supported; use a subnet gateway"
                ));
            }
            other => warnings.push(format!(
                "config[{i}]: type {other:?} is not supported; skipped"
            )),
        }
    }
    Ok(())
}

fn v1_subnet(
    s: &Value,
    key: &str,
    b: &mut NetworkBuilder,
    warnings: &mut Vec<String>,
    at: &str,
) -> Result<(), NetworkConfigError> {
    let kind = s.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "dhcp" | "dhcp4" => b.dhcp(key, true, false),
        "dhcp6" | "ipv6_dhcpv6-stateful" | "ipv6_dhcpv6-stateless" | "ipv6_slaac" => {
            b.dhcp(key, false, true)
        }
        "static" | "static6" => {
            let Some(addr) = str_of(s.get("address")) else {
                return Err(NetworkConfigError::NoAddress { at: at.to_owned() });
            };
            let mask = str_of(s.get("netmask")).or_else(|| str_of(s.get("prefix")));
            let c = cidr(&addr, mask.as_deref()).map_err(|source| NetworkConfigError::Netmask {
                at: at.to_owned(),
                source,
            })?;
            b.address(key, c);
            if let Some(gw) = str_of(s.get("gateway")) {
                b.gateway(key, &gw);
            }
            if let Some(Value::Sequence(routes)) = s.get("routes") {
                v1_routes(routes, key, b, warnings, at);
            }
        }
        "manual" => {}
        other => warnings.push(format!(
            "{at}: subnet type {other:?} is not supported; skipped"
        )),
    }
    let ns = strings(s.get("dns_nameservers"));
    b.nameservers(ns.iter().map(String::as_str));
    let search = strings(s.get("dns_search"));
    b.search(search.iter().map(String::as_str));
    Ok(())
}

fn v1_routes(
    routes: &[Value],
    key: &str,
    b: &mut NetworkBuilder,
    warnings: &mut Vec<String>,
    at: &str,
) {
    for r in routes {
        let net = str_of(r.get("network")).unwrap_or_default();
        let mask = str_of(r.get("netmask")).or_else(|| str_of(r.get("prefix")));
        let to = match mask {
            Some(m) => format!("{net}/{}", prefix_len(&m).unwrap_or(99)),
            None => net,
        };
        match (is_default_route(&to), str_of(r.get("gateway"))) {
            (true, Some(gw)) => b.gateway(key, &gw),
            _ => warnings.push(format!("{at}: route to {to:?} is not supported; skipped")),
        }
    }
}

fn v2(
    doc: &Value,
    b: &mut NetworkBuilder,
    warnings: &mut Vec<String>,
) -> Result<(), NetworkConfigError> {
    for unsupported in ["bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs"] {
        if doc.get(unsupported).is_some() {
            warnings.push(format!("{unsupported} are not supported; skipped"));
        }
    }
    let ethernets = match doc.get("ethernets") {
        Some(Value::Mapping(m)) => m,
        None | Some(Value::Null) => return Ok(()),
        Some(_) => return Err(NetworkConfigError::EthernetsNotAMap),
    };
    for (id, e) in ethernets {
        let id = str_of(Some(id)).unwrap_or_default();
        let m = e.get("match");
        let key = match (
            str_of(m.and_then(|m| m.get("macaddress"))),
            str_of(m.and_then(|m| m.get("name"))),
        ) {
            (Some(mac), _) => mac_key(&mac),
            (None, Some(name)) => name,
            (None, None) => id.clone(),
        };
        if m.and_then(|m| m.get("driver")).is_some() {
            warnings.push(format!("ethernets.{id}: match by driver is not supported"));
        }
        if e.get("set-name").is_some() {
            warnings.push(format!(
                "ethernets.{id}: set-name is not supported; the interface keeps its name"
            ));
        }
        b.interface(&key);
        b.dhcp(&key, truthy(e.get("dhcp4")), truthy(e.get("dhcp6")));
        for a in strings(e.get("addresses")) {
            b.address(&key, a);
        }
        for field in ["gateway4", "gateway6"] {
            if let Some(gw) = str_of(e.get(field)) {
                b.gateway(&key, &gw);
            }
        }
        if let Some(Value::Sequence(routes)) = e.get("routes") {
            for r in routes {
                let to = str_of(r.get("to")).unwrap_or_default();
                match (is_default_route(&to), str_of(r.get("via"))) {
                    (true, Some(via)) => b.gateway(&key, &via),
                    _ => warnings.push(format!(
                        "ethernets.{id}: route to {to:?} is not supported; skipped"
                    )),
                }
            }
        }
        if let Some(mtu) = mtu_of(e.get("mtu")) {
            b.mtu(&key, mtu);
        }
        if let Some(ns) = e.get("nameservers") {
            let addrs = strings(ns.get("addresses"));
            b.nameservers(addrs.iter().map(String::as_str));
            let search = strings(ns.get("search"));
            b.search(search.iter().map(String::as_str));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use os_config::model::network::NetworkConfig;

    fn yaml(s: &str) -> Value {
        yaml_serde::from_str(s).unwrap()
    }

    /// The fragment must be valid `rancher.network`.
    fn typed(v: &Value) -> NetworkConfig {
        yaml_serde::from_value(v.clone()).unwrap()
    }

    #[test]
    fn netmasks() {
        assert_eq!(prefix_len("255.255.255.0"), Some(24));
        assert_eq!(prefix_len("255.255.192.0"), Some(18));
        assert_eq!(prefix_len("0.0.0.0"), Some(0));
        assert_eq!(prefix_len("255.0.255.0"), None);
        assert_eq!(prefix_len("64"), Some(64));
        assert_eq!(
            cidr("10.0.0.2", Some("255.255.255.0")).unwrap(),
            "10.0.0.2/24"
        );
        assert_eq!(cidr("fd00::2/64", None).unwrap(), "fd00::2/64");
        assert!(cidr("10.0.0.2", Some("x")).is_err());
    }

    #[test]
    fn version_1() {
        let doc = yaml(
            r#"
version: 1
config:
  - type: physical
    name: eth0
    mac_address: "52:54:00:AB:CD:01"
    mtu: 1400
    subnets:
      - type: static
        address: 192.168.10.5
        netmask: 255.255.255.0
        gateway: 192.168.10.1
        dns_nameservers: [192.168.10.53]
      - type: static6
        address: fd00:10::5/64
        gateway: fd00:10::1
  - type: physical
    name: eth1
    subnets:
      - type: dhcp
  - type: bond
    name: bond0
  - type: nameserver
    address: [192.168.10.54, 192.168.10.53]
    search: [example.internal]
"#,
        );
        let (v, warnings) = translate(&doc).unwrap();
        let v = v.unwrap();
        assert_eq!(
            v,
            yaml(
                r#"
interfaces:
  mac=52:54:00:ab:cd:01:
    mtu: 1400
    addresses: [192.168.10.5/24, fd00:10::5/64]
    gateway: 192.168.10.1
    gateway_ipv6: fd00:10::1
  eth1: {dhcp: true, dhcp_args: "-4"}
dns:
  nameservers: [192.168.10.53, 192.168.10.54]
  search: [example.internal]
"#
            )
        );
        assert_eq!(
            warnings,
            vec!["config[2]: type \"bond\" is not supported; skipped"]
        );
        let typed = typed(&v);
        assert_eq!(typed.interfaces["eth1"].dhcp, Some(true));
        assert_eq!(typed.interfaces["mac=52:54:00:ab:cd:01"].mtu, Some(1400));
    }

    #[test]
    fn version_2() {
        let doc = yaml(
            r#"
network:
  version: 2
  ethernets:
    id0:
      match: {macaddress: "52:54:00:12:34:56"}
      set-name: lan0
      addresses: [10.0.0.2/24, "fd00::2/64"]
      routes:
        - {to: default, via: 10.0.0.1}
        - {to: 10.9.0.0/16, via: 10.0.0.254}
      gateway6: "fd00::1"
      mtu: 9000
      nameservers: {addresses: [10.0.0.53], search: [lab]}
    en:
      match: {name: "en*"}
      dhcp4: true
      dhcp6: true
    eth2:
      dhcp6: "yes"
  bridges: {}
"#,
        );
        let (v, warnings) = translate(&doc).unwrap();
        let v = v.unwrap();
        assert_eq!(
            v,
            yaml(
                r#"
interfaces:
  mac=52:54:00:12:34:56:
    addresses: [10.0.0.2/24, "fd00::2/64"]
    gateway: 10.0.0.1
    gateway_ipv6: "fd00::1"
    mtu: 9000
  en*: {dhcp: true}
  eth2: {dhcp: true, dhcp_args: "-6"}
dns: {nameservers: [10.0.0.53], search: [lab]}
"#
            )
        );
        assert_eq!(
            warnings,
            vec![
                "bridges are not supported; skipped",
                "ethernets.id0: set-name is not supported; the interface keeps its name",
                "ethernets.id0: route to \"10.9.0.0/16\" is not supported; skipped",
            ]
        );
        typed(&v);
    }

    #[test]
    fn bad_documents() {
        assert!(translate(&yaml("version: 3"))
            .unwrap_err()
            .to_string()
            .contains("version"));
        assert!(translate(&yaml("version: 1\nconfig: {}"))
            .unwrap_err()
            .to_string()
            .contains("`config` list"));
        assert!(translate(&yaml(
            "version: 1\nconfig:\n  - {type: physical, name: eth0, subnets: [{type: static}]}"
        ))
        .unwrap_err()
        .to_string()
        .contains("config[0].subnets[0]: a static subnet needs an address"));
        assert_eq!(
            translate(&yaml("network: {config: disabled}")).unwrap(),
            (None, vec![])
        );
    }
}
