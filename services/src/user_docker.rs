//! The docker container's entry point (`ros user-docker`): User Docker's flags from
//! `rancher.docker`, then dockerd in the foreground.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use sysdocker::{daemon_spec_from_config, Scope};

use crate::user_docker_tls;

/// Replaces this process with dockerd; returns only on failure.
pub fn run() -> std::io::Error {
    let loaded = os_config::load(Path::new("/"));
    let docker = &loaded.config.rancher.docker;
    let mut spec = daemon_spec_from_config(Scope::User, docker);
    if spec.tls && !prepare_tls(docker) {
        spec.tls = false;
    }
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

/// The TLS files for `rancher.docker.tls`; false (with the reason logged) when they cannot be
/// made, and User Docker then starts on its unix socket only rather than not at all.
fn prepare_tls(docker: &os_config::model::DockerConfig) -> bool {
    let result = user_docker_tls::host_names(&[])
        .map_err(user_docker_tls::Error::from)
        .and_then(|names| {
            user_docker_tls::prepare_server(
                Path::new("/"),
                docker,
                &names,
                false,
                std::time::SystemTime::now(),
            )
        });
    match result {
        Ok(p) => {
            tracing::info!(
                dir = %p.dir.display(),
                new_ca = p.new_ca,
                issued_server = p.issued_server,
                reason = p.reason.as_deref().unwrap_or("configured certificate is valid"),
                "user docker TLS"
            );
            true
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                "rancher.docker.tls: cannot prepare the TLS files; User Docker starts without TLS (unix socket only)"
            );
            false
        }
    }
}
