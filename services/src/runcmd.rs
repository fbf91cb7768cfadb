//! `ros runcmd`: cloud-config's `runcmd`, started by console-init once per boot after sshd, so
//! a command that hangs cannot lock out ssh, and each command within `rancher.runcmd_timeout`.

use os_config::model::rancher::RUNCMD_TIMEOUT_DEFAULT;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// On the host's /run (shared with the console), so it lasts exactly one boot.
pub const DONE_MARK: &str = "/run/ros/runcmd.started";
/// How long runcmd waits for sshd to accept connections before running anyway.
const SSHD_WAIT: Duration = Duration::from_secs(30);

/// Runs `runcmd`; returns how many commands failed or timed out.
pub fn run() -> usize {
    let cfg = os_config::load(Path::new("/")).config;
    if cfg.rancher.ssh.daemon != Some(false) {
        let port = cfg.rancher.ssh.port.unwrap_or(22);
        wait_for_sshd(SocketAddr::from(([127, 0, 0, 1], port)), SSHD_WAIT);
    }
    let timeout = Duration::from_secs(cfg.rancher.runcmd_timeout.unwrap_or(RUNCMD_TIMEOUT_DEFAULT));
    let failed = cloud_init::apply::run_commands("runcmd", &cfg.runcmd, Some(timeout));
    if failed > 0 {
        tracing::error!(
            failed,
            total = cfg.runcmd.len(),
            "runcmd: some commands failed"
        );
    }
    failed
}

/// Bounded: sshd normally answers within a second of its start.
fn wait_for_sshd(addr: SocketAddr, bound: Duration) {
    let deadline = host::deadline::after(bound);
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        if Instant::now() >= deadline {
            tracing::warn!(%addr, "runcmd: sshd does not answer; running the commands anyway");
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
