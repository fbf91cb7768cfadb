//! The service engine: the small surface PID 1 and `ros service` call.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::{
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};
use tokio::sync::OnceCell;

use crate::client::{self, DaemonClient};
use crate::container_files::ContainerFiles;
use crate::container_spec::{LABEL_PROJECT, LABEL_SERVICE, PROJECT};
use crate::error::{Error, Result};
use crate::executor::{self, ServiceReport};
use crate::image_loads::{ImageLoads, Wanted};
use crate::images::ImageSources;
use crate::project::Project;
use crate::reconcile::{self, inspect, is_not_found, ReconcileOptions};
use crate::scope::Scope;
use crate::service::Service;

/// Where the daemons are and how patient to be.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `unix:///var/run/system-docker.sock` unless overridden.
    pub system_host: String,
    /// `unix:///var/run/docker.sock` unless overridden.
    pub user_host: String,
    pub images: ImageSources,
    /// How long to wait for a daemon's API on first use.
    pub connect_timeout: Duration,
    pub one_shot_timeout: Duration,
    pub stop_timeout: Duration,
    /// How many times `up` may reload the config after `io.rancher.os.reloadconfig` services.
    pub max_reloads: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            system_host: Scope::System.host_from_env(),
            user_host: Scope::User.host_from_env(),
            images: ImageSources::default(),
            connect_timeout: Duration::from_secs(30),
            one_shot_timeout: Duration::from_secs(600),
            stop_timeout: Duration::from_secs(10),
            max_reloads: 3,
        }
    }
}

/// Produces a fresh [`Project`] from the current config (for `io.rancher.os.reloadconfig`).
pub type Reloader = Arc<dyn Fn() -> Project + Send + Sync>;

/// What `up` did, service by service (dependencies first).
#[derive(Debug, Default)]
pub struct UpReport {
    pub services: Vec<ServiceReport>,
}

impl UpReport {
    pub fn failures(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services.iter().filter(|r| !r.is_ok())
    }
    pub fn is_ok(&self) -> bool {
        self.failures().next().is_none()
    }
    pub fn get(&self, name: &str) -> Option<&ServiceReport> {
        self.services.iter().find(|r| r.name == name)
    }
}

/// One service's known state, for `ros service list` and `ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    pub name: String,
    pub scope: Scope,
    /// `running`, `exited`, `created`, …; `missing` when no container exists; `unknown` when
    /// its daemon does not answer.
    pub state: String,
    pub container_id: Option<String>,
    pub image: Option<String>,
    /// Human status from Docker (`Up 3 seconds`, `Exited (0) …`).
    pub status: Option<String>,
}

/// A byte stream of a service's logs (stdout and stderr interleaved).
pub type LogStream = Pin<Box<dyn Stream<Item = Result<LogOutput>> + Send>>;

/// The engine: lazy connections to System and User Docker.
pub struct Engine {
    options: EngineOptions,
    system: OnceCell<DaemonClient>,
    user: OnceCell<DaemonClient>,
    reloader: Option<Reloader>,
    files: Option<ContainerFiles>,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Engine {
        Engine {
            options,
            system: OnceCell::new(),
            user: OnceCell::new(),
            reloader: None,
            files: None,
        }
    }

    /// Sets where `write_files` for containers come from (see [`ContainerFiles`]).
    pub fn with_container_files(mut self, files: ContainerFiles) -> Engine {
        self.files = Some(files);
        self
    }

