//! The host's OpenSSH client against a guest's forwarded port: a throwaway key pair, commands
//! with a bounded run time, bounded waits for sshd, and file copies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::error::{io, Error};

/// No single ssh command may take longer than this.
const COMMAND_LIMIT_SECS: &str = "180";

/// An ed25519 key pair in a temporary directory.
pub struct SshKey {
    _dir: tempfile::TempDir,
    pub private: PathBuf,
    pub public: String,
}

impl SshKey {
    pub fn generate() -> Result<SshKey, Error> {
        let dir = tempfile::tempdir().map_err(io("temporary directory"))?;
        let private = dir.path().join("id_ed25519");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "ros-e2e", "-f"])
            .arg(&private)
            .output()
            .map_err(io("running ssh-keygen"))?;
        if !out.status.success() {
            return Err(Error::Tool {
                tool: "ssh-keygen".into(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let public = std::fs::read_to_string(private.with_extension("pub"))
            .map_err(io("reading the public key"))?
            .trim()
            .to_owned();
        Ok(SshKey {
            _dir: dir,
            private,
            public,
        })
    }
}

/// `ssh rancher@127.0.0.1 -p PORT` with a key and no host-key bookkeeping.
pub struct Ssh {
    port: u16,
    key: PathBuf,
    user: String,
}

impl Ssh {
    pub fn new(port: u16, key: &Path) -> Ssh {
        Ssh {
            port,
            key: key.to_path_buf(),
            user: "rancher".into(),
        }
    }

    fn base(&self, program: &str) -> Command {
        let mut c = Command::new("timeout");
        c.arg(COMMAND_LIMIT_SECS).arg(program);
        c.args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ]);
        c.arg(&self.key);
        c
    }

    /// Runs `cmd` through the guest's shell; any exit status.
    pub fn run(&self, cmd: &str) -> Result<Output, Error> {
        self.base("ssh")
            .args(["-p", &self.port.to_string()])
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(cmd)
            .output()
            .map_err(io("running ssh"))
    }

    /// Runs `cmd` with extra ssh options (e.g. `-o PubkeyAuthentication=no`); any exit status.
    pub fn run_with_options(&self, options: &[&str], cmd: &str) -> Result<Output, Error> {
        self.base("ssh")
            .args(options)
            .args(["-p", &self.port.to_string()])
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(cmd)
            .output()
            .map_err(io("running ssh"))
    }

    /// Runs `cmd` every 2 s until its stdout passes `check` or `limit` passes; the error holds
    /// the last output seen.
    pub fn eventually(
        &self,
        limit: Duration,
        cmd: &str,
        check: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(out) = self.ok(cmd) {
                if check(&out) {
                    return Ok(out);
                }
                last = out;
            }
            sleep(Duration::from_secs(2));
        }
        Err(last)
    }

    /// Runs `cmd` and returns its stdout; a non-zero exit is an error with stderr.
    pub fn ok(&self, cmd: &str) -> Result<String, Error> {
        let out = self.run(cmd)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(Error::Tool {
                tool: format!("ssh {cmd:?} ({})", out.status),
                stderr: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            })
        }
    }

    /// Retries a trivial command until sshd lets us in, up to `timeout`.
    pub fn wait(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.ok("true") {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => sleep(Duration::from_secs(2)),
            }
        }
    }

    /// Copies a local file to the guest.
    pub fn copy_to(&self, local: &Path, remote: &str) -> Result<(), Error> {
        let out = self
            .base("scp")
            .args(["-P", &self.port.to_string()])
            .arg(local)
            .arg(format!("{}@127.0.0.1:{remote}", self.user))
            .output()
            .map_err(io("running scp"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Tool {
                tool: "scp".into(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }
}
