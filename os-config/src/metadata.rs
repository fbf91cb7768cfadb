//! The metadata layer saved by cloud-init: it fills the hostname only when no other layer set
//! one, adds SSH keys without duplicates, and adds the network interfaces and DNS a datasource
//! described (NoCloud `network-config`, DigitalOcean) where the configuration has none.

use crate::key_path::KeyPath;
use yaml_serde::{Mapping, Value};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The datasource's name for this machine (NoCloud and config drives' `instance-id`,
    /// OpenStack's `uuid`, DigitalOcean's `droplet_id`, EC2's and GCE's instance id): user-data
    /// scripts run once per instance id.
    pub instance_id: Option<String>,
    pub hostname: Option<String>,
    pub ssh_keys: Vec<String>,
    /// A `rancher.network` fragment: `interfaces` (keyed by name or `mac=…`) and `dns`
    /// (`nameservers`, `search`). Saved under the key `network`.
    pub network: Option<Value>,
}

impl Metadata {
    /// Reads the saved metadata (YAML or JSON): `hostname`, `local-hostname`, and
    /// `public_keys` / `public-keys` / `ssh_public_keys` as a list or a map of keys.
    pub fn from_value(v: &Value) -> Metadata {
        let str_at = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let hostname = str_at("hostname").or_else(|| str_at("local-hostname"));
        // DigitalOcean's droplet_id is a number.
        let instance_id = ["instance-id", "instance_id", "uuid", "droplet_id"]
            .iter()
            .find_map(|k| match v.get(*k) {
                Some(Value::String(s)) => Metadata::clean_instance_id(s),
                Some(Value::Number(n)) => Metadata::clean_instance_id(&n.to_string()),
                _ => None,
            });
        let mut ssh_keys = Vec::new();
        for key in ["public_keys", "public-keys", "ssh_public_keys"] {
            match v.get(key) {
                Some(Value::Sequence(items)) => {
                    ssh_keys.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
                }
                Some(Value::Mapping(m)) => {
                    ssh_keys.extend(m.values().filter_map(Value::as_str).map(str::to_owned))
                }
                Some(Value::String(s)) => ssh_keys.extend(s.lines().map(str::to_owned)),
                _ => {}
            }
        }
        ssh_keys.retain(|k| !k.trim().is_empty());
        let network = v
            .get("network")
            .filter(|n| n.get("interfaces").is_some() || n.get("dns").is_some())
            .cloned();
        Metadata {
            instance_id,
            hostname,
            ssh_keys,
            network,
        }
    }

    /// An instance id as every datasource's is kept: trimmed, at most 256 bytes, with no
    /// control character (it becomes a field of `scripts.ran`); anything else is no id.
    pub fn clean_instance_id(raw: &str) -> Option<String> {
        let id = raw.trim();
        let usable = !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control);
        usable.then(|| id.to_owned())
    }

    /// The saved form, which `from_value` reads back.
    pub fn to_value(&self) -> Value {
        let mut m = Mapping::new();
        if let Some(id) = &self.instance_id {
            m.insert("instance-id".into(), Value::String(id.clone()));
        }
        if let Some(h) = &self.hostname {
            m.insert("hostname".into(), Value::String(h.clone()));
        }
        if !self.ssh_keys.is_empty() {
            let keys = self.ssh_keys.iter().cloned().map(Value::String).collect();
            m.insert("public_keys".into(), Value::Sequence(keys));
        }
        if let Some(n) = &self.network {
            m.insert("network".into(), n.clone());
        }
        Value::Mapping(m)
    }

    /// Applies this metadata at its precedence on a merged document.
    pub fn apply(&self, doc: &mut Value) {
        let host_path = KeyPath::keys(["hostname"]);
        let has_host = host_path
            .get(doc)
            .and_then(Value::as_str)
            .is_some_and(|h| !h.is_empty());
        if let (false, Some(h)) = (has_host, &self.hostname) {
            let _ = host_path.set(doc, Value::String(h.clone()));
        }
        if let Some(network) = &self.network {
            apply_network(network, doc);
        }
        if self.ssh_keys.is_empty() {
            return;
        }
        let keys_path = KeyPath::keys(["ssh_authorized_keys"]);
        let mut keys: Vec<Value> = match keys_path.get(doc) {
            Some(Value::Sequence(s)) => s.clone(),
            // The model accepts one key written as a plain string; keep it.
            Some(v @ Value::String(_)) => vec![v.clone()],
            _ => Vec::new(),
        };
        for k in &self.ssh_keys {
            let v = Value::String(k.clone());
            if !keys.contains(&v) {
                keys.push(v);
            }
        }
        let _ = keys_path.set(doc, Value::Sequence(keys));
    }
}

