//! Assembling a root filesystem from unpacked packages: the merged-/usr layout, users,
//! symlinks, directories, overlay files, pruning and the linker cache. This stands in for
//! the maintainer scripts, which are never run.

use std::fs;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use globset::{GlobSet, GlobSetBuilder};

use crate::command;
use crate::spec::{DirSpec, GroupSpec, ImageSpec, UserSpec};

/// Makes `root` a merged-/usr tree (bookworm's layout) before anything is unpacked into it.
pub fn prepare(root: &Path) -> Result<()> {
    if root.exists() {
        fs::remove_dir_all(root).with_context(|| format!("clear {}", root.display()))?;
    }
    for dir in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64"] {
        fs::create_dir_all(root.join(dir)).with_context(|| format!("create {dir}"))?;
    }
    for link in ["bin", "sbin", "lib", "lib64"] {
        symlink(format!("usr/{link}"), root.join(link)).with_context(|| format!("link /{link}"))?;
    }
    Ok(())
}

/// The directories every Linux root needs, with their conventional modes.
pub fn ensure_standard_dirs(root: &Path) -> Result<()> {
    for (dir, mode) in [
        ("dev", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("run", 0o755),
        ("tmp", 0o1777),
        ("var/tmp", 0o1777),
        ("var/log", 0o755),
        ("var/lib", 0o755),
        ("root", 0o700),
        ("home", 0o755),
        ("etc", 0o755),
        ("mnt", 0o755),
    ] {
        let path = root.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("create {dir}"))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {dir}"))?;
    }
    // base-files' postinst makes these links and is never run here. Without them a daemon's
    // socket in /var/run stays inside its container instead of the shared /run.
    for (link, target) in [("var/run", "/run"), ("var/lock", "/run/lock")] {
        let path = root.join(link);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => continue,
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(_) => Ok(()),
        }
        .with_context(|| format!("replace {link}"))?;
        symlink(target, &path).with_context(|| format!("link {link} -> {target}"))?;
    }
    Ok(())
}

/// Applies everything in `spec` that is not a package: users, directories, symlinks, removals.
pub fn apply_spec(root: &Path, spec: &ImageSpec) -> Result<()> {
    add_groups_and_users(root, &spec.groups, &spec.users)?;
    for dir in &spec.directories {
        add_directory(root, dir)?;
    }
    for (path, target) in &spec.symlinks {
        let link = root.join(path.trim_start_matches('/'));
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).with_context(|| format!("create parent of {path}"))?;
        }
        if fs::symlink_metadata(&link).is_ok() {
            fs::remove_file(&link).with_context(|| format!("replace {path}"))?;
        }
        symlink(target, &link).with_context(|| format!("symlink {path} -> {target}"))?;
    }
    if !spec.remove.is_empty() {
        remove_matching(root, &globs(&spec.remove)?, &GlobSet::empty())?;
    }
    Ok(())
}

fn add_directory(root: &Path, dir: &DirSpec) -> Result<()> {
    let path = root.join(dir.path.trim_start_matches('/'));
    fs::create_dir_all(&path).with_context(|| format!("create {}", dir.path))?;
    if let Some(mode) = &dir.mode {
        let mode = u32::from_str_radix(mode, 8).with_context(|| format!("mode {mode:?}"))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", dir.path))?;
    }
    chown(&path, Some(dir.uid), Some(dir.gid)).with_context(|| format!("chown {}", dir.path))
}

