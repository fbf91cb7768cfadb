//! `ros swarm agent`, the `swarm` system service: carries out `rancher.swarm` and keeps at it.
//! Each failed attempt logs one line and waits longer (5 s doubling to 30 s); the service runs
//! after User Docker, detached, so nothing else ever waits for it.

use crate::engine;
use crate::error::SwarmError;
use crate::marker;
use crate::plan::{next_step, Step};
use crate::token_fetch::{self, Manager};
use crate::token_files;
use os_config::model::{SwarmConfig, SwarmRole};
use std::path::{Path, PathBuf};
use std::time::Duration;
use sysdocker::client::DaemonClient;

const FIRST_RETRY: Duration = Duration::from_secs(5);
const LONGEST_RETRY: Duration = Duration::from_secs(30);
/// How often a node in its swarm checks again (and a manager refreshes its tokens).
const WATCH_PERIOD: Duration = Duration::from_secs(30);
/// How long each wait for User Docker's API lasts.
const DOCKER_WAIT: Duration = Duration::from_secs(60);

/// What the agent works on: the host root and where it keeps its files.
#[derive(Debug, Clone)]
pub struct Agent {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub docker_host: String,
    pub config: SwarmConfig,
    /// The `swarm` group, owner of the token files; `None` in tests.
    pub token_gid: Option<u32>,
}

/// The next wait after a failure: doubled, at most [`LONGEST_RETRY`].
pub fn backoff(previous: Duration) -> Duration {
    (previous * 2).clamp(FIRST_RETRY, LONGEST_RETRY)
}

/// What one round did, and whether the agent goes on.
#[derive(Debug, PartialEq, Eq)]
enum Round {
    /// Done for this boot.
    Finished,
    /// Worked: check again after the watch period.
    Settled,
    /// Failed or waiting: try again after the backoff.
    Retry,
    /// Made progress (created or joined): look again at once.
    Again,
}

impl Agent {
    pub async fn run(self) -> Result<(), SwarmError> {
        let mut delay = Duration::ZERO;
        let mut last_message = String::new();
        loop {
            let round = match sysdocker::client::connect(&self.docker_host, DOCKER_WAIT).await {
                Ok(client) => self.round(&client, &mut last_message).await,
                Err(e) => {
                    tracing::warn!(error = %e, "User Docker is not answering yet; trying again");
                    Round::Retry
                }
            };
            delay = match round {
                Round::Finished => return Ok(()),
                Round::Again => Duration::ZERO,
                Round::Settled => {
                    tokio::time::sleep(WATCH_PERIOD).await;
                    Duration::ZERO
                }
                Round::Retry => {
                    let next = backoff(delay);
                    tracing::info!(seconds = next.as_secs(), "next attempt");
                    tokio::time::sleep(next).await;
                    next
                }
            };
        }
    }

