//! Which `rancher.network.interfaces` entry applies to a link.
//!
//! Keys (or their `match` field) are an exact name (`eth0`), a glob (`eth*`), or `mac=` followed
//! by an exact MAC or a glob (`mac=52:54:00:*`). A MAC match beats any name match, and an exact
//! match beats a glob of the same kind; ties go to the entry written first.

use globset::{GlobBuilder, GlobMatcher};
use indexmap::IndexMap;
use os_config::model::network::InterfaceConfig;

/// Link kinds that copy a MAC address from another link (a bond from its first slave, a VLAN
/// from its parent, a bridge from a port): a `mac=` entry meant for the NIC must not match them.
const MAC_COPYING_KINDS: &[&str] = &["bond", "bridge", "vlan", "macvlan", "ipvlan"];

/// How specific a match is; lower wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    MacExact,
    MacGlob,
    NameExact,
    NameGlob,
}

#[derive(Debug, Clone)]
pub enum Matcher {
    Name(String),
    NameGlob(GlobMatcher),
    Mac(String),
    MacGlob(GlobMatcher),
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Matcher {
    /// Parses a match expression; `None` for an empty or invalid one.
    pub fn parse(expr: &str) -> Option<Matcher> {
        let expr = expr.trim();
        if expr.is_empty() {
            return None;
        }
        if let Some(mac) = expr.strip_prefix("mac=") {
            let mac = mac.trim().to_ascii_lowercase();
            if is_glob(&mac) {
                return glob(&mac).map(Matcher::MacGlob);
            }
            return Some(Matcher::Mac(mac));
        }
        if is_glob(expr) {
            return glob(expr).map(Matcher::NameGlob);
        }
        Some(Matcher::Name(expr.to_owned()))
    }

    /// The rank of this matcher against a link, or `None` if it does not match.
    pub fn rank(&self, name: &str, mac: Option<&str>, kind: Option<&str>) -> Option<Rank> {
        let mac_ok = !kind.is_some_and(|k| MAC_COPYING_KINDS.contains(&k));
        let mac = mac.map(str::to_ascii_lowercase);
        match self {
            Matcher::Name(n) => (n == name).then_some(Rank::NameExact),
            Matcher::NameGlob(g) => g.is_match(name).then_some(Rank::NameGlob),
            Matcher::Mac(m) => {
                (mac_ok && mac.as_deref() == Some(m.as_str())).then_some(Rank::MacExact)
            }
            Matcher::MacGlob(g) => {
                (mac_ok && mac.as_deref().is_some_and(|m| g.is_match(m))).then_some(Rank::MacGlob)
            }
        }
    }
}

fn glob(pattern: &str) -> Option<GlobMatcher> {
    match GlobBuilder::new(pattern).case_insensitive(false).build() {
        Ok(g) => Some(g.compile_matcher()),
        Err(e) => {
            tracing::warn!(pattern, error = %e, "ignoring an invalid interface glob");
            None
        }
    }
}

/// The match expression of an entry: its `match` field, else its key.
pub fn expression<'a>(key: &'a str, cfg: &'a InterfaceConfig) -> &'a str {
    cfg.match_
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or(key)
}

/// The entry that applies to the link `name` (with `mac` and netlink `kind`), if any.
pub fn find_match<'a>(
    name: &str,
    mac: Option<&str>,
    kind: Option<&str>,
    interfaces: &'a IndexMap<String, InterfaceConfig>,
) -> Option<(&'a str, &'a InterfaceConfig)> {
    let mut best: Option<(Rank, &'a str, &'a InterfaceConfig)> = None;
    for (key, cfg) in interfaces {
        let Some(m) = Matcher::parse(expression(key, cfg)) else {
            continue;
        };
        if let Some(rank) = m.rank(name, mac, kind) {
            // Strictly better only: the first entry written wins a tie.
            if best.as_ref().is_none_or(|(r, _, _)| rank < *r) {
                best = Some((rank, key.as_str(), cfg));
            }
        }
    }
    best.map(|(_, k, c)| (k, c))
}

