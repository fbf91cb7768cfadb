//! Saving the boot timeline (`host::boot_timeline`) where `ros boot-time` and the benchmark
//! read it.

pub use host::boot_timeline::{now, Event, Timeline, TIMELINE_PATH};
use std::path::Path;

/// Saves atomically; losing the timeline must never stop a boot, so errors are only logged.
pub fn save(timeline: &Timeline, path: &Path) {
    let result = serde_json::to_vec_pretty(timeline)
        .map_err(std::io::Error::other)
        .and_then(|bytes| os_config::atomic_write(path, &bytes, 0o644));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot save the boot timeline");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_timelines_load_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/ros/boot-timeline.json");
        let mut t = Timeline::default();
        t.step("early-mounts");
        save(&t, &path);
        assert_eq!(Timeline::load(&path), t);
    }
}
