//! Writes `docker load`-able image archives (the `docker save` layout) from root filesystem
//! directories, without a Docker daemon. Output is byte-for-byte deterministic: entries are
//! sorted, mtimes are fixed, owners are numeric and JSON is written in a fixed order.
//!
//! [`docker_store`] writes the same images as System Docker's ready-made image store: a
//! directory per layer, shared by the images that use it, served read-only at boot.

// PID 1 reads the image store through docker_store; the same rules as its own crates.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::panic))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod archive;
mod config;
pub mod docker_store;
mod error;
mod layer;

pub use archive::{write_archive, write_archive_to, ImageInfo};
pub use config::ImageConfig;
pub use error::Error;
pub use layer::Layer;

/// `sha256:<hex>` of some bytes, the digest form Docker uses for ids and diff ids.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
