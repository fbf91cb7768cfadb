//! The host name: config > metadata > DHCP > default, and its `127.0.1.1` line in /etc/hosts.

use crate::error::{Error, Result};
use std::path::Path;

/// The first non-empty of the configured, metadata and DHCP names, else `default`. A name
/// with a control character is skipped (with a warning): it goes into /etc/hosts.
pub fn choose(
    config: Option<&str>,
    metadata: Option<&str>,
    dhcp: Option<&str>,
    default: &str,
) -> String {
    [
        ("hostname", config),
        ("metadata hostname", metadata),
        ("DHCP hostname", dhcp),
    ]
    .into_iter()
    .filter_map(|(key, name)| Some((key, name?.trim())))
    .filter(|(_, name)| !name.is_empty())
    .find_map(|(key, name)| os_config::line_value::clean(key, name))
    .unwrap_or(default.trim())
    .to_owned()
}

/// `existing` /etc/hosts with exactly one `127.0.1.1` line for `hostname` (its short name too
/// when it is a FQDN); other lines are kept as they are.
pub fn hosts_with(existing: &str, hostname: &str) -> String {
    let short = hostname.split('.').next().unwrap_or(hostname);
    let line = if short != hostname && !short.is_empty() {
        format!("127.0.1.1\t{hostname} {short}")
    } else {
        format!("127.0.1.1\t{hostname}")
    };
    let mut out = String::new();
    let mut placed = false;
    for l in existing.lines() {
        if l.split_whitespace().next() == Some("127.0.1.1") {
            if !placed {
                out.push_str(&line);
                out.push('\n');
                placed = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !placed {
        if out.is_empty() {
            out.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Rewrites the hosts file for `hostname` if that changes it; returns true when it wrote.
pub fn write_hosts(path: &Path, hostname: &str) -> Result<bool> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let new = hosts_with(&existing, hostname);
    if new == existing {
        return Ok(false);
    }
    crate::dns::write_file(path, &new)?;
    Ok(true)
}

/// Sets the kernel host name (in this UTS namespace).
pub fn set_kernel_hostname(hostname: &str) -> Result<()> {
    nix::unistd::sethostname(hostname)
        .map_err(|e| Error::io("sethostname", std::io::Error::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        assert_eq!(choose(Some("cfg"), Some("md"), Some("dhcp"), "ros"), "cfg");
        assert_eq!(choose(None, Some("md"), Some("dhcp"), "ros"), "md");
        assert_eq!(choose(Some(" "), None, Some("dhcp"), "ros"), "dhcp");
        // A name that would add a line to /etc/hosts is skipped for the next source.
        assert_eq!(
            choose(Some("a\n10.0.0.1 evil"), Some("md"), None, "ros"),
            "md"
        );
        assert_eq!(choose(None, None, Some("d\rx"), "ros"), "ros");
        assert_eq!(choose(None, None, None, "ros"), "ros");
    }

    #[test]
    fn hosts_line_replaced_or_added() {
        let h = "127.0.0.1\tlocalhost\n127.0.1.1\told\n10.0.0.1 gw\n";
        assert_eq!(
            hosts_with(h, "new"),
            "127.0.0.1\tlocalhost\n127.0.1.1\tnew\n10.0.0.1 gw\n"
        );
        assert_eq!(
            hosts_with("127.0.0.1 localhost\n", "a.b.c"),
            "127.0.0.1 localhost\n127.0.1.1\ta.b.c a\n"
        );
        assert_eq!(
            hosts_with("", "ros"),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tros\n"
        );
        let twice = "127.0.1.1 a\n127.0.1.1 b\n";
        assert_eq!(hosts_with(twice, "c"), "127.0.1.1\tc\n");
    }

    #[test]
    fn writer_only_writes_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        assert!(write_hosts(&p, "ros").unwrap());
        assert!(!write_hosts(&p, "ros").unwrap());
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .ends_with("127.0.1.1\tros\n"));
    }
}
