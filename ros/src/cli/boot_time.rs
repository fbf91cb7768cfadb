//! `ros boot-time`: the boot timeline as a table, or as an SVG waterfall chart.

use anyhow::{Context, Result};
use host::boot_timeline::render::{rows, svg, table};
use host::boot_timeline::{Timeline, TIMELINE_PATH};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct BootTimeArgs {
    /// The timeline to read.
    #[arg(long, default_value = TIMELINE_PATH)]
    pub file: PathBuf,
    /// Draw a waterfall chart to this SVG file instead of printing the table.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

pub fn run(args: BootTimeArgs) -> Result<()> {
    let text =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let tl: Timeline = serde_json::from_slice(&text)
        .with_context(|| format!("parsing {}", args.file.display()))?;
    let rows = rows(&tl);
    match args.svg {
        Some(path) => {
            std::fs::write(&path, svg(&rows)).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            print!("{}", table(&rows));
            Ok(())
        }
    }
}
