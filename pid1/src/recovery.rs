//! The recovery shell: where every fatal boot error ends. It prints the reason above the
//! prompt, respawns when the shell exits, and never returns, so PID 1 never exits.

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Shells to try, best first; busybox comes with the initrd for failures before the root.
const SHELLS: &[(&str, &[&str])] = &[
    ("/bin/bash", &["-i"]),
    ("/bin/sh", &["-i"]),
    ("/usr/bin/busybox", &["sh", "-i"]),
    ("/ros/busybox", &["sh", "-i"]),
];

pub fn banner(reason: &str) -> String {
    format!(
        "\n*** ros: RECOVERY SHELL ***\nreason: {reason}\nThe system did not finish booting. Inspect it here; `reboot -f` restarts the machine.\n"
    )
}

pub fn shell(reason: &str) -> ! {
    if crate::boot_slot::is_trial_boot() {
        trial_failed(reason);
    }
    tracing::error!(reason, "entering the recovery shell");
    loop {
        eprint!("{}", banner(reason));
        match SHELLS.iter().find(|(p, _)| Path::new(p).exists()) {
            Some((path, args)) => {
                if *path == "/ros/busybox" {
                    // The initrd has no tools besides busybox: give its applets names on PATH.
                    let _ = std::fs::create_dir_all("/ros/bin");
                    let _ = Command::new(path)
                        .args(["--install", "-s", "/ros/bin"])
                        .status();
                }
                run_shell(path, args)
            }
            None => {
                eprintln!("ros: no shell is available; the machine stays up and keeps reaping");
                loop {
                    reap_all();
                    std::thread::sleep(Duration::from_secs(60));
                }
            }
        }
        eprintln!("ros: the recovery shell exited; starting another");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Starts the recovery shell on the console from a running system (sysinit) whose console
/// service could not start, so that the machine is never left without a console. It runs on
/// a thread of its own, respawning, and waits only for its own shell: sysinit's other
/// children belong to tokio.
pub fn console_fallback(reason: String) {
    let spawned = std::thread::Builder::new()
        .name("recovery-console".into())
        .spawn(move || loop {
            eprint!("{}", banner(&reason));
            let Some((path, args)) = SHELLS.iter().find(|(p, _)| Path::new(p).exists()) else {
                eprintln!("ros: no shell is available for the recovery console");
                return;
            };
            let mut cmd = shell_command(path, args);
            // sysinit's own standard streams may not be the console.
            if let Ok(tty) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/console")
            {
                if let (Ok(out), Ok(err)) = (tty.try_clone(), tty.try_clone()) {
                    cmd.stdin(tty).stdout(out).stderr(err);
                }
            }
            match cmd.spawn() {
                Ok(mut child) => {
                    let _ = child.wait();
                }
                Err(e) => eprintln!("ros: cannot start {path}: {e}"),
            }
            std::thread::sleep(Duration::from_secs(1));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the recovery console");
    }
}

fn run_shell(path: &str, args: &[&str]) {
    let mut cmd = shell_command(path, args);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ros: cannot start {path}: {e}");
            std::thread::sleep(Duration::from_secs(5));
            return;
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    // Reap everything while waiting, so orphans of the shell do not pile up.
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, _)) | Ok(WaitStatus::Signaled(p, _, _)) if p == pid => return,
            Ok(_) => continue,
            Err(_) => return,
        }
    }
}

/// The shell on the console as its controlling terminal, with a clean environment.
fn shell_command(path: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(path);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin:/ros/bin")
        .env("HOME", "/root")
        .env("TERM", "linux")
        .env("PS1", "[recovery] # ");
    // SAFETY: only async-signal-safe calls between fork and exec: sigprocmask, setsid, ioctl.
    unsafe {
        cmd.pre_exec(|| {
            // PID 1 blocks the signals it waits for; the shell needs them back (Ctrl-C).
            let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
            let _ = nix::unistd::setsid();
            // Make the console our controlling terminal so Ctrl-C reaches the shell.
            libc::ioctl(0, libc::TIOCSCTTY, 1);
            Ok(())
        });
    }
    cmd
}

/// Reaps every exited child without blocking.
pub fn reap_all() {
    use nix::sys::wait::WaitPidFlag;
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// A slot on trial that cannot boot must not wait for a human: reboot, and GRUB counts the try
/// (and falls back to the previous slot when the tries run out).
fn trial_failed(reason: &str) -> ! {
    tracing::error!(
        reason,
        "trial boot failed; rebooting in 10 s so GRUB can fall back"
    );
    eprintln!("\n*** ros: this boot tried a newly written slot and failed ***\nreason: {reason}\nRebooting in 10 s; GRUB falls back to the previous slot when the tries run out.\n");
    std::thread::sleep(Duration::from_secs(10));
    nix::unistd::sync();
    let e = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
    tracing::error!(error = ?e, "reboot failed; staying up");
    loop {
        reap_all();
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn banner_names_the_reason() {
        let b = super::banner("no system image");
        assert!(b.contains("RECOVERY SHELL") && b.contains("reason: no system image"));
    }
}
