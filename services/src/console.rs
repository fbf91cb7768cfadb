//! The console container's entry point (`ros console-init`): the `rancher` user's home and SSH
//! keys, host keys generated once and kept under /var/lib/rancher, sshd with key
//! authentication only, and a getty on each kernel console (autologin where configured).

use super::boot_scripts;
use super::respawn::{self, Program};
use os_config::model::CloudConfig;
use std::collections::BTreeSet;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USER: &str = "rancher";
pub const UID: u32 = host::accounts::RANCHER_UID;
/// Host keys live on the state (persistent when there is one), not in the container.
pub const HOST_KEY_DIR: &str = "/var/lib/rancher/ssh";
const KEY_TYPES: [&str; 3] = ["ed25519", "ecdsa", "rsa"];
/// On the host's /run (tmpfs), rewritten at every start: a write through the container's
/// overlay fails on a full state partition (ENOSPC even for root), and sshd must still start.
/// The console image links /etc/ssh/sshd_config here, where operators look.
const SSHD_CONFIG: &str = "/run/ros/sshd_config";

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ConsoleError + 'a {
    move |source| ConsoleError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

pub fn run() -> Result<(), ConsoleError> {
    let loaded = os_config::load(Path::new("/"));
    let cfg = &loaded.config;
    let home = Path::new("/home").join(USER);
    prepare_home(&home)?;
    let keys = authorized_keys(&home, &cfg.ssh_authorized_keys)?;
    tracing::info!(keys, "authorized keys for {USER}");
    if let Some(password) = cfg.rancher.password.as_deref() {
        set_password(password);
    }
    // As in RancherOS v1: write_files (no `container:`) and runcmd happen in the console,
    // runcmd after the files, so it can run what write_files put there.
    cloud_init::apply::write_files(&cfg.write_files, "console");
    let mut programs = Vec::new();
    if cfg.rancher.ssh.daemon != Some(false) {
        ensure_host_keys(Path::new(HOST_KEY_DIR), &cfg.rancher.ssh.keys)?;
        std::fs::create_dir_all("/run/sshd").map_err(io("creating", Path::new("/run/sshd")))?;
        let mut text = sshd_config(cfg);
        text.push_str(&swarm_token_access(&cfg.rancher.swarm)?);
        let config = Path::new(SSHD_CONFIG);
        if let Some(dir) = config.parent() {
            std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        }
        std::fs::write(config, text).map_err(io("writing", config))?;
        // Without -e sshd logs to syslog, where operators look for logins.
        programs.push(Program {
            name: "sshd".into(),
            argv: vec![
                "/usr/sbin/sshd".into(),
                "-D".into(),
                "-f".into(),
                SSHD_CONFIG.into(),
            ],
            once: false,
        });
    }
    let autologin: BTreeSet<String> = cfg
        .rancher
        .autologin
        .as_ref()
        .map(|a| a.to_list().into_iter().collect())
        .unwrap_or_default();
    for tty in consoles(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default()) {
        if Path::new("/dev").join(&tty).exists() {
            programs.push(getty(&tty, autologin.contains(&tty)));
        }
    }
    // In the background once sshd answers, once per boot: a hanging command cannot lock out
    // ssh, and a console restart does not run the commands again.
    let runcmd_first = !cfg.runcmd.is_empty()
        && boot_scripts::first_time_this_boot(Path::new(super::runcmd::DONE_MARK));
    if !cfg.runcmd.is_empty() && !runcmd_first {
        tracing::info!("runcmd already ran this boot; not again");
    }
    if runcmd_first {
        let ros = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/ros"));
        programs.push(Program {
            name: "runcmd".into(),
            argv: vec![ros.display().to_string(), "runcmd".into()],
            once: true,
        });
    }
    // Last, as in RancherOS v1, but in the background: a script that waits for Docker must not
    // hold up logins. Once per boot, not at every restart of this container; user-data
    // scripts first, once per instance.
    if boot_scripts::anything_to_run(Path::new("/"))
        && boot_scripts::first_time_this_boot(Path::new(boot_scripts::DONE_MARK))
    {
        let ros = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/ros"));
        programs.push(Program {
            name: "boot scripts".into(),
            argv: vec![ros.display().to_string(), "boot-scripts".into()],
            once: true,
        });
    }
    respawn::run(programs);
    Ok(())
}

