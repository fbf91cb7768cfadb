//! `ros netconf`: applies `rancher.network` over netlink and keeps it applied.
//!
//! Links are matched to entries by name, glob or MAC ([`matching`]); bonds, bridges and VLANs
//! are created first; each matched link then gets its MTU, static addresses (others removed),
//! `up`, and default gateways; DHCP runs through one supervised dhcpcd per interface. DNS is
//! merged with the user's settings first, DHCP second, defaults last, and written atomically.
//! Hooks run in the order `pre_cmds`, `pre_up`, `post_up`, `post_cmds`.
//!
//! Everything runs on the calling thread's runtime and never uses tokio's blocking pool: the
//! netlink sockets, sysfs writes and child processes then all belong to the calling thread's
//! network and mount namespaces, which is what lets the tests run netconf inside a namespace.

pub mod apply;
pub mod bond;
pub mod bridge;
pub mod dhcp;
pub mod dns;
pub mod error;
pub mod hooks;
pub mod hostname;
pub mod hotplug;
pub mod links;
pub mod matching;
pub mod service;
pub mod static_addr;
pub mod vlan;

pub use apply::{apply_once, run, ApplyReport, Netconf};
pub use error::{Error, Result};
pub use os_config::model::network::{DnsConfig, InterfaceConfig, NetworkConfig};
pub use service::{config_from_root, service_options, ServiceConfig};

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where netconf writes and what it falls back to; every path can be redirected (tests do).
#[derive(Clone)]
pub struct RunOptions {
    /// resolv.conf to write (default `/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// netconf's own state: the dhcpcd hook, DHCP results, addresses it added
    /// (default `/run/ros/netconf`).
    pub run_dir: PathBuf,
    /// Where sysfs is mounted, for bond options (default `/sys`).
    pub sysfs: PathBuf,
    /// The DHCP client (default `dhcpcd`, found on PATH).
    pub dhcpcd: PathBuf,
    /// DNS used when neither the user nor DHCP gives any (e.g. `rancher.defaults.network.dns`).
    pub default_dns: DnsConfig,
    /// When set, netconf sets the host name, using DHCP's at its precedence.
    pub hostname: Option<HostnameSources>,
    /// How long one hook command may run before it is killed.
    pub hook_timeout: Duration,
    /// Re-reads the config on SIGHUP (used by [`run`]).
    pub reload: Option<Arc<dyn Fn() -> NetworkConfig + Send + Sync>>,
}

/// The host name sources other than DHCP, for config > metadata > DHCP > default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostnameSources {
    pub configured: Option<String>,
    pub metadata: Option<String>,
    pub default: String,
    pub hosts_file: PathBuf,
    /// Also call sethostname(2) (false in tests).
    pub set_kernel_hostname: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            run_dir: PathBuf::from("/run/ros/netconf"),
            sysfs: PathBuf::from("/sys"),
            dhcpcd: PathBuf::from("dhcpcd"),
            default_dns: DnsConfig::default(),
            hostname: None,
            hook_timeout: Duration::from_secs(120),
            reload: None,
        }
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("resolv_conf", &self.resolv_conf)
            .field("run_dir", &self.run_dir)
            .field("sysfs", &self.sysfs)
            .field("dhcpcd", &self.dhcpcd)
            .field("default_dns", &self.default_dns)
            .field("hostname", &self.hostname)
            .field("hook_timeout", &self.hook_timeout)
            .field("reload", &self.reload.is_some())
            .finish()
    }
}
