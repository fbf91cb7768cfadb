//! One resolved service: its interpolated compose spec plus what the `io.rancher.os.*` labels
//! and compose keys mean for scheduling.

use os_config::model::service::{
    LABEL_AFTER, LABEL_BEFORE, LABEL_CREATEONLY, LABEL_DETACH, LABEL_RELOADCONFIG, LABEL_SCOPE,
};
use os_config::model::ServiceSpec;

use crate::scope::Scope;

/// Where a service's definition came from (shown by `ros service list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `rancher.services` of the merged config.
    Config,
    /// A `rancher.services_include` entry, read from `path`.
    Include {
        name: String,
        path: std::path::PathBuf,
    },
}

/// A service ready to schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub spec: ServiceSpec,
    pub scope: Scope,
    /// `io.rancher.os.detach: "false"`: dependents wait for it to exit 0.
    pub one_shot: bool,
    /// `io.rancher.os.createonly`: created, never started.
    pub create_only: bool,
    /// `io.rancher.os.reloadconfig`: reload the config after it ran.
    pub reload_config: bool,
    pub origin: Origin,
}

impl Service {
    pub fn new(name: &str, spec: ServiceSpec, origin: Origin) -> Service {
        let truthy = |key: &str| spec.label(key).is_some_and(|v| is_true(&v));
        Service {
            name: name.to_string(),
            scope: Scope::from_label(spec.label(LABEL_SCOPE).as_deref()),
            one_shot: spec.label(LABEL_DETACH).is_some_and(|v| is_false(&v)),
            create_only: truthy(LABEL_CREATEONLY),
            reload_config: truthy(LABEL_RELOADCONFIG),
            spec,
            origin,
        }
    }

    /// The container name: the service name, as RancherOS v1 named them.
    pub fn container_name(&self) -> &str {
        &self.name
    }

    /// Services this one waits for: `after` label, `depends_on`, `links`, `volumes_from`, and
    /// `container:`/`service:` network, pid and ipc modes.
    pub fn waits_for(&self) -> Vec<String> {
        let mut out = comma_list(self.spec.label(LABEL_AFTER));
        out.extend(self.spec.depends_on.iter().cloned());
        out.extend(
            self.spec
                .links
                .iter()
                .filter_map(|l| l.split(':').next().map(str::to_string)),
        );
        out.extend(
            self.spec
                .volumes_from
                .iter()
                .map(|v| volumes_from_source(v).to_string()),
        );
        let modes = [
            self.spec.network(),
            self.spec.pid.as_deref(),
            self.spec.ipc.as_deref(),
        ];
        for mode in modes.into_iter().flatten() {
            if let Some(other) = mode
                .strip_prefix("container:")
                .or_else(|| mode.strip_prefix("service:"))
            {
                out.push(other.to_string());
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }

    /// Services that wait for this one (`io.rancher.os.before`).
    pub fn runs_before(&self) -> Vec<String> {
        comma_list(self.spec.label(LABEL_BEFORE))
    }
}

/// `svc`, `svc:ro`, `container:svc:rw` → `svc`.
pub(crate) fn volumes_from_source(item: &str) -> &str {
    let item = item
        .strip_prefix("container:")
        .or_else(|| item.strip_prefix("service:"))
        .unwrap_or(item);
    item.split(':').next().unwrap_or(item)
}

fn comma_list(v: Option<String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn is_true(v: &str) -> bool {
    os_config::truthiness::flag(v) == Some(true)
}

fn is_false(v: &str) -> bool {
    os_config::truthiness::flag(v) == Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labels_and_edges() {
        let spec: ServiceSpec = yaml_serde::from_str(
            "image: x\nlabels: {io.rancher.os.scope: system, io.rancher.os.detach: 'false', io.rancher.os.after: 'a, b', io.rancher.os.before: c}\n\
             depends_on: [d]\nlinks: ['e:alias']\nvolumes_from: ['f:ro', 'container:g']\nnet: 'container:h'",
        )
        .unwrap();
        let s = Service::new("s", spec, Origin::Config);
        assert_eq!(s.scope, Scope::System);
        assert!(s.one_shot && !s.create_only);
        assert_eq!(s.waits_for(), ["a", "b", "d", "e", "f", "g", "h"]);
        assert_eq!(s.runs_before(), ["c"]);
    }
}
