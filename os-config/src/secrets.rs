//! Keys whose values are secrets: hidden from `ros config export` unless `--private`.

use crate::key_path::KeyPath;
use yaml_serde::Value;

const SECRET_KEYS: &[&[&str]] = &[
    &["rancher", "password"],
    &["rancher", "ssh", "keys"],
    &["rancher", "registry_auths"],
    &["rancher", "docker", "ca_key"],
    &["rancher", "docker", "ca_cert"],
    &["rancher", "docker", "server_key"],
    &["rancher", "docker", "server_cert"],
    &["rancher", "system_docker", "ca_key"],
    &["rancher", "system_docker", "ca_cert"],
    &["rancher", "system_docker", "server_key"],
    &["rancher", "system_docker", "server_cert"],
];

/// Removes every secret (rather than masking it, so a re-merge cannot write a mask back);
/// returns the paths removed.
pub fn redact(doc: &mut Value) -> Vec<String> {
    SECRET_KEYS
        .iter()
        .map(|keys| KeyPath::keys(keys.iter().copied()))
        .filter(|path| path.remove(doc))
        .map(|path| path.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_secrets_only() {
        let mut doc: Value = yaml_serde::from_str(
            "rancher:\n  password: x\n  debug: true\n  docker: {tls: true, server_key: k}\n",
        )
        .unwrap();
        let hidden = redact(&mut doc);
        assert_eq!(
            hidden,
            vec!["rancher.password", "rancher.docker.server_key"]
        );
        assert_eq!(
            doc,
            yaml_serde::from_str::<Value>("rancher:\n  debug: true\n  docker: {tls: true}\n")
                .unwrap()
        );
    }
}
