//! The size report printed at the end of every build.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::manifest::Manifest;

/// The ISO size the design aims for.
pub const ISO_TARGET_BYTES: u64 = 80 * 1000 * 1000;

/// `dist` is where the artifacts are, to show what a sparse one (ros.raw) really takes.
pub fn print(manifest: &Manifest, dist: &Path) {
    println!("==> size report");
    for a in &manifest.artifacts {
        let allocated = std::fs::metadata(dist.join(&a.name))
            .map(|m| m.blocks() * 512)
            .unwrap_or(a.size);
        let note = if a.name == "ros.iso" {
            if a.size <= ISO_TARGET_BYTES {
                " (target <= 80 MB: met)".to_string()
            } else {
                " (target <= 80 MB: OVER)".to_string()
            }
        } else if allocated < a.size / 2 {
            format!(" (sparse: {} allocated)", human(allocated))
        } else {
            String::new()
        };
        println!("    {:<24} {:>8}{note}", a.name, human(a.size));
    }
    for i in &manifest.images {
        println!(
            "    {:<24} {:>8}  {}",
            format!("images/{}.tar", i.name),
            human(i.size),
            i.tag
        );
    }
}

pub fn human(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}
