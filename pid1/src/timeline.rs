//! The boot timeline: a monotonic timestamp (CLOCK_BOOTTIME, so it counts from kernel start)
//! for every boot step, saved to /run/ros/boot-timeline.json for `ros boot-time` and the
//! benchmark.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const TIMELINE_PATH: &str = "/run/ros/boot-timeline.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// What happened: a PID 1 step (`modules`, `switch-root`) or a service (`service:udev`).
    pub name: String,
    /// `step`, `created`, `started`, `ready`, `exited`, `failed`.
    pub kind: String,
    /// Seconds since the kernel started.
    pub t: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timeline {
    pub events: Vec<Event>,
}

/// Seconds since boot on CLOCK_BOOTTIME; 0 if the clock cannot be read.
pub fn now() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|ts| ts.tv_sec() as f64 + ts.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}

impl Timeline {
    pub fn record(&mut self, name: &str, kind: &str, detail: Option<String>) {
        self.events.push(Event {
            name: name.to_owned(),
            kind: kind.to_owned(),
            t: now(),
            detail,
        });
    }

    pub fn step(&mut self, name: &str) {
        self.record(name, "step", None);
    }

    /// Reads a saved timeline; a missing or damaged file starts a new one.
    pub fn load(path: &Path) -> Timeline {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Saves atomically; losing the timeline must never stop a boot, so errors are only logged.
    pub fn save(&self, path: &Path) {
        let result = serde_json::to_vec_pretty(self)
            .map_err(std::io::Error::other)
            .and_then(|bytes| os_config::atomic_write(path, &bytes, 0o644));
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the boot timeline");
        }
    }

    pub fn default_path() -> PathBuf {
        PathBuf::from(TIMELINE_PATH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_increasing_times_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/ros/boot-timeline.json");
        let mut t = Timeline::default();
        t.step("early-mounts");
        t.record("service:udev", "started", Some("abc".into()));
        assert!(t.events[1].t >= t.events[0].t && t.events[0].t > 0.0);
        t.save(&path);
        assert_eq!(Timeline::load(&path), t);
        std::fs::write(&path, b"{broken").unwrap();
        assert_eq!(Timeline::load(&path), Timeline::default());
    }
}
