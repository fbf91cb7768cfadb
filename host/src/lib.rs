//! The host below any container, as PID 1, cloud-init and the build see it, with no Docker and
//! no config: block devices found by `LABEL=`/`UUID=`/`PARTUUID=`/`PARTLABEL=`/path, udev links
//! first, else superblocks (`block_devices`, the one device lookup), filesystems told
//! from their superblocks (`fs_probe`), kernel modules (`modules_dep`, `kernel_modules`),
//! sysctls, shared mount points, work in another mount namespace, and the fixed accounts.
//! Deadlines that cannot overflow (`deadline`). With feature `http`, the one definition of an
//! HTTP client's settings and downloads (`http_client`).

// PID 1 finds its media through this crate, reading superblocks of any device: nothing here
// may panic outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::panic))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod accounts;
pub mod block_devices;
pub mod boot_timeline;
pub mod deadline;
pub mod fs_probe;
#[cfg(feature = "http")]
pub mod http_client;
pub mod hypervisor;
pub mod kernel_modules;
pub mod modules_dep;
pub mod mount_namespace;
pub mod mount_points;
pub mod sysctl;
