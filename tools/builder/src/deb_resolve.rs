//! Resolving and downloading Debian packages with apt, in a private apt tree under the cache.
//! apt does the dependency resolution; "installed" packages are faked in a private dpkg status
//! file, which is how an image gets only what its lower layer lacks and how maintainer-script
//! machinery (debconf, adduser, perl…) is kept out.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::command;

/// One binary package at one version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
}

impl Package {
    /// The file name apt gives the downloaded .deb (an epoch's colon becomes %3a).
    pub fn deb_file_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.name,
            self.version.replace(':', "%3a"),
            self.arch
        )
    }
}

/// Where packages come from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub mirror: String,
    pub security_mirror: String,
    pub suite: String,
    /// Packages this suite lacks, left out of every resolution (`debian.yml`'s `omit`).
    pub omit: Vec<String>,
}

/// `debian.yml` at the repository root: the one place the Debian release is named.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DebianSpec {
    suite: String,
    #[serde(default)]
    omit: BTreeMap<String, Vec<String>>,
}

impl Sources {
    /// The suite `suite`, else ROS_DEBIAN_SUITE, else `<repo>/debian.yml`'s; Debian's own
    /// mirrors unless ROS_DEBIAN_MIRROR / ROS_DEBIAN_SECURITY_MIRROR say otherwise.
    pub fn load(repo: &Path, suite: Option<&str>) -> Result<Sources> {
        let spec: DebianSpec = crate::spec::read_yaml(&repo.join("debian.yml"))?;
        let suite = match suite {
            Some(s) => s.to_owned(),
            None => std::env::var("ROS_DEBIAN_SUITE").unwrap_or(spec.suite),
        };
        Sources::for_suite(&suite, &spec.omit)
    }

    fn for_suite(suite: &str, omit: &BTreeMap<String, Vec<String>>) -> Result<Sources> {
        // The name goes into sources.list: a codename, nothing else.
        if suite.is_empty() || !suite.chars().all(|c| c.is_ascii_lowercase()) {
            bail!("debian.yml: suite {suite:?} is not a Debian codename (e.g. trixie)");
        }
        Ok(Sources {
            mirror: std::env::var("ROS_DEBIAN_MIRROR")
                .unwrap_or_else(|_| "http://deb.debian.org/debian".into()),
            security_mirror: std::env::var("ROS_DEBIAN_SECURITY_MIRROR")
                .unwrap_or_else(|_| "http://deb.debian.org/debian-security".into()),
            suite: suite.to_owned(),
            omit: omit.get(suite).cloned().unwrap_or_default(),
        })
    }

    fn list(&self) -> String {
        let key = "signed-by=/usr/share/keyrings/debian-archive-keyring.gpg";
        let s = &self.suite;
        format!(
            "deb [{key}] {m} {s} main\ndeb [{key}] {m} {s}-updates main\ndeb [{key}] {sec} {s}-security main\n",
            m = self.mirror,
            sec = self.security_mirror
        )
    }
}

/// A private apt configuration: its own sources, lists and .deb cache.
pub struct Apt {
    root: PathBuf,
    debs: PathBuf,
    omit: Vec<String>,
    suite: String,
}

impl Apt {
    /// Prepares the private tree under `cache` (package lists in `apt/`, .debs in `debs/`).
    pub fn new(cache: &Path, sources: &Sources) -> Result<Apt> {
        let root = cache.join("apt");
        let debs = cache.join("debs");
        for dir in [
            "etc/apt/sources.list.d",
            "etc/apt/preferences.d",
            "etc/apt/apt.conf.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
        ] {
            fs::create_dir_all(root.join(dir)).with_context(|| format!("create {dir}"))?;
        }
        fs::create_dir_all(&debs).context("create the .deb cache")?;
        let list = root.join("etc/apt/sources.list");
        if fs::read_to_string(&list).ok().as_deref() != Some(sources.list().as_str()) {
            fs::write(&list, sources.list()).context("write sources.list")?;
            // New sources invalidate the lists.
            let _ = fs::remove_file(root.join("var/lib/apt/lists/lock"));
            let _ = fs::remove_file(root.join("updated"));
        }
        fs::write(root.join("var/lib/dpkg/status"), "").context("write empty status")?;
        Ok(Apt {
            root,
            debs,
            omit: sources.omit.clone(),
            suite: sources.suite.clone(),
        })
    }