/// The kernel consoles from `console=` arguments (`ttyS0,115200n8` → `ttyS0`), tty1 if none.
pub fn consoles(cmdline: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for arg in cmdline.split_whitespace() {
        if let Some(v) = arg.strip_prefix("console=") {
            let name = v.split(',').next().unwrap_or(v).to_owned();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    if out.is_empty() {
        out.push("tty1".into());
    }
    out
}

pub fn getty(tty: &str, autologin: bool) -> Program {
    let mut argv: Vec<String> = vec!["/sbin/agetty".into(), "--noclear".into()];
    if autologin {
        argv.extend(["--autologin".into(), USER.into()]);
    }
    if tty.starts_with("ttyS") {
        argv.extend([
            "-L".into(),
            tty.into(),
            "115200,38400,9600".into(),
            "vt100".into(),
        ]);
    } else {
        argv.extend([tty.into(), "linux".into()]);
    }
    Program {
        name: format!("getty {tty}"),
        argv,
        once: false,
    }
}

fn prepare_home(home: &Path) -> Result<(), ConsoleError> {
    let ssh = home.join(".ssh");
    if !ssh.exists() {
        std::fs::create_dir_all(&ssh).map_err(io("creating", &ssh))?;
        let _ = std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700));
        let _ = chown(home, Some(UID), Some(UID));
        let _ = chown(&ssh, Some(UID), Some(UID));
    }
    Ok(())
}

/// Merges the configured keys into authorized_keys (keys already there stay); returns the count.
fn authorized_keys(home: &Path, keys: &[String]) -> Result<usize, ConsoleError> {
    let path = home.join(".ssh/authorized_keys");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let merged = merge_keys(&existing, keys);
    os_config::atomic_write(&path, merged.as_bytes(), 0o600).map_err(io("writing", &path))?;
    let _ = chown(&path, Some(UID), Some(UID));
    Ok(merged.lines().count())
}

