//! `/opt/rancher/bin/start.sh` and `/etc/rc.local`, as RancherOS v1 ran them at the end of the
//! console's start: each if it exists and is executable, in that order, each to completion.
//! Unlike v1 they run in the background (`ros boot-scripts`, started by console-init), so a
//! script that waits for Docker does not hold up logins; and once per boot, not again when the
//! console container restarts. Their output goes to syslog, tagged with the script's name.
//! User-data scripts (`user_data_scripts`) run first, the same way, once per instance.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::user_data_scripts;

/// In the order RancherOS v1 ran them.
pub const SCRIPTS: [&str; 2] = ["/opt/rancher/bin/start.sh", "/etc/rc.local"];
/// On the host's /run (shared with the console), so it lasts exactly one boot.
pub const DONE_MARK: &str = "/run/ros/boot-scripts.started";
const SYSLOG_SOCKET: &str = "/dev/log";
/// syslog priorities: facility user (1), info (6) and err (3).
const PRI_INFO: u8 = 8 + 6;
const PRI_ERR: u8 = 8 + 3;

/// The scripts that would run, in order.
pub fn runnable(scripts: &[&str]) -> Vec<PathBuf> {
    scripts
        .iter()
        .map(PathBuf::from)
        .filter(|p| is_executable(p))
        .collect()
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// True the first time it is asked in a boot (it leaves the mark); later calls say false.
pub fn first_time_this_boot(mark: &Path) -> bool {
    if let Some(dir) = mark.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(mark)
        .is_ok()
}

/// Whether `ros boot-scripts` has anything to do: a user-data script that has not run for
/// this instance, or start.sh/rc.local.
pub fn anything_to_run(root: &Path) -> bool {
    !user_data_scripts::pending(root).is_empty() || !runnable(&SCRIPTS).is_empty()
}

/// `ros boot-scripts`: the user-data scripts not yet run for this instance, then start.sh
/// and rc.local, each in turn; returns how many failed.
pub fn run() -> usize {
    let log = Arc::new(Syslog::connect(Path::new(SYSLOG_SOCKET)));
    let root = Path::new("/");
    let mut failed = 0;
    for script in user_data_scripts::pending(root) {
        // Recorded first: at most once, even if the script reboots the machine.
        if let Err(e) = user_data_scripts::mark_ran(root, &script) {
            failed += 1;
            tracing::error!(script = %script.display(), error = %e, "cannot record a user-data script as run; not running it");
            continue;
        }
        failed += run_scripts(std::slice::from_ref(&script), &log);
    }
    failed + run_scripts(&runnable(&SCRIPTS), &log)
}

/// Each script runs to completion before the next starts. Output is forwarded until every
/// writer is gone: a daemon a script started in the background keeps its output in syslog
/// (and never writes into a closed pipe), so this returns only when those are done too.
pub fn run_scripts(scripts: &[PathBuf], log: &Arc<Syslog>) -> usize {
    let mut failed = 0;
    let mut forwarders = Vec::new();
    for script in scripts {
        let tag = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "boot-script".into());
        match run_one(script, &tag, log, &mut forwarders) {
            Ok(status) if status.success() => {
                tracing::info!(script = %script.display(), "boot script finished")
            }
            Ok(status) => {
                failed += 1;
                log.send(PRI_ERR, &tag, &format!("exited with {status}"));
                tracing::error!(script = %script.display(), %status, "boot script failed");
            }
            Err(e) => {
                failed += 1;
                log.send(PRI_ERR, &tag, &format!("cannot run: {e}"));
                tracing::error!(script = %script.display(), error = %e, "cannot run boot script");
            }
        }
    }
    for f in forwarders {
        let _ = f.join();
    }
    failed
}

fn run_one(
    script: &Path,
    tag: &str,
    log: &Arc<Syslog>,
    forwarders: &mut Vec<std::thread::JoinHandle<()>>,
) -> std::io::Result<std::process::ExitStatus> {
    // As v1: a script with a #! line is exec'd, anything else is fed to sh.
    let mut magic = [0u8; 2];
    let shebang = std::fs::File::open(script)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"#!";
    let mut cmd = if shebang {
        Command::new(script)
    } else {
        let mut c = Command::new("/bin/sh");
        c.arg(script);
        c
    };
    tracing::info!(script = %script.display(), "running boot script");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn_when_not_busy(&mut cmd)?;
    let streams: [(Option<Box<dyn Read + Send>>, u8); 2] = [
        (child.stdout.take().map(|o| Box::new(o) as _), PRI_INFO),
        (child.stderr.take().map(|e| Box::new(e) as _), PRI_ERR),
    ];
    for (stream, pri) in streams {
        let Some(stream) = stream else { continue };
        let (log, tag) = (log.clone(), tag.to_owned());
        match std::thread::Builder::new()
            .name(format!("{tag} output"))
            .spawn(move || forward(stream, pri, &tag, &log))
        {
            Ok(h) => forwarders.push(h),
            Err(e) => tracing::warn!(error = %e, "boot script output not forwarded"),
        }
    }
    child.wait()
}