/// Adds each interface entry whose key the configuration does not have, and the nameservers
/// and search domains when the configuration lists none: what the user wrote always wins.
fn apply_network(network: &Value, doc: &mut Value) {
    if let Some(Value::Mapping(ifaces)) = network.get("interfaces") {
        let path = KeyPath::keys(["rancher", "network", "interfaces"]);
        let mut have = match path.get(doc) {
            Some(Value::Mapping(m)) => m.clone(),
            _ => Mapping::new(),
        };
        let before = have.len();
        for (k, v) in ifaces {
            if !have.contains_key(k) {
                have.insert(k.clone(), v.clone());
            }
        }
        if have.len() != before {
            let _ = path.set(doc, Value::Mapping(have));
        }
    }
    for key in ["nameservers", "search"] {
        let Some(Value::Sequence(items)) = network.get("dns").and_then(|d| d.get(key)) else {
            continue;
        };
        let path = KeyPath::keys(["rancher", "network", "dns", key]);
        let empty = match path.get(doc) {
            None | Some(Value::Null) => true,
            Some(Value::Sequence(s)) => s.is_empty(),
            Some(_) => false,
        };
        if empty && !items.is_empty() {
            let _ = path.set(doc, Value::Sequence(items.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_trimmed_and_refused_with_control_characters() {
        let read = |yaml: &str| Metadata::from_value(&yaml_serde::from_str(yaml).unwrap());
        assert_eq!(
            read("instance-id: \" i-1\\n\"\n").instance_id.as_deref(),
            Some("i-1")
        );
        assert_eq!(read("droplet_id: 42\n").instance_id.as_deref(), Some("42"));
        assert_eq!(read("uuid: \"a\\x7fb\"\n").instance_id, None);
        assert_eq!(read("instance-id: ''\n").instance_id, None);
        // What is kept reads back the same from the saved form (the fuzz target's check).
        let m = read("instance-id: \" i-9 \"\n");
        assert_eq!(Metadata::from_value(&m.to_value()), m);
    }

    #[test]
    fn keeps_a_single_string_key_and_adds_without_duplicates() {
        let mut doc: Value = yaml_serde::from_str("ssh_authorized_keys: ssh-rsa AAA me\n").unwrap();
        let md = Metadata::from_value(
            &yaml_serde::from_str(
                "public-keys: [ssh-rsa AAA me, ssh-rsa BBB md]\nlocal-hostname: h\n",
            )
            .unwrap(),
        );
        md.apply(&mut doc);
        assert_eq!(
            doc,
            yaml_serde::from_str::<Value>(
                "ssh_authorized_keys: [ssh-rsa AAA me, ssh-rsa BBB md]\nhostname: h\n"
            )
            .unwrap()
        );
    }

    #[test]
    fn network_fills_only_what_the_config_lacks_and_round_trips() {
        let mut doc: Value = yaml_serde::from_str(
            "rancher:\n  network:\n    interfaces:\n      eth*: {dhcp: true}\n      eth1: {dhcp: true}\n",
        )
        .unwrap();
        let network: Value = yaml_serde::from_str(
            "interfaces:\n  eth1: {addresses: [10.0.0.9/24]}\n  mac=52:54:00:00:00:01: {addresses: [10.0.0.2/24], gateway: 10.0.0.1, mtu: 1400}\ndns: {nameservers: [10.0.0.53], search: [example]}\n",
        )
        .unwrap();
        let md = Metadata {
            network: Some(network),
            ..Metadata::default()
        };
        assert_eq!(Metadata::from_value(&md.to_value()), md);
        md.apply(&mut doc);
        assert_eq!(
            doc,
            yaml_serde::from_str::<Value>(
                "rancher:\n  network:\n    interfaces:\n      eth*: {dhcp: true}\n      eth1: {dhcp: true}\n      mac=52:54:00:00:00:01: {addresses: [10.0.0.2/24], gateway: 10.0.0.1, mtu: 1400}\n    dns: {nameservers: [10.0.0.53], search: [example]}\n"
            )
            .unwrap()
        );
        // Nameservers the configuration already lists stay.
        let mut doc: Value =
            yaml_serde::from_str("rancher: {network: {dns: {nameservers: [1.1.1.1]}}}").unwrap();
        md.apply(&mut doc);
        assert_eq!(
            KeyPath::keys(["rancher", "network", "dns", "nameservers"]).get(&doc),
            Some(&yaml_serde::from_str::<Value>("[1.1.1.1]").unwrap())
        );
    }
}
