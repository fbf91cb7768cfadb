//! The decision, kept pure so every case is a unit test: from `rancher.swarm`, what User
//! Docker reports and whether ros joined this node before, the one next step.

use os_config::model::{SwarmConfig, SwarmRole};

/// The node's swarm state as User Docker reports it (`docker info`'s `Swarm.LocalNodeState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    Inactive,
    Pending,
    Active,
    Locked,
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub state: NodeState,
    /// The node is a manager (`ControlAvailable`).
    pub manager: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No swarm configured, none joined by ros: nothing to do.
    Nothing,
    /// ros joined this node once, it is no longer in a swarm and none is configured.
    ForgetMarker,
    /// `rancher.swarm` is gone: leave the swarm ros joined.
    Leave {
        manager: bool,
    },
    /// The configuration cannot be carried out; each line names its key.
    Misconfigured(Vec<String>),
    Init,
    Join(SwarmRole),
    /// In a state only time or an operator resolves; why.
    Wait(String),
    /// In the swarm. `mismatch` says how the node's role differs from the configured one.
    InSwarm {
        manager: bool,
        mismatch: Option<String>,
    },
}

pub fn next_step(config: &SwarmConfig, observed: &Observed, marked: bool) -> Step {
    let in_swarm = !matches!(observed.state, NodeState::Inactive);
    let Some(role) = config.role else {
        return match (marked, in_swarm) {
            (true, true) => Step::Leave {
                manager: observed.manager,
            },
            (true, false) => Step::ForgetMarker,
            (false, _) => Step::Nothing,
        };
    };
    let problems = config.problems();
    if !problems.is_empty() && !in_swarm {
        return Step::Misconfigured(problems);
    }
    match &observed.state {
        NodeState::Inactive if config.initialises() => Step::Init,
        NodeState::Inactive => Step::Join(role),
        NodeState::Pending => Step::Wait(
            "joining: the node is pending (the manager's port 2377 must be reachable)".into(),
        ),
        NodeState::Locked => {
            Step::Wait("the swarm is locked: unlock it with `docker swarm unlock`".into())
        }
        NodeState::Error(e) => Step::Wait(format!("User Docker reports a swarm error: {e}")),
        NodeState::Active => {
            let actual = if observed.manager {
                SwarmRole::Manager
            } else {
                SwarmRole::Worker
            };
            let mismatch = (actual != role).then(|| {
                format!(
                    "rancher.swarm.role is {role} but the node is a {actual}; \
                     a manager changes roles (docker node promote/demote)"
                )
            });
            Step::InSwarm {
                manager: observed.manager,
                mismatch,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config_from as config;

    fn node(state: NodeState, manager: bool) -> Observed {
        Observed { state, manager }
    }

    const WORKER: &str = "{role: worker, manager: 10.0.0.1, join_key: k}";

    #[test]
    fn nothing_configured_and_never_joined_does_nothing() {
        let none = SwarmConfig::default();
        assert_eq!(
            next_step(&none, &node(NodeState::Inactive, false), false),
            Step::Nothing
        );
        // A swarm an operator joined by hand is theirs: ros leaves only what it joined.
        assert_eq!(
            next_step(&none, &node(NodeState::Active, false), false),
            Step::Nothing
        );
    }

    #[test]
    fn a_node_removed_from_the_config_leaves_what_ros_joined() {
        let none = SwarmConfig::default();
        assert_eq!(
            next_step(&none, &node(NodeState::Active, false), true),
            Step::Leave { manager: false }
        );
        assert_eq!(
            next_step(&none, &node(NodeState::Pending, false), true),
            Step::Leave { manager: false }
        );
        assert_eq!(
            next_step(&none, &node(NodeState::Active, true), true),
            Step::Leave { manager: true }
        );
        assert_eq!(
            next_step(&none, &node(NodeState::Inactive, false), true),
            Step::ForgetMarker
        );
    }

    #[test]
    fn the_first_manager_initialises_and_the_others_join() {
        let init = config("{role: manager, init: true, advertise_addr: eth1}");
        assert_eq!(
            next_step(&init, &node(NodeState::Inactive, false), false),
            Step::Init
        );
        // After a reboot with its state kept, it is already in the swarm: no second init.
        assert_eq!(
            next_step(&init, &node(NodeState::Active, true), true),
            Step::InSwarm {
                manager: true,
                mismatch: None
            }
        );
        let worker = config(WORKER);
        assert_eq!(
            next_step(&worker, &node(NodeState::Inactive, false), false),
            Step::Join(SwarmRole::Worker)
        );
        let manager = config("{role: manager, manager: m1, join_key: k}");
        assert_eq!(
            next_step(&manager, &node(NodeState::Inactive, false), true),
            Step::Join(SwarmRole::Manager)
        );
    }

    #[test]
    fn states_only_time_resolves_wait_and_say_why() {
        let worker = config(WORKER);
        for (state, words) in [
            (NodeState::Pending, "pending"),
            (NodeState::Locked, "docker swarm unlock"),
            (NodeState::Error("x509".into()), "x509"),
        ] {
            match next_step(&worker, &node(state, false), true) {
                Step::Wait(why) => assert!(why.contains(words), "{why}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_role_that_differs_is_reported_not_changed() {
        let worker = config(WORKER);
        match next_step(&worker, &node(NodeState::Active, true), true) {
            Step::InSwarm {
                manager: true,
                mismatch: Some(m),
            } => assert!(m.contains("rancher.swarm.role is worker"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_incomplete_config_names_its_keys_and_joins_nothing() {
        match next_step(
            &config("{role: worker}"),
            &node(NodeState::Inactive, false),
            false,
        ) {
            Step::Misconfigured(p) => assert!(p.join(" ").contains("rancher.swarm.manager")),
            other => panic!("{other:?}"),
        }
    }
}
