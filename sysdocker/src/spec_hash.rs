//! The hash of a container's effective spec: canonical JSON (object keys sorted, so HashMap
//! order cannot change it) of the create body plus the image id, SHA-256, hex.

use bollard::models::ContainerCreateBody;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Hash of `body` as it would be created from image `image_id`.
pub fn spec_hash(body: &ContainerCreateBody, image_id: &str) -> String {
    let mut canonical = String::new();
    match serde_json::to_value(body) {
        Ok(v) => write_canonical(&v, &mut canonical),
        // Serializing plain structs cannot fail; fall back to Debug so the hash stays total.
        Err(_) => canonical = format!("{body:?}"),
    }
    canonical.push('\n');
    canonical.push_str(image_id);
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn stable_under_map_order_and_sensitive_to_content() {
        let mut a = ContainerCreateBody::default();
        let mut labels = HashMap::new();
        for i in 0..20 {
            labels.insert(format!("k{i}"), i.to_string());
        }
        a.labels = Some(labels.clone());
        let mut b = ContainerCreateBody::default();
        let mut v: Vec<_> = labels.into_iter().collect();
        v.reverse();
        b.labels = Some(v.into_iter().collect());
        assert_eq!(spec_hash(&a, "sha256:1"), spec_hash(&b, "sha256:1"));
        assert_ne!(spec_hash(&a, "sha256:1"), spec_hash(&a, "sha256:2"));
        b.cmd = Some(vec!["x".into()]);
        assert_ne!(spec_hash(&a, "sha256:1"), spec_hash(&b, "sha256:1"));
    }
}
