//! What the benchmark reads from a guest's serial console.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// PID 1's first log line contains this.
pub const ROS_PID1: &str = "ros-init";
/// ros's ready line: `ros: ready in 97.3 s` (guest seconds since the kernel started).
pub const ROS_READY: &str = r"ros: ready in ([0-9]+(?:\.[0-9]+)?) s";
/// The baseline's /init prints these (tools/bench/baseline/init).
pub const BASELINE_INIT: &str = r"bench-baseline: init ([0-9.]+)";
pub const BASELINE_DOCKERD: &str = r"bench-baseline: dockerd ready ([0-9.]+)";
pub const BASELINE_LOADED: &str = r"bench-baseline: image loaded ([0-9.]+)";
pub const BASELINE_READY: &str = r"bench-baseline: ready in ([0-9.]+) s";

/// A constant pattern of this file, compiled once (the tests check that each compiles).
fn re(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

/// The number captured by `pattern`'s first group on its first match.
pub fn seconds(log: &str, pattern: &str) -> Option<f64> {
    Regex::new(pattern)
        .ok()?
        .captures(log)?
        .get(1)?
        .as_str()
        .parse()
        .ok()
}

/// Why a boot can no longer reach its ready line, if the console says so. The OOM killer
/// counts: a boot that needs it is not one to run. So does a failed User Docker service
/// (sysinit never prints the ready line without it).
pub fn failure(log: &str) -> Option<String> {
    static FAILURE: OnceLock<Option<Regex>> = OnceLock::new();
    let r = re(
        &FAILURE,
        r"(Kernel panic - not syncing[^\r\n]*|Out of memory: Killed process[^\r\n]*|invoked oom-killer[^\r\n]*|\*\*\* ros: RECOVERY SHELL \*\*\*|bench-baseline: FAILED[^\r\n]*|Initramfs unpacking failed[^\r\n]*|service failed service=docker [^\r\n]*|User Docker did not answer[^\r\n]*)",
    )?;
    r.find(log).map(|m| m.as_str().trim().to_string())
}

/// The baseline's idle figures, printed 10 s after its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineIdle {
    pub mem_total_kib: u64,
    pub mem_available_kib: u64,
    pub dockerd_rss_kib: u64,
    pub containerd_rss_kib: u64,
}

impl BaselineIdle {
    pub fn used_kib(&self) -> u64 {
        self.mem_total_kib.saturating_sub(self.mem_available_kib)
    }
}

pub fn baseline_idle(log: &str) -> Option<BaselineIdle> {
    static IDLE: OnceLock<Option<Regex>> = OnceLock::new();
    let c = re(
        &IDLE,
        r"bench-baseline: idle mem_total_kib=(\d+) mem_available_kib=(\d+) dockerd_rss_kib=(\d+) containerd_rss_kib=(\d+)",
    )?
    .captures(log)?;
    let n = |i: usize| c.get(i)?.as_str().parse().ok();
    Some(BaselineIdle {
        mem_total_kib: n(1)?,
        mem_available_kib: n(2)?,
        dockerd_rss_kib: n(3)?,
        containerd_rss_kib: n(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROS_LOG: &str = "\
[    0.000000] Linux version 6.1.0-56-cloud-amd64\r
[    2.100000] Run /init as init process\r
   2.31 INFO ros-init: starting version=\"0.1.0\"\r
ros: ready in 97.3 s\r
";

    #[test]
    fn reads_the_ready_line() {
        assert_eq!(seconds(ROS_LOG, ROS_READY), Some(97.3));
        assert_eq!(seconds("ros: ready in 12 s", ROS_READY), Some(12.0));
        assert_eq!(seconds("nothing here", ROS_READY), None);
        assert!(ROS_LOG.contains(ROS_PID1));
        assert_eq!(failure(ROS_LOG), None);
    }

    #[test]
    fn reads_the_baseline_lines() {
        let log = "bench-baseline: init 1.92\nbench-baseline: dockerd ready 14.50\nbench-baseline: image loaded 17.01\nbench-baseline: the container says hello\nbench-baseline: ready in 24.66 s\nbench-baseline: idle mem_total_kib=1000000 mem_available_kib=800000 dockerd_rss_kib=50000 containerd_rss_kib=30000\n";
        assert_eq!(seconds(log, BASELINE_INIT), Some(1.92));
        assert_eq!(seconds(log, BASELINE_DOCKERD), Some(14.5));
        assert_eq!(seconds(log, BASELINE_LOADED), Some(17.01));
        assert_eq!(seconds(log, BASELINE_READY), Some(24.66));
        let idle = baseline_idle(log).unwrap();
        assert_eq!(idle.used_kib(), 200_000);
        assert_eq!(idle.containerd_rss_kib, 30_000);
        assert_eq!(baseline_idle("bench-baseline: idle mem_total_kib=1"), None);
    }

    #[test]
    fn recognises_failures() {
        assert_eq!(
            failure("x\r\n[ 9.1] Out of memory: Killed process 412 (dockerd) total-vm:1kB\r\nmore")
                .as_deref(),
            Some("Out of memory: Killed process 412 (dockerd) total-vm:1kB")
        );
        assert_eq!(
            failure("[ 3.0] Kernel panic - not syncing: System is deadlocked on memory\n")
                .as_deref(),
            Some("Kernel panic - not syncing: System is deadlocked on memory")
        );
        assert_eq!(
            failure("\n*** ros: RECOVERY SHELL ***\nreason: x").as_deref(),
            Some("*** ros: RECOVERY SHELL ***")
        );
        assert_eq!(
            failure(
                " 381.1s ERROR service failed service=docker error=Error processing tar file\n"
            )
            .as_deref(),
            Some("service failed service=docker error=Error processing tar file")
        );
        assert_eq!(
            failure("ERROR service failed service=dockerx error=x"),
            None
        );
        assert_eq!(
            failure("bench-baseline: FAILED: docker run\n").as_deref(),
            Some("bench-baseline: FAILED: docker run")
        );
    }
}
