//! Runs a service graph: every service whose dependencies are met starts at once (one tokio
//! task each); a failed service's dependents are reported and never started.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::error::Error;
use crate::graph::Graph;
use crate::reconcile::Reconciled;
use crate::scope::Scope;
use crate::service::Service;

/// What happened to one service during `up`.
#[derive(Debug)]
pub struct ServiceReport {
    pub name: String,
    pub scope: Scope,
    pub result: Result<Reconciled, Error>,
}

impl ServiceReport {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Runs `work` for every service in `graph` as soon as all its dependencies succeeded.
/// Reports come back in the graph's topological order.
pub async fn run<F, Fut>(services: Vec<Service>, graph: &Graph, work: F) -> Vec<ServiceReport>
where
    F: Fn(Service) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Reconciled, Error>> + Send + 'static,
{
    let work = Arc::new(work);
    let mut done: HashMap<String, watch::Receiver<Option<bool>>> = HashMap::new();
    let mut senders = HashMap::new();
    for s in &services {
        let (tx, rx) = watch::channel(None);
        done.insert(s.name.clone(), rx);
        senders.insert(s.name.clone(), tx);
    }
    let mut tasks = Vec::new();
    for service in services {
        let deps: Vec<(String, watch::Receiver<Option<bool>>)> = graph
            .dependencies(&service.name)
            .filter_map(|d| done.get(d).map(|rx| (d.to_string(), rx.clone())))
            .collect();
        let Some(tx) = senders.remove(&service.name) else {
            continue;
        };
        let work = work.clone();
        let name = service.name.clone();
        let scope = service.scope;
        let handle = tokio::spawn(async move {
            let mut failed_dep = None;
            for (dep, mut rx) in deps {
                // The graph is acyclic and every task always sends, so this wait ends.
                let ok = match rx.wait_for(|v| v.is_some()).await {
                    Ok(v) => v.unwrap_or(false),
                    Err(_) => false,
                };
                if !ok {
                    failed_dep = Some(dep);
                    break;
                }
            }
            let result = match failed_dep {
                Some(dependency) => Err(Error::DependencyFailed {
                    service: service.name.clone(),
                    dependency,
                }),
                None => work(service).await,
            };
            let _ = tx.send(Some(result.is_ok()));
            result
        });
        tasks.push((name, scope, handle));
    }
    let mut reports = Vec::with_capacity(tasks.len());
    for (name, scope, handle) in tasks {
        let result = match handle.await {
            Ok(r) => r,
            Err(e) => Err(Error::service(&name, format!("task failed: {e}"))),
        };
        if let Err(e) = &result {
            tracing::error!(service = %name, error = %e, "service not up");
        }
        reports.push(ServiceReport {
            name,
            scope,
            result,
        });
    }
    let position: HashMap<&str, usize> = graph
        .order()
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    reports.sort_by_key(|r| position.get(r.name.as_str()).copied().unwrap_or(usize::MAX));
    reports
}
