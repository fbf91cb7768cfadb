//! The multi-call `ros` binary: argv[0] picks the personality, everything else lives in the crates.

mod cli;
mod personality;

use clap::Parser;
use personality::Personality;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    match personality::from_argv0(&argv0) {
        Personality::Init => pid1::run(),
        Personality::SystemDocker => report(cli::system_docker::run(
            std::env::args_os().skip(1).collect(),
        )),
        Personality::Power(name) => {
            init_cli_logging("warn");
            report(cli::power_personality(name))
        }
        Personality::WaitForDocker => {
            init_cli_logging("warn");
            report(cli::wait_for_docker::run())
        }
        Personality::Ros => {
            let parsed = cli::Cli::parse();
            // A service's entry point logs what it does: its output is the service's log.
            let service = matches!(parsed.command, cli::Command::Entrypoint(_));
            init_cli_logging(if service { "info" } else { "warn" });
            report(cli::run(parsed))
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ros: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_cli_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Services run the CLI with stderr going to `system-docker logs`: colour only on a terminal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}
