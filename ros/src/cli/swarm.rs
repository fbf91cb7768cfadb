//! `ros swarm`: the node's place in a Docker Swarm (`swarm` crate, docs/swarm.md). `token` is
//! the forced command a manager's sshd runs for the keys in `rancher.swarm.token_keys`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use os_config::model::SwarmRole;
use sysdocker::Scope;

#[derive(Debug, Args)]
pub struct SwarmArgs {
    #[command(subcommand)]
    pub command: SwarmCommand,
}

#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// The configured role, the node's state and role, its managers and (on a manager) the
    /// nodes it sees.
    Status {
        /// Read the configuration under this directory.
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// (The forced command of a token key.) Print this manager's join token for ROLE.
    #[command(hide = true)]
    Token {
        #[arg(value_parser = parse_role)]
        role: SwarmRole,
    },
}

fn parse_role(s: &str) -> std::result::Result<SwarmRole, String> {
    match s {
        "worker" => Ok(SwarmRole::Worker),
        "manager" => Ok(SwarmRole::Manager),
        _ => Err("worker or manager".into()),
    }
}

pub fn run(args: SwarmArgs) -> Result<()> {
    match args.command {
        SwarmCommand::Status { root } => status(&root),
        SwarmCommand::Token { role } => token(role),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn status(root: &Path) -> Result<()> {
    let config = os_config::load(root).config.rancher.swarm.clone();
    let marked = swarm::marker::exists(root);
    let host = Scope::User.host_from_env();
    let report = runtime()?.block_on(async {
        let client = sysdocker::client::connect(&host, Duration::from_secs(10)).await?;
        swarm::status::gather(&client, &config, marked).await
    })?;
    print!("{}", swarm::status::render(&report));
    Ok(())
}

/// Prints the token, or says why not and exits 3 (not yet) or 4: the joining agent reads the
/// status, so this does not go through anyhow's exit 1.
fn token(role: SwarmRole) -> Result<()> {
    match swarm::token_files::read(Path::new(swarm::RUN_DIR), role) {
        Ok(token) => {
            println!("{token}");
            Ok(())
        }
        Err(e) => {
            eprintln!("ros swarm token: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

/// The `swarm` service's entry point.
pub fn agent() -> Result<()> {
    let agent = swarm::agent::for_host(Path::new("/"), Scope::User.host_from_env());
    runtime()?.block_on(agent.run())?;
    Ok(())
}
