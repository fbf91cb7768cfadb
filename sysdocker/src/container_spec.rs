//! Translating a compose-style service into a Docker container create body.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, HostConfigLogConfig, PortBinding,
    ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};

use crate::error::{Error, Result};
use crate::service::Service;

/// Label naming the service a container belongs to.
pub const LABEL_SERVICE: &str = "io.docker.compose.service";
/// Label naming the project (`os`): marks containers the engine manages.
pub const LABEL_PROJECT: &str = "io.docker.compose.project";
/// Label holding the hash of the container's effective spec.
pub const LABEL_HASH: &str = "io.rancher.os.hash";
/// The project every ros service belongs to.
pub const PROJECT: &str = "os";

/// The container create body for `service` (without the hash label; see `spec_hash`).
pub fn container_body(service: &Service) -> Result<ContainerCreateBody> {
    let spec = &service.spec;
    let name = &service.name;
    let image = spec
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| Error::service(name, "no image"))?;
    let mut labels: HashMap<String, String> = spec.labels.to_map().into_iter().collect();
    labels.insert(LABEL_SERVICE.into(), name.clone());
    labels.insert(LABEL_PROJECT.into(), PROJECT.into());

    let mut binds = Vec::new();
    let mut anonymous = Vec::new();
    for v in &spec.volumes {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            anonymous.push(v.clone());
        }
    }
    let volumes_from: Vec<String> = spec
        .volumes_from
        .iter()
        .map(|v| {
            let v = v
                .strip_prefix("container:")
                .or_else(|| v.strip_prefix("service:"))
                .unwrap_or(v);
            v.to_string()
        })
        .collect();
    let (exposed, port_bindings) = ports(name, &spec.ports)?;
    if let Some(adj) = spec.oom_score_adj.filter(|a| !(-1000..=1000).contains(a)) {
        return Err(Error::service(
            name,
            format!("oom_score_adj: {adj} is outside -1000..=1000"),
        ));
    }

    let host_config = HostConfig {
        binds: non_empty(binds),
        volumes_from: non_empty(volumes_from),
        network_mode: spec.network().map(service_mode),
        pid_mode: spec.pid.as_deref().map(service_mode),
        ipc_mode: spec.ipc.as_deref().map(service_mode),
        uts_mode: spec.uts.clone(),
        privileged: Some(spec.privileged),
        cap_add: non_empty(spec.cap_add.clone()),
        cap_drop: non_empty(spec.cap_drop.clone()),
        devices: non_empty(spec.devices.iter().map(|d| device(d)).collect()),
        restart_policy: Some(restart_policy(name, spec.restart.as_deref())?),
        readonly_rootfs: Some(spec.read_only),
        log_config: spec.log_driver.as_ref().map(|d| HostConfigLogConfig {
            typ: Some(d.clone()),
            config: Some(spec.log_opt.clone().into_iter().collect()),
        }),
        ulimits: non_empty(
            spec.ulimits
                .iter()
                .map(|(k, u)| {
                    let (soft, hard) = u.soft_hard();
                    ResourcesUlimits {
                        name: Some(k.clone()),
                        soft: Some(soft),
                        hard: Some(hard),
                    }
                })
                .collect(),
        ),
        security_opt: non_empty(spec.security_opt.clone()),
        links: non_empty(
            spec.links
                .iter()
                .map(|l| match l.split_once(':') {
                    Some(_) => l.clone(),
                    None => format!("{l}:{l}"),
                })
                .collect(),
        ),
        port_bindings,
        dns: non_empty(spec.dns.clone()),
        dns_search: non_empty(spec.dns_search.clone()),
        extra_hosts: non_empty(spec.extra_hosts.clone()),
        tmpfs: (!spec.tmpfs.is_empty()).then(|| {
            spec.tmpfs
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((p, o)) => (p.to_string(), o.to_string()),
                    None => (t.clone(), String::new()),
                })
                .collect()
        }),
        memory: spec.mem_limit.map(|b| b.0 as i64),
        shm_size: spec.shm_size.map(|b| b.0 as i64),
        cpu_shares: spec.cpu_shares,
        cpuset_cpus: spec.cpuset.clone(),
        group_add: non_empty(spec.group_add.clone()),
        oom_score_adj: spec.oom_score_adj,
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(image),
        cmd: spec.command.as_ref().map(|c| c.to_args()),
        entrypoint: spec.entrypoint.as_ref().map(|c| c.to_args()),
        env: Some(
            spec.environment
                .to_map()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(labels),
        volumes: non_empty(anonymous),
        exposed_ports: non_empty(exposed),
        tty: Some(spec.tty),
        open_stdin: Some(spec.stdin_open),
        user: spec.user.clone(),
        working_dir: spec.working_dir.clone(),
        hostname: spec.hostname.clone(),
        stop_signal: spec.stop_signal.clone(),
        host_config: Some(host_config),
        ..Default::default()
    })
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// `service:NAME` (compose) means the container of that service, which is named NAME.
fn service_mode(mode: &str) -> String {
    match mode.strip_prefix("service:") {
        Some(n) => format!("container:{n}"),
        None => mode.to_string(),
    }
}

