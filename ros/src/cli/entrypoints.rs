//! Commands the system containers run (hidden from help): each hands over to its entry point
//! in the `init` crate.

use anyhow::{anyhow, Result};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Entrypoint {
    #[command(hide = true)]
    /// The console: users, SSH, gettys, write_files and runcmd.
    ConsoleInit,
    /// chrony with servers from rancher.ntp.
    #[command(hide = true)]
    Ntpd,
    /// User Docker's dockerd with flags from rancher.docker.
    #[command(hide = true)]
    UserDocker,
    /// Read config drives, save user-data and metadata, apply the hostname.
    #[command(hide = true)]
    CloudInitExecute,
}

pub fn run(e: Entrypoint) -> Result<()> {
    use init::services;
    match e {
        Entrypoint::ConsoleInit => services::console::run().map_err(|e| anyhow!(e)),
        Entrypoint::Ntpd => Err(anyhow!("cannot start chronyd: {}", services::ntp::run())),
        Entrypoint::UserDocker => Err(anyhow!(
            "cannot start dockerd: {}",
            services::user_docker::run()
        )),
        Entrypoint::CloudInitExecute => {
            services::cloud_init::run();
            Ok(())
        }
    }
}
