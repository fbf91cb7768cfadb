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
    /// Read the datasources, save user-data and metadata, then apply bootcmd, the hostname,
    /// modules, sysctls, resize_device and mounts.
    #[command(hide = true)]
    CloudInitExecute,
    /// /opt/rancher/bin/start.sh then /etc/rc.local, output to syslog (started by the console).
    #[command(hide = true)]
    BootScripts,
    /// cloud-config's runcmd, once sshd answers, each within rancher.runcmd_timeout (started
    /// by the console once per boot).
    #[command(hide = true)]
    Runcmd,
    /// Apply rancher.network (addresses, DHCP, DNS, hostname) and keep it applied.
    #[command(hide = true)]
    Netconf,
    /// Carry out rancher.swarm: create, join or leave the swarm, and keep at it.
    #[command(hide = true)]
    SwarmAgent,
    /// Syslog on /dev/log into a size-rotated file.
    #[command(hide = true)]
    Syslogd {
        #[arg(long, default_value = "/dev/log")]
        socket: std::path::PathBuf,
        #[arg(long, default_value = "/var/log/syslog")]
        file: std::path::PathBuf,
        /// Bytes a file may reach before it is rotated.
        #[arg(long, default_value_t = 1 << 20)]
        max_size: u64,
        /// Rotated files kept.
        #[arg(long, default_value_t = 4)]
        keep: u32,
    },
}

pub fn run(e: Entrypoint) -> Result<()> {
    match e {
        Entrypoint::ConsoleInit => services::console::run().map_err(|e| anyhow!(e)),
        Entrypoint::Ntpd => Err(anyhow!("cannot start chronyd: {}", services::ntp::run())),
        Entrypoint::UserDocker => Err(anyhow!(
            "cannot start dockerd: {}",
            services::user_docker::run()
        )),
        Entrypoint::Syslogd {
            socket,
            file,
            max_size,
            keep,
        } => {
            let opts = services::syslogd::Options {
                socket,
                file,
                max_size,
                keep,
            };
            Err(anyhow!(
                "syslogd stopped: {}",
                services::syslogd::run(&opts)
            ))
        }
        Entrypoint::Netconf => run_netconf(),
        Entrypoint::SwarmAgent => super::swarm::agent(),
        Entrypoint::CloudInitExecute => {
            cloud_init::run();
            Ok(())
        }
        Entrypoint::BootScripts => match services::boot_scripts::run() {
            0 => Ok(()),
            n => Err(anyhow!("{n} boot script(s) failed")),
        },
        Entrypoint::Runcmd => match services::runcmd::run() {
            0 => Ok(()),
            n => Err(anyhow!("{n} runcmd command(s) failed")),
        },
    }
}

/// The network service; what it applies and its DNS precedence come from `netconf::service`.
fn run_netconf() -> Result<()> {
    let (config, opts) = netconf::service_options(std::path::Path::new("/"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(netconf::run(&config, &opts))
        .map_err(|e| anyhow!("netconf: {e}"))
}