/// Executing a file that some process still holds open for writing fails with ETXTBSY. A
/// script just written (by cloud-init, or a forked sibling that has not exec'd yet and so still
/// holds the writer's descriptor) is busy only briefly: retry for up to about a second.
fn spawn_when_not_busy(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    const TRIES: u32 = 20;
    let mut tries = 1;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Every line of `stream` to syslog, until the script (and whatever it left running with the
/// same output) closes it.
fn forward(stream: impl Read, pri: u8, tag: &str, log: &Syslog) {
    for line in BufReader::new(stream).lines() {
        match line {
            Ok(l) => log.send(pri, tag, &l),
            Err(_) => break,
        }
    }
}

/// A client of the syslog socket; without one (syslog down), lines go to this process's
/// stderr, the container's log.
pub struct Syslog {
    socket: Option<UnixDatagram>,
    path: PathBuf,
}

impl Syslog {
    pub fn connect(path: &Path) -> Syslog {
        let socket = UnixDatagram::unbound()
            .ok()
            .filter(|s| s.connect(path).is_ok());
        Syslog {
            socket,
            path: path.to_path_buf(),
        }
    }

    pub fn send(&self, pri: u8, tag: &str, msg: &str) {
        let line = format!("<{pri}>{tag}[{}]: {msg}", std::process::id());
        let sent = self.socket.as_ref().is_some_and(|s| {
            s.send(line.as_bytes()).is_ok()
                // syslogd may have restarted: reconnect once.
                || (s.connect(&self.path).is_ok() && s.send(line.as_bytes()).is_ok())
        });
        if !sent {
            eprintln!("{tag}: {msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn executable_scripts_run_in_order_with_output_in_syslog() {
        let dir = tempfile::tempdir().unwrap();
        let sock_path = dir.path().join("log");
        let server = UnixDatagram::bind(&sock_path).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let order = dir.path().join("order");
        let a = script(
            dir.path(),
            "start.sh",
            &format!(
                "#!/bin/sh\necho first >> {}\necho hello from start\n",
                order.display()
            ),
            0o755,
        );
        // No #! line: run with sh, as v1 did.
        let b = script(
            dir.path(),
            "rc.local",
            &format!(
                "echo second >> {}\necho oops >&2\nexit 4\n",
                order.display()
            ),
            0o700,
        );
        let skipped = script(dir.path(), "not-exec", "exit 0\n", 0o644);
        let scripts = runnable(&[
            a.to_str().unwrap(),
            skipped.to_str().unwrap(),
            "/nonexistent/rc.local",
            b.to_str().unwrap(),
        ]);
        assert_eq!(scripts, vec![a.clone(), b.clone()]);
        let log = Arc::new(Syslog::connect(&sock_path));
        assert_eq!(run_scripts(&scripts, &log), 1);
        assert_eq!(std::fs::read_to_string(&order).unwrap(), "first\nsecond\n");
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = server.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            if got.len() == 3 {
                break;
            }
        }
        let pid = std::process::id();
        assert!(
            got.contains(&format!("<14>start.sh[{pid}]: hello from start")),
            "{got:?}"
        );
        assert!(
            got.contains(&format!("<11>rc.local[{pid}]: oops")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|l| l.starts_with("<11>rc.local") && l.contains("exited with")),
            "{got:?}"
        );
    }

    /// A script still open for writing elsewhere (ETXTBSY) runs once the writer lets go. This
    /// is how the test above failed in CI: another test thread forked while the script's write
    /// descriptor was open, and exec of the script failed with 'Text file busy'.
    #[test]
    fn a_script_briefly_open_for_writing_still_runs() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("done");
        let a = script(
            dir.path(),
            "busy.sh",
            &format!("#!/bin/sh\ntouch {}\n", done.display()),
            0o755,
        );
        let writer = std::fs::OpenOptions::new().append(true).open(&a).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(writer);
        });
        let log = Arc::new(Syslog::connect(&dir.path().join("no-syslog")));
        assert_eq!(run_scripts(&[a], &log), 0);
        assert!(done.exists());
        release.join().unwrap();
    }

    /// A daemon left running by a script does not hold up the next script.
    #[test]
    fn a_background_child_does_not_block_the_next_script() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("done");
        let a = script(
            dir.path(),
            "a",
            "#!/bin/sh
(sleep 3; echo late) &
echo now
",
            0o755,
        );
        let b = script(
            dir.path(),
            "b",
            &format!(
                "#!/bin/sh
touch {}
",
                done.display()
            ),
            0o755,
        );
        let log = Arc::new(Syslog::connect(Path::new("/nonexistent/log")));
        let started = std::time::Instant::now();
        let runner = {
            let scripts = vec![a, b];
            std::thread::spawn(move || run_scripts(&scripts, &log))
        };
        while !done.exists() && started.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "b waited for a's child"
        );
        assert_eq!(runner.join().unwrap(), 0);
        // ...and its output was forwarded to the end.
        assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    }

    #[test]
    fn once_per_boot() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("run/ros/boot-scripts.started");
        assert!(first_time_this_boot(&mark));
        assert!(!first_time_this_boot(&mark));
    }

    #[test]
    fn without_syslog_lines_still_go_somewhere() {
        let log = Syslog::connect(Path::new("/nonexistent/log"));
        log.send(PRI_INFO, "t", "to stderr");
    }
}
