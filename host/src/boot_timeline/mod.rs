//! The boot timeline: a monotonic timestamp (CLOCK_BOOTTIME, so it counts from kernel start)
//! for every boot step. PID 1 and sysinit write it to /run/ros/boot-timeline.json; `ros
//! boot-time` and the benchmark read it. One format for all three.

pub mod render;

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

    /// Parses a timeline as written; `None` when it is not one.
    pub fn parse(json: &str) -> Option<Timeline> {
        serde_json::from_str(json).ok()
    }

    /// Whether the timeline is complete: it has the `ready` step.
    pub fn has_ready(&self) -> bool {
        self.events
            .iter()
            .any(|e| e.name == "ready" && e.kind == "step")
    }

    /// Each PID 1 / sysinit step (`step:<name>`, its first time) and each service
    /// (`service:<name>`: when it was ready — `ready` if recorded, else `exited` for a
    /// one-shot, which blocks its dependents until then, else `started`), in time order.
    pub fn figures(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = Vec::new();
        for e in self.events.iter().filter(|e| e.kind == "step") {
            let key = format!("step:{}", e.name);
            if !out.iter().any(|(k, _)| *k == key) {
                out.push((key, e.t));
            }
        }
        let mut services: Vec<&str> = Vec::new();
        for e in &self.events {
            if e.name.starts_with("service:") && !services.contains(&e.name.as_str()) {
                services.push(&e.name);
            }
        }
        for name in services {
            let at = |kind: &str| {
                self.events
                    .iter()
                    .filter(|e| e.name == name && e.kind == kind)
                    .map(|e| e.t)
                    .fold(None, |acc: Option<f64>, t| {
                        Some(acc.map_or(t, |a| a.max(t)))
                    })
            };
            if let Some(t) = at("ready")
                .or_else(|| at("exited"))
                .or_else(|| at("started"))
            {
                out.push((name.to_string(), t));
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        out
    }

    /// Reads a saved timeline; a missing or damaged file starts a new one.
    pub fn load(path: &Path) -> Timeline {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
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
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(&t).unwrap()).unwrap();
        assert_eq!(Timeline::load(&path), t);
        std::fs::write(&path, b"{broken").unwrap();
        assert_eq!(Timeline::load(&path), Timeline::default());
    }
}
