//! ros-build: the daemonless OS build (Debian packages to image archives, squashfs, initrd,
//! ISO, upgrade bundle and cloud disk images), the bundle re-packer, the QEMU launcher behind
//! `scripts/run` and the benchmark's baseline initramfs behind `scripts/bench`. This file only
//! dispatches.

mod baseline;
mod boot_code;
mod bundle;
mod command;
mod deb_extract;
mod deb_resolve;
mod disk_image;
mod dpkg_database;
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
mod signing_key;
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
    /// Build dist/: ros.iso, ros.raw, ros.qcow2, ros.bundle, vmlinuz, initrd, system.squashfs,
    /// images/*.tar, manifest.json.
    Build(pipeline::BuildArgs),
    /// Re-pack a dist directory's kernel, small initrd and system image as an upgrade bundle
    /// with another version (optionally replacing a member).
    Bundle(bundle::BundleArgs),
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
        Cmd::Bundle(args) => bundle::run(&args),
        Cmd::Run(args) => run::run(&args),
        Cmd::Baseline(args) => baseline::build(&args),
    }
}
