//! Bringing one service's container to its desired state: leave a matching running container
//! alone, start a matching stopped one, recreate a changed one; one-shots run to completion.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use crate::client::DaemonClient;
use crate::container_files::{self, ContainerFiles};
use crate::container_spec::{container_body, LABEL_HASH, LABEL_PROJECT, PROJECT};
use crate::error::{Error, Result};
use crate::image_loads::ImageLoads;
use crate::one_shot;
use crate::service::Service;
use crate::spec_hash::spec_hash;

/// What `up` did to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A matching container was already running (or, create-only, already existed).
    Unchanged,
    /// A matching stopped container was started.
    Started,
    /// A new container was created (and started unless create-only).
    Created,
    /// A container with a different spec was replaced.
    Recreated,
}

/// The result of reconciling one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub action: Action,
    pub container_id: String,
    /// For one-shots: the exit code it finished with (always 0 on success).
    pub exit_code: Option<i64>,
}

/// Timeouts for one reconcile.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// How long a one-shot may run before it counts as failed.
    pub one_shot_timeout: Duration,
    /// Grace period when stopping a container that is being replaced.
    pub stop_timeout: Duration,
    /// `write_files` for containers, put in after create and before the first start.
    pub files: Option<ContainerFiles>,
    /// One-shots this `up` only waits for (dependencies of the services named): a successful
    /// run since `boot_epoch` counts and they are not run again ([`crate::one_shot`]).
    pub keep_completed: Arc<BTreeSet<String>>,
    pub boot_epoch: Option<u64>,
}

pub(crate) fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The container named `name`, if it exists.
pub async fn inspect(
    client: &DaemonClient,
    name: &str,
) -> Result<Option<ContainerInspectResponse>> {
    match client.docker.inspect_container(name, None).await {
        Ok(c) => Ok(Some(c)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(client.err(e)),
    }
}

fn is_running(c: &ContainerInspectResponse) -> bool {
    c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

fn label<'a>(c: &'a ContainerInspectResponse, key: &str) -> Option<&'a str> {
    c.config
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Brings `service` up on `client`.
pub async fn reconcile(
    client: &DaemonClient,
    service: &Service,
    options: &ReconcileOptions,
    images: &ImageLoads,
) -> Result<Reconciled> {
    let name = service.container_name();
    let mut body = container_body(service)?;
    let image = body.image.clone().unwrap_or_default();
    let image_id = images
        .get(client, service.scope, &service.name, &image)
        .await?;
    let files = match options.files.clone() {
        // The source reads the config from disk: off the async workers.
        Some(source) => {
            let name = service.name.clone();
            tokio::task::spawn_blocking(move || source.for_container(&name))
                .await
                .map_err(|e| Error::service(&service.name, format!("write_files: {e}")))?
        }
        None => Vec::new(),
    };
    // The files are part of the desired state: changing them recreates the container.
    let hash = container_files::hash_with_files(spec_hash(&body, &image_id), &files);
    if let Some(labels) = body.labels.as_mut() {
        labels.insert(LABEL_HASH.to_string(), hash.clone());
    }

    let existing = inspect(client, name).await?;
    let mut action = Action::Created;
    let mut id = None;
    if let Some(c) = existing {
        if label(&c, LABEL_PROJECT) != Some(PROJECT) {
            return Err(Error::service(
                &service.name,
                format!(
                    "a container named {name} exists and is not managed by ros; remove it first"
                ),
            ));
        }
        if label(&c, LABEL_HASH) == Some(hash.as_str()) {
            let cid = c.id.clone().unwrap_or_default();
            if service.create_only {
                return Ok(Reconciled {
                    action: Action::Unchanged,
                    container_id: cid,
                    exit_code: None,
                });
            }
            if is_running(&c) {
                if service.one_shot {
                    // Started by a concurrent `up`: dependents still need its result.
                    let code = wait_exit(client, service, options.one_shot_timeout).await?;
                    return Ok(Reconciled {
                        action: Action::Unchanged,
                        container_id: cid,
                        exit_code: Some(code),
                    });
                }
                return Ok(Reconciled {
                    action: Action::Unchanged,
                    container_id: cid,
                    exit_code: None,
                });
            }
            let done = service.one_shot
                && options.keep_completed.contains(&service.name)
                && options
                    .boot_epoch
                    .is_some_and(|boot| one_shot::completed_this_boot(&c, boot));
            if done {
                tracing::info!(service = %service.name, "one-shot already ran in this boot");
                return Ok(Reconciled {
                    action: Action::Unchanged,
                    container_id: cid,
                    exit_code: Some(0),
                });
            }
            action = Action::Started;
            id = Some(cid);
        } else {
            tracing::info!(service = %service.name, "spec changed; recreating");
            remove(client, name, options.stop_timeout).await?;
            action = Action::Recreated;
        }
    }
    let container_id = match id {
        Some(id) => id,
        None => {
            let create = CreateContainerOptionsBuilder::default().name(name).build();
            let id = client
                .docker
                .create_container(Some(create), body)
                .await
                .map_err(|e| Error::service(&service.name, format!("create: {}", client.err(e))))?
                .id;
            // Only a new container gets them: a stopped one with the same hash has them
            // already, and an `append` must not be repeated. A failed upload is reported and
            // the service still starts, like a failed write_files entry in the console.
            if let Err(e) = container_files::upload(client, &id, &service.name, &files).await {
                tracing::error!(service = %service.name, error = %e, "write_files not written");
            }
            id
        }
    };
    if service.create_only {
        tracing::info!(service = %service.name, ?action, "created (create-only)");
        return Ok(Reconciled {
            action,
            container_id,
            exit_code: None,
        });
    }
    start_with_retries(client, &service.name, name).await?;
    tracing::info!(service = %service.name, ?action, scope = %service.scope, "started");
    let exit_code = if service.one_shot {
        Some(wait_exit(client, service, options.one_shot_timeout).await?)
    } else {
        None
    };
    Ok(Reconciled {
        action,
        container_id,
        exit_code,
    })
}

/// Waits before each new try of a start that the runtime failed.
const START_RETRIES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

/// Whether a failed start is the runtime's (runc's `OCI runtime create failed`), which on a
/// loaded machine can be passing: runc's init was seen to die early ("read init-p: connection
/// reset by peer") on a 512 MiB guest under TCG, and the service never ran that boot.
pub fn runtime_start_failure(e: &BollardError) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code: 500, message }
        if message.contains("OCI runtime"))
}

