//! `hostname`: the kernel's host name, /etc/hostname and the 127.0.1.1 line of /etc/hosts.

/// Sets the kernel hostname and rewrites /etc/hostname and the 127.0.1.1 line of /etc/hosts.
/// Both files are bind mounts from the host, so they are written in place, not renamed. A
/// name with a control character changes nothing (it is logged).
pub fn apply_hostname(hostname: &str) {
    if !acceptable(hostname) {
        return;
    }
    if let Err(e) = nix::unistd::sethostname(hostname) {
        tracing::warn!(hostname, error = %e, "cannot set the hostname");
    }
    if let Err(e) = std::fs::write("/etc/hostname", format!("{hostname}\n")) {
        tracing::warn!(hostname, error = %e, "cannot write /etc/hostname");
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if let Err(e) = std::fs::write("/etc/hosts", hosts_with(&hosts, hostname)) {
        tracing::warn!(hostname, error = %e, "cannot write /etc/hosts");
    }
    tracing::info!(hostname, "hostname set");
}

/// Whether `hostname` may go into /etc/hostname and /etc/hosts (no control character).
fn acceptable(hostname: &str) -> bool {
    os_config::line_value::clean("hostname", hostname).is_some()
}

/// `/etc/hosts` with exactly one `127.0.1.1 <hostname>` line.
pub fn hosts_with(hosts: &str, hostname: &str) -> String {
    let mut out: String = hosts
        .lines()
        .filter(|l| !l.trim_start().starts_with("127.0.1.1"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("127.0.1.1\t{hostname}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_line_is_replaced() {
        let out = hosts_with("127.0.0.1\tlocalhost\n127.0.1.1\told\n", "new");
        assert_eq!(out, "127.0.0.1\tlocalhost\n127.0.1.1\tnew\n");
    }

    #[test]
    fn a_name_with_a_control_character_is_not_applied() {
        assert!(!acceptable("box\n10.0.0.1 victim"));
        assert!(!acceptable("box\0"));
        assert!(acceptable("box.example.com"));
    }
}
