//! `rancher.sysctl`: dotted keys written under /proc/sys.

use std::path::{Path, PathBuf};

/// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`; refuses keys that escape /proc/sys.
pub fn key_path(proc_sys: &Path, key: &str) -> Option<PathBuf> {
    if key.is_empty() || key.split(['.', '/']).any(|s| s.is_empty() || s == "..") {
        return None;
    }
    Some(proc_sys.join(key.replace('.', "/")))
}

/// Applies every entry; returns how many were written. Failures are logged, not fatal.
pub fn apply<'a>(
    proc_sys: &Path,
    entries: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> usize {
    let mut applied = 0usize;
    for (key, value) in entries {
        let Some(path) = key_path(proc_sys, key) else {
            tracing::warn!(key = %key, "invalid sysctl name");
            continue;
        };
        match std::fs::write(&path, value.as_bytes()) {
            Ok(()) => applied = applied.saturating_add(1),
            Err(e) => tracing::warn!(key = %key, value = %value, error = %e, "sysctl not applied"),
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_dotted_names_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net/core")).unwrap();
        std::fs::write(dir.path().join("net/core/somaxconn"), "128").unwrap();
        let entries = [
            ("net.core.somaxconn".to_string(), "1024".to_string()),
            ("bad..key".to_string(), "1".to_string()),
        ];
        let n = apply(dir.path(), entries.iter().map(|(k, v)| (k, v)));
        assert_eq!(n, 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("net/core/somaxconn")).unwrap(),
            "1024"
        );
        assert_eq!(key_path(Path::new("/proc/sys"), "../etc"), None);
    }
}
