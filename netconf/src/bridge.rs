//! Bridges: `bridge: true` makes the entry a bridge, `bridge: br0` makes the link join `br0`.

use crate::error::{Error, Result};
use crate::links::{self, Link};
use crate::matching;
use os_config::model::compose_values::BoolOrString;
use os_config::model::network::{InterfaceConfig, NetworkConfig};
use rtnetlink::{Handle, LinkBridge};

/// What an entry's `bridge` field says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    None,
    /// This interface is a bridge.
    Bridge,
    /// This interface joins the named bridge.
    Member(String),
}

pub fn role(cfg: &InterfaceConfig) -> Role {
    match &cfg.bridge {
        None | Some(BoolOrString::Bool(false)) => Role::None,
        Some(BoolOrString::Bool(true)) => Role::Bridge,
        Some(BoolOrString::String(s)) => match os_config::truthiness::flag_word(s) {
            Some(false) => Role::None,
            Some(true) => Role::Bridge,
            None if s.trim().is_empty() => Role::None,
            None => Role::Member(s.trim().to_owned()),
        },
    }
}

/// Bridges to create: exactly named entries with `bridge: true`, and every bridge joined.
pub fn wanted(config: &NetworkConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (key, cfg) in &config.interfaces {
        let name = match role(cfg) {
            Role::Bridge => {
                let expr = matching::expression(key, cfg);
                if !matching::is_exact_name(expr) {
                    tracing::warn!(entry = %key, "bridge: true needs an exact interface name");
                    continue;
                }
                expr.to_owned()
            }
            Role::Member(b) => b,
            Role::None => continue,
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Creates the bridge if missing; returns true when it was created.
pub async fn ensure(handle: &Handle, name: &str, existing: &[Link]) -> Result<bool> {
    if links::by_name(existing, name).is_some() {
        return Ok(false);
    }
    tracing::info!(bridge = name, "creating bridge");
    handle
        .link()
        .add(LinkBridge::new(name).build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("create bridge {name}"), e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(b: BoolOrString) -> InterfaceConfig {
        InterfaceConfig {
            bridge: Some(b),
            ..Default::default()
        }
    }

    #[test]
    fn roles_and_wanted_bridges() {
        assert_eq!(role(&entry(BoolOrString::Bool(true))), Role::Bridge);
        assert_eq!(
            role(&entry(BoolOrString::String("true".into()))),
            Role::Bridge
        );
        assert_eq!(
            role(&entry(BoolOrString::String("br1".into()))),
            Role::Member("br1".into())
        );
        assert_eq!(role(&InterfaceConfig::default()), Role::None);
        let mut cfg = NetworkConfig::default();
        cfg.interfaces
            .insert("br0".into(), entry(BoolOrString::Bool(true)));
        cfg.interfaces
            .insert("eth1".into(), entry(BoolOrString::String("br0".into())));
        cfg.interfaces
            .insert("eth2".into(), entry(BoolOrString::String("br9".into())));
        cfg.interfaces
            .insert("br*".into(), entry(BoolOrString::Bool(true)));
        assert_eq!(wanted(&cfg), ["br0", "br9"]);
    }
}
