//! `ros swarm status`: the configured role, the node's state and role, the managers it uses
//! and, on a manager, every node it sees.

use crate::engine::{self, NodeLine};
use crate::error::SwarmError;
use os_config::model::{SwarmConfig, SwarmRole};
use sysdocker::client::DaemonClient;

/// What the report is made of, gathered from User Docker.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub configured: String,
    pub state: String,
    pub role: String,
    pub node_id: String,
    pub node_addr: String,
    pub managers: Vec<String>,
    pub error: Option<String>,
    /// `None` on a worker: only managers list the nodes.
    pub nodes: Option<Vec<NodeLine>>,
    pub marked: bool,
}

pub fn configured(config: &SwarmConfig) -> String {
    match config.role {
        None => "none".into(),
        Some(SwarmRole::Manager) if config.initialises() => "manager (creates the swarm)".into(),
        Some(role) => match &config.manager {
            Some(m) => format!("{role} (joins through {m})"),
            None => role.to_string(),
        },
    }
}

pub async fn gather(
    client: &DaemonClient,
    config: &SwarmConfig,
    marked: bool,
) -> Result<Report, SwarmError> {
    let swarm = engine::info(client).await?;
    let observed = engine::observed(&swarm);
    let state = swarm
        .local_node_state
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "inactive".into());
    let in_swarm = state != "inactive";
    let role = match (in_swarm, observed.manager) {
        (false, _) => "none",
        (true, true) => "manager",
        (true, false) => "worker",
    };
    let nodes = if observed.manager {
        Some(engine::nodes(client).await?)
    } else {
        None
    };
    Ok(Report {
        configured: configured(config),
        state,
        role: role.into(),
        node_id: swarm.node_id.unwrap_or_default(),
        node_addr: swarm.node_addr.unwrap_or_default(),
        managers: swarm
            .remote_managers
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.addr)
            .collect(),
        error: swarm.error.filter(|e| !e.is_empty()),
        nodes,
        marked,
    })
}

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "configured: {}\nstate: {}\nrole: {}\n",
        r.configured, r.state, r.role
    );
    if !r.node_id.is_empty() {
        out.push_str(&format!("node: {} at {}\n", r.node_id, r.node_addr));
    }
    if !r.managers.is_empty() {
        out.push_str(&format!("managers: {}\n", r.managers.join(", ")));
    }
    if let Some(e) = &r.error {
        out.push_str(&format!("error: {e}\n"));
    }
    out.push_str(&format!(
        "joined by ros: {}\n",
        if r.marked { "yes" } else { "no" }
    ));
    match &r.nodes {
        None if r.role == "worker" => out.push_str("nodes: listed on managers only\n"),
        None => {}
        Some(nodes) => {
            out.push_str(&format!("nodes: {}\n", nodes.len()));
            let rows: Vec<[&str; 6]> = nodes
                .iter()
                .map(|n| {
                    [
                        n.hostname.as_str(),
                        n.role.as_str(),
                        n.status.as_str(),
                        n.availability.as_str(),
                        n.manager.as_str(),
                        n.addr.as_str(),
                    ]
                })
                .collect();
            let header = [
                "HOSTNAME",
                "ROLE",
                "STATUS",
                "AVAILABILITY",
                "MANAGER",
                "ADDRESS",
            ];
            let widths: Vec<usize> = (0..6)
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].len())
                        .chain([header[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for row in std::iter::once(&header).chain(rows.iter()) {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_shows_its_nodes_and_a_worker_its_managers() {
        let node = |h: &str, role: &str, status: &str, m: &str| NodeLine {
            hostname: h.into(),
            role: role.into(),
            status: status.into(),
            availability: "active".into(),
            manager: m.into(),
            addr: "10.10.0.1".into(),
        };
        let manager = Report {
            configured: "manager (creates the swarm)".into(),
            state: "active".into(),
            role: "manager".into(),
            node_id: "abc".into(),
            node_addr: "10.10.0.11".into(),
            managers: vec!["10.10.0.11:2377".into()],
            nodes: Some(vec![
                node("swarm-1", "manager", "ready", "leader"),
                node("swarm-2", "worker", "down", ""),
            ]),
            marked: true,
            ..Report::default()
        };
        let text = render(&manager);
        for line in [
            "role: manager",
            "managers: 10.10.0.11:2377",
            "nodes: 2",
            "swarm-1   manager  ready",
            "swarm-2   worker   down",
        ] {
            assert!(text.contains(line), "{line}:\n{text}");
        }
        let worker = Report {
            role: "worker".into(),
            ..Report::default()
        };
        assert!(render(&worker).contains("nodes: listed on managers only"));
    }

    #[test]
    fn the_configured_role_says_how_the_node_gets_in() {
        let parse = crate::config_from;
        assert_eq!(configured(&SwarmConfig::default()), "none");
        assert_eq!(
            configured(&parse("{role: manager, init: true}")),
            "manager (creates the swarm)"
        );
        assert_eq!(
            configured(&parse("{role: worker, manager: m1, join_key: k}")),
            "worker (joins through m1)"
        );
    }
}
