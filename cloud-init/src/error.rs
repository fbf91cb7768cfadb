//! What can go wrong while probing a datasource. Every error names the URL, device, directory
//! or file involved; the probe report adds the datasource's name.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Nothing answered: connection refused, no route, or the connect timeout.
    #[error("{url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    /// Connected, but the answer did not come within the probe's time.
    #[error("{url}: no answer within {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    /// Any other transport failure: a reset connection, TLS, a malformed response.
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url}: the response is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    /// The service answered, but not with what this datasource serves.
    #[error("{url}: {message}")]
    BadResponse { url: String, message: String },
    #[error("cannot mount {device} ({fstype}) read-only on {target}: {source}{hint}")]
    Mount {
        device: PathBuf,
        fstype: String,
        target: PathBuf,
        source: nix::Error,
        /// Extra advice, such as a missing kernel module.
        hint: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unknown datasource {name:?} (known: {known})")]
    Unknown { name: String, known: String },
    #[error("{name:?}: {message}")]
    Invalid { name: String, message: String },
    #[error("cannot start the probe: {0}")]
    Spawn(String),
}

impl ProbeError {
    /// True when the error means the datasource is simply not there (nothing listens).
    pub fn is_absence(&self) -> bool {
        matches!(self, ProbeError::Connect { .. })
    }

    /// True when the probe ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ProbeError::Timeout { .. })
    }
}
