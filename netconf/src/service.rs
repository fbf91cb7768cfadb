//! The network service's inputs, read from the layered config under a root (`/` on a running
//! system): `rancher.network` with only the user's own `dns`, so that DHCP can rank between
//! it and the defaults, the default DNS, and the host name sources.

use crate::{DnsConfig, HostnameSources, NetworkConfig, RunOptions};
use std::path::Path;
use std::sync::Arc;

/// What `ros netconf` applies, from the config layers under `root`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// The merged `rancher.network`, its `dns` replaced by the user's own (no built-in layer).
    pub network: NetworkConfig,
    /// The built-in layer's dns (as merged), else `rancher.defaults.network.dns`.
    pub default_dns: DnsConfig,
    /// The configured `hostname`, if any.
    pub hostname: Option<String>,
}

/// Reads the config layers under `root` into what the network service applies.
pub fn config_from_root(root: &Path) -> ServiceConfig {
    let all = os_config::load(root).config;
    let user = os_config::load_with(root, os_config::LoadOptions { defaults: false }).config;
    let mut network = all.rancher.network.clone();
    network.dns = user.rancher.network.dns;
    let mut default_dns = all.rancher.network.dns;
    if default_dns.nameservers.is_empty() && default_dns.search.is_empty() {
        default_dns = all.rancher.defaults.network.dns;
    }
    ServiceConfig {
        network,
        default_dns,
        hostname: all.hostname,
    }
}

/// The network service's config and options under `root`: the kernel's host name and
/// `root`'s `/etc/hosts`, and a SIGHUP reload that reads the layers again.
pub fn service_options(root: &Path) -> (NetworkConfig, RunOptions) {
    let cfg = config_from_root(root);
    // Without a configured name, DHCP's wins over the name the host already has.
    let current =
        std::fs::read_to_string(root.join("proc/sys/kernel/hostname")).unwrap_or_default();
    let reload_root = root.to_path_buf();
    let opts = RunOptions {
        default_dns: cfg.default_dns,
        hostname: Some(HostnameSources {
            configured: cfg.hostname,
            metadata: None,
            default: current.trim().to_owned(),
            hosts_file: root.join("etc/hosts"),
            set_kernel_hostname: true,
        }),
        reload: Some(Arc::new(move || config_from_root(&reload_root).network)),
        ..RunOptions::default()
    };
    (cfg.network, opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    fn names(dns: &DnsConfig) -> Vec<&str> {
        dns.nameservers.iter().map(String::as_str).collect()
    }

    #[test]
    fn user_dns_apart_from_the_built_in_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        write(
            r,
            os_config::paths::OS_CONFIG,
            "rancher:\n  network:\n    dns: {nameservers: [8.8.8.8]}\n    interfaces: {eth0: {dhcp: true}}\n  defaults:\n    network: {dns: {nameservers: [1.1.1.1]}}\n",
        );
        let cfg = config_from_root(r);
        // No user dns: the built-in layer's becomes the default, not the user's.
        assert!(names(&cfg.network.dns).is_empty());
        assert_eq!(names(&cfg.default_dns), ["8.8.8.8"]);
        assert!(cfg.network.interfaces.contains_key("eth0"));
        assert_eq!(cfg.hostname, None);

        write(
            r,
            os_config::paths::CLOUD_CONFIG,
            "hostname: box\nrancher:\n  network:\n    dns: {nameservers: [9.9.9.9]}\n",
        );
        let cfg = config_from_root(r);
        assert_eq!(names(&cfg.network.dns), ["9.9.9.9"]);
        assert_eq!(cfg.hostname.as_deref(), Some("box"));
    }

    #[test]
    fn rancher_defaults_dns_when_the_built_in_layer_has_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        write(
            r,
            os_config::paths::OS_CONFIG,
            "rancher:\n  defaults:\n    network: {dns: {nameservers: [1.1.1.1], search: [lan]}}\n",
        );
        write(r, "proc/sys/kernel/hostname", "current\n");
        let (network, opts) = service_options(r);
        assert!(names(&network.dns).is_empty());
        assert_eq!(names(&opts.default_dns), ["1.1.1.1"]);
        assert_eq!(opts.default_dns.search, ["lan"]);
        let host = opts.hostname.expect("hostname sources");
        assert_eq!(host.default, "current");
        assert_eq!(host.configured, None);
        assert_eq!(host.hosts_file, r.join("etc/hosts"));
        assert!(opts.reload.is_some());
    }
}
