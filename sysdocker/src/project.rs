//! The service set of a merged config: `rancher.services` plus enabled `rancher.services_include`
//! fragments, interpolated from `rancher.environment`. Never fails: a bad service or fragment
//! becomes a warning and the rest comes up.

use std::path::Path;

use indexmap::IndexMap;
use os_config::model::{ListOrMap, ServiceSpec};
use yaml_serde::Value;

use crate::consoles::{self, ConsoleList};
use crate::error::Result;
use crate::graph::Graph;
use crate::includes;
use crate::interpolate::{fill_environment, interpolate_value};
use crate::registry_auth::RegistryAuths;
use crate::scope::Scope;
use crate::service::{Origin, Service};

/// The service that carries out `rancher.swarm` (`ros swarm-agent`).
pub const SWARM_SERVICE: &str = "swarm";

/// A resolved service set.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub services: IndexMap<String, Service>,
    /// `services_include` entries set to `false`.
    pub disabled: Vec<String>,
    /// Everything skipped or suspicious, one line each, naming file/line or service.
    pub warnings: Vec<String>,
    pub environment: IndexMap<String, String>,
    /// `rancher.registry_auths`, sent with the pulls this set needs.
    pub registry_auths: RegistryAuths,
}

/// `rancher.network.{http,https,no}_proxy` as `HTTP_PROXY`/`http_proxy`…, for services that
/// list the bare names in `environment` (as RancherOS v1's defaults did). Tools disagree on
/// the case, so both are offered; `rancher.environment` wins where it sets one.
fn add_proxy_environment(env: &mut IndexMap<String, String>, network: Option<&Value>) {
    for key in ["http_proxy", "https_proxy", "no_proxy"] {
        let Some(value) = network
            .and_then(|n| n.get(key))
            .and_then(scalar)
            .filter(|v| !v.trim().is_empty())
        else {
            continue;
        };
        for name in [key.to_uppercase(), key.to_owned()] {
            env.entry(name).or_insert_with(|| value.trim().to_owned());
        }
    }
}

impl Project {
    /// Builds the set from the merged config value; include paths resolve under `root`.
    pub fn from_value(config: &Value, root: &Path) -> Project {
        let mut p = Project::default();
        let rancher = config.get("rancher");
        let section = |key: &str| rancher.and_then(|r| r.get(key));
        if let Some(Value::Mapping(env)) = section("environment") {
            for (k, v) in env {
                if let (Some(k), Some(v)) = (scalar(k), scalar(v).or(Some(String::new()))) {
                    p.environment.insert(k, v);
                }
            }
        }
        add_proxy_environment(&mut p.environment, section("network"));
        if let Some(Value::Mapping(services)) = section("services") {
            for (name, def) in services {
                let Some(name) = scalar(name) else { continue };
                p.add(&name, def.clone(), Origin::Config, None);
            }
        }
        let includes = section("services_include");
        if let Some(service) = hypervisor_service(root, section("hypervisor_service"), includes) {
            p.add_include(root, service);
        }
        if let Some(Value::Mapping(includes)) = includes {
            for (name, enabled) in includes {
                let Some(name) = scalar(name) else { continue };
                if !matches!(enabled, Value::Bool(true))
                    && scalar(enabled).as_deref() != Some("true")
                {
                    p.disabled.push(name);
                    continue;
                }
                p.add_include(root, &name);
            }
        }
        p.remove_disabled(section("disable"));
        p.apply_console(root, section("console"));
        p.keep_swarm_only_when_used(root, section("swarm"));
        p.read_registry_auths(section("registry_auths"));
        p
    }

    /// `rancher.console`: the console service runs that console's image (`consoles.yml`). An
    /// unknown name, or no list, leaves the default console, with a warning.
    fn apply_console(&mut self, root: &Path, value: Option<&Value>) {
        let value = value.and_then(scalar);
        let name = consoles::configured_name(value.as_deref());
        if name == consoles::DEFAULT_CONSOLE {
            return;
        }
        let picked = ConsoleList::read(root).and_then(|list| list.pick(name).cloned());
        match picked {
            Ok(console) => {
                if let Some(service) = self.services.get_mut(consoles::CONSOLE_SERVICE) {
                    service.spec.image = Some(console.image);
                }
            }
            Err(e) => self.warnings.push(format!("{e}; the default console runs")),
        }
    }

