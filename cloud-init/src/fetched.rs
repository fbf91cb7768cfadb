//! What a datasource that answered gave: the user-data (raw and decoded), the metadata
//! (hostname, SSH keys, network) and the problems found while reading them.

use crate::user_data;
use crate::user_data::Part;
use os_config::metadata::Metadata;
use os_config::Diagnostic;

#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The datasource, as configured (`ec2`, `url:http://...`, `configdrive`).
    pub source: String,
    /// Where the user-data came from: its URL, or its path on the drive (with the device).
    pub origin: String,
    /// The user-data exactly as returned; `None` when the datasource has none.
    pub raw_user_data: Option<Vec<u8>>,
    /// The decoded parts, in order.
    pub user_data: Vec<Part>,
    pub metadata: Metadata,
    /// Problems with the user-data or metadata; the usable rest is still here.
    pub diagnostics: Vec<Diagnostic>,
    /// Some of the user-data could not be decoded (an error among `diagnostics`): saving it
    /// would replace the last good save with part of what was meant.
    pub user_data_malformed: bool,
}

impl Fetched {
    /// Decodes `raw` (when present) into parts.
    pub fn new(
        source: &str,
        origin: &str,
        raw: Option<Vec<u8>>,
        metadata: Metadata,
        mut diagnostics: Vec<Diagnostic>,
    ) -> Fetched {
        let mut parts = Vec::new();
        let mut user_data_malformed = false;
        if let Some(bytes) = &raw {
            let mut decoded = user_data::decode(bytes, origin);
            user_data_malformed = decoded.has_errors();
            parts.append(&mut decoded.parts);
            diagnostics.append(&mut decoded.diagnostics);
        }
        Fetched {
            source: source.to_owned(),
            origin: origin.to_owned(),
            raw_user_data: raw,
            user_data: parts,
            metadata,
            diagnostics,
            user_data_malformed,
        }
    }

    /// A metadata service's answer: user-data, instance id, hostname and keys, no network and
    /// no problems of its own (EC2, GCE).
    pub fn from_service(
        source: &str,
        origin: &str,
        raw: Option<Vec<u8>>,
        instance_id: Option<String>,
        hostname: Option<String>,
        ssh_keys: Vec<String>,
    ) -> Fetched {
        let metadata = Metadata {
            instance_id: instance_id.as_deref().and_then(Metadata::clean_instance_id),
            hostname,
            ssh_keys,
            network: None,
        };
        Fetched::new(source, origin, raw, metadata, Vec::new())
    }
}
