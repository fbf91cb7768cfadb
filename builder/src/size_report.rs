//! The size report printed at the end of every build.

use crate::manifest::Manifest;

/// The ISO size the design aims for.
pub const ISO_TARGET_BYTES: u64 = 80 * 1000 * 1000;

pub fn print(manifest: &Manifest) {
    println!("==> size report");
    for a in &manifest.artifacts {
        let note = if a.name == "ros.iso" {
            if a.size <= ISO_TARGET_BYTES {
                " (target <= 80 MB: met)"
            } else {
                " (target <= 80 MB: OVER)"
            }
        } else {
            ""
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
