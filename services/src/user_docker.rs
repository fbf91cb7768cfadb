//! The docker container's entry point (`ros user-docker`): User Docker's flags from
//! `rancher.docker`, then dockerd in the foreground.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use sysdocker::{daemon_spec_from_config, Scope};

/// Replaces this process with dockerd; returns only on failure.
pub fn run() -> std::io::Error {
    let loaded = os_config::load(Path::new("/"));
    let spec = daemon_spec_from_config(Scope::User, &loaded.config.rancher.docker);
    let args = spec.to_args();
    tracing::info!(args = ?args, "user docker");
    let mut cmd = Command::new(&spec.program);
    cmd.args(&args);
    for kv in &spec.environment {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.exec()
}
