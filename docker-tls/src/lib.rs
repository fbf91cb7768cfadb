//! Docker's TLS material for one host: a CA, the server certificate User Docker presents on
//! 2376 (`rancher.docker.tls`), client certificates for `docker --tlsverify`, the check that
//! a server certificate is due for renewal, and the files dockerd and the client read.
//! The keys are ECDSA P-256; PEM text in and out, as `rancher.docker.ca_cert` and friends hold.

// User Docker's entry point runs this at every start: nothing here may panic outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::panic))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod files;
mod inspect;
mod issue;

pub use files::{write_client_files, write_server_files, CLIENT_FILES, SERVER_FILES};
pub use inspect::{check_pair, not_after, renewal_due};
pub use issue::{issue_client, issue_server, new_ca, HostNames};

use std::path::PathBuf;
use std::time::Duration;

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for Pem {
    // The key is secret; logs and panics must never carry it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem")
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// How long each certificate is valid for.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
pub const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
pub const CLIENT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A server certificate this close to its end is issued again at boot.
pub const RENEW_WITHIN: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: {source}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("{what} is not a PEM certificate: {reason}")]
    BadCert { what: String, reason: String },
    #[error("{what} is not a PEM private key: {source}")]
    BadKey { what: String, source: rcgen::Error },
    #[error("{key} does not belong to {cert}: its public key differs")]
    KeyMismatch { cert: String, key: String },
    #[error("{name:?} is neither an IP address nor a DNS name: {source}")]
    BadName { name: String, source: rcgen::Error },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the clock is out of range for a certificate's validity")]
    Clock,
}
