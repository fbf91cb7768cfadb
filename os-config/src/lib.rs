//! The ros configuration model: typed cloud-config, layering, kernel cmdline, validation and
//! atomic writes. It knows nothing of Docker; see `docs/config.md` for every key.

// PID 1 parses the command line and the config layers through this crate: nothing here may
// panic outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::panic))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod atomic_write;
pub mod cmdline;
pub mod diagnostic;
pub mod document;
pub mod key_path;
pub mod layers;
pub mod lenient_de;
pub mod line_value;
pub mod merge;
pub mod metadata;
pub mod model;
pub mod paths;
pub mod positions;
pub mod secrets;
pub mod truthiness;
pub mod user_config;
pub mod value_typing;

pub use atomic_write::atomic_write;
pub use diagnostic::{Diagnostic, Severity};
pub use document::{parse_document, Document};
pub use key_path::{KeyPath, KeyPathError};
pub use layers::{load, load_with, merge_in_memory, LayerKind, LoadOptions, LoadedConfig};
pub use merge::merge;
pub use model::CloudConfig;
pub use yaml_serde::Value;

/// Mode of every configuration file ros writes: it may hold secrets.
pub const CONFIG_FILE_MODE: u32 = 0o600;
