//! The `ros` command line: clap definitions and dispatch into the crates.

pub mod boot_args;
pub mod boot_time;
pub mod completion;
pub mod config;
pub mod console;
pub mod engine;
pub mod entrypoints;
pub mod install;
pub mod os;
pub mod power;
pub mod releases;
pub mod service;
pub mod swarm;
pub mod system_docker;
pub mod tls;
pub mod wait_for_docker;

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
    /// Install ros to a disk: GPT, GRUB (BIOS and UEFI), boot slot A, state partition.
    Install(install::InstallArgs),
    /// The OS version and boot slots: version, list, upgrade, rollback.
    Os(os::OsArgs),
    /// The console: list, switch (now), enable (next boot).
    Console(console::ConsoleArgs),
    /// User Docker's engine: list, switch (now), enable (next boot).
    Engine(engine::EngineArgs),
    /// Docker Swarm: this node's role, its managers and the nodes it sees (rancher.swarm).
    Swarm(swarm::SwarmArgs),
    /// User Docker's TLS certificates: `ros tls gen` (server), `ros tls gen --client`.
    Tls(tls::TlsArgs),
    /// Show how long each boot step and service took.
    BootTime(boot_time::BootTimeArgs),
    /// Reboot in order (`-f`: at once).
    Reboot(power::PowerArgs),
    /// Power off in order (`-f`: at once).
    Poweroff(power::PowerArgs),
    /// Halt in order (`-f`: at once).
    Halt(power::PowerArgs),
    #[command(flatten)]
    Entrypoint(entrypoints::Entrypoint),
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
        Command::BootTime(args) => boot_time::run(args),
        Command::Tls(args) => tls::run(args),
        Command::Swarm(args) => swarm::run(args),
        Command::Console(args) => console::run(args),
        Command::Engine(args) => engine::run(args),
        Command::Install(args) => install::run(args),
        Command::Os(args) => os::run(args),
        Command::Entrypoint(e) => entrypoints::run(e),
        Command::Reboot(args) => power::run(pid1::power::PowerAction::Reboot, &args),
        Command::Poweroff(args) => power::run(pid1::power::PowerAction::Poweroff, &args),
        Command::Halt(args) => power::run(pid1::power::PowerAction::Halt, &args),
        Command::Completion { shell } => completion::run(shell),
    }
}

/// `reboot`, `poweroff`, `halt` and `shutdown` started under their own names.
pub fn power_personality(name: &str) -> anyhow::Result<()> {
    use pid1::power::PowerAction;
    #[derive(Debug, Parser)]
    struct Plain {
        #[command(flatten)]
        args: power::PowerArgs,
    }
    let action = match name {
        "reboot" => PowerAction::Reboot,
        "halt" => PowerAction::Halt,
        "shutdown" => return power::run_shutdown(&power::ShutdownArgs::parse()),
        _ => PowerAction::Poweroff,
    };
    power::run(action, &Plain::parse().args)
}
