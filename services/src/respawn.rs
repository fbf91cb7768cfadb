//! Keeping a few daemons alive inside one container (sshd and the gettys in the console):
//! restart each when it exits, with a growing delay, and stop them all on SIGTERM. A program
//! marked `once` (the boot scripts) runs a single time; its exit is logged, not restarted.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Program {
    pub name: String,
    pub argv: Vec<String>,
    /// Run once, never restarted.
    pub once: bool,
}

struct Running {
    program: Program,
    pid: Option<Pid>,
    next_start: Instant,
    backoff: Duration,
    /// A `once` program that was started (and may have finished).
    started: bool,
}

fn spawn(p: &Program) -> Option<Pid> {
    let (cmd, args) = p.argv.split_first()?;
    let mut command = Command::new(cmd);
    command.args(args);
    // SAFETY: only sigprocmask runs between fork and exec; it is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            // Our blocked signals must not leak into sshd or a login shell's job control.
            let _ = SigSet::empty().thread_set_mask();
            Ok(())
        });
    }
    match command.spawn() {
        Ok(child) => {
            tracing::info!(program = %p.name, pid = child.id(), "started");
            Some(Pid::from_raw(child.id() as i32))
        }
        Err(e) => {
            tracing::error!(program = %p.name, error = %e, "cannot start");
            None
        }
    }
}

/// Runs every program until SIGTERM or SIGINT, then terminates them and returns.
pub fn run(programs: Vec<Program>) {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        set.add(s);
    }
    let _ = set.thread_block();
    let now = Instant::now();
    let mut running: Vec<Running> = programs
        .into_iter()
        .map(|program| Running {
            program,
            pid: None,
            next_start: now,
            backoff: Duration::from_secs(1),
            started: false,
        })
        .collect();
    loop {
        for r in running
            .iter_mut()
            .filter(|r| r.pid.is_none() && !r.started && Instant::now() >= r.next_start)
        {
            r.pid = spawn(&r.program);
            r.started = r.program.once;
            if r.pid.is_none() {
                r.next_start = Instant::now() + r.backoff;
                r.backoff = (r.backoff * 2).min(Duration::from_secs(30));
            }
        }
        let ts = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        // SAFETY: sigtimedwait reads our set and timeout; a null siginfo is allowed.
        let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
        if sig == libc::SIGTERM || sig == libc::SIGINT {
            break;
        }
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            let pid = match status {
                WaitStatus::Exited(p, _) | WaitStatus::Signaled(p, _, _) => p,
                _ => break,
            };
            if let Some(r) = running.iter_mut().find(|r| r.pid == Some(pid)) {
                if r.program.once {
                    tracing::info!(program = %r.program.name, ?status, "finished");
                    r.pid = None;
                    continue;
                }
                tracing::warn!(program = %r.program.name, ?status, "exited; restarting");
                r.pid = None;
                r.next_start = Instant::now() + r.backoff;
                r.backoff = (r.backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    for r in &running {
        if let Some(pid) = r.pid {
            let _ = kill(pid, Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && running.iter().any(|r| r.pid.is_some()) {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, _)) | Ok(WaitStatus::Signaled(p, _, _)) => {
                for r in running.iter_mut().filter(|r| r.pid == Some(p)) {
                    r.pid = None;
                }
            }
            Err(_) => break,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
