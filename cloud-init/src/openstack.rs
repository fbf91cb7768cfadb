//! OpenStack's metadata service: `/openstack/latest/meta_data.json` (`uuid`, `hostname`,
//! `public_keys` as a map of name to key) and `/openstack/latest/user_data`. The service
//! counts as present when the metadata document is JSON with a `uuid`.

use crate::error::ProbeError;
use crate::fetched::Fetched;
use crate::http::{Http, Peer};
use crate::probe::{not_this_service, Ctx, Probed};
use os_config::metadata::Metadata;

pub(crate) fn probe(ctx: &Ctx) -> Result<Probed, ProbeError> {
    let base = format!(
        "{}/openstack/latest",
        ctx.opts.openstack_url.trim_end_matches('/')
    );
    let http = Http::new(ctx, Peer::MetadataService)?;
    let md_url = format!("{base}/meta_data.json");
    let body = match http.get(&md_url, &[]) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Ok(Probed::NotPresent(format!(
                "{md_url}: HTTP 404 (not an OpenStack metadata service)"
            )))
        }
        Err(e) => return not_this_service(e, "an OpenStack metadata service"),
    };
    let metadata = match parse_metadata(&body) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Ok(Probed::NotPresent(format!(
                "{md_url}: no uuid (not an OpenStack metadata service)"
            )))
        }
        Err(e) => {
            return Err(ProbeError::BadResponse {
                url: md_url.clone(),
                message: e.to_string(),
            })
        }
    };
    let ud_url = format!("{base}/user_data");
    let user_data = http.get(&ud_url, &[])?;
    Ok(Probed::found(Fetched::new(
        ctx.name,
        &ud_url,
        user_data,
        metadata,
        Vec::new(),
    )))
}

/// Why `meta_data.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Yaml(#[from] yaml_serde::Error),
}

/// The metadata in `meta_data.json` (its network is not used); `None` when it is JSON without
/// `uuid` (another service answered). Kept apart from the HTTP probe so the fuzz target
/// reaches it.
pub fn parse_metadata(body: &[u8]) -> Result<Option<Metadata>, MetadataError> {
    let doc: serde_json::Value = serde_json::from_slice(body)?;
    if doc.get("uuid").is_none() {
        return Ok(None);
    }
    let as_yaml: yaml_serde::Value = yaml_serde::to_value(&doc)?;
    Ok(Some(Metadata {
        network: None,
        ..Metadata::from_value(&as_yaml)
    }))
}
