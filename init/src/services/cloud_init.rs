//! The cloud-init container's entry point (`ros cloud-init-execute`): read the config drives
//! the datasources allow (NoCloud `cidata`, `config-2`), save user-data and metadata as layers,
//! and apply the hostname. `write_files` and `runcmd` run in the console (see `console`).

use crate::block_devices;
use nix::mount::{mount, umount, MsFlags};
use os_config::cloud_init::drive::{self, DriveKind};
use os_config::cloud_init::{save, user_data};
use os_config::model::{StringOrList, WriteFile};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const MOUNT_BASE: &str = "/run/ros/cloud-init";

pub fn run() {
    let root = Path::new("/");
    let before = os_config::load(root);
    let datasources = &before.config.rancher.cloud_init.datasources;
    let mut found_any = false;
    for kind in [DriveKind::ConfigDrive, DriveKind::NoCloud] {
        if !kind.enabled_by(datasources) {
            continue;
        }
        let Some(data) = read_drive(kind) else {
            continue;
        };
        found_any = true;
        let ud = data
            .user_data
            .map(|(path, text)| user_data::parse(&text, &path));
        let saved = save::save(root, ud, &data.metadata);
        for d in &saved.diagnostics {
            tracing::error!("cloud-init: {d}");
        }
        for f in &saved.files {
            tracing::info!(file = %f.display(), drive = kind.label(), "cloud-init: saved");
        }
    }
    if !found_any {
        tracing::info!(datasources = ?datasources, "cloud-init: no config drive found; keeping what was saved before");
    }
    let cfg = os_config::load(root).config;
    if let Some(h) = cfg.hostname.as_deref().filter(|h| !h.is_empty()) {
        apply_hostname(h);
    }
}

fn read_drive(kind: DriveKind) -> Option<drive::DriveData> {
    let found = block_devices::find(&format!("LABEL={}", kind.label()))?;
    let target = PathBuf::from(MOUNT_BASE).join(kind.label());
    let _ = std::fs::create_dir_all(&target);
    if let Err(e) = mount(
        Some(&found.device),
        &target,
        Some(found.fs.fstype),
        MsFlags::MS_RDONLY,
        None::<&str>,
    ) {
        tracing::error!(device = %found.device.display(), error = %e, "cloud-init: cannot mount the config drive");
        return None;
    }
    tracing::info!(device = %found.device.display(), label = kind.label(), "cloud-init: reading config drive");
    let data = drive::read(kind, &target);
    let _ = umount(&target);
    Some(data)
}

/// Sets the kernel hostname and rewrites /etc/hostname and the 127.0.1.1 line of /etc/hosts.
/// Both files are bind mounts from the host, so they are written in place, not renamed.
pub fn apply_hostname(hostname: &str) {
    if let Err(e) = nix::unistd::sethostname(hostname) {
        tracing::warn!(hostname, error = %e, "cannot set the hostname");
    }
    let _ = std::fs::write("/etc/hostname", format!("{hostname}\n"));
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let _ = std::fs::write("/etc/hosts", hosts_with(&hosts, hostname));
    tracing::info!(hostname, "hostname set");
}

