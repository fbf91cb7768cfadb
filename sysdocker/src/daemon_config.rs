//! `rancher.system_docker` / `rancher.docker` → [`DaemonSpec`]: config values override the
//! built-in defaults of each scope.

use std::path::PathBuf;

use os_config::model::{DockerConfig, NetworkConfig};

use crate::daemon::DaemonSpec;
use crate::scope::Scope;

/// The dockerd description for `scope` from its config section.
pub fn daemon_spec_from_config(scope: Scope, config: &DockerConfig) -> DaemonSpec {
    let mut spec = DaemonSpec::defaults(scope);
    if !config.host.is_empty() {
        spec.hosts = config
            .host
            .iter()
            .map(|h| {
                if h.starts_with('/') {
                    format!("unix://{h}")
                } else {
                    h.clone()
                }
            })
            .collect();
    }
    let path = |v: &Option<String>| v.as_ref().filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(p) = path(&config.data_root).or_else(|| path(&config.graph)) {
        spec.data_root = Some(p);
    }
    if let Some(p) = path(&config.exec_root) {
        spec.exec_root = Some(p);
    }
    if let Some(p) = path(&config.pid_file) {
        spec.pid_file = Some(p);
    }
    let set = |dst: &mut Option<String>, v: &Option<String>| {
        if let Some(v) = v.as_ref().filter(|s| !s.is_empty()) {
            *dst = Some(v.clone());
        }
    };
    set(&mut spec.bridge, &config.bridge);
    set(&mut spec.bip, &config.bip);
    set(&mut spec.storage_driver, &config.storage_driver);
    set(&mut spec.group, &config.group);
    set(&mut spec.log_driver, &config.log_driver);
    spec.log_opts = config.log_opts.clone();
    let key = |field: &str| match scope {
        Scope::System => format!("rancher.system_docker.{field}"),
        Scope::User => format!("rancher.docker.{field}"),
    };
    spec.args = crate::removed_flags::modernize(&key("args"), &config.args);
    let mut extra = Vec::new();
    if config.debug == Some(true) {
        extra.push("--debug".to_string());
    }
    if let Some(v) = config.live_restore {
        extra.push(format!("--live-restore={v}"));
    }
    if let Some(v) = config.userland_proxy {
        extra.push(format!("--userland-proxy={v}"));
    }
    if let Some(v) = config.selinux_enabled {
        extra.push(format!("--selinux-enabled={v}"));
    }
    if let Some(mtu) = config.mtu {
        extra.push(format!("--mtu={mtu}"));
    }
    if let Some(f) = config
        .config_file
        .as_ref()
        .filter(|f| std::path::Path::new(f).is_file())
    {
        extra.push(format!("--config-file={f}"));
    }
    if let Some(c) = config.containerd.as_ref().filter(|c| !c.is_empty()) {
        extra.push(format!("--containerd={c}"));
    }
    extra.extend(
        config
            .registry_mirror
            .iter()
            .map(|m| format!("--registry-mirror={m}")),
    );
    extra.extend(
        config
            .insecure_registry
            .iter()
            .map(|r| format!("--insecure-registry={r}")),
    );
    extra.extend(crate::removed_flags::modernize(
        &key("extra_args"),
        &config.extra_args,
    ));
    spec.extra_args = extra;
    spec.tls = config.tls;
    spec.tls_args = config.tls_args.clone();
    spec.environment = config.environment.clone();
    spec
}

/// `rancher.network`'s proxy settings in dockerd's environment, so System Docker's pulls go
/// through the proxy as User Docker's do. Both cases are set (tools disagree); an entry the
/// section's own `environment` already names wins.
pub fn add_proxy_environment(spec: &mut DaemonSpec, network: &NetworkConfig) {
    let proxies = [
        ("http_proxy", &network.http_proxy),
        ("https_proxy", &network.https_proxy),
        ("no_proxy", &network.no_proxy),
    ];
    for (key, value) in proxies {
        let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        for name in [key.to_uppercase(), key.to_owned()] {
            let prefix = format!("{name}=");
            if !spec.environment.iter().any(|e| e.starts_with(&prefix)) {
                spec.environment.push(format!("{name}={value}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rancheros_v1_system_docker_section() {
        let cfg: DockerConfig = yaml_serde::from_str(
            "storage_driver: overlay2\nbridge: none\ngraph: /var/lib/system-docker\nhost: [unix:///var/run/system-docker.sock]\n\
             log_opts: {max-size: 25m, max-file: '2'}\nextra_args: [--debug-x]\nargs: [daemon]\ntls: true\ntls_args: [--tlsverify]",
        )
        .unwrap();
        let spec = daemon_spec_from_config(Scope::System, &cfg);
        let args = spec.to_args();
        for want in [
            "--host=unix:///var/run/system-docker.sock",
            "--data-root=/var/lib/system-docker",
            "--storage-driver=overlay2",
            "--bridge=none",
            "--log-opt=max-size=25m",
            "--log-opt=max-file=2",
            "--tlsverify",
            "--debug-x",
        ] {
            assert!(
                args.contains(&want.to_string()),
                "{want} missing from {args:?}"
            );
        }
        assert!(!args.contains(&"daemon".to_string()));
        assert_eq!(args.last().map(String::as_str), Some("--debug-x"));
    }

    #[test]
    fn proxy_settings_reach_the_daemon_environment() {
        let cfg: DockerConfig = yaml_serde::from_str("environment: ['NO_PROXY=mine']").unwrap();
        let net: NetworkConfig = yaml_serde::from_str(
            "http_proxy: 'http://p:3128'\nhttps_proxy: ' '\nno_proxy: localhost",
        )
        .unwrap();
        let mut spec = daemon_spec_from_config(Scope::System, &cfg);
        add_proxy_environment(&mut spec, &net);
        assert_eq!(
            spec.environment,
            [
                "NO_PROXY=mine",
                "HTTP_PROXY=http://p:3128",
                "http_proxy=http://p:3128",
                "no_proxy=localhost"
            ]
        );
    }
}