/// True when the expression names exactly one interface (not a glob, not a MAC).
pub fn is_exact_name(expr: &str) -> bool {
    matches!(Matcher::parse(expr), Some(Matcher::Name(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfgs(keys: &[&str]) -> IndexMap<String, InterfaceConfig> {
        keys.iter()
            .map(|k| {
                let c = InterfaceConfig {
                    dhcp_args: Some((*k).to_owned()),
                    ..Default::default()
                };
                ((*k).to_owned(), c)
            })
            .collect()
    }

    fn key_for(name: &str, mac: Option<&str>, kind: Option<&str>, keys: &[&str]) -> Option<String> {
        let c = cfgs(keys);
        find_match(name, mac, kind, &c).map(|(k, _)| k.to_owned())
    }

    const MAC: &str = "52:54:00:12:34:56";

    #[test]
    fn exact_name_beats_glob_in_any_order() {
        assert_eq!(
            key_for("eth0", None, None, &["eth*", "eth0"]).as_deref(),
            Some("eth0")
        );
        assert_eq!(
            key_for("eth0", None, None, &["eth0", "eth*"]).as_deref(),
            Some("eth0")
        );
        assert_eq!(
            key_for("eth1", None, None, &["eth0", "eth*"]).as_deref(),
            Some("eth*")
        );
    }

    #[test]
    fn mac_beats_name() {
        let keys = ["eth0", "mac=52:54:00:12:34:56", "eth*"];
        assert_eq!(
            key_for("eth0", Some(MAC), None, &keys).as_deref(),
            Some("mac=52:54:00:12:34:56")
        );
        let keys = ["eth0", "mac=52:54:00:*"];
        assert_eq!(
            key_for("eth0", Some(MAC), None, &keys).as_deref(),
            Some("mac=52:54:00:*")
        );
    }

    #[test]
    fn exact_mac_beats_mac_glob_and_is_case_insensitive() {
        let keys = ["mac=52:54:00:*", "mac=52:54:00:12:34:56"];
        assert_eq!(
            key_for("x", Some(MAC), None, &keys).as_deref(),
            Some("mac=52:54:00:12:34:56")
        );
        let keys = ["mac=52:54:00:12:34:AB"];
        assert_eq!(
            key_for("x", Some("52:54:00:12:34:ab"), None, &keys).as_deref(),
            Some("mac=52:54:00:12:34:AB")
        );
    }

    #[test]
    fn first_glob_wins_a_tie() {
        assert_eq!(
            key_for("eth0", None, None, &["e*", "eth*"]).as_deref(),
            Some("e*")
        );
    }

    #[test]
    fn no_match_and_invalid_globs() {
        assert_eq!(key_for("wlan0", None, None, &["eth*", "eth0"]), None);
        assert_eq!(key_for("eth0", None, None, &["eth[", ""]), None);
        assert_eq!(
            key_for("eth0", None, None, &["mac=52:54:00:12:34:56"]),
            None
        );
    }

    #[test]
    fn bonds_and_vlans_do_not_match_a_copied_mac() {
        let keys = ["mac=52:54:00:12:34:56", "bond*"];
        assert_eq!(
            key_for("bond0", Some(MAC), Some("bond"), &keys).as_deref(),
            Some("bond*")
        );
        assert_eq!(key_for("eth0.100", Some(MAC), Some("vlan"), &keys), None);
    }

    #[test]
    fn match_field_overrides_the_key() {
        let mut c = cfgs(&["uplink"]);
        if let Some(e) = c.get_mut("uplink") {
            e.match_ = Some("mac=52:54:00:12:34:56".into());
        }
        assert_eq!(
            find_match("eth3", Some(MAC), None, &c).map(|(k, _)| k),
            Some("uplink")
        );
        assert_eq!(find_match("uplink", None, None, &c).map(|(k, _)| k), None);
    }

    #[test]
    fn exact_names() {
        assert!(is_exact_name("br0"));
        assert!(!is_exact_name("br*"));
        assert!(!is_exact_name("mac=aa:bb:cc:dd:ee:ff"));
    }
}
