//! resolv.conf: the user's nameservers and search > DHCP > defaults, each field on its own.
//!
//! DHCP results reach netconf through files written by its dhcpcd hook (see `dhcp.rs`), one per
//! interface and protocol, so dhcpcd never writes resolv.conf itself.

use crate::error::{Error, Result};
use os_config::model::network::DnsConfig;
use std::path::Path;

/// What a DHCP client reported for one interface and protocol (`dhcp4`, `dhcp6`, `ra`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    pub iface: String,
    pub source: String,
    pub addresses: Vec<String>,
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub hostname: Option<String>,
}

/// Parses a hook file: `key=value` lines (`address`, `nameserver`, `search`, `domain`,
/// `hostname`); `search` may hold several space-separated domains.
pub fn parse_lease(iface: &str, source: &str, text: &str) -> Lease {
    let mut l = Lease {
        iface: iface.to_owned(),
        source: source.to_owned(),
        ..Default::default()
    };
    let mut domain = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k.trim() {
            "address" => l.addresses.push(v.to_owned()),
            "nameserver" => l
                .nameservers
                .extend(v.split_whitespace().map(str::to_owned)),
            "search" => l.search.extend(v.split_whitespace().map(str::to_owned)),
            "domain" => domain = Some(v.to_owned()),
            "hostname" => l.hostname = Some(v.to_owned()),
            _ => {}
        }
    }
    // DHCP option 15 (domain name) is the fallback search domain when option 119 is absent.
    if l.search.is_empty() {
        l.search.extend(domain);
    }
    l
}