    /// The `swarm` service runs only where there is something for it to do: a role in
    /// `rancher.swarm`, or a swarm ros joined that the node must now leave.
    fn keep_swarm_only_when_used(&mut self, root: &Path, value: Option<&Value>) {
        let role = value.and_then(|v| v.get("role")).and_then(scalar);
        let joined = root.join(os_config::paths::SWARM_MARKER).is_file();
        if role.is_none() && !joined {
            self.services.shift_remove(SWARM_SERVICE);
        }
    }

    fn read_registry_auths(&mut self, value: Option<&Value>) {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return;
        };
        match yaml_serde::from_value(value.clone()) {
            Ok(map) => {
                let (auths, mut warnings) = RegistryAuths::from_config(&map);
                self.registry_auths = auths;
                self.warnings.append(&mut warnings);
            }
            // serde's message could quote a password; say only where.
            Err(_) => self.warnings.push(
                "rancher.registry_auths: not a map of registry to credentials; ignored".into(),
            ),
        }
    }

    /// `rancher.disable`: services that must not run, whatever defined them (RancherOS v1).
    /// Ordering edges to them are dropped by the graph, so their dependents still start.
    fn remove_disabled(&mut self, disable: Option<&Value>) {
        let names: Vec<String> = match disable {
            Some(Value::Sequence(items)) => items.iter().filter_map(scalar).collect(),
            Some(v) => scalar(v).into_iter().collect(),
            None => Vec::new(),
        };
        for name in names {
            if self.services.shift_remove(&name).is_none() {
                self.warnings.push(format!(
                    "rancher.disable: {name} is not a service; nothing to disable"
                ));
                continue;
            }
            if !self.disabled.contains(&name) {
                self.disabled.push(name);
            }
        }
    }

    fn add_include(&mut self, root: &Path, name: &str) {
        let path = match includes::resolve(root, name) {
            Ok(p) => p,
            Err(looked) => {
                let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
                self.warnings.push(format!(
                    "services_include {name}: no definition found (looked at {})",
                    looked.join(", ")
                ));
                return;
            }
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.warnings.push(format!("{}: {e}", path.display()));
                return;
            }
        };
        match includes::parse_fragment(&text, &path) {
            Ok(map) => {
                for (svc, def) in map {
                    let Some(svc) = scalar(&svc) else { continue };
                    if self.services.contains_key(&svc) {
                        self.warnings.push(format!(
                            "{}: service {svc} is already defined in rancher.services; that definition wins",
                            path.display()
                        ));
                        continue;
                    }
                    let origin = Origin::Include {
                        name: name.to_string(),
                        path: path.clone(),
                    };
                    self.add(&svc, def, origin, Some(&path));
                }
            }
            Err(msg) => self
                .warnings
                .push(format!("{msg} (services_include {name} skipped)")),
        }
    }

    fn add(&mut self, name: &str, mut def: Value, origin: Origin, file: Option<&Path>) {
        let where_ = file.map_or_else(
            || "rancher.services".to_string(),
            |f| f.display().to_string(),
        );
        for var in interpolate_value(&mut def, &self.environment) {
            self.warnings.push(format!(
                "{where_}: service {name}: variable {var} is not set in rancher.environment; using an empty string"
            ));
        }
        let mut unknown = Vec::new();
        let spec: std::result::Result<ServiceSpec, _> =
            serde_ignored::deserialize(def, |path| unknown.push(path.to_string()));
        for key in unknown {
            self.warnings.push(format!(
                "{where_}: service {name}: unknown key {key} ignored"
            ));
        }
        match spec {
            Ok(mut spec) => {
                spec.environment = ListOrMap::List(self.effective_environment(&spec.environment));
                self.services
                    .insert(name.to_string(), Service::new(name, spec, origin));
            }
            Err(e) => self
                .warnings
                .push(format!("{where_}: service {name}: {e}; service skipped")),
        }
    }

    fn effective_environment(&self, env: &ListOrMap) -> Vec<String> {
        let items: Vec<String> = env
            .entries()
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k,
            })
            .collect();
        fill_environment(&items, &self.environment)
    }

    /// The services to act on: `names` (all when empty) of `scope` (any when `None`), plus
    /// everything they wait for in the same scope.
    pub fn select(&self, scope: Option<Scope>, names: &[String]) -> Result<Vec<&Service>> {
        for n in names {
            if !self.services.contains_key(n) {
                return Err(crate::Error::UnknownService(n.clone()));
            }
        }
        let in_scope = |s: &Service| scope.is_none_or(|sc| s.scope == sc);
        let mut chosen: IndexMap<&str, &Service> = IndexMap::new();
        let mut todo: Vec<&str> = if names.is_empty() {
            self.services.keys().map(String::as_str).collect()
        } else {
            names.iter().map(String::as_str).collect()
        };
        while let Some(n) = todo.pop() {
            let Some(s) = self.services.get(n) else {
                continue;
            };
            if !in_scope(s) || chosen.contains_key(n) {
                continue;
            }
            chosen.insert(n, s);
            if !names.is_empty() {
                todo.extend(s.waits_for().iter().filter_map(|d| {
                    self.services
                        .get_key_value(d.as_str())
                        .map(|(k, _)| k.as_str())
                }));
                // `before` edges point at us from the other side.
                for (other, svc) in &self.services {
                    if svc.runs_before().iter().any(|b| b == n) {
                        todo.push(other.as_str());
                    }
                }
            }
        }
        let mut out: Vec<&Service> = chosen.into_values().collect();
        out.sort_by_key(|s| self.services.get_index_of(&s.name));
        Ok(out)
    }

    /// The checked dependency graph over `services`.
    pub fn graph(services: &[&Service]) -> Result<Graph> {
        let mut edges = Vec::new();
        for s in services {
            for d in s.waits_for() {
                edges.push((s.name.clone(), d));
            }
            for b in s.runs_before() {
                edges.push((b, s.name.clone()));
            }
        }
        Graph::new(services.iter().map(|s| s.name.as_str()), edges)
    }
}

