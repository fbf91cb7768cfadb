//! `system-docker`: the docker CLI pointed at System Docker's socket.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use anyhow::{Context, Result};

/// Replaces this process with `docker -H <system socket> ARGS…` (`args` excludes argv[0]).
/// The socket is `$ROS_SYSTEM_DOCKER_HOST`, else `unix:///var/run/system-docker.sock`.
pub fn run(args: Vec<OsString>) -> Result<()> {
    let host = sysdocker::Scope::System.host_from_env();
    let docker = std::env::var_os("ROS_DOCKER_CLI").unwrap_or_else(|| "docker".into());
    let err = std::process::Command::new(&docker)
        .arg("-H")
        .arg(&host)
        .args(args)
        .exec();
    Err(err).with_context(|| format!("running {} -H {host}", docker.to_string_lossy()))
}
