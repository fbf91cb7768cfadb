//! End-to-end harness: boots the built artifacts in QEMU and checks them from the outside.
//!
//! ```no_run
//! use std::time::Duration;
//! let dist = ros_e2e::Dist::locate().unwrap();
//! let mut vm = ros_e2e::Qemu::builder().iso(dist.iso()).memory(1024).boot().unwrap();
//! vm.wait_for_serial("ros-init", Duration::from_secs(180)).unwrap();
//! ```

mod accel;
mod cidata;
mod config_drive;
mod dist;
mod dockerd;
mod error;
mod freeze;
mod initrd;
mod metadata_server;
mod qemu;
mod ready;
mod shutdown_log;
mod ssh;

pub use accel::{probe_accel, Accel};
pub use cidata::make_cidata;
pub use config_drive::{make_config_drive, DriveFs};
pub use dist::Dist;
pub use dockerd::TestDockerd;
pub use error::Error;
pub use freeze::FreezeSigns;
pub use initrd::initrd_with_image;
pub use metadata_server::{MetadataServer, Request};
pub use qemu::{Qemu, QemuBuilder, SERIAL_TAIL_LINES};
pub use ready::{
    boot_ready, boot_until, dist, must, ssh_when_up, FROZEN, READY_LINE, READY_TIMEOUT,
};
pub use shutdown_log::{stop_order, uptime_of};
pub use ssh::{Ssh, SshKey};