/// Reads every lease file in `dir` (`IFACE.SOURCE`), in name order.
pub fn read_leases(dir: &Path) -> Vec<Lease> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".tmp"))
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(|n| {
            let (iface, source) = n.rsplit_once('.')?;
            let text = std::fs::read_to_string(dir.join(n)).ok()?;
            Some(parse_lease(iface, source, &text))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    User,
    Dhcp,
    Default,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub nameservers: Vec<String>,
    pub nameservers_from: Source,
    pub search: Vec<String>,
    pub search_from: Source,
}

fn dedup(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn pick(
    user: &[String],
    dhcp: Vec<String>,
    defaults: &[String],
    defaults_first: bool,
) -> (Vec<String>, Source) {
    if !user.is_empty() {
        return (dedup(user.iter().cloned()), Source::User);
    }
    if defaults_first && !defaults.is_empty() {
        return (dedup(defaults.iter().cloned()), Source::Default);
    }
    if !dhcp.is_empty() {
        return (dedup(dhcp), Source::Dhcp);
    }
    if !defaults.is_empty() {
        return (dedup(defaults.iter().cloned()), Source::Default);
    }
    (Vec::new(), Source::None)
}

/// The values of `list` fit for resolv.conf (no control character); each other one is
/// skipped with a warning naming `key`.
fn clean(key: &str, list: &[String]) -> Vec<String> {
    list.iter()
        .filter_map(|v| os_config::line_value::clean(key, v))
        .map(str::to_owned)
        .collect()
}

/// Chooses nameservers and search domains. `user.override_dhcp` (`dns.override`) puts the
/// defaults ahead of DHCP as well. A value with a control character is skipped, so the next
/// source may fill the field.
pub fn resolve(user: &DnsConfig, leases: &[Lease], defaults: &DnsConfig) -> Resolved {
    let over = user.override_dhcp || defaults.override_dhcp;
    let (nameservers, nameservers_from) = pick(
        &clean("rancher.network.dns.nameservers", &user.nameservers),
        leases
            .iter()
            .flat_map(|l| clean("DHCP nameserver", &l.nameservers))
            .collect(),
        &clean(
            "default rancher.network.dns.nameservers",
            &defaults.nameservers,
        ),
        over,
    );
    let (search, search_from) = pick(
        &clean("rancher.network.dns.search", &user.search),
        leases
            .iter()
            .flat_map(|l| clean("DHCP search", &l.search))
            .collect(),
        &clean("default rancher.network.dns.search", &defaults.search),
        over,
    );
    Resolved {
        nameservers,
        nameservers_from,
        search,
        search_from,
    }
}

/// The resolv.conf text, or `None` when there is nothing to say (the file is then left alone).
pub fn render(r: &Resolved) -> Option<String> {
    if r.nameservers.is_empty() && r.search.is_empty() {
        return None;
    }
    let mut s = String::from("# Generated by ros netconf from rancher.network.dns and DHCP.\n");
    if !r.search.is_empty() {
        s.push_str(&format!("search {}\n", r.search.join(" ")));
    }
    for n in &r.nameservers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    Some(s)
}

/// Replaces a file atomically; when it is a bind mount (as /etc/resolv.conf is in a container),
/// rename(2) fails with EBUSY and the file is rewritten in place instead.
pub fn write_file(path: &Path, content: &str) -> Result<()> {
    match os_config::atomic_write(path, content.as_bytes(), 0o644) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(c) if c == nix::libc::EBUSY || c == nix::libc::EXDEV) =>
        {
            tracing::debug!(path = %path.display(), "file is a mount point; writing in place");
            std::fs::write(path, content).map_err(|e| Error::io(path, e))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Writes resolv.conf if its content changed; returns true when it wrote.
pub fn write_resolv_conf(path: &Path, r: &Resolved) -> Result<bool> {
    let Some(content) = render(r) else {
        return Ok(false);
    };
    if std::fs::read_to_string(path).ok().as_deref() == Some(content.as_str()) {
        return Ok(false);
    }
    write_file(path, &content)?;
    tracing::info!(
        path = %path.display(),
        nameservers = ?r.nameservers,
        from = ?r.nameservers_from,
        search = ?r.search,
        "wrote resolv.conf"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(ns: &[&str], search: &[&str]) -> DnsConfig {
        DnsConfig {
            nameservers: ns.iter().map(|s| s.to_string()).collect(),
            search: search.iter().map(|s| s.to_string()).collect(),
            override_dhcp: false,
        }
    }

    fn lease() -> Lease {
        parse_lease(
            "eth0",
            "dhcp4",
            "address=10.0.0.5/24\nnameserver=10.0.0.53 10.0.0.54\ndomain=corp\nhostname=box\n",
        )
    }

    #[test]
    fn parses_hook_files() {
        let l = lease();
        assert_eq!(l.nameservers, ["10.0.0.53", "10.0.0.54"]);
        assert_eq!(l.search, ["corp"]);
        assert_eq!(l.hostname.as_deref(), Some("box"));
        let l = parse_lease("eth0", "dhcp4", "search=a.test b.test\ndomain=corp\n");
        assert_eq!(l.search, ["a.test", "b.test"]);
    }

    #[test]
    fn user_beats_dhcp_beats_defaults() {
        let d = dns(&["9.9.9.9"], &["default.test"]);
        let r = resolve(&dns(&["1.1.1.1"], &["user.test"]), &[lease()], &d);
        assert_eq!(
            (r.nameservers.as_slice(), r.nameservers_from),
            (&["1.1.1.1".to_string()][..], Source::User)
        );
        assert_eq!(r.search, ["user.test"]);
        let r = resolve(&dns(&[], &[]), &[lease()], &d);
        assert_eq!(r.nameservers, ["10.0.0.53", "10.0.0.54"]);
        assert_eq!(
            (r.search.as_slice(), r.search_from),
            (&["corp".to_string()][..], Source::Dhcp)
        );
        let r = resolve(&dns(&[], &[]), &[], &d);
        assert_eq!(r.nameservers, ["9.9.9.9"]);
        assert_eq!(r.nameservers_from, Source::Default);
        // Each field on its own: the user's search with DHCP's servers.
        let r = resolve(&dns(&[], &["user.test"]), &[lease()], &d);
        assert_eq!(r.nameservers_from, Source::Dhcp);
        assert_eq!(r.search_from, Source::User);
    }

    #[test]
    fn override_puts_defaults_before_dhcp() {
        let mut user = dns(&[], &[]);
        user.override_dhcp = true;
        let r = resolve(&user, &[lease()], &dns(&["9.9.9.9"], &[]));
        assert_eq!(r.nameservers, ["9.9.9.9"]);
        assert_eq!(r.search_from, Source::Dhcp);
    }

    #[test]
    fn renders_search_then_nameservers_and_nothing_when_empty() {
        let r = resolve(
            &dns(&["1.1.1.1", "1.1.1.1", "fd00::53"], &["a", "b"]),
            &[],
            &dns(&[], &[]),
        );
        assert_eq!(
            render(&r).unwrap(),
            "# Generated by ros netconf from rancher.network.dns and DHCP.\nsearch a b\nnameserver 1.1.1.1\nnameserver fd00::53\n"
        );
        assert_eq!(render(&resolve(&dns(&[], &[]), &[], &dns(&[], &[]))), None);
    }

    #[test]
    fn values_with_control_characters_never_reach_resolv_conf() {
        let user = dns(
            &["10.0.0.1\noptions ndots:15"],
            &["corp\nnameserver 6.6.6.6"],
        );
        let r = resolve(&user, &[lease()], &dns(&[], &[]));
        // The user's bad values are skipped; DHCP fills the fields instead.
        assert_eq!(r.nameservers_from, Source::Dhcp);
        assert_eq!(r.search_from, Source::Dhcp);
        let text = render(&r).unwrap();
        assert!(
            !text.contains("ndots") && !text.contains("6.6.6.6"),
            "{text}"
        );
        let mut bad = lease();
        bad.nameservers = vec!["10.0.0.9\u{0}".into()];
        let r = resolve(&dns(&[], &[]), &[bad], &dns(&["9.9.9.9"], &[]));
        assert_eq!(r.nameservers, vec!["9.9.9.9"]);
    }
}
