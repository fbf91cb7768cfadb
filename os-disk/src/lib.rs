//! The installed disk: its partition layout, the two boot slots and GRUB's boot counter, the
//! upgrade bundle, and the operations `ros install` and `ros os` run on them.
//!
//! Pure data (layout, grubenv, grub.cfg, boot state, bundle format) is separate from the
//! modules that touch devices (`install`, `slot_write`), so most of it is tested without root.

// PID 1 reads grubenv and the boot state through this crate: nothing here may panic outside
// tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::panic))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod bios_boot;
pub mod boot_info;
pub mod boot_state;
pub mod bundle;
pub mod config_snapshot;
pub mod grub_cfg;
pub mod grubenv;
pub mod install;
pub mod layout;
pub mod release_index;
pub mod signing;
pub mod slot_write;
pub mod tools;
pub mod upgrade;
