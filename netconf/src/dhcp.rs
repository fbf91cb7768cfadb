//! DHCP through dhcpcd: one supervised `dhcpcd --nobackground` per interface.
//!
//! dhcpcd runs netconf's own hook script instead of its resolv.conf/hostname hooks. The script
//! records what the server said in `RUN_DIR/dhcp/IFACE.{dhcp4,dhcp6,ra}` and removes the file
//! when the lease ends; netconf merges those files into resolv.conf at DHCP precedence.

use crate::error::{Error, Result};
use os_config::model::compose_values::split_shell_words;
use os_config::model::network::InterfaceConfig;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Command;
use tokio::sync::oneshot;

/// The hook dhcpcd runs on every event. It only writes files: all decisions stay in netconf.
const HOOK: &str = r#"#!/bin/sh
# Written by ros netconf; dhcpcd runs it (--script) on every event.
dir="$(dirname "$0")/dhcp"
mkdir -p "$dir"
record() {
	f="$dir/$interface.$1"
	{
		for a in $2; do echo "address=$a"; done
		for n in $3; do echo "nameserver=$n"; done
		if [ -n "$4" ]; then echo "search=$4"; fi
		if [ -n "$new_domain_name" ]; then echo "domain=$new_domain_name"; fi
		if [ -n "$new_host_name" ]; then echo "hostname=$new_host_name"; fi
	} > "$f.tmp" && mv -f "$f.tmp" "$f"
}
case "$reason" in
BOUND|RENEW|REBIND|REBOOT|INFORM|STATIC)
	record dhcp4 "$new_ip_address/$new_subnet_cidr" "$new_domain_name_servers" "$new_domain_search";;
BOUND6|RENEW6|REBIND6|REBOOT6|INFORM6)
	record dhcp6 "$new_dhcp6_ia_na1_ia_addr1" "$new_dhcp6_name_servers" "$new_dhcp6_domain_search";;
ROUTERADVERT)
	ns=$(env | sed -n 's/^nd[0-9]*_rdnss[0-9]*_servers=//p')
	sl=$(env | sed -n 's/^nd[0-9]*_dnssl[0-9]*_search=//p')
	if [ -n "$ns$sl" ]; then record ra "" "$ns" "$sl"; else rm -f "$dir/$interface.ra"; fi;;
EXPIRE|NAK|RELEASE|STOP|IPV4LL|TIMEOUT|FAIL)
	rm -f "$dir/$interface.dhcp4";;
EXPIRE6|RELEASE6|STOP6)
	rm -f "$dir/$interface.dhcp6";;
NOCARRIER|DEPARTED|PREINIT)
	rm -f "$dir/$interface.dhcp4" "$dir/$interface.dhcp6" "$dir/$interface.ra";;
esac
exit 0
"#;

pub fn lease_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("dhcp")
}

/// Writes the hook script; returns its path.
pub fn install_hook(run_dir: &Path) -> Result<PathBuf> {
    let path = run_dir.join("dhcpcd-hook");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(HOOK) {
        os_config::atomic_write(&path, HOOK.as_bytes(), 0o755).map_err(|e| Error::io(&path, e))?;
    }
    let dir = lease_dir(run_dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(path)
}

/// dhcpcd's arguments for one interface. `-t 0`: dhcpcd itself never gives up (netconf bounds
/// the wait), and the user's `dhcp_args` come last so they can override the rest.
pub fn args(iface: &str, cfg: &InterfaceConfig, hook: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--nobackground".into(),
        "--script".into(),
        hook.display().to_string(),
        "--timeout".into(),
        "0".into(),
        "--option".into(),
        "domain_name_servers,domain_name,domain_search,host_name".into(),
    ];
    if cfg.ipv4ll != Some(true) {
        a.push("--noipv4ll".into());
    }
    if let Some(extra) = cfg.dhcp_args.as_deref() {
        a.extend(split_shell_words(extra));
    }
    a.push(iface.to_owned());
    a
}

