//! Keys whose values are secrets: hidden from `ros config export` unless `--private`.

use crate::key_path::KeyPath;
use yaml_serde::Value;

/// Engine sections whose TLS material is secret.
const ENGINES: &[&[&str]] = &[
    &["rancher", "docker"],
    &["rancher", "system_docker"],
    &["rancher", "bootstrap_docker"],
    &["rancher", "defaults", "docker"],
];
const TLS_KEYS: &[&str] = &["ca_key", "ca_cert", "server_key", "server_cert"];
const SECRET_KEYS: &[&[&str]] = &[
    &["rancher", "password"],
    &["rancher", "ssh", "keys"],
    &["rancher", "registry_auths"],
    &["rancher", "swarm", "join_key"],
];

fn secret_paths() -> Vec<KeyPath> {
    let mut out: Vec<KeyPath> = SECRET_KEYS
        .iter()
        .map(|keys| KeyPath::keys(keys.iter().copied()))
        .collect();
    for engine in ENGINES {
        for key in TLS_KEYS {
            out.push(KeyPath::keys(
                engine.iter().chain(std::iter::once(key)).copied(),
            ));
        }
    }
    out
}

/// Removes every secret (rather than masking it, so a re-merge cannot write a mask back);
/// returns the paths removed.
pub fn redact(doc: &mut Value) -> Vec<String> {
    secret_paths()
        .into_iter()
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
            "rancher:\n  password: x\n  debug: true\n  docker: {tls: true, server_key: k}\n  defaults: {docker: {ca_key: k}}\n  bootstrap_docker: {server_cert: c}\n",
        )
        .unwrap();
        let hidden = redact(&mut doc);
        assert_eq!(
            hidden,
            vec![
                "rancher.password",
                "rancher.docker.server_key",
                "rancher.bootstrap_docker.server_cert",
                "rancher.defaults.docker.ca_key"
            ]
        );
        assert_eq!(
            doc,
            yaml_serde::from_str::<Value>(
                "rancher:\n  debug: true\n  docker: {tls: true}\n  defaults: {docker: {}}\n  bootstrap_docker: {}\n"
            )
            .unwrap()
        );
    }
}
