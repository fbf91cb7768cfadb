//! The joining side: fetch a join token from a manager over ssh, as the `swarm` account, with
//! `rancher.swarm.join_key`. Every attempt is bounded (connect 10 s, all of it 30 s, 8 KiB of
//! output), and a failure says which of the expected cases it is.

use crate::error::{io, SwarmError};
use crate::token_files;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The whole ssh command, connection included.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(30);
const OUTPUT_LIMIT: u64 = 8 * 1024;

/// Where the manager is and how to check it is the right one.
#[derive(Debug, Clone)]
pub struct Manager {
    pub host: String,
    pub ssh_port: u16,
    /// A pinned host key (`ssh-ed25519 AAAA...`); else the first one seen is kept.
    pub host_key: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("manager {host} is unreachable over ssh: {detail}")]
    Unreachable { host: String, detail: String },
    #[error(
        "manager {host} refused the join key (is its public half in the manager's \
         rancher.swarm.token_keys?)"
    )]
    KeyRefused { host: String },
    #[error(
        "manager {host}'s ssh host key does not match the one pinned or seen before \
         ({known_hosts}); not trusted"
    )]
    HostKeyMismatch { host: String, known_hosts: String },
    #[error("manager {host} has not initialised its swarm yet")]
    NotInitialised { host: String },
    #[error("manager {host} answered without a join token: {detail}")]
    BadAnswer { host: String, detail: String },
}

/// What one ssh run left: its exit code (`None`: killed or timed out) and its output.
#[derive(Debug, Clone, Default)]
pub struct SshOutcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

/// Sorts one ssh run into a token or one of the expected failures.
pub fn classify(host: &str, known_hosts: &Path, out: &SshOutcome) -> Result<String, FetchError> {
    let host = host.to_owned();
    let last_line = |text: &str| {
        text.lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("no message")
            .chars()
            .take(200)
            .collect::<String>()
    };
    if out.timed_out {
        return Err(FetchError::Unreachable {
            host,
            detail: format!("no answer within {} s", ATTEMPT_LIMIT.as_secs()),
        });
    }
    match out.code {
        Some(0) => {
            let token = out
                .stdout
                .lines()
                .map(str::trim)
                .find(|l| token_files::valid(l));
            token.map(str::to_owned).ok_or(FetchError::BadAnswer {
                host,
                detail: "no SWMTKN-1 token in its output".into(),
            })
        }
        Some(3) => Err(FetchError::NotInitialised { host }),
        Some(255) | None => {
            let err = &out.stderr;
            if err.contains("Permission denied") {
                Err(FetchError::KeyRefused { host })
            } else if err.contains("Host key verification failed")
                || err.contains("IDENTIFICATION HAS CHANGED")
            {
                Err(FetchError::HostKeyMismatch {
                    host,
                    known_hosts: known_hosts.display().to_string(),
                })
            } else {
                Err(FetchError::Unreachable {
                    host,
                    detail: last_line(err),
                })
            }
        }
        Some(code) => Err(FetchError::BadAnswer {
            host,
            detail: format!("exit status {code}: {}", last_line(&out.stderr)),
        }),
    }
}

/// The files an attempt uses, under the run directory (and the state, for seen host keys).
#[derive(Debug, Clone)]
pub struct FetchFiles {
    pub key: PathBuf,
    pub known_hosts: PathBuf,
}

/// Writes the private key (0600) and, when a host key is pinned, a known_hosts holding only
/// it. Without a pin, `seen_hosts` (kept on the state partition) records the first key seen.
pub fn prepare(
    run_dir: &Path,
    seen_hosts: &Path,
    manager: &Manager,
    join_key: &str,
) -> Result<FetchFiles, SwarmError> {
    std::fs::create_dir_all(run_dir).map_err(io("creating", run_dir))?;
    let key = run_dir.join("join_key");
    let mut text = join_key.trim().to_owned();
    text.push('\n');
    os_config::atomic_write(&key, text.as_bytes(), 0o600).map_err(io("writing", &key))?;
    let known_hosts = match &manager.host_key {
        Some(pinned) => {
            let file = run_dir.join("known_hosts");
            let line = match os_config::line_value::clean("rancher.swarm.manager_host_key", pinned)
            {
                Some(k) => format!("{} {}\n", known_hosts_name(manager), k.trim()),
                // An unusable pin must not turn into trust-on-first-use: an empty file
                // refuses every key.
                None => String::new(),
            };
            os_config::atomic_write(&file, line.as_bytes(), 0o644).map_err(io("writing", &file))?;
            file
        }
        None => {
            if let Some(dir) = seen_hosts.parent() {
                std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
            }
            seen_hosts.to_path_buf()
        }
    };
    Ok(FetchFiles { key, known_hosts })
}

/// How known_hosts names a host on a port.
fn known_hosts_name(manager: &Manager) -> String {
    if manager.ssh_port == 22 {
        manager.host.clone()
    } else {
        format!("[{}]:{}", manager.host, manager.ssh_port)
    }
}

