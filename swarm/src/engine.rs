//! User Docker's swarm API: what the node reports, and init, join, leave, tokens, nodes.

use crate::error::SwarmError;
use crate::plan::{NodeState, Observed};
use bollard::models::{LocalNodeState, SwarmInitRequest, SwarmJoinRequest};
use os_config::model::SwarmConfig;
use sysdocker::client::DaemonClient;

/// Where the swarm listens on every node (Docker's default).
const LISTEN_ADDR: &str = "0.0.0.0:2377";

fn api(action: &'static str) -> impl FnOnce(bollard::errors::Error) -> SwarmError {
    move |source| SwarmError::Api { action, source }
}

/// `docker info`'s swarm part, in full (for `ros swarm status`).
pub async fn info(client: &DaemonClient) -> Result<bollard::models::SwarmInfo, SwarmError> {
    let info = client.docker.info().await.map_err(api("info"))?;
    Ok(info.swarm.unwrap_or_default())
}

pub fn observed(swarm: &bollard::models::SwarmInfo) -> Observed {
    let state = match swarm.local_node_state {
        Some(LocalNodeState::ACTIVE) => NodeState::Active,
        Some(LocalNodeState::PENDING) => NodeState::Pending,
        Some(LocalNodeState::LOCKED) => NodeState::Locked,
        Some(LocalNodeState::ERROR) => {
            NodeState::Error(swarm.error.clone().unwrap_or_else(|| "unknown".into()))
        }
        _ => NodeState::Inactive,
    };
    Observed {
        state,
        manager: swarm.control_available.unwrap_or(false),
    }
}

pub async fn init(client: &DaemonClient, config: &SwarmConfig) -> Result<String, SwarmError> {
    let request = SwarmInitRequest {
        listen_addr: Some(LISTEN_ADDR.into()),
        advertise_addr: config.advertise_addr.clone(),
        ..Default::default()
    };
    client
        .docker
        .init_swarm(request)
        .await
        .map_err(api("swarm init"))
}

pub async fn join(
    client: &DaemonClient,
    config: &SwarmConfig,
    manager: &str,
    token: &str,
) -> Result<(), SwarmError> {
    let request = SwarmJoinRequest {
        listen_addr: Some(LISTEN_ADDR.into()),
        advertise_addr: config.advertise_addr.clone(),
        remote_addrs: Some(vec![format!("{manager}:{}", SwarmConfig::SWARM_PORT)]),
        join_token: Some(token.to_owned()),
        ..Default::default()
    };
    client
        .docker
        .join_swarm(request)
        .await
        .map_err(api("swarm join"))
}

/// Leaves without `--force`: a manager whose leaving would cost the swarm its quorum is
/// refused by Docker, and that refusal is reported rather than overridden.
pub async fn leave(client: &DaemonClient) -> Result<(), SwarmError> {
    let options = bollard::query_parameters::LeaveSwarmOptions { force: false };
    client
        .docker
        .leave_swarm(Some(options))
        .await
        .map_err(api("swarm leave"))
}

/// The worker and manager join tokens (managers only).
pub async fn tokens(client: &DaemonClient) -> Result<(String, String), SwarmError> {
    let swarm = client
        .docker
        .inspect_swarm()
        .await
        .map_err(api("swarm inspect"))?;
    let tokens = swarm.join_tokens.unwrap_or_default();
    Ok((
        tokens.worker.unwrap_or_default(),
        tokens.manager.unwrap_or_default(),
    ))
}

/// One line of the node list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    pub hostname: String,
    pub role: String,
    pub status: String,
    pub availability: String,
    /// `leader`, `reachable`, `unreachable` or empty for workers.
    pub manager: String,
    pub addr: String,
}

pub async fn nodes(client: &DaemonClient) -> Result<Vec<NodeLine>, SwarmError> {
    let nodes = client
        .docker
        .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
        .await
        .map_err(api("node ls"))?;
    let text = |v: Option<String>| v.unwrap_or_default();
    let mut lines: Vec<NodeLine> = nodes
        .into_iter()
        .map(|n| {
            let spec = n.spec.unwrap_or_default();
            let status = n.status.unwrap_or_default();
            let manager = n.manager_status.map(|m| {
                if m.leader == Some(true) {
                    "leader".to_owned()
                } else {
                    m.reachability.map(|r| r.to_string()).unwrap_or_default()
                }
            });
            NodeLine {
                hostname: text(n.description.and_then(|d| d.hostname)),
                role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
                status: status.state.map(|s| s.to_string()).unwrap_or_default(),
                availability: spec.availability.map(|a| a.to_string()).unwrap_or_default(),
                manager: manager.unwrap_or_default(),
                addr: text(status.addr),
            }
        })
        .collect();
    lines.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Ok(lines)
}
