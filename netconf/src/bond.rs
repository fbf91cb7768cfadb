//! Bonds: created over netlink, then their options written to sysfs
//! (`/sys/class/net/BOND/bonding/*`) while the bond is down and has no slaves, since the kernel
//! refuses to change `mode` afterwards.

use crate::error::{Error, Result};
use crate::links::{self, Link};
use crate::matching;
use indexmap::IndexMap;
use os_config::model::network::NetworkConfig;
use rtnetlink::{Handle, LinkBond};
use std::path::Path;

/// Bonds the config asks for, with their options: every `bond:` target, and every exactly named
/// entry with `bond_opts`. Options come from the entry named like the bond.
pub fn wanted(config: &NetworkConfig) -> IndexMap<String, IndexMap<String, String>> {
    let mut out: IndexMap<String, IndexMap<String, String>> = IndexMap::new();
    for (key, cfg) in &config.interfaces {
        let expr = matching::expression(key, cfg);
        if !cfg.bond_opts.is_empty() && matching::is_exact_name(expr) {
            out.insert(expr.to_owned(), ordered_opts(&cfg.bond_opts));
        }
    }
    for cfg in config.interfaces.values() {
        if let Some(b) = cfg.bond.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            out.entry(b.to_owned()).or_default();
        }
    }
    out
}

/// `mode` first: other options (miimon, lacp_rate…) are only accepted in some modes.
fn ordered_opts(opts: &IndexMap<String, String>) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    if let Some(m) = opts.get("mode") {
        out.insert("mode".to_owned(), m.clone());
    }
    for (k, v) in opts {
        if k != "mode" {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// sysfs shows `mode` as `active-backup 1`; a config may say either word.
fn same_value(current: &str, wanted: &str) -> bool {
    let current = current.trim();
    current == wanted.trim() || current.split_whitespace().any(|w| w == wanted.trim())
}

/// Creates the bond if missing and writes its options; returns true when it was created.
pub async fn ensure(
    handle: &Handle,
    sysfs: &Path,
    name: &str,
    opts: &IndexMap<String, String>,
    existing: &[Link],
) -> Result<bool> {
    let created = if links::by_name(existing, name).is_none() {
        tracing::info!(bond = name, "creating bond");
        handle
            .link()
            .add(LinkBond::new(name).build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("create bond {name}"), e))?;
        true
    } else {
        false
    };
    let dir = sysfs.join("class/net").join(name).join("bonding");
    for (key, value) in opts {
        let path = dir.join(key);
        // Plain std::fs on purpose: netconf must touch sysfs from its own thread (see lib.rs).
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if same_value(&current, value) {
            continue;
        }
        tracing::info!(bond = name, option = %key, %value, "setting bond option");
        if let Err(e) = std::fs::write(&path, value.as_bytes()) {
            // An option the kernel rejects (e.g. mode on a bond with slaves) is reported, and the
            // rest still applies.
            tracing::warn!(bond = name, option = %key, %value, error = %e, "bond option not applied");
            if created {
                return Err(Error::io(path, e));
            }
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use os_config::model::network::InterfaceConfig;

    #[test]
    fn bonds_from_slaves_and_opts_mode_first() {
        let mut cfg = NetworkConfig::default();
        let mut bond = InterfaceConfig::default();
        bond.bond_opts.insert("miimon".into(), "100".into());
        bond.bond_opts.insert("mode".into(), "active-backup".into());
        cfg.interfaces.insert("bond0".into(), bond);
        for s in ["eth1", "eth2"] {
            cfg.interfaces.insert(
                s.into(),
                InterfaceConfig {
                    bond: Some("bond0".into()),
                    ..Default::default()
                },
            );
        }
        cfg.interfaces.insert(
            "eth3".into(),
            InterfaceConfig {
                bond: Some("bond1".into()),
                ..Default::default()
            },
        );
        let w = wanted(&cfg);
        assert_eq!(w.keys().collect::<Vec<_>>(), ["bond0", "bond1"]);
        assert_eq!(w["bond0"].keys().collect::<Vec<_>>(), ["mode", "miimon"]);
        assert!(w["bond1"].is_empty());
    }

    #[test]
    fn sysfs_values_compare_by_word() {
        assert!(same_value("active-backup 1\n", "active-backup"));
        assert!(same_value("active-backup 1\n", "1"));
        assert!(!same_value("balance-rr 0\n", "active-backup"));
    }
}
