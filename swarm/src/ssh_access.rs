//! The manager's side of the join: sshd lets a key in `rancher.swarm.token_keys` log in as the
//! `swarm` account only to run `ros swarm token ROLE` (a forced command, `restrict`ed: no
//! shell, tty or forwarding). The console writes these at each start, from the config.

use os_config::model::{SwarmConfig, SwarmRole};
use std::path::{Path, PathBuf};

pub fn authorized_keys_path(run_dir: &Path) -> PathBuf {
    run_dir.join("authorized_keys")
}

/// The `swarm` account's authorized_keys: one restricted line per accepted key. A key that is
/// not one public key on one line is skipped with a warning naming its key.
pub fn authorized_keys(config: &SwarmConfig) -> String {
    let mut out = String::from("# Written by ros console-init from rancher.swarm.token_keys.\n");
    for (role, keys) in [
        (SwarmRole::Worker, &config.token_keys.worker),
        (SwarmRole::Manager, &config.token_keys.manager),
    ] {
        for (i, key) in keys.iter().enumerate() {
            let name = format!("rancher.swarm.token_keys.{role}[{i}]");
            let key = key.trim();
            if os_config::line_value::clean(&name, key).is_none() {
                continue;
            }
            if !looks_like_public_key(key) {
                tracing::warn!(key = %name, "not an ssh public key (type, base64, comment); skipped");
                continue;
            }
            out.push_str(&format!(
                "restrict,command=\"/usr/bin/ros swarm token {role}\" {key}\n"
            ));
        }
    }
    out
}

/// `ssh-ed25519 AAAA... comment`: a key type, then base64; options of its own would be a way
/// round the forced command.
fn looks_like_public_key(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
        return false;
    };
    let kind_ok = ["ssh-", "ecdsa-sha2-", "sk-"]
        .iter()
        .any(|p| kind.starts_with(p))
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-@.".contains(c));
    kind_ok
        && blob.starts_with("AAAA")
        && blob
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
}

/// The block sshd_config ends with when the host serves join tokens.
pub fn sshd_match_block(run_dir: &Path) -> String {
    format!(
        "Match User {user}\n    AuthorizedKeysFile {keys}\n    PermitTTY no\n    \
         AllowTcpForwarding no\n    AllowStreamLocalForwarding no\n    AllowAgentForwarding no\n    \
         X11Forwarding no\n    PermitTunnel no\n",
        user = host::accounts::SWARM_USER,
        keys = authorized_keys_path(run_dir).display()
    )
}

/// Whether this host serves tokens: it lists keys to serve them to.
pub fn serves_tokens(config: &SwarmConfig) -> bool {
    !config.token_keys.worker.is_empty() || !config.token_keys.manager.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHg2 join@test";

    use crate::config_from as config;

    #[test]
    fn each_key_may_only_fetch_its_roles_token() {
        let c = config(&format!(
            "{{token_keys: {{worker: '{KEY}', manager: ['{KEY}']}}}}"
        ));
        assert!(serves_tokens(&c));
        let text = authorized_keys(&c);
        assert!(text.contains(&format!(
            "restrict,command=\"/usr/bin/ros swarm token worker\" {KEY}\n"
        )));
        assert!(text.contains(&format!(
            "restrict,command=\"/usr/bin/ros swarm token manager\" {KEY}\n"
        )));
    }

    #[test]
    fn anything_but_a_plain_public_key_is_skipped() {
        let c = SwarmConfig {
            token_keys: os_config::model::TokenKeys {
                worker: vec![
                    format!("command=\"/bin/sh\" {KEY}"),
                    format!("{KEY}\nssh-rsa AAAAB3 second"),
                    "AAAAC3Nz only-a-blob".into(),
                    "ssh-ed25519 not-base64!".into(),
                ],
                manager: vec![],
            },
            ..SwarmConfig::default()
        };
        let text = authorized_keys(&c);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!serves_tokens(&SwarmConfig::default()));
    }

    #[test]
    fn the_match_block_confines_the_account() {
        let block = sshd_match_block(Path::new("/run/ros/swarm"));
        assert!(block.starts_with("Match User swarm\n"));
        assert!(block.contains("AuthorizedKeysFile /run/ros/swarm/authorized_keys"));
        assert!(block.contains("PermitTTY no"));
    }
}
