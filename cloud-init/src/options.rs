//! How a probe runs: where the metadata services are, how long each probe and the whole run
//! may take, where drives are mounted and where the kernel command line comes from.

use std::path::PathBuf;
use std::time::Duration;

/// The link-local address every cloud serves its metadata on.
pub const METADATA_URL: &str = "http://169.254.169.254";

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Base URL of the EC2 instance metadata service (`/latest/...`).
    pub ec2_url: String,
    /// Base URL of the GCE metadata server (`/computeMetadata/v1/...`); in a VM it is
    /// `http://metadata.google.internal`, which is this address.
    pub gce_url: String,
    /// Base URL of the DigitalOcean metadata service (`/metadata/v1.json`).
    pub digitalocean_url: String,
    /// Base URL of the OpenStack metadata service (`/openstack/latest/...`).
    pub openstack_url: String,
    /// How long a TCP (and TLS) connection may take to open.
    pub connect_timeout: Duration,
    /// How long one datasource may take in all: every request it makes, the drive lookup,
    /// the mount and the read.
    pub probe_timeout: Duration,
    /// How long `probe_all` may take, whatever the probes do.
    pub total_timeout: Duration,
    /// How long a config-drive probe waits for its label to appear (a slow CD-ROM).
    pub drive_wait: Duration,
    /// Where config drives are mounted (a fresh directory per mount).
    pub mount_dir: PathBuf,
    /// The kernel command line the `cmdline` datasource reads; `None` reads `/proc/cmdline`.
    pub cmdline: Option<String>,
    /// The largest user-data (or metadata document) accepted, in bytes.
    pub max_bytes: u64,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            ec2_url: METADATA_URL.into(),
            gce_url: METADATA_URL.into(),
            digitalocean_url: METADATA_URL.into(),
            openstack_url: METADATA_URL.into(),
            connect_timeout: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(20),
            drive_wait: Duration::ZERO,
            mount_dir: PathBuf::from("/run/ros/cloud-init"),
            cmdline: None,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

impl ProbeOptions {
    /// Every metadata service at one base URL (a test server, or a proxy in front of them).
    pub fn with_metadata_url(mut self, url: &str) -> Self {
        self.ec2_url = url.into();
        self.gce_url = url.into();
        self.digitalocean_url = url.into();
        self.openstack_url = url.into();
        self
    }
}