    /// Sets how the config is reloaded after an `io.rancher.os.reloadconfig` service ran.
    pub fn with_reloader(mut self, reloader: Reloader) -> Engine {
        self.reloader = Some(reloader);
        self
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The client for `scope`, connecting (bounded) on first use.
    pub async fn client(&self, scope: Scope) -> Result<&DaemonClient> {
        let (cell, host) = match scope {
            Scope::System => (&self.system, &self.options.system_host),
            Scope::User => (&self.user, &self.options.user_host),
        };
        cell.get_or_try_init(|| client::connect(host, self.options.connect_timeout))
            .await
    }

    /// Brings up every service of `scope` (the boot path).
    pub async fn up(&self, project: &Project, scope: Scope) -> Result<UpReport> {
        self.up_services(project, Some(scope), &[]).await
    }

    /// Brings up `names` (all when empty) of `scope` (both when `None`) and what they wait for.
    /// Fails only when the set cannot be scheduled (unknown name, cycle); per-service failures
    /// are in the report.
    pub async fn up_services(
        &self,
        project: &Project,
        scope: Option<Scope>,
        names: &[String],
    ) -> Result<UpReport> {
        let mut report = self.run_up(project, scope, names).await?;
        let mut known: Vec<String> = project.services.keys().cloned().collect();
        for _ in 0..self.options.max_reloads {
            let reloaded = report.services.iter().any(|r| {
                r.is_ok()
                    && project
                        .services
                        .get(&r.name)
                        .is_some_and(|s| s.reload_config)
            });
            let Some(reloader) = self.reloader.as_ref().filter(|_| reloaded) else {
                break;
            };
            let fresh = reloader();
            let new: Vec<String> = fresh
                .services
                .iter()
                .filter(|(n, s)| !known.contains(n) && scope.is_none_or(|sc| s.scope == sc))
                .map(|(n, _)| n.clone())
                .collect();
            if new.is_empty() {
                break;
            }
            tracing::info!(services = ?new, "config reloaded; bringing up newly enabled services");
            known.extend(new.iter().cloned());
            let more = self.run_up(&fresh, scope, &new).await?;
            report.services.extend(more.services);
        }
        Ok(report)
    }

    async fn run_up(
        &self,
        project: &Project,
        scope: Option<Scope>,
        names: &[String],
    ) -> Result<UpReport> {
        let selected = project.select(scope, names)?;
        let graph = Project::graph(&selected)?;
        let services: Vec<Service> = selected.into_iter().cloned().collect();
        let mut clients: HashMap<Scope, Result<DaemonClient>> = HashMap::new();
        for scope in [Scope::System, Scope::User] {
            if services.iter().any(|s| s.scope == scope) {
                let c = self.client(scope).await.cloned();
                clients.insert(scope, c);
            }
        }
        // Services pulled in only because a named one waits for them.
        let keep_completed: BTreeSet<String> = if names.is_empty() {
            BTreeSet::new()
        } else {
            services
                .iter()
                .filter(|s| !names.contains(&s.name))
                .map(|s| s.name.clone())
                .collect()
        };
        let options = ReconcileOptions {
            one_shot_timeout: self.options.one_shot_timeout,
            stop_timeout: self.options.stop_timeout,
            files: self.files.clone(),
            // The boot's whole `up` spares nothing, so it does not read /proc/stat.
            boot_epoch: if keep_completed.is_empty() {
                None
            } else {
                crate::one_shot::boot_epoch()
            },
            keep_completed: Arc::new(keep_completed),
        };
        let images = ImageLoads::start(
            wanted_images(&graph, &services, &clients),
            ImageSources {
                registry_auths: project.registry_auths.clone(),
                ..self.options.images.clone()
            },
        );
        let clients = Arc::new(clients);
        let reports = executor::run(services, &graph, move |service| {
            let clients = clients.clone();
            let options = options.clone();
            let images = images.clone();
            async move {
                let client = match clients.get(&service.scope) {
                    Some(Ok(c)) => c,
                    Some(Err(e)) => return Err(Error::service(&service.name, e)),
                    None => return Err(Error::service(&service.name, "no daemon")),
                };
                reconcile::reconcile(client, &service, &options, &images).await
            }
        })
        .await;
        Ok(UpReport { services: reports })
    }

    /// The scope a name runs in: from the project, else wherever a container of that name is.
    async fn locate(&self, project: &Project, name: &str) -> Result<(Scope, &DaemonClient)> {
        if let Some(s) = project.services.get(name) {
            return Ok((s.scope, self.client(s.scope).await?));
        }
        for scope in [Scope::System, Scope::User] {
            if let Ok(c) = self.client(scope).await {
                if inspect(c, name).await?.is_some() {
                    return Ok((scope, c));
                }
            }
        }
        Err(Error::UnknownService(name.to_string()))
    }

    /// Names in dependency order (or reversed), defaulting to the whole project.
    fn ordered(&self, project: &Project, names: &[String], reverse: bool) -> Result<Vec<String>> {
        let all = project.select(None, &[])?;
        let graph = Project::graph(&all)?;
        let mut order: Vec<String> = if names.is_empty() {
            graph.order().to_vec()
        } else {
            let mut known: Vec<String> = graph
                .order()
                .iter()
                .filter(|n| names.contains(n))
                .cloned()
                .collect();
            let extra: Vec<String> = names
                .iter()
                .filter(|n| !known.contains(n))
                .cloned()
                .collect();
            known.extend(extra);
            known
        };
        if reverse {
            order.reverse();
        }
        Ok(order)
    }

    /// Starts existing containers (no create, no recreate).
    pub async fn start(&self, project: &Project, names: &[String]) -> Result<()> {
        let mut errors = Vec::new();
        for name in self.ordered(project, names, false)? {
            let r = async {
                let (_, c) = self.locate(project, &name).await?;
                match c.docker.start_container(&name, None).await {
                    Ok(())
                    | Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 304,
                        ..
                    }) => Ok(()),
                    Err(e) if is_not_found(&e) && names.is_empty() => Ok(()),
                    Err(e) => Err(Error::service(&name, c.err(e))),
                }
            }
            .await;
            collect(r, &mut errors, names.is_empty());
        }
        finish(errors)
    }

    /// Stops services (dependents first), waiting up to `timeout` each before SIGKILL.
    pub async fn stop(&self, project: &Project, names: &[String], timeout: Duration) -> Result<()> {
        let mut errors = Vec::new();
        for name in self.ordered(project, names, true)? {
            let r = async {
                let (_, c) = self.locate(project, &name).await?;
                let opts = StopContainerOptionsBuilder::default()
                    .t(i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX))
                    .build();
                match c.docker.stop_container(&name, Some(opts)).await {
                    Ok(())
                    | Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 304,
                        ..
                    }) => Ok(()),
                    Err(e) if is_not_found(&e) && names.is_empty() => Ok(()),
                    Err(e) => Err(Error::service(&name, c.err(e))),
                }
            }
            .await;
            collect(r, &mut errors, names.is_empty());
        }
        finish(errors)
    }

    /// Stop then start.
    pub async fn restart(
        &self,
        project: &Project,
        names: &[String],
        timeout: Duration,
    ) -> Result<()> {
        self.stop(project, names, timeout).await?;
        self.start(project, names).await
    }

    /// `rancher.restart_services` (RancherOS v1): restarts each named system service once,
    /// after the boot's `up` (so those that started before cloud-init see all it applied).
    /// One result per name; a name that is no system service is an error of its own.
    pub async fn restart_listed(
        &self,
        project: &Project,
        names: &[String],
        timeout: Duration,
    ) -> Vec<(String, Result<()>)> {
        let mut out = Vec::new();
        for name in names {
            let is_system = project
                .services
                .get(name)
                .is_some_and(|s| s.scope == Scope::System);
            let result = if is_system {
                self.restart(project, std::slice::from_ref(name), timeout)
                    .await
            } else {
                Err(Error::UnknownService(name.clone()))
            };
            out.push((name.clone(), result));
        }
        out
    }

    /// Sends `signal` (e.g. `SIGKILL`) to running services.
    pub async fn kill(&self, project: &Project, names: &[String], signal: &str) -> Result<()> {
        let mut errors = Vec::new();
        for name in self.ordered(project, names, true)? {
            let r = async {
                let (_, c) = self.locate(project, &name).await?;
                let opts = KillContainerOptionsBuilder::default()
                    .signal(signal)
                    .build();
                match c.docker.kill_container(&name, Some(opts)).await {
                    Ok(()) => Ok(()),
                    Err(e) if names.is_empty() => {
                        tracing::debug!(service = %name, error = %e, "kill skipped");
                        Ok(())
                    }
                    Err(e) => Err(Error::service(&name, c.err(e))),
                }
            }
            .await;
            collect(r, &mut errors, names.is_empty());
        }
        finish(errors)
    }

    /// Removes service containers (stopping them first, bounded).
    pub async fn rm(&self, project: &Project, names: &[String]) -> Result<()> {
        let mut errors = Vec::new();
        for name in self.ordered(project, names, true)? {
            let r = async {
                let (_, c) = self.locate(project, &name).await?;
                reconcile::remove(c, &name, self.options.stop_timeout).await
            }
            .await;
            collect(r, &mut errors, names.is_empty());
        }
        finish(errors)
    }

    /// The state of every service in `project`, plus engine-managed containers no longer in it.
    pub async fn status(&self, project: &Project) -> Result<Vec<ServiceStatus>> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let mut down = Vec::new();
        for scope in [Scope::System, Scope::User] {
            let client = match self.client(scope).await {
                Ok(c) => c,
                Err(e) => {
                    // One daemon down must not hide the other's services.
                    tracing::debug!(%scope, error = %e, "daemon not reachable");
                    down.push(scope);
                    continue;
                }
            };
            let mut filters = HashMap::new();
            filters.insert(
                "label".to_string(),
                vec![format!("{LABEL_PROJECT}={PROJECT}")],
            );
            let opts = ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build();
            let list = client
                .docker
                .list_containers(Some(opts))
                .await
                .map_err(|e| client.err(e))?;
            for c in list {
                let Some(name) = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_SERVICE))
                    .cloned()
                else {
                    continue;
                };
                seen.push(name.clone());
                out.push(ServiceStatus {
                    name,
                    scope,
                    state: c
                        .state
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "unknown".into()),
                    container_id: c.id,
                    image: c.image,
                    status: c.status,
                });
            }
        }
        for s in project.services.values() {
            if !seen.contains(&s.name) {
                out.push(ServiceStatus {
                    name: s.name.clone(),
                    scope: s.scope,
                    state: if down.contains(&s.scope) {
                        "unknown"
                    } else {
                        "missing"
                    }
                    .into(),
                    container_id: None,
                    image: s.spec.image.clone(),
                    status: None,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A service's logs; `follow` keeps the stream open, `tail` limits the backlog.
    pub async fn logs(
        &self,
        project: &Project,
        name: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> Result<LogStream> {
        let (_, c) = self.locate(project, name).await?;
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(&tail.map_or_else(|| "all".to_string(), |t| t.to_string()))
            .build();
        let client = c.clone();
        let stream = c
            .docker
            .logs(name, Some(opts))
            .map(move |r| r.map_err(|e| client.err(e)));
        Ok(Box::pin(stream))
    }
}

/// Every service's image in the graph's order, on its scope's daemon (services whose daemon is
/// unreachable or that name no image are left to fail in their own reconcile).
fn wanted_images(
    graph: &crate::graph::Graph,
    services: &[Service],
    clients: &HashMap<Scope, Result<DaemonClient>>,
) -> Vec<Wanted> {
    let by_name: HashMap<&str, &Service> = services.iter().map(|s| (s.name.as_str(), s)).collect();
    graph
        .order()
        .iter()
        .filter_map(|name| {
            let service = by_name.get(name.as_str())?;
            let image = service.spec.image.clone().filter(|i| !i.is_empty())?;
            let Some(Ok(client)) = clients.get(&service.scope) else {
                return None;
            };
            Some(Wanted {
                client: client.clone(),
                scope: service.scope,
                service: service.name.clone(),
                image,
            })
        })
        .collect()
}

fn collect(r: Result<()>, errors: &mut Vec<Error>, lenient: bool) {
    match r {
        Ok(()) => {}
        Err(Error::UnknownService(n)) if lenient => tracing::debug!(service = %n, "no container"),
        Err(e) => errors.push(e),
    }
}

fn finish(mut errors: Vec<Error>) -> Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Many(errors)),
    }
}
