//! How a shutdown is requested and carried out. Anyone may ask (a `ros poweroff` in the console,
//! acpid, Ctrl-Alt-Del); PID 1 decides, runs the ordered stop, then this module's final steps.

use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::{Duration, Instant};

/// Written by `ros reboot/poweroff/halt` before signalling PID 1; read by PID 1.
pub const REQUEST_FILE: &str = "/run/ros/shutdown-request";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Poweroff,
    Reboot,
    Halt,
}

impl PowerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::Poweroff => "poweroff",
            PowerAction::Reboot => "reboot",
            PowerAction::Halt => "halt",
        }
    }

    pub fn parse(s: &str) -> Option<PowerAction> {
        match s.trim() {
            "poweroff" => Some(PowerAction::Poweroff),
            "reboot" => Some(PowerAction::Reboot),
            "halt" => Some(PowerAction::Halt),
            _ => None,
        }
    }

    /// What a signal to PID 1 means when no request file says otherwise.
    pub fn for_signal(sig: Signal) -> PowerAction {
        match sig {
            Signal::SIGINT => PowerAction::Reboot, // Ctrl-Alt-Del
            Signal::SIGUSR1 => PowerAction::Halt,
            _ => PowerAction::Poweroff,
        }
    }

    fn mode(self) -> RebootMode {
        match self {
            PowerAction::Poweroff => RebootMode::RB_POWER_OFF,
            PowerAction::Reboot => RebootMode::RB_AUTOBOOT,
            PowerAction::Halt => RebootMode::RB_HALT_SYSTEM,
        }
    }
}

/// `rancher.shutdown_timeout` when none is set.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// Each stop's bound, read from the configuration as it is now: cloud-init and `ros config
/// set` may have changed it since boot.
pub fn shutdown_timeout() -> Duration {
    shutdown_timeout_under(Path::new("/"))
}

fn shutdown_timeout_under(root: &Path) -> Duration {
    os_config::load(root)
        .config
        .rancher
        .shutdown_timeout
        .map_or(DEFAULT_SHUTDOWN_TIMEOUT, Duration::from_secs)
}

/// When PID 1 forces a shutdown: users, then services one by one, each within `timeout`, then
/// a margin for System Docker. Saturating, so no configured value can make PID 1 panic.
pub fn shutdown_deadline(now: Instant, timeout: Duration) -> Instant {
    let bound = timeout
        .saturating_mul(2)
        .saturating_add(Duration::from_secs(30));
    host::deadline::from(now, bound)
}

/// Asks PID 1 for an ordered shutdown.
pub fn request(action: PowerAction) -> std::io::Result<()> {
    os_config::atomic_write(Path::new(REQUEST_FILE), action.as_str().as_bytes(), 0o644)?;
    kill(Pid::from_raw(1), Signal::SIGTERM).map_err(std::io::Error::from)
}

/// The action a pending request file names, consuming it.
pub fn take_request() -> Option<PowerAction> {
    let text = std::fs::read_to_string(REQUEST_FILE).ok()?;
    let _ = std::fs::remove_file(REQUEST_FILE);
    PowerAction::parse(&text)
}

/// Immediately: sync and reboot(2), no service is stopped (`-f`).
pub fn force(action: PowerAction) -> std::io::Result<()> {
    nix::unistd::sync();
    reboot(action.mode())
        .map(|_| ())
        .map_err(std::io::Error::from)
}

/// PID 1's last steps: every remaining process is asked, then made, to exit; filesystems are
/// synced and unmounted; then the kernel does `action`.
pub fn finish(action: PowerAction) -> nix::Error {
    tracing::info!(
        action = action.as_str(),
        "ros: terminating remaining processes"
    );
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    reap_until_alone(Duration::from_secs(3));
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    reap_until_alone(Duration::from_secs(2));
    nix::unistd::sync();
    unmount_all();
    nix::unistd::sync();
    tracing::info!(action = action.as_str(), "ros: bye");
    match reboot(action.mode()) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn reap_until_alone(limit: Duration) {
    let deadline = host::deadline::after(limit);
    while Instant::now() < deadline {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Err(nix::Error::ECHILD) => return,
            Ok(WaitStatus::StillAlive) | Err(_) => std::thread::sleep(Duration::from_millis(50)),
            Ok(_) => {}
        }
    }
}

/// Unmounts in reverse mount order; what stays busy is detached, and / is made read-only.
fn unmount_all() {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_owned))
        .collect();
    for mp in points.iter().rev() {
        if matches!(mp.as_str(), "/" | "/proc" | "/sys" | "/dev") {
            continue;
        }
        if umount2(mp.as_str(), MntFlags::empty()).is_err() {
            let _ = umount2(mp.as_str(), MntFlags::MNT_DETACH);
        }
    }
    let _ = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shutdown_timeout_is_read_as_the_config_is_now() {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join(os_config::paths::CLOUD_CONFIG_D);
        std::fs::create_dir_all(&conf).unwrap();
        // The built-in default, until a layer written after boot (cloud-init's) sets it.
        assert_eq!(
            shutdown_timeout_under(root.path()),
            DEFAULT_SHUTDOWN_TIMEOUT
        );
        std::fs::write(
            conf.join("user_config.yml"),
            "#cloud-config\nrancher:\n  shutdown_timeout: 10\n",
        )
        .unwrap();
        assert_eq!(shutdown_timeout_under(root.path()), Duration::from_secs(10));
    }

    #[test]
    fn a_huge_shutdown_timeout_is_refused_and_the_deadline_cannot_overflow() {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join(os_config::paths::CLOUD_CONFIG_D);
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("user_config.yml"),
            "#cloud-config\nrancher:\n  shutdown_timeout: 18446744073709551615\n",
        )
        .unwrap();
        assert_eq!(
            shutdown_timeout_under(root.path()),
            DEFAULT_SHUTDOWN_TIMEOUT
        );
        // Whatever the timeout, the deadline is a real instant, not a panic.
        let now = Instant::now();
        assert!(shutdown_deadline(now, Duration::MAX) > now);
        assert_eq!(
            shutdown_deadline(now, Duration::from_secs(10)),
            now + Duration::from_secs(50)
        );
    }

    #[test]
    fn actions_parse_and_map_signals() {
        for a in [
            PowerAction::Poweroff,
            PowerAction::Reboot,
            PowerAction::Halt,
        ] {
            assert_eq!(PowerAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(PowerAction::for_signal(Signal::SIGINT), PowerAction::Reboot);
        assert_eq!(
            PowerAction::for_signal(Signal::SIGPWR),
            PowerAction::Poweroff
        );
        assert_eq!(
            PowerAction::for_signal(Signal::SIGTERM),
            PowerAction::Poweroff
        );
    }
}