    async fn round(&self, client: &DaemonClient, last_message: &mut String) -> Round {
        let swarm = match engine::info(client).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the swarm state");
                return Round::Retry;
            }
        };
        let observed = engine::observed(&swarm);
        let marked = marker::exists(&self.root);
        let step = next_step(&self.config, &observed, marked);
        tracing::debug!(?step, ?observed, marked, "swarm step");
        // A state that repeats every round is logged once, not once a minute.
        let mut once = |message: String| {
            if *last_message != message {
                tracing::info!("{message}");
                *last_message = message;
            }
        };
        match step {
            Step::Nothing => Round::Finished,
            Step::ForgetMarker => {
                tracing::info!("no longer in a swarm and none is configured");
                self.forget();
                Round::Finished
            }
            Step::Leave { manager } => self.leave(client, manager).await,
            Step::Misconfigured(problems) => {
                for problem in problems {
                    tracing::error!(problem = %problem, "rancher.swarm cannot be carried out; fix the config and restart the swarm service");
                }
                Round::Finished
            }
            Step::Init => match engine::init(client, &self.config).await {
                Ok(id) => {
                    tracing::info!(node = %id, advertise_addr = ?self.config.advertise_addr, "created the swarm");
                    self.remember(SwarmRole::Manager);
                    Round::Again
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not create the swarm");
                    Round::Retry
                }
            },
            Step::Join(role) => self.join(client, role).await,
            Step::Wait(why) => {
                once(why);
                Round::Retry
            }
            Step::InSwarm { manager, mismatch } => {
                if let Some(m) = mismatch {
                    once(m);
                } else {
                    let role = if manager { "manager" } else { "worker" };
                    once(format!("in the swarm as a {role}"));
                }
                if !marked {
                    self.remember(if manager {
                        SwarmRole::Manager
                    } else {
                        SwarmRole::Worker
                    });
                }
                if manager {
                    self.publish_tokens(client).await;
                } else {
                    token_files::remove(&self.run_dir);
                }
                Round::Settled
            }
        }
    }

    async fn join(&self, client: &DaemonClient, role: SwarmRole) -> Round {
        let (Some(host), Some(key)) = (&self.config.manager, &self.config.join_key) else {
            return Round::Finished;
        };
        let manager = Manager {
            host: host.clone(),
            ssh_port: self.config.manager_ssh_port(),
            host_key: self.config.manager_host_key.clone(),
        };
        let seen = self.root.join("var/lib/rancher/swarm/known_hosts");
        let files = match token_fetch::prepare(&self.run_dir, &seen, &manager, key) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot prepare the join key");
                return Round::Retry;
            }
        };
        let token = match token_fetch::fetch(&manager, &files).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(manager = %host, error = %e, "no join token yet");
                return Round::Retry;
            }
        };
        tracing::info!(manager = %host, %role, "joining the swarm");
        match engine::join(client, &self.config, host, &token).await {
            Ok(()) => {
                tracing::info!(manager = %host, %role, "joined the swarm");
                self.remember(role);
                Round::Again
            }
            Err(e) => {
                // A join that timed out goes on in the background: the node is then pending.
                tracing::warn!(manager = %host, error = %e, "could not join the swarm");
                if engine::observed(&engine::info(client).await.unwrap_or_default()).state
                    != crate::plan::NodeState::Inactive
                {
                    self.remember(role);
                }
                Round::Retry
            }
        }
    }

    async fn leave(&self, client: &DaemonClient, manager: bool) -> Round {
        match engine::leave(client).await {
            Ok(()) => {
                tracing::info!("left the swarm: rancher.swarm is no longer configured");
                self.forget();
            }
            Err(e) if manager => tracing::error!(
                error = %e,
                "rancher.swarm is gone but this manager cannot leave by itself; demote it \
                 (docker node demote) from another manager, then restart the swarm service"
            ),
            Err(e) => tracing::error!(error = %e, "could not leave the swarm"),
        }
        // One attempt per boot: a refusal needs an operator, not a retry loop.
        Round::Finished
    }

    async fn publish_tokens(&self, client: &DaemonClient) {
        let written = match engine::tokens(client).await {
            Ok((worker, manager)) => {
                token_files::write(&self.run_dir, &worker, &manager, self.token_gid)
            }
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot publish the join tokens");
        }
    }

    fn remember(&self, role: SwarmRole) {
        if let Err(e) = marker::write(&self.root, role) {
            tracing::warn!(error = %e, "cannot record the swarm this node joined");
        }
    }

    fn forget(&self) {
        token_files::remove(&self.run_dir);
        if let Err(e) = marker::remove(&self.root) {
            tracing::warn!(error = %e, "cannot remove the swarm marker");
        }
    }
}

/// The agent for the running host: its config, User Docker's socket and `/run/ros/swarm`.
pub fn for_host(root: &Path, docker_host: String) -> Agent {
    let loaded = os_config::load(root);
    Agent {
        root: root.to_path_buf(),
        run_dir: PathBuf::from(crate::RUN_DIR),
        docker_host,
        config: loaded.config.rancher.swarm.clone(),
        token_gid: Some(host::accounts::SWARM_UID),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_half_a_minute() {
        let mut d = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..6 {
            d = backoff(d);
            seen.push(d.as_secs());
        }
        assert_eq!(seen, vec![5, 10, 20, 30, 30, 30]);
    }
}
