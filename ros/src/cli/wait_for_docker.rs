//! `wait-for-docker [SECONDS]`: returns once User Docker answers (RancherOS v1's command, which
//! its rc.local examples start with). The socket is `$ROS_DOCKER_HOST`, else
//! /var/run/docker.sock; the wait is bounded (300 s unless given).

use anyhow::{bail, Context, Result};
use std::time::Duration;
use sysdocker::Scope;

const DEFAULT_WAIT: u64 = 300;

#[derive(Debug, clap::Parser)]
#[command(name = "wait-for-docker", about = "Wait until User Docker answers")]
struct Args {
    /// Give up after this many seconds.
    #[arg(default_value_t = DEFAULT_WAIT)]
    seconds: u64,
}

pub fn run() -> Result<()> {
    let args = <Args as clap::Parser>::parse();
    wait(
        &Scope::User.host_from_env(),
        Duration::from_secs(args.seconds),
    )
}

pub fn wait(host: &str, timeout: Duration) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match rt.block_on(sysdocker::client::connect(host, timeout)) {
        Ok(_) => Ok(()),
        Err(e) => bail!("docker is not ready: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_daemon_times_out() {
        let started = std::time::Instant::now();
        let err = super::wait(
            "unix:///nonexistent/docker.sock",
            std::time::Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not ready"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