/// Appends to /etc/passwd, /etc/group and /etc/shadow what adduser would have.
fn add_groups_and_users(root: &Path, groups: &[GroupSpec], users: &[UserSpec]) -> Result<()> {
    if groups.is_empty() && users.is_empty() {
        return Ok(());
    }
    let etc = root.join("etc");
    let mut group_lines = read_lines(&etc.join("group"))?;
    let mut gshadow_lines = read_lines(&etc.join("gshadow"))?;
    let mut passwd_lines = read_lines(&etc.join("passwd"))?;
    let mut shadow_lines = read_lines(&etc.join("shadow"))?;
    let mut add_group = |name: &str, gid: u32, lines: &mut Vec<String>| {
        if !lines.iter().any(|l| l.split(':').next() == Some(name)) {
            lines.push(format!("{name}:x:{gid}:"));
            gshadow_lines.push(format!("{name}:!::"));
        }
    };
    for g in groups {
        add_group(&g.name, g.gid, &mut group_lines);
    }
    for u in users {
        if !group_lines
            .iter()
            .any(|l| l.split(':').nth(2) == Some(u.gid.to_string().as_str()))
        {
            add_group(&u.name, u.gid, &mut group_lines);
        }
        passwd_lines.retain(|l| l.split(':').next() != Some(u.name.as_str()));
        shadow_lines.retain(|l| l.split(':').next() != Some(u.name.as_str()));
        let home = u.home.clone().unwrap_or_else(|| "/nonexistent".into());
        let shell = u
            .shell
            .clone()
            .unwrap_or_else(|| "/usr/sbin/nologin".into());
        passwd_lines.push(format!(
            "{}:x:{}:{}:{}:{}:{}",
            u.name, u.uid, u.gid, u.name, home, shell
        ));
        // Locked password: log in with keys or autologin.
        shadow_lines.push(format!("{}:!:19000:0:99999:7:::", u.name));
        for line in group_lines.iter_mut() {
            let name = line.split(':').next().unwrap_or("").to_string();
            if u.groups.contains(&name) {
                let sep = if line.ends_with(':') { "" } else { "," };
                line.push_str(&format!("{sep}{}", u.name));
            }
        }
    }
    write_lines(&etc.join("group"), &group_lines, 0o644)?;
    write_lines(&etc.join("gshadow"), &gshadow_lines, 0o640)?;
    write_lines(&etc.join("passwd"), &passwd_lines, 0o644)?;
    write_lines(&etc.join("shadow"), &shadow_lines, 0o640)?;
    for u in users {
        if let Some(home) = &u.home {
            let path = root.join(home.trim_start_matches('/'));
            if !path.exists() && home != "/nonexistent" {
                fs::create_dir_all(&path).with_context(|| format!("create {home}"))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o750))?;
                chown(&path, Some(u.uid), Some(u.gid)).with_context(|| format!("chown {home}"))?;
            }
        }
    }
    Ok(())
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

fn write_lines(path: &Path, lines: &[String], mode: u32) -> Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Copies an image's `files/` overlay over its root (owned by root, modes kept).
pub fn copy_overlay(files: &Path, root: &Path) -> Result<()> {
    command::run(
        Command::new("cp")
            .args(["-dR", "--preserve=mode,links", "--no-preserve=ownership"])
            .arg(format!("{}/.", files.display()))
            .arg(root),
    )
}

/// A command that runs a program of `root` through `root`'s own loader and libraries (append
/// the program and its arguments): the tree's glibc may be newer than the host's, whose loader
/// would refuse its binaries. A tree without a loader gets the program run directly.
pub fn own_loader(root: &Path) -> Command {
    // A whole merged-/usr tree, or a staged one (an initramfs) that holds only what the
    // binaries ask for: the loader where their interpreter path points.
    let lib_dirs: Vec<PathBuf> = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"]
        .iter()
        .map(|d| root.join(d))
        .filter(|d| d.is_dir())
        .collect();
    let loader = [
        "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "usr/lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "lib64/ld-linux-x86-64.so.2",
    ]
    .iter()
    .map(|l| root.join(l))
    .find(|l| l.is_file());
    let (Some(loader), Ok(path)) = (loader, std::env::join_paths(&lib_dirs)) else {
        return Command::new("env");
    };
    let mut cmd = Command::new(loader);
    cmd.arg("--library-path").arg(path);
    cmd
}

/// Creates a symlink to busybox for every applet whose path is still free.
pub fn busybox_links(root: &Path) -> Result<()> {
    let busybox = root.join("usr/bin/busybox");
    let list = command::output(own_loader(root).arg(&busybox).arg("--list-full"))?;
    for applet in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = root.join(applet);
        if fs::symlink_metadata(&path).is_err() {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            symlink("/usr/bin/busybox", &path).with_context(|| format!("link {applet}"))?;
        }
    }
    Ok(())
}

/// Builds a glob set where `*` stays within one path component.
pub fn globs(patterns: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = globset::GlobBuilder::new(p.trim_start_matches('/'))
            .literal_separator(true)
            .build()
            .with_context(|| format!("glob {p:?}"))?;
        builder.add(glob);
    }
    builder.build().context("glob set")
}