/// `rancher.hypervisor_service: true`: the guest agent of the hypervisor under `root`'s DMI,
/// unless `services_include` already names it (enabled or not: the operator's word wins).
fn hypervisor_service(
    root: &Path,
    flag: Option<&Value>,
    includes: Option<&Value>,
) -> Option<&'static str> {
    let on = flag
        .and_then(scalar)
        .is_some_and(|v| os_config::truthiness::is_true(&v));
    if !on {
        return None;
    }
    let service = host::hypervisor::detect(root)?.guest_service()?;
    let named = includes.and_then(|i| i.get(service)).is_some();
    (!named).then_some(service)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_settings_reach_services_that_ask() {
        let cfg: Value = yaml_serde::from_str(
            "rancher:\n  environment: {NO_PROXY: from-env}\n  network: {http_proxy: 'http://p:3128', no_proxy: localhost}\n  services:\n    asks: {image: x, environment: [HTTP_PROXY, http_proxy, NO_PROXY, HTTPS_PROXY]}\n    silent: {image: y}\n",
        )
        .unwrap();
        let p = Project::from_value(&cfg, Path::new("/nonexistent"));
        assert_eq!(
            p.services["asks"].spec.environment,
            ListOrMap::List(vec![
                "HTTP_PROXY=http://p:3128".into(),
                "http_proxy=http://p:3128".into(),
                "NO_PROXY=from-env".into(),
            ])
        );
        assert_eq!(p.services["silent"].spec.environment, ListOrMap::default());
    }

    #[test]
    fn builds_services_with_interpolation_and_warnings() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(includes::BUNDLED_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("good.yml"),
            "services:\n  good: {image: 'g:${TAG}'}\n",
        )
        .unwrap();
        std::fs::write(dir.join("bad.yml"), "bad:\n  image: [unclosed\n").unwrap();
        let cfg: Value = yaml_serde::from_str(
            "rancher:\n  environment: {TAG: '1.0', HTTP_PROXY: p}\n  services:\n    a:\n      image: 'x:${TAG}'\n      environment: [HTTP_*, 'B=2']\n      bogus_key: 1\n  services_include: {good: true, bad: true, off: false}\n",
        )
        .unwrap();
        let p = Project::from_value(&cfg, root.path());
        assert_eq!(p.services["a"].spec.image.as_deref(), Some("x:1.0"));
        assert_eq!(p.services["good"].spec.image.as_deref(), Some("g:1.0"));
        assert_eq!(
            p.services["a"].spec.environment,
            ListOrMap::List(vec!["HTTP_PROXY=p".into(), "B=2".into()])
        );
        assert_eq!(p.disabled, ["off"]);
        assert!(
            p.warnings
                .iter()
                .any(|w| w == "rancher.services: service a: unknown key bogus_key ignored"),
            "{:?}",
            p.warnings
        );
        let bad = dir.join("bad.yml").display().to_string();
        assert!(
            p.warnings
                .iter()
                .any(|w| w.starts_with(&format!("{bad}:3:1: "))),
            "{:?}",
            p.warnings
        );
        assert!(!p.services.contains_key("bad"));
    }

    #[test]
    fn the_swarm_service_runs_only_with_a_role_or_a_swarm_to_leave() {
        let root = tempfile::tempdir().unwrap();
        let yaml = |s: &str| -> Value { yaml_serde::from_str(s).unwrap() };
        let services = "rancher: {services: {swarm: {image: ros/console}}";
        let none = Project::from_value(&yaml(&format!("{services}}}")), root.path());
        assert!(!none.services.contains_key(SWARM_SERVICE));
        let worker = yaml(&format!("{services}, swarm: {{role: worker}}}}"));
        let with_role = Project::from_value(&worker, root.path());
        assert!(with_role.services.contains_key(SWARM_SERVICE));
        // Removed from the config after ros joined: it runs once more, to leave.
        let marker = root.path().join(os_config::paths::SWARM_MARKER);
        std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
        std::fs::write(&marker, "worker\n").unwrap();
        let to_leave = Project::from_value(&yaml(&format!("{services}}}")), root.path());
        assert!(to_leave.services.contains_key(SWARM_SERVICE));
    }

    #[test]
    fn hypervisor_service_enables_the_matching_guest_agent() {
        let root = tempfile::tempdir().unwrap();
        let dmi = root.path().join("sys/class/dmi/id");
        std::fs::create_dir_all(&dmi).unwrap();
        std::fs::write(dmi.join("sys_vendor"), "QEMU\n").unwrap();
        let services = root.path().join(includes::BUNDLED_DIR);
        std::fs::create_dir_all(&services).unwrap();
        std::fs::write(
            services.join("qemu-guest-agent.yml"),
            "qemu-guest-agent: {image: qga}\n",
        )
        .unwrap();
        let yaml = |s: &str| -> Value { yaml_serde::from_str(s).unwrap() };
        let on = Project::from_value(&yaml("rancher: {hypervisor_service: true}"), root.path());
        assert!(
            on.services.contains_key("qemu-guest-agent"),
            "{:?}",
            on.warnings
        );
        let off = Project::from_value(&yaml("rancher: {hypervisor_service: false}"), root.path());
        assert!(!off.services.contains_key("qemu-guest-agent"));
        // The operator's explicit `false` wins over detection.
        let vetoed = Project::from_value(
            &yaml(
                "rancher: {hypervisor_service: true, services_include: {qemu-guest-agent: false}}",
            ),
            root.path(),
        );
        assert!(!vetoed.services.contains_key("qemu-guest-agent"));
        assert_eq!(vetoed.disabled, ["qemu-guest-agent"]);
    }

    #[test]
    fn rancher_console_picks_the_console_image() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join(consoles::CONSOLES_FILE);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            "consoles:\n- {name: default, image: 'ros/console:1'}\n- {name: debian, image: 'ros/console-debian:1'}\n",
        )
        .unwrap();
        let with = |console: &str| {
            let cfg: Value = yaml_serde::from_str(&format!(
                "rancher:\n  console: {console}\n  services:\n    console: {{image: 'ros/console:1', entrypoint: [ros, console-init]}}\n"
            ))
            .unwrap();
            Project::from_value(&cfg, root.path())
        };
        let image = |p: &Project| p.services["console"].spec.image.clone().unwrap();
        let debian = with("debian");
        assert_eq!(image(&debian), "ros/console-debian:1");
        assert!(debian.warnings.is_empty(), "{:?}", debian.warnings);
        assert_eq!(image(&with("default")), "ros/console:1");
        let unknown = with("centos");
        assert_eq!(image(&unknown), "ros/console:1");
        assert_eq!(
            unknown.warnings,
            ["rancher.console: centos is not a console this system ships (it has: default, debian); the default console runs"]
        );
    }

    #[test]
    fn disable_removes_services_and_names_unknown_ones() {
        let cfg: Value = yaml_serde::from_str(
            "rancher:\n  services:\n    acpid: {image: a}\n    ntp: {image: n, labels: {io.rancher.os.after: acpid}}\n  disable: [acpid, nosuch]\n",
        )
        .unwrap();
        let p = Project::from_value(&cfg, Path::new("/nonexistent"));
        assert!(!p.services.contains_key("acpid"));
        assert_eq!(p.disabled, ["acpid"]);
        assert_eq!(
            p.warnings,
            ["rancher.disable: nosuch is not a service; nothing to disable"]
        );
        let all = p.select(None, &[]).unwrap();
        let graph = Project::graph(&all).unwrap();
        assert_eq!(graph.order(), ["ntp"]);
    }
}
