//! What a killed System Docker leaves of a container it no longer runs. Its containerd shims
//! outlive it; a new daemon that gives up on one (the container shows as exited) cannot start
//! the container again while the old shim holds the task's directory ("file exists"). The old
//! shim, and anything still running under it, is killed so the start can succeed.

use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The shims of container `id` that talk to the containerd at `address`.
pub fn shims_of(proc_root: &Path, address: &str, id: &str) -> Vec<i32> {
    processes(proc_root)
        .filter(|(_, cmdline)| {
            cmdline.first().is_some_and(|p| {
                p.rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with("containerd-shim"))
            }) && flag(cmdline, "-id") == Some(id)
                && flag(cmdline, "-address") == Some(address)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// `pid` and every process below it, children before their parents.
pub fn tree(proc_root: &Path, pid: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = processes(proc_root)
        .filter_map(|(p, _)| Some((p, parent_of(proc_root, p)?)))
        .collect();
    let mut found = vec![pid];
    let mut next = 0;
    while let Some(&p) = found.get(next) {
        next = next.saturating_add(1);
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
    }
    found.reverse();
    found
}

/// SIGKILLs each shim of `id` with everything under it; returns how many processes got it.
pub fn kill_shims(proc_root: &Path, address: &str, id: &str) -> usize {
    let mut killed: usize = 0;
    for shim in shims_of(proc_root, address, id) {
        for pid in tree(proc_root, shim) {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed = killed.saturating_add(1);
            }
        }
    }
    killed
}

fn processes(proc_root: &Path) -> impl Iterator<Item = (i32, Vec<String>)> + '_ {
    std::fs::read_dir(proc_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(move |e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            let args = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, args))
        })
}

/// The value after `name` in an argument list (`-id X`).
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at.saturating_add(1)).map(String::as_str)
}

/// The parent pid from /proc/<pid>/stat (after the command name, which may hold spaces).
fn parent_of(proc_root: &Path, pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(root: &Path, pid: i32, ppid: i32, args: &[String]) {
        let dir = root.join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cmdline"), args.join("\0") + "\0").unwrap();
        std::fs::write(dir.join("stat"), format!("{pid} (a b) S {ppid} 1 1")).unwrap();
    }

    #[test]
    fn finds_the_shim_of_one_container_on_one_daemon_and_its_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let sys = "/var/run/system-docker/containerd/containerd.sock";
        let user = "/var/run/docker/containerd/containerd.sock";
        let shim = |id: &str, addr: &str| {
            vec![
                "/usr/bin/containerd-shim-runc-v2",
                "-namespace",
                "moby",
                "-id",
                id,
                "-address",
                addr,
            ]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
        };
        process(root, 10, 1, &shim("abc", sys));
        process(root, 11, 10, &["dockerd".to_owned()]);
        process(root, 12, 11, &["containerd".to_owned()]);
        process(root, 20, 1, &shim("abc", user));
        process(root, 30, 1, &shim("def", sys));
        std::fs::create_dir_all(root.join("self")).unwrap();
        assert_eq!(shims_of(root, sys, "abc"), vec![10]);
        assert_eq!(tree(root, 10), vec![12, 11, 10]);
        assert!(shims_of(root, sys, "xyz").is_empty());
    }
}
