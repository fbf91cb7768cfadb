//! Which daemon a service belongs to, and where that daemon's socket is.

use std::fmt;

/// System Docker (the OS) or User Docker (workloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    System,
    User,
}

impl Scope {
    /// The socket a booted system uses.
    pub fn default_socket(self) -> &'static str {
        match self {
            Scope::System => "/var/run/system-docker.sock",
            Scope::User => "/var/run/docker.sock",
        }
    }

    /// The environment variable that overrides the socket (tests point the CLI at test daemons).
    pub fn host_env(self) -> &'static str {
        match self {
            Scope::System => "ROS_SYSTEM_DOCKER_HOST",
            Scope::User => "ROS_DOCKER_HOST",
        }
    }

    /// `unix:///…` address from the environment override, else the default socket.
    pub fn host_from_env(self) -> String {
        std::env::var(self.host_env())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| format!("unix://{}", self.default_socket()))
    }

    /// `io.rancher.os.scope: system` selects System Docker; anything else is User Docker.
    pub fn from_label(value: Option<&str>) -> Scope {
        match value {
            Some(v) if v.trim().eq_ignore_ascii_case("system") => Scope::System,
            _ => Scope::User,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::System => "system",
            Scope::User => "user",
        })
    }
}
