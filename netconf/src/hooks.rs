//! `pre_cmds`, `pre_up`, `post_up`, `post_cmds`: each command runs with `sh -c`, in order; a
//! failure is logged and the rest still run, so one bad hook cannot keep the network down.

use std::time::Duration;
use tokio::process::Command;

/// Runs `cmds` in order. `iface` is exported as `IFACE` for the per-interface hooks.
pub async fn run(stage: &str, cmds: &[String], iface: Option<&str>, timeout: Duration) {
    for cmd in cmds.iter().filter(|c| !c.trim().is_empty()) {
        tracing::info!(stage, iface, command = %cmd, "running hook");
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(cmd)
            .env("NETCONF_STAGE", stage)
            .kill_on_drop(true);
        if let Some(i) = iface {
            c.env("IFACE", i);
        }
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => {
                tracing::warn!(stage, command = %cmd, error = %e, "hook could not start");
                continue;
            }
        };
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(s)) if s.success() => {}
            Ok(Ok(s)) => tracing::warn!(stage, command = %cmd, status = %s, "hook failed"),
            Ok(Err(e)) => tracing::warn!(stage, command = %cmd, error = %e, "hook failed"),
            Err(_) => {
                let _ = child.kill().await;
                tracing::warn!(stage, command = %cmd, ?timeout, "hook timed out and was killed");
            }
        }
    }
}
