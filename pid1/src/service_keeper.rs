//! Keeps `restart: always` system services running. Docker does not restart a container that
//! was `docker kill`ed (it counts as a manual stop), but a killed console or syslog must come
//! back. A container that dies without a `stop` event (which `docker stop` and `ros service
//! stop` send) is started again after a short grace, unless Docker is already restarting it.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use sysdocker::{Project, Scope};

/// Long enough for the `stop` event that follows an operator's stop, short enough that a killed
/// console is back well within half a minute.
const GRACE: Duration = Duration::from_secs(3);

/// Deaths not yet explained by a stop, by container name.
#[derive(Debug, Default)]
pub struct Pending {
    died: HashMap<String, Instant>,
}

impl Pending {
    pub fn on_event(&mut self, action: &str, name: &str, now: Instant) {
        match action {
            "die" => {
                self.died.insert(name.to_owned(), now);
            }
            "stop" | "start" | "destroy" => {
                self.died.remove(name);
            }
            _ => {}
        }
    }

    /// Names whose grace has run out; they leave the pending set.
    pub fn due(&mut self, now: Instant, grace: Duration) -> Vec<String> {
        let due: Vec<String> = self
            .died
            .iter()
            .filter(|(_, t)| now.duration_since(**t) >= grace)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &due {
            self.died.remove(n);
        }
        due
    }
}

/// The system services Docker itself would keep running.
pub fn kept_services(project: &Project) -> BTreeSet<String> {
    project
        .services
        .values()
        .filter(|s| s.scope == Scope::System && !s.one_shot && !s.create_only)
        .filter(|s| {
            matches!(
                s.spec.restart.as_deref().map(str::trim),
                Some("always" | "unless-stopped")
            )
        })
        .map(|s| s.container_name().to_owned())
        .collect()
}

/// Runs until aborted; reconnects to the event stream whenever it ends (System Docker restarted).
pub async fn run(docker: Docker, kept: BTreeSet<String>) {
    if kept.is_empty() {
        return;
    }
    let mut pending = Pending::default();
    loop {
        let filters = HashMap::from([
            ("type", vec!["container"]),
            ("event", vec!["die", "stop", "start", "destroy"]),
        ]);
        let mut events = docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = events.next() => {
                    let Some(Ok(ev)) = ev else { break };
                    let name = ev
                        .actor
                        .and_then(|a| a.attributes)
                        .and_then(|mut a| a.remove("name"));
                    if let (Some(action), Some(name)) = (ev.action, name) {
                        if kept.contains(&name) {
                            pending.on_event(&action, &name, Instant::now());
                        }
                    }
                }
                _ = tick.tick() => {
                    for name in pending.due(Instant::now(), GRACE) {
                        revive(&docker, &name).await;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn revive(docker: &Docker, name: &str) {
    let info = match docker.inspect_container(name, None).await {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(service = name, error = %e, "cannot inspect a dead service");
            return;
        }
    };
    let state = info.state.unwrap_or_default();
    if state.running.unwrap_or(false) {
        return;
    }
    // Dead, whether or not Docker is about to restart it: what it left in its cgroup goes
    // first, or runc refuses to start it there again (see stale_cgroup).
    let parent = info.host_config.and_then(|h| h.cgroup_parent);
    let dir = info.id.as_deref().and_then(|id| {
        crate::stale_cgroup::dir_of(
            Path::new(crate::stale_cgroup::CGROUP_ROOT),
            parent.as_deref(),
            id,
        )
    });
    if let Some(dir) = dir {
        match crate::stale_cgroup::clear(&dir).await {
            Ok(true) => {
                tracing::info!(service = name, cgroup = %dir.display(), "left-over cgroup of the dead service cleared")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(service = name, error = %e, "cannot clear the dead service's cgroup")
            }
        }
    }
    if state.restarting.unwrap_or(false) {
        return;
    }
    tracing::warn!(
        service = name,
        exit_code = state.exit_code,
        "service died without being stopped; starting it again"
    );
    if let Err(e) = docker.start_container(name, None).await {
        tracing::error!(service = name, error = %e, "cannot restart the service");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kill_is_revived_and_a_stop_is_not() {
        let t0 = Instant::now();
        let mut p = Pending::default();
        p.on_event("die", "console", t0);
        p.on_event("die", "syslog", t0);
        p.on_event("stop", "syslog", t0 + Duration::from_millis(100));
        assert!(p.due(t0 + Duration::from_secs(1), GRACE).is_empty());
        assert_eq!(p.due(t0 + GRACE, GRACE), ["console"]);
        assert!(p.due(t0 + GRACE * 2, GRACE).is_empty());
    }

    #[test]
    fn docker_restarting_it_clears_the_death() {
        let t0 = Instant::now();
        let mut p = Pending::default();
        p.on_event("die", "ntp", t0);
        p.on_event("start", "ntp", t0 + Duration::from_secs(1));
        assert!(p.due(t0 + GRACE * 2, GRACE).is_empty());
    }

    #[test]
    fn only_always_restarted_system_daemons_are_kept() {
        let yaml = "rancher:\n  services:\n    a: {image: x, restart: always, labels: {io.rancher.os.scope: system}}\n    b: {image: x, restart: 'no', labels: {io.rancher.os.scope: system}}\n    c: {image: x, restart: always}\n    d: {image: x, restart: unless-stopped, labels: {io.rancher.os.scope: system}}\n";
        let value: yaml_serde::Value = yaml_serde::from_str(yaml).unwrap();
        let project = Project::from_value(&value, std::path::Path::new("/nonexistent"));
        let kept: Vec<String> = kept_services(&project).into_iter().collect();
        assert_eq!(kept, ["a", "d"]);
    }
}