fn device(d: &str) -> DeviceMapping {
    let mut parts = d.splitn(3, ':');
    let host = parts.next().unwrap_or(d).to_string();
    let inner = parts.next().map_or_else(|| host.clone(), str::to_string);
    DeviceMapping {
        path_on_host: Some(host),
        path_in_container: Some(inner),
        cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
    }
}

/// Compose restart values mapped to Docker's policies; `on-failure:N` keeps its retry count.
pub fn restart_policy(service: &str, restart: Option<&str>) -> Result<RestartPolicy> {
    let value = restart.unwrap_or("no").trim();
    let (name, count) = match value.split_once(':') {
        Some(("on-failure", n)) => (
            RestartPolicyNameEnum::ON_FAILURE,
            Some(n.parse::<i64>().map_err(|_| {
                Error::service(service, format!("restart: bad retry count in {value:?}"))
            })?),
        ),
        _ => match value {
            "" | "no" | "false" => (RestartPolicyNameEnum::NO, None),
            "always" => (RestartPolicyNameEnum::ALWAYS, None),
            "unless-stopped" => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
            "on-failure" => (RestartPolicyNameEnum::ON_FAILURE, None),
            other => {
                return Err(Error::service(
                    service,
                    format!(
                    "restart: {other:?} is not one of no, always, unless-stopped, on-failure[:N]"
                ),
                ))
            }
        },
    };
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count: count,
    })
}

type PortMap = HashMap<String, Option<Vec<PortBinding>>>;

/// `[ip:]host:container[/proto]` and `container[/proto]` into exposed ports and bindings.
fn ports(service: &str, items: &[String]) -> Result<(Vec<String>, Option<PortMap>)> {
    let mut exposed = Vec::new();
    let mut map: PortMap = HashMap::new();
    for item in items {
        let (spec, proto) = item.split_once('/').unwrap_or((item, "tcp"));
        let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
        let (container, host_port, host_ip) = match parts.as_slice() {
            [c] => (*c, None, None),
            [c, h] => (*c, Some(*h), None),
            [c, h, ip] => (*c, Some(*h), Some(*ip)),
            _ => {
                return Err(Error::service(
                    service,
                    format!("ports: cannot parse {item:?}"),
                ))
            }
        };
        if container.parse::<u16>().is_err() {
            return Err(Error::service(
                service,
                format!("ports: cannot parse {item:?}"),
            ));
        }
        let key = format!("{container}/{proto}");
        exposed.push(key.clone());
        if host_port.is_some() {
            map.entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: host_ip.map(str::to_string),
                    host_port: host_port.map(str::to_string),
                });
        }
    }
    Ok((exposed, (!map.is_empty()).then_some(map)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Origin;

    fn svc(yaml: &str) -> Service {
        Service::new("s", yaml_serde::from_str(yaml).unwrap(), Origin::Config)
    }

    #[test]
    fn maps_compose_keys() {
        let b = container_body(&svc(
            "image: i\ncommand: sleep 5\nvolumes: [/a:/b:ro, /anon]\nvolumes_from: ['v:ro']\nnet: host\nrestart: on-failure:3\nports: ['127.0.0.1:8080:80', '53/udp']\nprivileged: true\nulimits: {nofile: {soft: 1, hard: 2}}",
        ))
        .unwrap();
        assert_eq!(b.cmd.unwrap(), ["sleep", "5"]);
        assert_eq!(b.volumes.unwrap(), ["/anon"]);
        let h = b.host_config.unwrap();
        assert_eq!(h.binds.unwrap(), ["/a:/b:ro"]);
        assert_eq!(h.volumes_from.unwrap(), ["v:ro"]);
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        let r = h.restart_policy.unwrap();
        assert_eq!(
            (r.name, r.maximum_retry_count),
            (Some(RestartPolicyNameEnum::ON_FAILURE), Some(3))
        );
        let pb = h.port_bindings.unwrap();
        assert_eq!(
            pb["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("8080")
        );
        assert!(!pb.contains_key("53/udp"));
        assert_eq!(b.labels.unwrap()[LABEL_SERVICE], "s");
    }

    #[test]
    fn restart_policies() {
        for (v, n) in [
            ("always", RestartPolicyNameEnum::ALWAYS),
            ("unless-stopped", RestartPolicyNameEnum::UNLESS_STOPPED),
            ("no", RestartPolicyNameEnum::NO),
        ] {
            assert_eq!(restart_policy("s", Some(v)).unwrap().name, Some(n));
        }
        assert_eq!(
            restart_policy("s", Some("sometimes")).unwrap_err().to_string(),
            "service s: restart: \"sometimes\" is not one of no, always, unless-stopped, on-failure[:N]"
        );
    }

    #[test]
    fn oom_score_adj_is_passed_within_its_range() {
        let h = container_body(&svc("image: i\noom_score_adj: -500"))
            .unwrap()
            .host_config
            .unwrap();
        assert_eq!(h.oom_score_adj, Some(-500));
        assert_eq!(
            container_body(&svc("image: i\noom_score_adj: -1001"))
                .unwrap_err()
                .to_string(),
            "service s: oom_score_adj: -1001 is outside -1000..=1000"
        );
    }

    #[test]
    fn missing_image_is_an_error() {
        assert_eq!(
            container_body(&svc("command: x")).unwrap_err().to_string(),
            "service s: no image"
        );
    }
}