/// Removes non-directories matching `prune` but not `keep`, then the matching directories
/// left empty.
pub fn remove_matching(root: &Path, prune: &GlobSet, keep: &GlobSet) -> Result<u64> {
    let mut removed = 0;
    walk_post_order(root, Path::new(""), &mut |rel, is_dir| {
        if !prune.is_match(rel) || keep.is_match(rel) {
            return Ok(());
        }
        let abs = root.join(rel);
        if is_dir {
            if fs::read_dir(&abs)?.next().is_none() {
                fs::remove_dir(&abs)?;
            }
        } else {
            fs::remove_file(&abs)?;
            removed += 1;
        }
        Ok(())
    })
    .with_context(|| format!("prune {}", root.display()))?;
    Ok(removed)
}

fn walk_post_order(
    root: &Path,
    rel: &Path,
    visit: &mut dyn FnMut(&Path, bool) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut entries: Vec<(PathBuf, bool)> = Vec::new();
    for entry in fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let is_dir = entry.file_type()?.is_dir();
        entries.push((rel.join(entry.file_name()), is_dir));
    }
    entries.sort();
    for (child, is_dir) in entries {
        if is_dir {
            walk_post_order(root, &child, visit)?;
        }
        visit(&child, is_dir)?;
    }
    Ok(())
}

/// Writes /etc/ld.so.cache for the root, as libc-bin's trigger would.
pub fn ldconfig(root: &Path) -> Result<()> {
    if !root.join("etc/ld.so.conf").exists() {
        fs::write(
            root.join("etc/ld.so.conf"),
            "include /etc/ld.so.conf.d/*.conf\n",
        )?;
    }
    command::run(Command::new("ldconfig").arg("-X").arg("-r").arg(root))?;
    // Its auxiliary cache records inode numbers and times: never the same twice.
    let aux = root.join("var/cache/ldconfig/aux-cache");
    if aux.exists() {
        fs::remove_file(&aux).context("remove ldconfig's aux-cache")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_copyright_and_drops_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("usr/share/doc/pkg")).unwrap();
        fs::create_dir_all(root.join("usr/share/man/man1")).unwrap();
        fs::write(root.join("usr/share/doc/pkg/copyright"), "c").unwrap();
        fs::write(root.join("usr/share/doc/pkg/changelog.gz"), "c").unwrap();
        fs::write(root.join("usr/share/man/man1/x.1.gz"), "m").unwrap();
        let prune = globs(&[
            "usr/share/doc/**".into(),
            "usr/share/man".into(),
            "usr/share/man/**".into(),
        ])
        .unwrap();
        let keep = globs(&["usr/share/doc/*/copyright".into()]).unwrap();
        assert_eq!(remove_matching(root, &prune, &keep).unwrap(), 2);
        assert!(root.join("usr/share/doc/pkg/copyright").exists());
        assert!(!root.join("usr/share/doc/pkg/changelog.gz").exists());
        assert!(!root.join("usr/share/man").exists());
    }

    #[test]
    fn var_run_becomes_a_link_to_run() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("var/run/leftover")).unwrap();
        ensure_standard_dirs(root).unwrap();
        ensure_standard_dirs(root).unwrap();
        assert_eq!(
            fs::read_link(root.join("var/run")).unwrap(),
            Path::new("/run")
        );
        assert_eq!(
            fs::read_link(root.join("var/lock")).unwrap(),
            Path::new("/run/lock")
        );
    }

    #[test]
    fn users_and_groups_are_appended() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\ndocker:x:999:\n").unwrap();
        let users = [UserSpec {
            name: "rancher".into(),
            uid: 1100,
            gid: 1100,
            home: Some("/home/rancher".into()),
            shell: Some("/bin/bash".into()),
            groups: vec!["docker".into()],
        }];
        add_groups_and_users(root, &[], &users).unwrap();
        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(passwd.ends_with("rancher:x:1100:1100:rancher:/home/rancher:/bin/bash\n"));
        let group = fs::read_to_string(root.join("etc/group")).unwrap();
        assert_eq!(group, "root:x:0:\ndocker:x:999:rancher\nrancher:x:1100:\n");
        assert!(root.join("home/rancher").is_dir());
    }
}
