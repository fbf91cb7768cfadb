//! /etc/issue: what the login prompt shows, with the machine's addresses so an operator at the
//! console knows where to ssh.

use std::path::Path;

pub fn text(addresses: &[(String, String)]) -> String {
    let mut out = format!("ros {} \\n \\l\n", env!("CARGO_PKG_VERSION"));
    for (iface, addr) in addresses {
        out.push_str(&format!("  {iface}: {addr}\n"));
    }
    out.push('\n');
    out
}

/// Global addresses of every interface but loopback.
pub fn addresses() -> Vec<(String, String)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in addrs {
        if a.interface_name == "lo" {
            continue;
        }
        let Some(sa) = a.address else { continue };
        if let Some(v4) = sa.as_sockaddr_in() {
            out.push((a.interface_name.clone(), v4.ip().to_string()));
        } else if let Some(v6) = sa.as_sockaddr_in6() {
            let ip = v6.ip();
            if !ip.is_loopback() && (ip.segments()[0] & 0xffc0) != 0xfe80 {
                out.push((a.interface_name.clone(), ip.to_string()));
            }
        }
    }
    out
}

/// Written in place (not renamed) so containers that bind-mount it see the new text.
pub fn write(path: &Path) {
    if let Err(e) = std::fs::write(path, text(&addresses())) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the login banner");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_addresses() {
        let t = super::text(&[("eth0".into(), "10.0.2.15".into())]);
        assert!(t.contains("eth0: 10.0.2.15"));
    }
}
