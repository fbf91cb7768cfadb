//! A mount namespace of a test's own to mount into, and small command helpers for the tests
//! that mount for real (they run as root).

use crate::is_root;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A process in a mount namespace of its own (private propagation), killed on drop; the
/// namespace and whatever is mounted in it go with it.
pub struct NsHolder(Child);

impl NsHolder {
    pub fn start() -> Option<NsHolder> {
        if !is_root() {
            return None;
        }
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "300"])
            .spawn()
            .ok()?;
        let holder = NsHolder(child);
        let mine = std::fs::read_link("/proc/self/ns/mnt").ok()?;
        // unshare(1) execs sleep once the namespace exists.
        for _ in 0..250 {
            let theirs = std::fs::read_link(holder.ns()).ok();
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", holder.0.id()));
            if theirs.is_some_and(|t| t != mine) && comm.is_ok_and(|c| c.trim() == "sleep") {
                return Some(holder);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    pub fn ns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/mnt", self.0.id()))
    }

    pub fn mountinfo(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.0.id())).unwrap_or_default()
    }

    /// `path` as the namespace sees it, readable from outside.
    pub fn view(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.0.id()))
            .join(path.strip_prefix("/").unwrap_or(path))
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a command and panics with its output when it fails.
pub fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a prepared command and panics with its stderr when it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a prepared command with `input` on its stdin and returns what it printed.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("{cmd:?}: writing stdin: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// A short name unique to this test process and call (labels are at most 16 bytes).
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}{}{n}", std::process::id() % 100_000)
}
