//! A typed description of one dockerd instance and its rendering to command-line flags.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::scope::Scope;

/// One dockerd: where it listens and keeps state, and how it is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSpec {
    pub scope: Scope,
    /// The engine binary (`dockerd` from `PATH` unless configured).
    pub program: PathBuf,
    /// `-H` addresses; the first `unix://` one is where the engine connects.
    pub hosts: Vec<String>,
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub storage_driver: Option<String>,
    pub group: Option<String>,
    pub log_driver: Option<String>,
    pub log_opts: IndexMap<String, String>,
    /// `args` from the config, after the generated flags.
    pub args: Vec<String>,
    /// Appended when `tls` is on (`--tlsverify`, `--tlscacert=…`, `-H=0.0.0.0:2376`).
    pub tls_args: Vec<String>,
    pub tls: bool,
    /// Appended last, so they win over everything above.
    pub extra_args: Vec<String>,
    /// `KEY=VALUE` items added to dockerd's environment.
    pub environment: Vec<String>,
}

impl DaemonSpec {
    /// The built-in defaults of a booted system for `scope`.
    pub fn defaults(scope: Scope) -> Self {
        let (name, bridge, group) = match scope {
            Scope::System => ("system-docker", Some("none"), Some("root")),
            Scope::User => ("docker", None, Some("docker")),
        };
        DaemonSpec {
            scope,
            program: PathBuf::from("dockerd"),
            hosts: vec![format!("unix:///var/run/{name}.sock")],
            data_root: Some(PathBuf::from(format!("/var/lib/{name}"))),
            exec_root: Some(PathBuf::from(format!("/var/run/{name}"))),
            pid_file: Some(PathBuf::from(format!("/var/run/{name}.pid"))),
            bridge: bridge.map(str::to_string),
            bip: None,
            storage_driver: None,
            group: group.map(str::to_string),
            log_driver: None,
            log_opts: IndexMap::new(),
            args: Vec::new(),
            tls_args: Vec::new(),
            tls: false,
            extra_args: Vec::new(),
            environment: Vec::new(),
        }
    }

    /// A daemon whose state all lives under `dir` (tests, or a second system daemon).
    pub fn private(scope: Scope, dir: &std::path::Path) -> Self {
        DaemonSpec {
            hosts: vec![format!("unix://{}", dir.join("docker.sock").display())],
            data_root: Some(dir.join("data")),
            exec_root: Some(dir.join("exec")),
            pid_file: Some(dir.join("docker.pid")),
            bridge: Some("none".to_string()),
            group: None,
            ..DaemonSpec::defaults(scope)
        }
    }

    /// The unix socket path the engine talks to.
    pub fn socket(&self) -> Option<PathBuf> {
        self.hosts
            .iter()
            .find_map(|h| h.strip_prefix("unix://"))
            .map(PathBuf::from)
    }

    /// The `unix://` address the engine talks to.
    pub fn host(&self) -> String {
        match self.socket() {
            Some(s) => format!("unix://{}", s.display()),
            None => format!("unix://{}", self.scope.default_socket()),
        }
    }

    /// dockerd's arguments: generated flags, then `args`, then `tls_args` (if `tls`), then
    /// `extra_args`; later flags override earlier ones for single-valued options.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for h in &self.hosts {
            out.push(format!("--host={h}"));
        }
        let mut path_flag = |flag: &str, v: &Option<PathBuf>| {
            if let Some(p) = v {
                out.push(format!("--{flag}={}", p.display()));
            }
        };
        path_flag("data-root", &self.data_root);
        path_flag("exec-root", &self.exec_root);
        path_flag("pidfile", &self.pid_file);
        let opt = [
            ("bridge", &self.bridge),
            ("bip", &self.bip),
            ("storage-driver", &self.storage_driver),
            ("group", &self.group),
            ("log-driver", &self.log_driver),
        ];
        for (flag, v) in opt {
            if let Some(v) = v {
                out.push(format!("--{flag}={v}"));
            }
        }
        if self.scope == Scope::System {
            // Containers left from the previous boot must not start before PID 1 brings the
            // services up in order (a console would run the old config's write_files).
            // Restart policies still apply while the daemon runs.
            out.push("--restart=false".to_string());
        }
        if self.bridge.as_deref() == Some("none") {
            // Without a bridge there is nothing to masquerade; iptables rules would only fail.
            out.push("--iptables=false".to_string());
            out.push("--ip-masq=false".to_string());
        }
        for (k, v) in &self.log_opts {
            out.push(format!("--log-opt={k}={v}"));
        }
        out.extend(strip_legacy_program(&self.args).iter().cloned());
        if self.tls {
            out.extend(self.tls_args.iter().cloned());
        }
        out.extend(self.extra_args.iter().cloned());
        out
    }
}

/// RancherOS v1 configs start `args` with `daemon` or `docker daemon`; dockerd takes neither.
fn strip_legacy_program(args: &[String]) -> &[String] {
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        if matches!(first.as_str(), "docker" | "dockerd" | "daemon") {
            rest = tail;
        } else {
            break;
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_system_defaults() {
        let mut d = DaemonSpec::defaults(Scope::System);
        d.storage_driver = Some("overlay2".into());
        d.log_opts.insert("max-size".into(), "25m".into());
        d.args = vec!["daemon".into(), "--debug".into()];
        d.tls_args = vec!["--tlsverify".into()];
        d.extra_args = vec!["--mtu=1400".into()];
        assert_eq!(
            d.to_args(),
            [
                "--host=unix:///var/run/system-docker.sock",
                "--data-root=/var/lib/system-docker",
                "--exec-root=/var/run/system-docker",
                "--pidfile=/var/run/system-docker.pid",
                "--bridge=none",
                "--storage-driver=overlay2",
                "--group=root",
                "--restart=false",
                "--iptables=false",
                "--ip-masq=false",
                "--log-opt=max-size=25m",
                "--debug",
                "--mtu=1400",
            ]
        );
        d.tls = true;
        assert!(d.to_args().contains(&"--tlsverify".to_string()));
        assert_eq!(
            d.socket().unwrap(),
            PathBuf::from("/var/run/system-docker.sock")
        );
    }

    #[test]
    fn user_defaults_keep_the_default_bridge() {
        let d = DaemonSpec::defaults(Scope::User);
        let args = d.to_args();
        assert!(args.contains(&"--host=unix:///var/run/docker.sock".to_string()));
        assert!(!args
            .iter()
            .any(|a| a.starts_with("--bridge") || a.starts_with("--iptables")));
        // User workloads with --restart=always come back when User Docker starts.
        assert!(!args.iter().any(|a| a.starts_with("--restart")));
    }
}
