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
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ProbeError::BadResponse {
            url: md_url.clone(),
            message: format!("invalid JSON: {e}"),
        })?;
    if doc.get("uuid").is_none() {
        return Ok(Probed::NotPresent(format!(
            "{md_url}: no uuid (not an OpenStack metadata service)"
        )));
    }
    let as_yaml: yaml_serde::Value =
        yaml_serde::to_value(&doc).map_err(|e| ProbeError::BadResponse {
            url: md_url.clone(),
            message: e.to_string(),
        })?;
    let metadata = Metadata::from_value(&as_yaml);
    let ud_url = format!("{base}/user_data");
    let user_data = http.get(&ud_url, &[])?;
    Ok(Probed::found(Fetched::new(
        ctx.name,
        &ud_url,
        user_data,
        Metadata {
            network: None,
            ..metadata
        },
        Vec::new(),
    )))
}
