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
    /// Apply rancher.network (addresses, DHCP, DNS, hostname) and keep it applied.
    #[command(hide = true)]
    Netconf,
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
        Entrypoint::CloudInitExecute => {
            cloud_init::run();
            Ok(())
        }
        Entrypoint::BootScripts => match services::boot_scripts::run() {
            0 => Ok(()),
            n => Err(anyhow!("{n} boot script(s) failed")),
        },
    }
}

/// The network service: `rancher.network` from the merged config, with the user's own
/// `dns` kept apart so that DHCP can rank between it and the defaults. SIGHUP re-reads it.
fn run_netconf() -> Result<()> {
    use std::path::Path;
    fn load() -> (netconf::NetworkConfig, netconf::DnsConfig, Option<String>) {
        let root = Path::new("/");
        let all = os_config::load(root).config;
        let user = os_config::load_with(root, os_config::LoadOptions { defaults: false }).config;
        let mut net = all.rancher.network.clone();
        net.dns = user.rancher.network.dns;
        // Defaults: the built-in layer's dns, else rancher.defaults.network.dns.
        let mut defaults = all.rancher.network.dns;
        if defaults.nameservers.is_empty() && defaults.search.is_empty() {
            defaults = all.rancher.defaults.network.dns;
        }
        (net, defaults, all.hostname)
    }
    let (config, default_dns, configured_host) = load();
    // Without a configured name, DHCP's wins over the name the host already has.
    let current = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let opts = netconf::RunOptions {
        default_dns,
        hostname: Some(netconf::HostnameSources {
            configured: configured_host,
            metadata: None,
            default: current.trim().to_owned(),
            hosts_file: "/etc/hosts".into(),
            set_kernel_hostname: true,
        }),
        reload: Some(std::sync::Arc::new(|| load().0)),
        ..netconf::RunOptions::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(netconf::run(&config, &opts))
        .map_err(|e| anyhow!("netconf: {e}"))
}