/// A running, supervised dhcpcd for one interface.
pub struct Client {
    pub iface: String,
    pub args: Vec<String>,
    pid: Arc<AtomicI32>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Client {
    /// Starts dhcpcd now and restarts it (with a growing pause, up to 30 s) whenever it exits.
    pub fn spawn(program: &Path, iface: &str, args: Vec<String>) -> Client {
        let pid = Arc::new(AtomicI32::new(0));
        let (tx, mut rx) = oneshot::channel::<()>();
        let program = program.to_path_buf();
        let (iface_t, args_t, pid_t) = (iface.to_owned(), args.clone(), pid.clone());
        // Spawned on the current task's thread's runtime; the child inherits this thread's
        // network namespace.
        let task = tokio::spawn(async move {
            let mut pause = Duration::from_secs(1);
            loop {
                let started = Instant::now();
                let mut child = match Command::new(&program)
                    .args(&args_t)
                    .kill_on_drop(false)
                    // Its own group, so a forced stop also takes dhcpcd's privsep helpers.
                    .process_group(0)
                    .spawn()
                {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(iface = %iface_t, error = %Error::Spawn { program: program.display().to_string(), source: e }, "DHCP client not started");
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => { pause = (pause * 2).min(Duration::from_secs(30)); continue; }
                            _ = &mut rx => return,
                        }
                    }
                };
                let child_pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
                pid_t.store(child_pid, Ordering::SeqCst);
                tracing::info!(iface = %iface_t, pid = child_pid, args = ?args_t, "dhcpcd started");
                tokio::select! {
                    status = child.wait() => {
                        pid_t.store(0, Ordering::SeqCst);
                        tracing::warn!(iface = %iface_t, status = ?status, "dhcpcd exited; restarting");
                        if started.elapsed() > Duration::from_secs(60) {
                            pause = Duration::from_secs(1);
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = &mut rx => return,
                        }
                        pause = (pause * 2).min(Duration::from_secs(30));
                    }
                    _ = &mut rx => {
                        terminate(child_pid);
                        // dhcpcd releases nothing but deconfigures the interface on SIGTERM.
                        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                            tracing::warn!(iface = %iface_t, "dhcpcd ignored SIGTERM for 10 s; killing its process group");
                            if child_pid > 0 {
                                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child_pid), nix::sys::signal::SIGKILL);
                            }
                            let _ = child.kill().await;
                        }
                        pid_t.store(0, Ordering::SeqCst);
                        tracing::info!(iface = %iface_t, "dhcpcd stopped");
                        return;
                    }
                }
            }
        });
        Client {
            iface: iface.to_owned(),
            args,
            pid,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// The running dhcpcd's pid, if any.
    pub fn pid(&self) -> Option<i32> {
        Some(self.pid.load(Ordering::SeqCst)).filter(|p| *p > 0)
    }

    /// Stops dhcpcd and waits for it to exit.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

fn terminate(pid: i32) {
    if pid > 0 {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM);
    }
}

impl Drop for Client {
    /// Without `stop()` (e.g. the runtime is going away) dhcpcd still gets its SIGTERM, so no
    /// client outlives netconf.
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            terminate(pid);
        }
    }
}

/// Which of `ifaces` have a lease file in `dir`.
pub fn bound(dir: &Path, ifaces: &[String]) -> Vec<String> {
    let leases = crate::dns::read_leases(dir);
    ifaces
        .iter()
        .filter(|i| leases.iter().any(|l| &l.iface == *i))
        .cloned()
        .collect()
}

/// Waits until every interface in `ifaces` has a lease or `timeout` passes; returns
/// (bound, still pending). A NIC without carrier simply stays pending: it never holds longer.
pub async fn wait_for_leases(
    dir: &Path,
    ifaces: &[String],
    timeout: Duration,
) -> (Vec<String>, Vec<String>) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let b = bound(dir, ifaces);
        if b.len() == ifaces.len() || tokio::time::Instant::now() >= deadline {
            let pending = ifaces.iter().filter(|i| !b.contains(i)).cloned().collect();
            return (b, pending);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Removes what an earlier dhcpcd left for `iface` (its leases ended with it).
pub fn clear_leases(dir: &Path, iface: &str) {
    for source in ["dhcp4", "dhcp6", "ra"] {
        let _ = std::fs::remove_file(dir.join(format!("{iface}.{source}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_put_user_args_before_the_interface() {
        let cfg = InterfaceConfig {
            dhcp_args: Some("-4 --noarp".into()),
            ..Default::default()
        };
        let a = args("eth0", &cfg, Path::new("/run/ros/netconf/dhcpcd-hook"));
        assert_eq!(
            a,
            [
                "--nobackground",
                "--script",
                "/run/ros/netconf/dhcpcd-hook",
                "--timeout",
                "0",
                "--option",
                "domain_name_servers,domain_name,domain_search,host_name",
                "--noipv4ll",
                "-4",
                "--noarp",
                "eth0"
            ]
        );
        let cfg = InterfaceConfig {
            ipv4ll: Some(true),
            ..Default::default()
        };
        assert!(!args("eth0", &cfg, Path::new("h")).contains(&"--noipv4ll".to_string()));
    }

    #[test]
    fn hook_records_and_removes_leases() {
        let dir = tempfile::tempdir().unwrap();
        let hook = install_hook(dir.path()).unwrap();
        let run = |envs: &[(&str, &str)]| {
            let st = std::process::Command::new(&hook)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .envs(envs.iter().copied())
                .status()
                .unwrap();
            assert!(st.success());
        };
        run(&[
            ("reason", "BOUND"),
            ("interface", "eth0"),
            ("new_ip_address", "10.0.0.5"),
            ("new_subnet_cidr", "24"),
            ("new_domain_name_servers", "10.0.0.53 10.0.0.54"),
            ("new_domain_search", "a.test b.test"),
            ("new_host_name", "box"),
        ]);
        let leases = crate::dns::read_leases(&lease_dir(dir.path()));
        assert_eq!(leases.len(), 1);
        assert_eq!(leases[0].addresses, ["10.0.0.5/24"]);
        assert_eq!(leases[0].nameservers, ["10.0.0.53", "10.0.0.54"]);
        assert_eq!(leases[0].search, ["a.test", "b.test"]);
        assert_eq!(leases[0].hostname.as_deref(), Some("box"));
        run(&[
            ("reason", "ROUTERADVERT"),
            ("interface", "eth0"),
            ("nd1_rdnss1_servers", "fd00::53"),
        ]);
        assert_eq!(crate::dns::read_leases(&lease_dir(dir.path())).len(), 2);
        run(&[("reason", "NOCARRIER"), ("interface", "eth0")]);
        assert!(crate::dns::read_leases(&lease_dir(dir.path())).is_empty());
    }
}
