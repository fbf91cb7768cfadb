//! ros-build: the daemonless OS build (Debian packages to image archives, squashfs, initrd
//! and ISO), the QEMU launcher behind `scripts/run` and the benchmark's baseline initramfs
//! behind `scripts/bench`. This file only dispatches.

mod baseline;
mod command;
mod deb_extract;
mod deb_resolve;
mod images;
mod initrd;
mod iso;
mod kernel;
mod kernel_modules;
mod layer_diff;
mod manifest;
mod pipeline;
mod rootfs;
mod run;
mod size_report;
mod spec;
mod squashfs;
mod stage_cache;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ros-build", about = "Build the ros OS images and boot them")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build dist/: ros.iso, vmlinuz, initrd, system.squashfs, images/*.tar, manifest.json.
    Build(pipeline::BuildArgs),
    /// Boot dist/ in QEMU with the serial console on this terminal.
    Run(run::RunArgs),
    /// Build the benchmark's baseline initramfs (dist/bench/baseline-initrd): dist/vmlinuz's
    /// kernel plus one dockerd that runs one container.
    Baseline(baseline::BaselineArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Cmd::Build(args) => pipeline::build(&args),
        Cmd::Run(args) => run::run(&args),
        Cmd::Baseline(args) => baseline::build(&args),
    }
}
