//! PID 1 and the host-level boot steps: mounts, modules, root assembly, supervision, shutdown.

// PID 1 must never panic or exit: nothing here may panic outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::panic))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod boot_slot;
pub mod bundled_images;
pub mod console;
pub mod early_mounts;
pub mod entry;
pub mod etc_seed;
pub mod host_boot;
pub mod initrd_image;
pub mod issue;
pub mod logging;
pub mod loop_device;
pub mod memory_cgroup;
pub mod orphan_shim;
pub mod power;
pub mod recovery;
pub mod root_assembly;
pub mod service_keeper;
pub mod stale_cgroup;
pub mod state_partition;
pub mod switch_root;
pub mod sysinit;
pub mod sysinit_restart;
pub mod system_image;
pub mod timeline;
pub mod zram_swap;

pub use entry::run;
