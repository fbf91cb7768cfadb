//! Facts about the machine and the build that go into the results.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use crate::report::{Host, Size};

pub fn host() -> Host {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_total_mib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024);
    let qemu_version = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default();
    Host {
        cpu,
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_total_mib,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        qemu_version,
    }
}

/// The parts of dist/manifest.json the benchmark reports.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub ros_version: String,
    pub git_commit: String,
    pub artifacts: Vec<Entry>,
    pub images: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub struct Entry {
    pub name: String,
    pub size: u64,
}

impl Manifest {
    pub fn parse(json: &str) -> Option<Manifest> {
        serde_json::from_str(json).ok()
    }

    /// The ISO, initrd, vmlinuz, system image and each image archive, then the baseline.
    pub fn sizes(&self, baseline_initrd: Option<u64>) -> Vec<Size> {
        let mut out: Vec<Size> = self
            .artifacts
            .iter()
            .map(|a| Size {
                name: a.name.clone(),
                bytes: a.size,
            })
            .collect();
        out.extend(self.images.iter().map(|i| Size {
            name: format!("images/{}.tar", i.name),
            bytes: i.size,
        }));
        if let Some(bytes) = baseline_initrd {
            out.push(Size {
                name: "baseline initramfs (bench)".into(),
                bytes,
            });
        }
        out
    }
}

/// The short commit of the work tree, `-dirty` when it has changes.
pub fn commit(repo: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let mut c = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) {
        c.push_str("-dirty");
    }
    c
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub fn utc_date(unix_secs: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = (unix_secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_735_689_599), "2024-12-31");
        assert_eq!(utc_date(1_735_689_600), "2025-01-01");
    }

    #[test]
    fn sizes_from_the_manifest() {
        let m = Manifest::parse(
            r#"{"ros_version":"0.1.0","git_commit":"abc","kernel":{},
            "artifacts":[{"name":"ros.iso","size":151300096,"sha256":"x"}],
            "images":[{"name":"base","tag":"ros/base:0.1.0","size":5764096}]}"#,
        )
        .unwrap();
        let s = m.sizes(Some(54_000_000));
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["ros.iso", "images/base.tar", "baseline initramfs (bench)"]
        );
        assert_eq!(s[1].bytes, 5_764_096);
    }
}