    /// The Debian codename packages come from.
    pub fn suite(&self) -> &str {
        &self.suite
    }

    fn cmd(&self, program: &str, status: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("-o")
            .arg(format!("Dir={}", self.root.display()))
            .arg("-o")
            .arg(format!("Dir::State::status={}", status.display()))
            .args([
                "-o",
                "APT::Architecture=amd64",
                "-o",
                "APT::Architectures=amd64",
                "-o",
                "Debug::NoLocking=1",
                "-o",
                "APT::Install-Recommends=false",
                "-o",
                "APT::Install-Suggests=false",
                "-o",
                "Acquire::Languages=none",
                "-o",
                "APT::Sandbox::User=root",
            ])
            .env("LC_ALL", "C");
        cmd
    }

    fn empty_status(&self) -> PathBuf {
        self.root.join("var/lib/dpkg/status")
    }

    /// Refreshes the package lists when they are older than `max_age` (or `force`).
    pub fn update(&self, max_age: Duration, force: bool) -> Result<bool> {
        let stamp = self.root.join("updated");
        let fresh = fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < max_age);
        if fresh && !force {
            return Ok(false);
        }
        command::run(self.cmd("apt-get", &self.empty_status()).arg("update"))
            .context("apt-get update of the private package lists")?;
        fs::write(&stamp, "").context("stamp the package lists")?;
        Ok(true)
    }

    /// When the package lists were last refreshed (changes whenever resolution may change).
    pub fn lists_stamp(&self) -> String {
        fs::metadata(self.root.join("updated"))
            .and_then(|m| m.modified())
            .map(|t| format!("{t:?}"))
            .unwrap_or_default()
    }

    /// The full apt-cache stanzas of the candidate versions of `names`, by package name.
    pub fn stanzas(&self, names: &[String]) -> Result<BTreeMap<String, String>> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let out = command::output(
            self.cmd("apt-cache", &self.empty_status())
                .args(["show", "--no-all-versions"])
                .args(names),
        )?;
        let mut stanzas = BTreeMap::new();
        for stanza in out.split("\n\n").filter(|s| !s.trim().is_empty()) {
            if let Some(name) = field(stanza, "Package") {
                stanzas
                    .entry(name.to_string())
                    .or_insert_with(|| stanza.trim().to_string());
            }
        }
        for name in names {
            if !stanzas.contains_key(name) {
                bail!("package {name} not found in the Debian package lists");
            }
        }
        Ok(stanzas)
    }

    /// The candidate version of each of `names`, without dependencies.
    pub fn candidates(&self, names: &[String]) -> Result<Vec<Package>> {
        self.stanzas(names)?
            .values()
            .map(|s| package_of(s))
            .collect()
    }

    /// What apt would install for `wanted` on a system where `installed` (full stanzas) are
    /// already present: the packages and their dependencies, minus the installed ones.
    /// `wanted` (names, or name=version) less what this suite lacks.
    fn without_omitted(&self, wanted: &[String]) -> Vec<String> {
        wanted
            .iter()
            .filter(|w| {
                let name = w.split('=').next().unwrap_or(w);
                !self.omit.iter().any(|o| o == name)
            })
            .cloned()
            .collect()
    }

    pub fn resolve(
        &self,
        wanted: &[String],
        installed: &[String],
        scratch: &Path,
    ) -> Result<Vec<Package>> {
        let status = scratch.join("status");
        let mut text = String::new();
        for stanza in installed {
            text.push_str(&with_installed_status(stanza));
            text.push_str("\n\n");
        }
        fs::write(&status, text).context("write the private dpkg status")?;
        let wanted = self.without_omitted(wanted);
        let out = command::output(
            self.cmd("apt-get", &status)
                .args(["install", "--simulate", "--quiet", "--yes"])
                .args(&wanted),
        )
        .with_context(|| format!("resolving {}", wanted.join(" ")))?;
        let mut pkgs: Vec<Package> = out.lines().filter_map(parse_inst_line).collect();
        pkgs.sort();
        Ok(pkgs)
    }

    /// Downloads the .debs of `pkgs` that are not in the cache yet; returns their paths.
    pub fn download(&self, pkgs: &[Package]) -> Result<Vec<PathBuf>> {
        let missing: Vec<String> = pkgs
            .iter()
            .filter(|p| !self.debs.join(p.deb_file_name()).is_file())
            .map(|p| format!("{}={}", p.name, p.version))
            .collect();
        if !missing.is_empty() {
            tracing::info!(count = missing.len(), "downloading packages");
            command::run(
                self.cmd("apt-get", &self.empty_status())
                    .arg("download")
                    .args(&missing)
                    .current_dir(&self.debs),
            )?;
        }
        pkgs.iter()
            .map(|p| {
                let path = self.debs.join(p.deb_file_name());
                if path.is_file() {
                    Ok(path)
                } else {
                    bail!("apt-get download did not produce {}", path.display())
                }
            })
            .collect()
    }
}

fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The package a stanza describes.
pub fn package_of(stanza: &str) -> Result<Package> {
    let get = |f| field(stanza, f).with_context(|| format!("stanza without {f}:\n{stanza}"));
    Ok(Package {
        name: get("Package")?.to_string(),
        version: get("Version")?.to_string(),
        arch: get("Architecture")?.to_string(),
    })
}

fn with_installed_status(stanza: &str) -> String {
    let mut out = String::new();
    for (i, line) in stanza.lines().enumerate() {
        if line.starts_with("Status:") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if i == 0 {
            out.push_str("Status: install ok installed\n");
        }
    }
    out.trim_end().to_string()
}

/// `Inst libc6 (2.36-9+deb12u10 Debian:12.11/stable [amd64])` → libc6 2.36-9+deb12u10 amd64.
fn parse_inst_line(line: &str) -> Option<Package> {
    let rest = line.strip_prefix("Inst ")?;
    let (name, rest) = rest.split_once(' ')?;
    // "(version releases [arch])", possibly followed by "[]" for packages it breaks.
    let inner = rest.split_once('(')?.1.split_once(')')?.0;
    let version = inner.split_whitespace().next()?;
    let arch = inner.rsplit_once('[')?.1.split_once(']')?.0;
    Some(Package {
        name: name.to_string(),
        version: version.to_string(),
        arch: arch.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suite_takes_only_its_own_omissions() {
        let omit = BTreeMap::from([("bookworm".to_string(), vec!["docker-cli".to_string()])]);
        assert_eq!(
            Sources::for_suite("bookworm", &omit).map(|s| s.omit).ok(),
            Some(vec!["docker-cli".to_string()])
        );
        let trixie = Sources::for_suite("trixie", &omit).map(|s| s.list()).ok();
        assert!(trixie.is_some_and(|l| l.contains(" trixie-security main")));
    }

    #[test]
    fn a_suite_that_is_not_a_codename_is_refused() {
        for bad in ["", "trixie main", "trixie\ndeb http://evil", "../x"] {
            assert!(
                Sources::for_suite(bad, &BTreeMap::new()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parses_apt_simulation_lines() {
        let p = parse_inst_line(
            "Inst libc6 (2.36-9+deb12u10 Debian:12.11/stable, Debian-Security:12/stable-security [amd64])",
        )
        .unwrap();
        assert_eq!(
            p,
            Package {
                name: "libc6".into(),
                version: "2.36-9+deb12u10".into(),
                arch: "amd64".into()
            }
        );
        let q =
            parse_inst_line("Inst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.12/oldstable [amd64]) []")
                .unwrap();
        assert_eq!(q.arch, "amd64");
        assert_eq!(parse_inst_line("Conf libc6 (2.36 Debian [amd64])"), None);
    }

    #[test]
    fn deb_file_name_escapes_the_epoch() {
        let p = Package {
            name: "busybox".into(),
            version: "1:1.35.0-4".into(),
            arch: "amd64".into(),
        };
        assert_eq!(p.deb_file_name(), "busybox_1%3a1.35.0-4_amd64.deb");
    }

    #[test]
    fn installed_status_is_inserted_after_the_package_line() {
        let s = with_installed_status("Package: a\nVersion: 1\nArchitecture: all");
        assert_eq!(
            s,
            "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all"
        );
    }
}
