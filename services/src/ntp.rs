//! The ntp container's entry point (`ros ntpd`): chrony's configuration from `rancher.ntp`,
//! then chronyd in the foreground.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const CONF: &str = "/etc/chrony/chrony.conf";
const CHRONY_UID: u32 = 102;
/// chronyd's pid file, in the host's /run: it outlives a killed container.
const PID_FILE: &str = "/run/chrony/chronyd.pid";

/// A pid file left by a chronyd that was killed. chronyd refuses to start while the pid in it
/// is alive, and in this container's own PID namespace that pid (1) is chronyd itself, so a
/// killed ntp would restart for ever. This container is the only chronyd: any pid file is stale.
pub fn remove_stale_pid_file(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed the pid file of a chronyd that did not stop")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove chronyd's stale pid file")
        }
    }
}

pub fn config(servers: &[String]) -> String {
    let mut out = String::from("# Written by ros ntpd from rancher.ntp.servers.\n");
    if servers.is_empty() {
        out.push_str("# No servers configured: the clock runs free.\n");
    }
    for s in servers
        .iter()
        .filter_map(|s| os_config::line_value::clean("rancher.ntp.servers", s))
    {
        out.push_str(&format!("server {s} iburst\n"));
    }
    out.push_str("driftfile /var/lib/chrony/chrony.drift\nmakestep 1.0 3\nrtcsync\n");
    // No command port (UDP 323): chronyc still works over chronyd's unix socket as root, and
    // nothing but sshd and the DHCP client listens (docs/security.md).
    out.push_str("cmdport 0\n");
    out
}

/// Writes the configuration and replaces this process with chronyd; returns only on failure.
pub fn run() -> std::io::Error {
    let loaded = os_config::load(Path::new("/"));
    let servers = &loaded.config.rancher.ntp.servers;
    tracing::info!(servers = ?servers, "chrony");
    if let Err(e) =
        std::fs::create_dir_all("/etc/chrony").and_then(|_| std::fs::write(CONF, config(servers)))
    {
        return e;
    }
    // /run is the host's; chronyd wants its socket directory there, owned by _chrony and closed
    // to others (0755 disables the command socket; with cmdport 0 and no server chronyd then
    // has nothing to do and exits).
    for dir in ["/run/chrony", "/var/lib/chrony"] {
        let _ = std::fs::create_dir_all(dir);
        // Without CAP_FOWNER only the owner may chmod: take it back, chmod, hand it over.
        let _ = std::os::unix::fs::chown(dir, Some(0), Some(0));
        if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)) {
            tracing::warn!(dir, error = %e, "cannot close chrony's directory to others");
        }
        let _ = std::os::unix::fs::chown(dir, Some(CHRONY_UID), Some(CHRONY_UID));
    }
    remove_stale_pid_file(Path::new(PID_FILE));
    Command::new("/usr/sbin/chronyd")
        .args(["-d", "-u", "_chrony", "-f", CONF])
        .exec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn servers_become_lines() {
        let c = super::config(&["10.0.0.1".into(), "ntp.example".into()]);
        assert!(c.contains("server 10.0.0.1 iburst\nserver ntp.example iburst\n"));
        assert!(super::config(&[]).contains("No servers configured"));
        assert!(c.ends_with("cmdport 0\n"), "{c}");
    }

    #[test]
    fn a_stale_pid_file_is_removed_and_none_is_fine() {
        let tmp = tempfile::tempdir().unwrap();
        let pid = tmp.path().join("chronyd.pid");
        std::fs::write(&pid, "1\n").unwrap();
        super::remove_stale_pid_file(&pid);
        assert!(!pid.exists());
        super::remove_stale_pid_file(&pid);
    }

    #[test]
    fn a_server_with_a_newline_adds_no_directive() {
        let c = super::config(&["10.0.0.1\nallow all".into(), "10.0.0.2".into()]);
        assert!(!c.contains("allow"), "{c}");
        assert!(!c.contains("10.0.0.1"), "{c}");
        assert!(c.contains("server 10.0.0.2 iburst\n"), "{c}");
    }
}
