//! The host below any container, as PID 1, cloud-init and the build see it, with no Docker and
//! no config: block devices found by `LABEL=`/`UUID=`/`PARTUUID=`/`PARTLABEL=`/path, udev links
//! first, else superblocks (`block_devices`, the one device lookup), filesystems told
//! from their superblocks (`fs_probe`), kernel modules (`modules_dep`, `kernel_modules`),
//! sysctls, shared mount points, work in another mount namespace, and the fixed accounts.
//! With feature `http`, the one definition of an HTTP client's settings (`http_client`).

pub mod accounts;
pub mod block_devices;
pub mod boot_timeline;
pub mod fs_probe;
#[cfg(feature = "http")]
pub mod http_client;
pub mod kernel_modules;
pub mod modules_dep;
pub mod mount_namespace;
pub mod mount_points;
pub mod sysctl;
