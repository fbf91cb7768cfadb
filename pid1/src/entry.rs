//! PID 1's entry point and its life after boot: it runs the host steps itself, then stays to
//! reap every orphan and to hand signals on. It never exits and never panics.

use crate::host_boot::{self, EarlyOptions};
use crate::power::{self, PowerAction};
use crate::timeline::Timeline;
use crate::{console, early_mounts, logging, recovery, sysinit, sysinit_restart};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use os_config::model::CloudConfig;
use os_config::LoadedConfig;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// sysinit and the daemons it starts are the last the OOM killer picks (-1000 would exempt them;
/// a leak there must still be stoppable).
const SYSINIT_OOM_SCORE_ADJ: &str = "-900";

/// How long to wait for the boot medium when the initrd does not carry the system image.
const MEDIUM_WAIT: Duration = Duration::from_secs(30);

pub fn run() -> ExitCode {
    if std::process::id() != 1 {
        eprintln!(
            "ros-init: must run as PID 1 (started as pid {})",
            std::process::id()
        );
        return ExitCode::FAILURE;
    }
    let _ = nix::sys::prctl::set_name(c"ros-init");
    // The kernel gives PID 1 no PATH; everything it starts (dockerd, its helpers) needs one.
    // SAFETY: PID 1 is single-threaded here; nothing reads the environment concurrently.
    unsafe {
        std::env::set_var("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        std::env::set_var("HOME", "/root");
    }
    early_mounts::mount_all();
    console::attach();
    let early = early_config();
    logging::init(early.rancher.debug);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "ros-init: starting");
    let mut timeline = Timeline::default();
    timeline.step("pid1");
    // Ctrl-Alt-Del becomes SIGINT to PID 1 (an ordered shutdown), not an instant reboot.
    let _ = nix::sys::reboot::set_cad_enabled(false);

    if early.rancher.recovery {
        recovery::shell("rancher.recovery=true is on the kernel command line");
    }
    let opts = EarlyOptions {
        medium_wait: MEDIUM_WAIT,
    };
    let loaded = match host_boot::boot(&opts, &mut timeline) {
        Ok(loaded) => loaded,
        Err(e) => recovery::shell(&e.to_string()),
    };
    crate::timeline::save(&timeline, &Timeline::default_path());
    supervise(loaded)
}

/// The kernel command line's share of the configuration: all PID 1 knows before the root.
fn early_config() -> CloudConfig {
    let text = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let parsed = os_config::cmdline::parse(&text);
    os_config::merge_in_memory([&parsed.config, &parsed.elided])
}

/// The signals PID 1 handles itself; everything else keeps its default (ignored for PID 1).
fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGPWR,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(sig);
    }
    set
}

/// Starts sysinit, then reaps and waits for signals until the machine goes down.
fn supervise(loaded: LoadedConfig) -> ! {
    let signals = handled_signals();
    if let Err(e) = signals.thread_block() {
        tracing::error!(error = %e, "cannot block signals; shutdown requests may be lost");
    }
    let mut sysinit = match spawn_sysinit(loaded, &signals) {
        Ok(pid) => Some(pid),
        Err(e) => recovery::shell(&format!("cannot start sysinit: {e}")),
    };
    let mut restarts = sysinit_restart::Restarts::default();
    let mut restart_at: Option<Instant> = None;
    let mut shutting_down: Option<(PowerAction, Instant)> = None;
    loop {
        let sig = wait_signal(&signals, Duration::from_secs(1));
        if let Some(sig) = sig.filter(|s| *s != Signal::SIGCHLD) {
            if shutting_down.is_none() {
                let action = power::take_request().unwrap_or(PowerAction::for_signal(sig));
                // The timeout is read now, as sysinit reads it for the stops.
                let timeout = power::shutdown_timeout();
                tracing::info!(signal = %sig, action = action.as_str(), timeout_s = timeout.as_secs(), "ros-init: shutdown requested");
                let Some(pid) = sysinit else {
                    // Between a dead sysinit and its restart nothing can stop services in order.
                    tracing::warn!("ros-init: sysinit is not running; shutting down without it");
                    let e = power::finish(action);
                    recovery::shell(&format!("{} failed: {e}", action.as_str()));
                };
                let deadline = power::shutdown_deadline(Instant::now(), timeout);
                shutting_down = Some((action, deadline));
                let _ = kill(pid, Signal::SIGTERM);
            }
        }
        for (pid, status) in reap() {
            if Some(pid) != sysinit {
                continue;
            }
            sysinit = None;
            if let Some((action, _)) = shutting_down {
                let e = power::finish(action);
                recovery::shell(&format!("{} failed: {e}", action.as_str()));
            }
            // A sysinit that gave up says why; one that died without a word is started again.
            if let Some(reason) = sysinit_reason() {
                recovery::shell(&reason);
            }
            match restarts.after_death(Instant::now()) {
                Some(delay) => {
                    tracing::error!(status = %status, delay_s = delay.as_secs(), "ros-init: sysinit died; starting it again");
                    restart_at = Some(host::deadline::after(delay));
                }
                None => recovery::shell(&format!(
                    "the boot supervisor (sysinit) died {} times within {} s ({status}); not starting it again",
                    sysinit_restart::MAX_RESTARTS + 1,
                    sysinit_restart::WINDOW.as_secs()
                )),
            }
        }
        if restart_at.is_some_and(|at| Instant::now() >= at) {
            restart_at = None;
            let loaded = os_config::load(std::path::Path::new("/"));
            match spawn_sysinit(loaded, &signals) {
                Ok(pid) => sysinit = Some(pid),
                Err(e) => recovery::shell(&format!("cannot start sysinit again: {e}")),
            }
        }
        if let Some((action, deadline)) = shutting_down {
            if Instant::now() >= deadline {
                tracing::warn!("ros-init: ordered shutdown took too long; forcing it");
                let e = power::finish(action);
                recovery::shell(&format!("{} failed: {e}", action.as_str()));
            }
        }
    }
}

/// Forks the sysinit child; it unblocks signals and runs the async half of the boot.
fn spawn_sysinit(loaded: LoadedConfig, signals: &SigSet) -> nix::Result<Pid> {
    let _ = std::fs::remove_file(sysinit::FAILURE_FILE);
    // SAFETY: PID 1 is single-threaded here, so the child may run arbitrary code after fork.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let _ = signals.thread_unblock();
            // The OOM killer takes a workload before the boot supervisor; System Docker and
            // its dockerd inherit this.
            if let Err(e) = std::fs::write("/proc/self/oom_score_adj", SYSINIT_OOM_SCORE_ADJ) {
                tracing::warn!(error = %e, "sysinit: cannot set oom_score_adj");
            }
            let code = sysinit::run(loaded);
            std::process::exit(if code == std::process::ExitCode::SUCCESS {
                0
            } else {
                1
            });
        }
    }
}

fn wait_signal(set: &SigSet, timeout: Duration) -> Option<Signal> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: 0,
    };
    // SAFETY: sigtimedwait reads the set and timeout we own; a null siginfo is allowed.
    let n = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    Signal::try_from(n).ok()
}

/// Reaps every exited child; returns their pids and how they ended.
fn reap() -> Vec<(Pid, String)> {
    let mut out = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid, format!("exit status {code}"))),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push((pid, format!("signal {sig}"))),
            Ok(WaitStatus::StillAlive) | Err(_) => return out,
            Ok(_) => {}
        }
    }
}

/// The reason a sysinit that gave up wrote for the recovery banner, if it wrote one.
fn sysinit_reason() -> Option<String> {
    std::fs::read_to_string(sysinit::FAILURE_FILE)
        .ok()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
}