/// The ssh arguments: no user config, keys only, no prompts, bounded connection.
pub fn ssh_args(manager: &Manager, files: &FetchFiles) -> Vec<String> {
    let strict = if manager.host_key.is_some() {
        "yes"
    } else {
        "accept-new"
    };
    let mut args: Vec<String> = vec!["-F".into(), "/dev/null".into(), "-T".into()];
    for option in [
        "BatchMode=yes".to_owned(),
        "IdentitiesOnly=yes".into(),
        "PasswordAuthentication=no".into(),
        "ConnectTimeout=10".into(),
        "ServerAliveInterval=5".into(),
        "ServerAliveCountMax=2".into(),
        "LogLevel=ERROR".into(),
        "GlobalKnownHostsFile=/dev/null".into(),
        format!("UserKnownHostsFile={}", files.known_hosts.display()),
        format!("StrictHostKeyChecking={strict}"),
    ] {
        args.push("-o".into());
        args.push(option);
    }
    args.extend([
        "-i".into(),
        files.key.display().to_string(),
        "-p".into(),
        manager.ssh_port.to_string(),
        "-l".into(),
        host::accounts::SWARM_USER.into(),
        // `--`: the host is validated, and this keeps it from ever being read as an option.
        "--".into(),
        manager.host.clone(),
        // The forced command ignores what is asked; this is for the manager's logs.
        "token".into(),
    ]);
    args
}

/// One attempt: runs ssh and sorts the outcome.
pub async fn fetch(manager: &Manager, files: &FetchFiles) -> Result<String, FetchError> {
    let outcome = run_ssh(&ssh_args(manager, files)).await;
    classify(&manager.host, &files.known_hosts, &outcome)
}

async fn run_ssh(args: &[String]) -> SshOutcome {
    let child = tokio::process::Command::new("ssh")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return SshOutcome {
                stderr: format!("cannot run ssh: {e}"),
                ..SshOutcome::default()
            }
        }
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return SshOutcome::default();
    };
    let work = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut stdout, mut stderr) = (stdout.take(OUTPUT_LIMIT), stderr.take(OUTPUT_LIMIT));
        let _ = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        let status = child.wait().await;
        (status, out, err)
    };
    match tokio::time::timeout(ATTEMPT_LIMIT, work).await {
        Ok((status, out, err)) => SshOutcome {
            code: status.ok().and_then(|s| s.code()),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            timed_out: false,
        },
        Err(_) => SshOutcome {
            timed_out: true,
            ..SshOutcome::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: i32, stdout: &str, stderr: &str) -> SshOutcome {
        SshOutcome {
            code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            timed_out: false,
        }
    }

    fn sort(out: &SshOutcome) -> Result<String, FetchError> {
        classify("10.0.0.1", Path::new("/kh"), out)
    }

    #[test]
    fn each_expected_failure_is_named_in_its_log_words() {
        let cases = [
            (
                outcome(
                    255,
                    "",
                    "ssh: connect to host 10.0.0.1 port 22: Connection refused\n",
                ),
                "unreachable",
            ),
            (
                outcome(
                    255,
                    "",
                    "ssh: connect to host 10.0.0.1 port 22: Connection timed out",
                ),
                "unreachable",
            ),
            (
                outcome(255, "", "swarm@10.0.0.1: Permission denied (publickey).\n"),
                "refused the join key",
            ),
            (
                outcome(255, "", "Host key verification failed.\n"),
                "does not match",
            ),
            (
                outcome(
                    3,
                    "",
                    "this manager has not initialised its swarm yet (no worker token)",
                ),
                "not initialised",
            ),
            (outcome(0, "hello\n", ""), "without a join token"),
            (
                outcome(1, "", "bash: line 1: ros: command not found"),
                "exit status 1",
            ),
            (
                SshOutcome {
                    timed_out: true,
                    ..SshOutcome::default()
                },
                "unreachable",
            ),
        ];
        for (out, words) in cases {
            let err = sort(&out).unwrap_err().to_string();
            assert!(err.contains(words), "{out:?}: {err}");
        }
    }

    #[test]
    fn the_token_is_the_line_that_looks_like_one() {
        let token = "SWMTKN-1-abc-def";
        assert_eq!(
            sort(&outcome(0, &format!("motd\n{token}\n"), "")).unwrap(),
            token
        );
    }

    #[test]
    fn ssh_runs_as_the_swarm_account_with_bounded_noninteractive_options() {
        let dir = tempfile::tempdir().unwrap();
        let manager = Manager {
            host: "10.0.0.1".into(),
            ssh_port: 2222,
            host_key: Some("ssh-ed25519 AAAAC3Nz".into()),
        };
        let files = prepare(dir.path(), &dir.path().join("seen"), &manager, "KEY").unwrap();
        let args = ssh_args(&manager, &files).join(" ");
        for part in [
            "-F /dev/null",
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "-p 2222 -l swarm -- 10.0.0.1 token",
        ] {
            assert!(args.contains(part), "{part}: {args}");
        }
        let pinned = std::fs::read_to_string(&files.known_hosts).unwrap();
        assert_eq!(pinned, "[10.0.0.1]:2222 ssh-ed25519 AAAAC3Nz\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Unpinned: the first key seen is kept on the state partition.
        let unpinned = Manager {
            host_key: None,
            ssh_port: 22,
            ..manager
        };
        let seen = dir.path().join("state/known_hosts");
        let files = prepare(dir.path(), &seen, &unpinned, "KEY").unwrap();
        assert_eq!(files.known_hosts, seen);
        assert!(ssh_args(&unpinned, &files)
            .join(" ")
            .contains("StrictHostKeyChecking=accept-new"));
    }
}