/// Starts `name`, trying again (twice, a few seconds apart) when the runtime failed.
async fn start_with_retries(client: &DaemonClient, service: &str, name: &str) -> Result<()> {
    let mut waits = START_RETRIES.iter();
    loop {
        match client.docker.start_container(name, None).await {
            Ok(()) => return Ok(()),
            Err(e) if runtime_start_failure(&e) => match waits.next() {
                Some(wait) => {
                    tracing::warn!(service, error = %e, retry_in_s = wait.as_secs(), "the runtime could not start the container; trying again");
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(Error::service(service, format!("start: {}", client.err(e)))),
            },
            Err(e) => return Err(Error::service(service, format!("start: {}", client.err(e)))),
        }
    }
}

/// Stops (bounded) and removes a container; a missing one is fine.
pub async fn remove(client: &DaemonClient, name: &str, stop_timeout: Duration) -> Result<()> {
    let stop = StopContainerOptionsBuilder::default()
        .t(stop_timeout.as_secs() as i32)
        .build();
    match client.docker.stop_container(name, Some(stop)).await {
        Ok(()) => {}
        Err(BollardError::DockerResponseServerError {
            status_code: 304 | 404,
            ..
        }) => {}
        Err(e) => return Err(client.err(e)),
    }
    let rm = RemoveContainerOptionsBuilder::default().force(true).build();
    match client.docker.remove_container(name, Some(rm)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(client.err(e)),
    }
}

/// Waits (bounded) for a one-shot to exit; a non-zero exit is an error carrying its last log lines.
async fn wait_exit(client: &DaemonClient, service: &Service, timeout: Duration) -> Result<i64> {
    let deadline = host::deadline::after(timeout);
    let name = service.container_name();
    loop {
        let c = inspect(client, name)
            .await?
            .ok_or_else(|| Error::OneShotFailed {
                service: service.name.clone(),
                message: "container vanished while running".into(),
            })?;
        if !is_running(&c) {
            let code = c.state.as_ref().and_then(|s| s.exit_code).unwrap_or(-1);
            if code == 0 {
                return Ok(0);
            }
            let tail = log_tail(client, name, 5).await;
            return Err(Error::OneShotFailed {
                service: service.name.clone(),
                message: if tail.is_empty() {
                    format!("exit code {code}")
                } else {
                    format!("exit code {code}; last output: {tail}")
                },
            });
        }
        if Instant::now() >= deadline {
            return Err(Error::OneShotFailed {
                service: service.name.clone(),
                message: format!("still running after {} s", timeout.as_secs()),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `lines` lines a container printed, joined with ` | `.
pub async fn log_tail(client: &DaemonClient, name: &str, lines: usize) -> String {
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut out = String::new();
    let mut stream = Box::pin(client.docker.logs(name, Some(opts)));
    let fetch = async {
        while let Some(Ok(chunk)) = stream.next().await {
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), fetch).await;
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.to_owned(),
        }
    }

    #[test]
    fn only_the_runtimes_own_failures_are_tried_again() {
        let passing = "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: waiting for init preliminary setup: read init-p: connection reset by peer: unknown";
        assert!(runtime_start_failure(&server(500, passing)));
        // A bad entrypoint is the config's fault: Docker says 400, and it stays an error.
        assert!(!runtime_start_failure(&server(
            400,
            "OCI runtime create failed: exec: \"/x\": stat /x: no such file or directory"
        )));
        assert!(!runtime_start_failure(&server(
            500,
            "driver failed programming external connectivity"
        )));
        assert!(!runtime_start_failure(&server(404, "No such container")));
    }
}
