//! cloud-init's datasources: where user-data and metadata come from (config drives, NoCloud,
//! the kernel command line, a URL or file, and the EC2, GCE, DigitalOcean and OpenStack
//! metadata services), how user-data is decoded (gzip, MIME multipart, cloud-config, scripts,
//! compose), and saving the result as configuration layers.
//!
//! `probe_all` probes the configured datasources concurrently within bounded time and picks
//! the first in the configured order that answered; `save` writes its data. Finding block
//! devices by label (`block_devices`, `fs_probe`) lives here too; PID 1 uses it for its media.

mod digitalocean;
mod drive;
pub mod ec2;
pub mod error;
pub mod fetched;
mod file;
pub mod gce;
mod http;
mod mime;
mod mount;
pub mod network_config;
mod openstack;
pub mod options;
pub mod probe;
pub mod save;
pub mod source;
pub mod url;
pub mod user_data;

pub use error::ProbeError;
pub use fetched::Fetched;
pub use options::{ProbeOptions, METADATA_URL};
pub use probe::{probe_all, probe_one, Outcome, ProbeReport, SourceOutcome};
pub use save::save;
pub use source::Datasource;
