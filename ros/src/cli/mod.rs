//! The `ros` command line: clap definitions and dispatch into the crates.

pub mod completion;
pub mod config;
pub mod service;
pub mod system_docker;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ros",
    version,
    about = "Control a ros machine",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read and change the configuration.
    Config(config::ConfigArgs),
    /// Manage system services and their containers.
    Service(service::ServiceArgs),
    /// Print a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config(args) => config::run(args),
        Command::Service(args) => service::run(args),
        Command::Completion { shell } => completion::run(shell),
    }
}
