//! The host's hardware as PID 1, cloud-init and the build see it, with no Docker and no
//! config: block devices found by `LABEL=`/`UUID=`/path (`block_devices`), filesystems told
//! from their superblocks (`fs_probe`) and kernel modules' `modules.dep` (`modules_dep`).

pub mod block_devices;
pub mod fs_probe;
pub mod modules_dep;
