//! The host's /etc: the few files every process expects. On a state partition /etc persists:
//! the accounts, hosts and resolv.conf are created only when missing, so the operator's edits
//! survive; os-release, issue and hostname are derived and rewritten at every boot.

use std::path::Path;

pub const DEFAULT_HOSTNAME: &str = "ros";
pub use host::accounts::{DOCKER_GID, RANCHER_UID};

fn passwd() -> String {
    format!(
        "root:x:0:0:root:/root:/bin/sh\n\
         rancher:x:{RANCHER_UID}:{RANCHER_UID}:rancher:/home/rancher:/bin/bash\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
}

fn group() -> String {
    format!(
        "root:x:0:\nwheel:x:10:rancher\nsudo:x:27:rancher\n\
         rancher:x:{RANCHER_UID}:\ndocker:x:{DOCKER_GID}:rancher\nnogroup:x:65534:\n"
    )
}

pub fn os_release(version: &str) -> String {
    format!(
        "NAME=ros\nID=ros\nVERSION={version}\nVERSION_ID={version}\nPRETTY_NAME=\"ros {version}\"\n"
    )
}

/// The host name to set and seed: the configured one, unless it is empty or holds a control
/// character (it goes into /etc/hosts and /etc/hostname; logged), else `DEFAULT_HOSTNAME`.
pub fn hostname(configured: Option<&str>) -> String {
    configured
        .filter(|h| !h.is_empty())
        .and_then(|h| os_config::line_value::clean("hostname", h))
        .unwrap_or(DEFAULT_HOSTNAME)
        .to_owned()
}

pub fn hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    )
}

/// Writes the seed files under `root`/etc.
pub fn seed(root: &Path, version: &str, hostname: &str) -> std::io::Result<()> {
    let etc = root.join("etc");
    std::fs::create_dir_all(&etc)?;
    let keep_if_present: [(&str, String, u32); 5] = [
        ("passwd", passwd(), 0o644),
        ("group", group(), 0o644),
        (
            "shadow",
            "root:*:19000:0:99999:7:::\nrancher:*:19000:0:99999:7:::\n".into(),
            0o640,
        ),
        ("hosts", hosts(hostname), 0o644),
        ("resolv.conf", String::new(), 0o644),
    ];
    for (name, content, mode) in keep_if_present {
        let p = etc.join(name);
        if !p.exists() {
            os_config::atomic_write(&p, content.as_bytes(), mode)?;
        }
    }
    // The console bind-mounts /etc/issue; the ready step rewrites it in place with addresses.
    os_config::atomic_write(
        &etc.join("issue"),
        crate::issue::text(&[]).as_bytes(),
        0o644,
    )?;
    // The name the kernel is given this boot (a persistent root must not keep an old one).
    os_config::atomic_write(
        &etc.join("hostname"),
        format!("{hostname}\n").as_bytes(),
        0o644,
    )?;
    os_config::atomic_write(
        &etc.join("os-release"),
        os_release(version).as_bytes(),
        0o644,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_without_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/hosts"), "mine\n").unwrap();
        seed(dir.path(), "1.2.3", "box").unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.path().join("etc").join(n)).unwrap();
        assert_eq!(read("hosts"), "mine\n");
        assert!(
            read("os-release").contains("NAME=ros\n")
                && read("os-release").contains("VERSION=1.2.3\n")
        );
        assert!(read("passwd").contains("rancher:x:1100:1100:"));
        assert!(read("group").contains("docker:x:999:rancher"));
        assert_eq!(read("hostname"), "box\n");
        // The next boot, with another name: hostname follows, the edited hosts stays.
        seed(dir.path(), "1.2.4", "other").unwrap();
        assert_eq!(read("hostname"), "other\n");
        assert_eq!(read("hosts"), "mine\n");
        assert!(read("os-release").contains("VERSION=1.2.4\n"));
    }

    #[test]
    fn a_configured_name_with_a_control_character_falls_back_to_the_default() {
        assert_eq!(hostname(Some("box")), "box");
        assert_eq!(hostname(Some("")), DEFAULT_HOSTNAME);
        assert_eq!(hostname(None), DEFAULT_HOSTNAME);
        assert_eq!(hostname(Some("box\n10.0.0.1 victim")), DEFAULT_HOSTNAME);
    }
}
