//! The dpkg database of an image that keeps apt and dpkg working inside it (`dpkg_status:
//! true` in its image.yml, the Debian console): `var/lib/dpkg/status` names every package the
//! image holds as installed, and `var/lib/dpkg/info/<package>.list` its files, so `apt install`
//! adds only what is missing and `dpkg -S` answers. Maintainer scripts never ran, and no
//! conffile checksums are recorded (an upgrade of a package replaces its /etc files).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::command;

/// Writes the database for `debs` (each package's .deb) into `root`.
pub fn write(root: &Path, debs: &[&Path]) -> Result<()> {
    let dir = root.join("var/lib/dpkg");
    let info = dir.join("info");
    fs::create_dir_all(&info).with_context(|| format!("create {}", info.display()))?;
    for sub in ["updates", "triggers", "alternatives"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let mut status = String::new();
    for deb in debs {
        let control = command::output(Command::new("dpkg-deb").arg("--field").arg(deb))
            .with_context(|| format!("read the control of {}", deb.display()))?;
        let stanza =
            installed_stanza(&control).with_context(|| format!("control of {}", deb.display()))?;
        let files = command::output(
            Command::new("sh")
                .arg("-c")
                .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -t")
                .arg("sh")
                .arg(deb),
        )
        .with_context(|| format!("list the files of {}", deb.display()))?;
        let list = info.join(format!("{}.list", list_name(&stanza)?));
        fs::write(&list, list_file(&files)).with_context(|| format!("write {}", list.display()))?;
        status.push_str(&stanza);
        status.push_str("\n\n");
    }
    // Format 1: a Multi-Arch: same package's files are info/NAME:ARCH.list (format 0 has
    // no architecture, and dpkg then finds none of those lists).
    fs::write(info.join("format"), "1\n").context("write var/lib/dpkg/info/format")?;
    fs::write(dir.join("status"), &status).context("write var/lib/dpkg/status")?;
    fs::write(dir.join("available"), "").context("write var/lib/dpkg/available")?;
    Ok(())
}

/// apt's sources inside the image: Debian's own mirrors for `suite` (a codename, checked by
/// `Sources`), whatever mirror the build used.
pub fn write_sources(root: &Path, suite: &str) -> Result<()> {
    let dir = root.join("etc/apt/sources.list.d");
    fs::create_dir_all(&dir)?;
    let text = format!(
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: {suite} {suite}-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: {suite}-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    );
    fs::write(dir.join("debian.sources"), text).context("write apt's debian.sources")
}

/// A .deb's control as a status stanza: `Status: install ok installed` after `Package:`.
fn installed_stanza(control: &str) -> Result<String> {
    let mut out = String::new();
    let mut seen_package = false;
    for line in control.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("Status:") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.starts_with("Package:") {
            out.push_str("Status: install ok installed\n");
            seen_package = true;
        }
    }
    if !seen_package {
        bail!("no Package field");
    }
    Ok(out.trim_end().to_string())
}

/// `NAME` or, for a `Multi-Arch: same` package, `NAME:ARCH`: the name dpkg gives its files.
fn list_name(stanza: &str) -> Result<String> {
    let field = |name: &str| {
        stanza.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(str::trim)
        })
    };
    let package = field("Package").context("no Package field")?;
    match (field("Multi-Arch"), field("Architecture")) {
        (Some("same"), Some(arch)) => Ok(format!("{package}:{arch}")),
        _ => Ok(package.to_string()),
    }
}

/// `tar -t` names (`./`, `./usr/`, `./usr/bin/x`) as dpkg lists them (`/.`, `/usr`, `/usr/bin/x`).
fn list_file(tar_names: &str) -> String {
    let mut out = String::new();
    for name in tar_names.lines() {
        let path = name.trim_start_matches('.').trim_end_matches('/');
        out.push_str(if path.is_empty() { "/." } else { path });
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_becomes_an_installed_stanza() {
        let control =
            "Package: less\nVersion: 668-1\nArchitecture: amd64\nDescription: pager\n more text\n";
        assert_eq!(
            installed_stanza(control).unwrap(),
            "Package: less\nStatus: install ok installed\nVersion: 668-1\nArchitecture: amd64\nDescription: pager\n more text"
        );
        assert!(installed_stanza("Version: 1\n").is_err());
    }

    #[test]
    fn multi_arch_same_packages_are_listed_with_their_architecture() {
        let same = "Package: libc6\nMulti-Arch: same\nArchitecture: amd64\n";
        assert_eq!(list_name(same).unwrap(), "libc6:amd64");
        let foreign = "Package: less\nMulti-Arch: foreign\nArchitecture: amd64\n";
        assert_eq!(list_name(foreign).unwrap(), "less");
    }

    #[test]
    fn tar_names_become_dpkg_paths() {
        assert_eq!(
            list_file("./\n./usr/\n./usr/bin/\n./usr/bin/less\n"),
            "/.\n/usr\n/usr/bin\n/usr/bin/less\n"
        );
    }

    #[test]
    fn a_real_deb_is_recorded() {
        // A tiny package built here with dpkg-deb, so the test needs no download.
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
        fs::create_dir_all(pkg.join("usr/bin")).unwrap();
        fs::write(pkg.join("usr/bin/hello"), "#!/bin/sh\necho hi\n").unwrap();
        fs::write(
            pkg.join("DEBIAN/control"),
            "Package: hello-ros\nVersion: 1.0\nArchitecture: all\nMaintainer: ros <ros@example.invalid>\nDescription: test\n",
        )
        .unwrap();
        let deb = dir.path().join("hello.deb");
        command::run(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "--build"])
                .arg(&pkg)
                .arg(&deb),
        )
        .unwrap();
        let root = dir.path().join("root");
        write(&root, &[deb.as_path()]).unwrap();
        let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
        assert!(
            status.starts_with("Package: hello-ros\nStatus: install ok installed\n"),
            "{status}"
        );
        assert_eq!(
            fs::read_to_string(root.join("var/lib/dpkg/info/hello-ros.list")).unwrap(),
            "/.\n/usr\n/usr/bin\n/usr/bin/hello\n"
        );
        // dpkg itself reads the database back.
        let out = Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                root.join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\\n"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello-ros 1.0 ii \n");
        assert_eq!(
            fs::read_to_string(root.join("var/lib/dpkg/info/format")).unwrap(),
            "1\n"
        );
    }
}
