//! A manager's join tokens, as files the forced command reads (`ros swarm token ROLE`): the
//! `swarm` account reads them through its group, and never talks to User Docker itself.

use crate::error::{io, SwarmError};
use os_config::model::SwarmRole;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};

/// The longest token accepted (Docker's are 85 characters).
const MAX_TOKEN_LEN: usize = 256;

pub fn dir(run_dir: &Path) -> PathBuf {
    run_dir.join("tokens")
}

/// A join token as Docker writes it: `SWMTKN-1-` then letters, digits and dashes.
pub fn valid(token: &str) -> bool {
    token.starts_with("SWMTKN-1-")
        && token.len() <= MAX_TOKEN_LEN
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Writes both tokens, readable by root and the group `gid` only. `gid` is `None` in tests.
pub fn write(
    run_dir: &Path,
    worker: &str,
    manager: &str,
    gid: Option<u32>,
) -> Result<(), SwarmError> {
    let dir = dir(run_dir);
    std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750))
        .map_err(io("setting the mode of", &dir))?;
    if let Some(gid) = gid {
        chown(&dir, Some(0), Some(gid)).map_err(io("changing the owner of", &dir))?;
    }
    for (role, token) in [(SwarmRole::Worker, worker), (SwarmRole::Manager, manager)] {
        let file = dir.join(role.as_str());
        os_config::atomic_write(&file, format!("{token}\n").as_bytes(), 0o640)
            .map_err(io("writing", &file))?;
        if let Some(gid) = gid {
            chown(&file, Some(0), Some(gid)).map_err(io("changing the owner of", &file))?;
        }
    }
    Ok(())
}

/// Removes the tokens (the node is no longer a manager).
pub fn remove(run_dir: &Path) {
    let _ = std::fs::remove_dir_all(dir(run_dir));
}

/// Why the forced command has no token to print.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenUnavailable {
    /// Read by the joining node's agent: the words `not initialised` are what it logs.
    #[error("this manager has not initialised its swarm yet (no {0} token)")]
    NotInitialised(SwarmRole),
    #[error("the {0} token file holds no valid token")]
    Invalid(SwarmRole),
}

impl TokenUnavailable {
    /// The forced command's exit status; the joining side knows 3 as "not yet".
    pub fn exit_code(&self) -> i32 {
        match self {
            TokenUnavailable::NotInitialised(_) => 3,
            TokenUnavailable::Invalid(_) => 4,
        }
    }
}

pub fn read(run_dir: &Path, role: SwarmRole) -> Result<String, TokenUnavailable> {
    let file = dir(run_dir).join(role.as_str());
    let text = std::fs::read_to_string(file).map_err(|_| TokenUnavailable::NotInitialised(role))?;
    let token = text.trim();
    if valid(token) {
        Ok(token.to_owned())
    } else {
        Err(TokenUnavailable::Invalid(role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKER: &str =
        "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx";

    #[test]
    fn tokens_round_trip_and_only_valid_ones_are_served() {
        let run = tempfile::tempdir().unwrap();
        assert_eq!(
            read(run.path(), SwarmRole::Worker),
            Err(TokenUnavailable::NotInitialised(SwarmRole::Worker))
        );
        write(run.path(), WORKER, "SWMTKN-1-m", None).unwrap();
        assert_eq!(read(run.path(), SwarmRole::Worker).unwrap(), WORKER);
        assert_eq!(read(run.path(), SwarmRole::Manager).unwrap(), "SWMTKN-1-m");
        let mode = std::fs::metadata(dir(run.path()).join("worker"))
            .unwrap()
            .permissions();
        assert_eq!(mode.mode() & 0o777, 0o640);
        std::fs::write(dir(run.path()).join("worker"), "SWMTKN-1-x\nmore").unwrap();
        assert_eq!(
            read(run.path(), SwarmRole::Worker),
            Err(TokenUnavailable::Invalid(SwarmRole::Worker))
        );
        remove(run.path());
        assert!(!dir(run.path()).exists());
    }

    #[test]
    fn a_token_is_docker_shaped() {
        assert!(valid(WORKER));
        for bad in ["", "SWMTKN-2-x", "SWMTKN-1-a b", "SWMTKN-1-x;reboot"] {
            assert!(!valid(bad), "{bad}");
        }
        assert!(!valid(&format!("SWMTKN-1-{}", "a".repeat(300))));
    }
}
