//! The metadata layer saved by cloud-init: it fills the hostname only when no other layer set
//! one, and adds SSH keys without duplicates.

use crate::key_path::KeyPath;
use yaml_serde::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub hostname: Option<String>,
    pub ssh_keys: Vec<String>,
}

impl Metadata {
    /// Reads the saved metadata (YAML or JSON): `hostname`, `local-hostname`, and
    /// `public_keys` / `public-keys` / `ssh_public_keys` as a list or a map of keys.
    pub fn from_value(v: &Value) -> Metadata {
        let str_at = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let hostname = str_at("hostname").or_else(|| str_at("local-hostname"));
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
        Metadata { hostname, ssh_keys }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
