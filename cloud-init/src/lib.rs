//! cloud-init, all of it: where user-data and metadata come from (config drives, NoCloud, the
//! kernel command line, a URL or file, and the EC2, GCE, DigitalOcean and OpenStack metadata
//! services), how user-data is decoded (`user_data`: gzip, MIME multipart, cloud-config,
//! scripts, compose), saving the result as configuration layers (`save`), and carrying it out
//! in the cloud-init container (`apply`: bootcmd, hostname, modules, sysctl, resize, mounts).
//!
//! `probe_all` probes the configured datasources concurrently within bounded time and picks
//! the first in the configured order that answered; `save_fetched` writes its data. Finding
//! block devices by label is the `host` crate's.

pub mod apply;
pub mod digitalocean;
pub mod drive;
pub mod ec2;
pub mod error;
pub mod fetched;
mod file;
pub mod gce;
mod http;
mod mime;
mod mount;
pub mod network_config;
pub mod openstack;
pub mod options;
pub mod probe;
pub mod save;
pub mod source;
pub mod url;
pub mod user_data;

pub use apply::run;
pub use error::ProbeError;
pub use fetched::Fetched;
pub use options::{ProbeOptions, METADATA_URL};
pub use probe::{probe_all, probe_one, Outcome, ProbeReport, SourceOutcome};
pub use save::save_fetched;
pub use source::Datasource;
