//! Where each configuration layer lives, relative to a root (`/` on a running system).

use std::path::{Path, PathBuf};

pub const OS_CONFIG: &str = "usr/share/ros/os-config.yml";
pub const OEM_CONFIG: &str = "usr/share/ros/oem/oem-config.yml";
pub const CLOUD_CONFIG_D: &str = "var/lib/rancher/conf/cloud-config.d";
pub const CLOUD_CONFIG: &str = "var/lib/rancher/conf/cloud-config.yml";
pub const CMDLINE: &str = "proc/cmdline";
pub const METADATA: &str = "var/lib/rancher/conf/metadata";
/// Written when ros put this host in a swarm, so that it leaves once `rancher.swarm` is gone.
pub const SWARM_MARKER: &str = "var/lib/rancher/swarm/joined";

pub fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel)
}

pub fn os_config(root: &Path) -> PathBuf {
    under(root, OS_CONFIG)
}

pub fn oem_config(root: &Path) -> PathBuf {
    under(root, OEM_CONFIG)
}

pub fn cloud_config_d(root: &Path) -> PathBuf {
    under(root, CLOUD_CONFIG_D)
}

pub fn cloud_config(root: &Path) -> PathBuf {
    under(root, CLOUD_CONFIG)
}

pub fn cmdline(root: &Path) -> PathBuf {
    under(root, CMDLINE)
}

pub fn metadata(root: &Path) -> PathBuf {
    under(root, METADATA)
}
