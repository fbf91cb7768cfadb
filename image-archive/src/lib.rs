//! Writes `docker load`-able image archives (the `docker save` layout) from root filesystem
//! directories, without a Docker daemon. Output is byte-for-byte deterministic: entries are
//! sorted, mtimes are fixed, owners are numeric and JSON is written in a fixed order.
//!
//! Images can also be stored unpacked ([`unpacked`]): a directory per layer, shared by the
//! images that use it, streamed back into the very same archive bytes when loaded.

mod archive;
mod config;
mod error;
mod layer;
pub mod unpacked;

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