/// `/etc/hosts` with exactly one `127.0.1.1 <hostname>` line.
pub fn hosts_with(hosts: &str, hostname: &str) -> String {
    let mut out: String = hosts
        .lines()
        .filter(|l| !l.trim_start().starts_with("127.0.1.1"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("127.0.1.1\t{hostname}\n"));
    out
}

/// Writes every `write_files` entry meant for `container` (no `container:` means the console).
/// Each failure is reported and the rest still written.
pub fn write_files(files: &[WriteFile], container: &str) -> usize {
    let mut written = 0;
    for f in files
        .iter()
        .filter(|f| f.container.as_deref().unwrap_or("console") == container)
    {
        match write_one(f) {
            Ok(()) => {
                written += 1;
                tracing::info!(path = %f.path, "write_files: written");
            }
            Err(e) => tracing::error!(path = %f.path, error = %e, "write_files: failed"),
        }
    }
    written
}

fn write_one(f: &WriteFile) -> Result<(), String> {
    let bytes = f.decoded_content()?;
    let path = Path::new(&f.path);
    if !path.is_absolute() {
        return Err("path must be absolute".into());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let mode = f.mode().unwrap_or(0o644);
    if f.append {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| e.to_string())?;
        file.write_all(&bytes).map_err(|e| e.to_string())?;
    } else {
        os_config::atomic_write(path, &bytes, mode).map_err(|e| e.to_string())?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| e.to_string())?;
    if let Some(owner) = f.owner.as_deref() {
        let (uid, gid) = resolve_owner(owner).ok_or_else(|| format!("unknown owner {owner:?}"))?;
        std::os::unix::fs::chown(path, Some(uid), gid).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `user`, `user:group`, or numeric ids, looked up in this container's user database.
pub fn resolve_owner(owner: &str) -> Option<(u32, Option<u32>)> {
    use nix::unistd::{Group, User};
    let (user, group) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let u = User::from_name(user).ok()??;
            (u.uid.as_raw(), Some(u.gid.as_raw()))
        }
    };
    let gid = match group {
        Some(g) => Some(match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => Group::from_name(g).ok()??.gid.as_raw(),
        }),
        None => primary,
    };
    Some((uid, gid))
}

/// Runs every `runcmd` entry in order: a list is exec'd, a string runs with `sh -c`. Unlike
/// RancherOS v1, a failure does not skip the rest. Returns how many failed.
pub fn run_commands(commands: &[StringOrList]) -> usize {
    let mut failed = 0;
    for (i, c) in commands.iter().enumerate() {
        let mut cmd = match c {
            StringOrList::String(s) => {
                let mut cmd = Command::new("/bin/sh");
                cmd.args(["-c", s]);
                cmd
            }
            StringOrList::List(argv) => match argv.split_first() {
                Some((prog, args)) => {
                    let mut cmd = Command::new(prog);
                    cmd.args(args);
                    cmd
                }
                None => continue,
            },
        };
        match cmd.status() {
            Ok(s) if s.success() => tracing::info!(index = i, "runcmd: ok"),
            Ok(s) => {
                failed += 1;
                tracing::error!(index = i, command = ?c, status = %s, "runcmd: failed");
            }
            Err(e) => {
                failed += 1;
                tracing::error!(index = i, command = ?c, error = %e, "runcmd: cannot run");
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_line_is_replaced() {
        let out = hosts_with("127.0.0.1\tlocalhost\n127.0.1.1\told\n", "new");
        assert_eq!(out, "127.0.0.1\tlocalhost\n127.0.1.1\tnew\n");
    }

    #[test]
    fn files_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        let files = vec![
            WriteFile {
                path: p("a/b.txt"),
                content: "hello\n".into(),
                permissions: Some("0600".into()),
                ..Default::default()
            },
            WriteFile {
                path: p("log"),
                content: "1\n".into(),
                append: true,
                ..Default::default()
            },
            WriteFile {
                path: p("log"),
                content: "2\n".into(),
                append: true,
                ..Default::default()
            },
            WriteFile {
                path: p("ntp.conf"),
                content: "x".into(),
                container: Some("ntp".into()),
                ..Default::default()
            },
            WriteFile {
                path: "relative".into(),
                content: "x".into(),
                ..Default::default()
            },
        ];
        assert_eq!(write_files(&files, "console"), 3);
        assert_eq!(std::fs::read_to_string(p("a/b.txt")).unwrap(), "hello\n");
        assert_eq!(
            std::fs::metadata(p("a/b.txt"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_to_string(p("log")).unwrap(), "1\n2\n");
        assert!(!dir.path().join("ntp.conf").exists());

        let cmds = vec![
            StringOrList::List(vec!["touch".into(), p("one")]),
            StringOrList::String("exit 3".into()),
            StringOrList::String(format!("echo ok > {}", p("two"))),
        ];
        assert_eq!(run_commands(&cmds), 1);
        assert!(dir.path().join("one").exists() && dir.path().join("two").exists());
        assert_eq!(resolve_owner("0:0"), Some((0, Some(0))));
        assert_eq!(resolve_owner("root"), Some((0, Some(0))));
        assert_eq!(resolve_owner("no-such-user-here"), None);
    }
}
