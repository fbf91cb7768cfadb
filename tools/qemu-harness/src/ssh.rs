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

/// `ssh rancher@127.0.0.1 -p PORT` with a key and no host-key bookkeeping; optionally run
/// inside a network namespace, as another user or to another host.
#[derive(Debug, Clone)]
pub struct Ssh {
    port: u16,
    key: PathBuf,
    user: String,
    host: String,
    netns: Option<String>,
}

impl Ssh {
    pub fn new(port: u16, key: &Path) -> Ssh {
        Ssh {
            port,
            key: key.to_path_buf(),
            user: "rancher".into(),
            host: "127.0.0.1".into(),
            netns: None,
        }
    }

    /// Runs every ssh and scp inside the network namespace `ns` (`timeout 180 ip netns exec
    /// NS ssh ...`): for a guest started with [`QemuBuilder::netns`](crate::QemuBuilder::netns),
    /// whose forwarded port listens inside that namespace.
    pub fn in_netns(mut self, ns: &str) -> Ssh {
        self.netns = Some(ns.to_owned());
        self
    }

    /// Logs in as `user` instead of `rancher`.
    pub fn user(mut self, user: &str) -> Ssh {
        self.user = user.to_owned();
        self
    }

    /// Connects to `host` instead of 127.0.0.1 (e.g. a guest's address on an
    /// [`L2Segment`](crate::L2Segment), from inside its namespace, with port 22).
    pub fn host(mut self, host: &str) -> Ssh {
        self.host = host.to_owned();
        self
    }

    fn base(&self, program: &str) -> Command {
        let mut c = Command::new("timeout");
        c.arg(COMMAND_LIMIT_SECS);
        if let Some(ns) = &self.netns {
            c.args(["ip", "netns", "exec", ns]);
        }
        c.arg(program);
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
        self.run_with_options(&[], cmd)
    }

    /// Runs `cmd` with extra ssh options (e.g. `-o PubkeyAuthentication=no`); any exit status.
    pub fn run_with_options(&self, options: &[&str], cmd: &str) -> Result<Output, Error> {
        self.ssh_command(options, cmd)
            .output()
            .map_err(io("running ssh"))
    }

    fn ssh_command(&self, options: &[&str], cmd: &str) -> Command {
        let mut c = self.base("ssh");
        c.args(options)
            .args(["-p", &self.port.to_string()])
            .arg(format!("{}@{}", self.user, self.host))
            .arg(cmd);
        c
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
            .scp_command(local, remote)
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

    fn scp_command(&self, local: &Path, remote: &str) -> Command {
        let mut c = self.base("scp");
        c.args(["-P", &self.port.to_string()])
            .arg(local)
            .arg(format!("{}@{}:{remote}", self.user, self.host));
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(c: &Command) -> Vec<String> {
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn by_default_ssh_goes_to_rancher_on_loopback_under_timeout() {
        let ssh = Ssh::new(2222, Path::new("/k/id"));
        let w = words(&ssh.ssh_command(&[], "true"));
        assert_eq!(w[..3], ["timeout", "180", "ssh"]);
        assert_eq!(
            w[w.len() - 4..],
            ["-p", "2222", "rancher@127.0.0.1", "true"]
        );
        assert!(!w.contains(&"netns".to_owned()), "{w:?}");
    }

    #[test]
    fn in_a_netns_ssh_and_scp_run_through_ip_netns_exec_inside_timeout() {
        let ssh = Ssh::new(2222, Path::new("/k/id")).in_netns("ros-l2-7-0");
        let w = words(&ssh.ssh_command(&["-o", "X=y"], "hostname"));
        assert_eq!(
            w[..7],
            ["timeout", "180", "ip", "netns", "exec", "ros-l2-7-0", "ssh"]
        );
        assert!(w.windows(2).any(|p| p == ["-i", "/k/id"]), "{w:?}");
        assert_eq!(
            w[w.len() - 6..],
            ["-o", "X=y", "-p", "2222", "rancher@127.0.0.1", "hostname"]
        );
        let w = words(&ssh.scp_command(Path::new("/tmp/a.tar"), "/home/rancher/a.tar"));
        assert_eq!(
            w[..7],
            ["timeout", "180", "ip", "netns", "exec", "ros-l2-7-0", "scp"]
        );
        assert_eq!(
            w[w.len() - 4..],
            [
                "-P",
                "2222",
                "/tmp/a.tar",
                "rancher@127.0.0.1:/home/rancher/a.tar"
            ]
        );
    }

    #[test]
    fn another_user_and_host_are_used_for_ssh_and_scp() {
        let ssh = Ssh::new(22, Path::new("/k/id"))
            .in_netns("ns")
            .user("swarm")
            .host("10.10.0.11");
        let w = words(&ssh.ssh_command(&[], "bash"));
        assert_eq!(w[w.len() - 4..], ["-p", "22", "swarm@10.10.0.11", "bash"]);
        let w = words(&ssh.scp_command(Path::new("/f"), "/g"));
        assert_eq!(w.last().map(String::as_str), Some("swarm@10.10.0.11:/g"));
    }
}
