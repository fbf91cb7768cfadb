//! The one error type of the engine; PID 1 reports these, so each names what failed.

use std::path::PathBuf;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("docker API at {socket}: {source}")]
    Docker {
        socket: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("service {service}: {message}")]
    Service { service: String, message: String },
    #[error("service {service}: image {image} is missing and {reason}")]
    ImageMissing {
        service: String,
        image: String,
        reason: String,
    },
    #[error("dependency cycle: {}", .members.join(" -> "))]
    Cycle { members: Vec<String> },
    #[error("service {service} depends on unknown service {missing}")]
    UnknownDependency { service: String, missing: String },
    #[error("unknown service {0}")]
    UnknownService(String),
    #[error("one-shot service {service} failed: {message}")]
    OneShotFailed { service: String, message: String },
    #[error("{service} not started: dependency {dependency} failed")]
    DependencyFailed { service: String, dependency: String },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
    #[error("dockerd at {socket} did not answer within {seconds} s")]
    DaemonTimeout { socket: String, seconds: u64 },
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("timed out after {seconds} s: {what}")]
    Timeout { what: String, seconds: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn service(service: &str, message: impl std::fmt::Display) -> Self {
        Error::Service {
            service: service.to_string(),
            message: message.to_string(),
        }
    }
}