/// The lines already there, then each configured key that is not there yet. Two lines hold
/// the same key when their type and base64 blob match, whatever their comments or options
/// (config and metadata often carry one key with different comments).
pub fn merge_keys(existing: &str, keys: &[String]) -> String {
    let mut lines: Vec<String> = existing
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    for k in keys
        .iter()
        .filter_map(|k| os_config::line_value::clean("ssh_authorized_keys", k))
    {
        let k = k.trim();
        if !k.is_empty() && !lines.iter().any(|l| key_identity(l) == key_identity(k)) {
            lines.push(k.to_owned());
        }
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `ssh-ed25519 AAAA...` of an authorized_keys line (after any options); the whole trimmed
/// line when it holds no recognisable key.
fn key_identity(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let is_type = |w: &str| {
        ["ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-"]
            .iter()
            .any(|p| w.starts_with(p))
    };
    words
        .windows(2)
        .find(|w| is_type(w[0]))
        .map(|w| format!("{} {}", w[0], w[1]))
        .unwrap_or_else(|| line.trim().to_owned())
}

/// Host keys from `rancher.ssh.keys` when given, else generated once; both kept in `dir`.
fn ensure_host_keys(
    dir: &Path,
    configured: &indexmap::IndexMap<String, String>,
) -> Result<(), ConsoleError> {
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    for t in KEY_TYPES {
        let key = dir.join(format!("ssh_host_{t}_key"));
        if let (Some(private), Some(public)) =
            (configured.get(t), configured.get(&format!("{t}-pub")))
        {
            os_config::atomic_write(&key, private.as_bytes(), 0o600)
                .map_err(io("writing", &key))?;
            let pubfile = dir.join(format!("ssh_host_{t}_key.pub"));
            os_config::atomic_write(&pubfile, public.as_bytes(), 0o644)
                .map_err(io("writing", &pubfile))?;
            continue;
        }
        if key.exists() {
            continue;
        }
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", t, "-N", "", "-f"])
            .arg(&key)
            .status();
        match status {
            Ok(s) if s.success() => tracing::info!(key_type = t, "generated ssh host key"),
            Ok(s) => tracing::error!(key_type = t, status = %s, "ssh-keygen failed"),
            Err(e) => tracing::error!(key_type = t, error = %e, "cannot run ssh-keygen"),
        }
    }
    Ok(())
}

pub fn sshd_config(cfg: &CloudConfig) -> String {
    let ssh = &cfg.rancher.ssh;
    let mut out = String::from(
        "# Written by ros console-init from rancher.ssh; edits are replaced at boot.\n",
    );
    out.push_str(&format!("Port {}\n", ssh.port.unwrap_or(22)));
    if let Some(addr) = ssh
        .listen_address
        .as_deref()
        .and_then(|a| os_config::line_value::clean("rancher.ssh.listen_address", a))
    {
        out.push_str(&format!("ListenAddress {addr}\n"));
    }
    for t in KEY_TYPES {
        out.push_str(&format!("HostKey {HOST_KEY_DIR}/ssh_host_{t}_key\n"));
    }
    out.push_str(
        "PermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\nUsePAM yes\n\
         PrintMotd no\nClientAliveInterval 180\nAcceptEnv LANG LC_*\n\
         Subsystem sftp internal-sftp\n",
    );
    out
}

/// On a manager that serves swarm join tokens: the `swarm` account's restricted keys, and
/// the sshd_config block that confines it (docs/swarm.md). Empty otherwise.
fn swarm_token_access(config: &os_config::model::SwarmConfig) -> Result<String, ConsoleError> {
    let run_dir = Path::new(swarm::RUN_DIR);
    let keys_file = swarm::ssh_access::authorized_keys_path(run_dir);
    if !swarm::ssh_access::serves_tokens(config) {
        let _ = std::fs::remove_file(&keys_file);
        return Ok(String::new());
    }
    std::fs::create_dir_all(run_dir).map_err(io("creating", run_dir))?;
    let text = swarm::ssh_access::authorized_keys(config);
    std::fs::write(&keys_file, text).map_err(io("writing", &keys_file))?;
    std::fs::set_permissions(&keys_file, std::fs::Permissions::from_mode(0o644))
        .map_err(io("setting the mode of", &keys_file))?;
    tracing::info!("swarm join tokens served to rancher.swarm.token_keys");
    Ok(swarm::ssh_access::sshd_match_block(run_dir))
}

/// chpasswd's input line, or `None` (with a warning) when the password would add a line.
fn chpasswd_input(password: &str) -> Option<String> {
    os_config::line_value::clean("rancher.password", password).map(|p| format!("{USER}:{p}\n"))
}

fn set_password(password: &str) {
    use std::io::Write;
    let Some(input) = chpasswd_input(password) else {
        return;
    };
    let child = Command::new("chpasswd")
        .stdin(std::process::Stdio::piped())
        .spawn();
    match child {
        Ok(mut c) => {
            if let Some(mut stdin) = c.stdin.take() {
                let _ = stdin.write_all(input.as_bytes());
            }
            let _ = c.wait();
        }
        Err(e) => tracing::warn!(error = %e, "cannot set the rancher password"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consoles_from_cmdline() {
        assert_eq!(
            consoles("BOOT_IMAGE=/v console=tty1 console=ttyS0,115200n8 quiet"),
            vec!["tty1", "ttyS0"]
        );
        assert_eq!(consoles("quiet"), vec!["tty1"]);
    }

    #[test]
    fn gettys_autologin_where_asked() {
        let g = getty("ttyS0", true);
        assert_eq!(
            g.argv,
            vec![
                "/sbin/agetty",
                "--noclear",
                "--autologin",
                "rancher",
                "-L",
                "ttyS0",
                "115200,38400,9600",
                "vt100"
            ]
        );
        let g = getty("tty1", false);
        assert_eq!(g.argv, vec!["/sbin/agetty", "--noclear", "tty1", "linux"]);
    }

    #[test]
    fn keys_merge_without_duplicates() {
        let out = merge_keys(
            "ssh-ed25519 AAA a\n\n",
            &["ssh-ed25519 AAA a".into(), "ssh-rsa BBB b".into()],
        );
        assert_eq!(out, "ssh-ed25519 AAA a\nssh-rsa BBB b\n");
        // The same key with another comment, or with options, is not added twice.
        let out = merge_keys(
            "no-pty ssh-ed25519 AAA admin@laptop\n",
            &[
                "ssh-ed25519 AAA from-metadata".into(),
                "  ssh-rsa BBB b  ".into(),
                "ssh-rsa BBB b".into(),
            ],
        );
        assert_eq!(out, "no-pty ssh-ed25519 AAA admin@laptop\nssh-rsa BBB b\n");
    }

    /// ssh_authorized_keys from cloud-config and the metadata's public keys, through the
    /// real loader, into authorized_keys: every key once.
    #[test]
    fn config_and_metadata_keys_reach_authorized_keys_once() {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join("var/lib/rancher/conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("cloud-config.yml"),
            "ssh_authorized_keys:\n  - ssh-ed25519 AAAC1 me@config\n  - ssh-rsa AAAB2 shared\n",
        )
        .unwrap();
        std::fs::write(
            conf.join("metadata"),
            r#"{"public_keys": {"k1": "ssh-rsa AAAB2 shared", "k2": "ssh-ed25519 AAAM3 md"}}"#,
        )
        .unwrap();
        let cfg = os_config::load(root.path()).config;
        assert_eq!(
            cfg.ssh_authorized_keys,
            vec![
                "ssh-ed25519 AAAC1 me@config",
                "ssh-rsa AAAB2 shared",
                "ssh-ed25519 AAAM3 md"
            ]
        );
        let home = root.path().join("home/rancher");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(
            home.join(".ssh/authorized_keys"),
            "ssh-rsa AAAB2 added-by-hand\n",
        )
        .unwrap();
        assert_eq!(authorized_keys(&home, &cfg.ssh_authorized_keys).unwrap(), 3);
        // A second start changes nothing.
        assert_eq!(authorized_keys(&home, &cfg.ssh_authorized_keys).unwrap(), 3);
        let text = std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
        assert_eq!(
            text,
            "ssh-rsa AAAB2 added-by-hand\nssh-ed25519 AAAC1 me@config\nssh-ed25519 AAAM3 md\n"
        );
    }

    #[test]
    fn values_with_control_characters_reach_no_line_based_file() {
        let mut cfg = CloudConfig::default();
        cfg.rancher.ssh.listen_address = Some("0.0.0.0\nPermitRootLogin yes".into());
        let text = sshd_config(&cfg);
        assert!(!text.contains("ListenAddress"), "{text}");
        assert!(!text.contains("PermitRootLogin yes"), "{text}");
        cfg.rancher.ssh.listen_address = Some("10.0.0.5".into());
        assert!(sshd_config(&cfg).contains("ListenAddress 10.0.0.5\n"));

        assert_eq!(chpasswd_input("pw\nroot:owned"), None);
        assert_eq!(
            chpasswd_input("s3cret pw").as_deref(),
            Some("rancher:s3cret pw\n")
        );

        let out = merge_keys(
            "",
            &[
                "ssh-rsa AAA a\nssh-rsa EVIL e".into(),
                "ssh-ed25519 BBB b".into(),
            ],
        );
        assert_eq!(out, "ssh-ed25519 BBB b\n");
    }

    #[test]
    fn sshd_allows_keys_only() {
        let mut cfg = CloudConfig::default();
        cfg.rancher.ssh.port = Some(2222);
        let text = sshd_config(&cfg);
        assert!(text.contains("Port 2222\n") && text.contains("PasswordAuthentication no\n"));
        // scp and sftp clients need the subsystem.
        assert!(text.contains("Subsystem sftp internal-sftp\n"));
        assert!(
            text.contains("KbdInteractiveAuthentication no\n")
                && text.contains("PermitRootLogin no\n")
        );
    }
}
