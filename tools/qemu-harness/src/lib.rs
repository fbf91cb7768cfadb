//! Boots the built artifacts in QEMU and talks to them from outside: the serial console, ssh
//! through a forwarded port, the monitor. Used by the end-to-end tests (`tests/e2e`), the
//! benchmark (`bench/`) and `ros-build run`; it is a tool, not a test crate.
//!
//! ```no_run
//! use std::time::Duration;
//! let dist = qemu_harness::Dist::locate().unwrap();
//! let mut vm = qemu_harness::Qemu::builder().iso(dist.iso()).memory(1024).boot().unwrap();
//! vm.wait_for_serial("ros-init", Duration::from_secs(180)).unwrap();
//! ```

mod accel;
mod cidata;
mod config_drive;
mod dist;
pub mod error;
mod freeze;
mod l2_segment;
mod qemu;
mod ready;
mod ssh;

pub use accel::{probe_accel, Accel};
pub use cidata::make_cidata;
pub use config_drive::{make_config_drive, DriveFs};
pub use dist::Dist;
pub use error::Error;
pub use freeze::FreezeSigns;
pub use l2_segment::{L2Segment, BRIDGE};
pub use qemu::{Qemu, QemuBuilder, SERIAL_TAIL_LINES};
pub use ready::{
    boot_ready, boot_until, dist, must, ssh_when_up, FROZEN, READY_LINE, READY_TIMEOUT,
};
pub use ssh::{Ssh, SshKey};
