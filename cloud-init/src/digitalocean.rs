//! DigitalOcean's metadata service: one JSON document at `/metadata/v1.json` with `droplet_id`,
//! `hostname`, `user_data`, `public_keys`, `interfaces` (public and private, each with a MAC,
//! IPv4 address, netmask and gateway, and IPv6) and `dns.nameservers`. The interfaces become
//! static `rancher.network` entries keyed by MAC; only public interfaces get the gateways.

use crate::error::ProbeError;
use crate::fetched::Fetched;
use crate::http::{Http, Peer};
use crate::network_config::{cidr, NetworkBuilder};
use crate::probe::{not_this_service, Ctx, Probed};
use os_config::metadata::Metadata;
use serde_json::Value;

pub(crate) fn probe(ctx: &Ctx) -> Result<Probed, ProbeError> {
    let url = format!(
        "{}/metadata/v1.json",
        ctx.opts.digitalocean_url.trim_end_matches('/')
    );
    let http = Http::new(ctx, Peer::MetadataService)?;
    let body = match http.get(&url, &[]) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Ok(Probed::NotPresent(format!(
                "{url}: HTTP 404 (not a DigitalOcean metadata service)"
            )))
        }
        Err(e) => return not_this_service(e, "a DigitalOcean metadata service"),
    };
    let droplet = match parse_metadata(&body) {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Ok(Probed::NotPresent(format!(
                "{url}: no droplet_id (not a DigitalOcean metadata service)"
            )))
        }
        Err(e) => {
            return Err(ProbeError::BadResponse {
                url: url.clone(),
                message: format!("invalid JSON: {e}"),
            })
        }
    };
    let diagnostics = droplet
        .problems
        .into_iter()
        .map(|p| os_config::Diagnostic::warning("interfaces", p).in_file(Some(url.clone().into())))
        .collect();
    Ok(Probed::found(Fetched::new(
        ctx.name,
        &format!("{url} (user_data)"),
        droplet.user_data,
        droplet.metadata,
        diagnostics,
    )))
}

/// What `/metadata/v1.json` gives: the user-data, the metadata and what was wrong with the
/// interfaces (those entries are skipped).
#[derive(Debug, Clone, PartialEq)]
pub struct Droplet {
    pub user_data: Option<Vec<u8>>,
    pub metadata: Metadata,
    pub problems: Vec<String>,
}

/// Parses the metadata document; `None` when it is JSON without `droplet_id` (another
/// service answered). Kept apart from the HTTP probe so the fuzz target reaches it.
pub fn parse_metadata(body: &[u8]) -> Result<Option<Droplet>, serde_json::Error> {
    let doc: Value = serde_json::from_slice(body)?;
    if doc.get("droplet_id").is_none() {
        return Ok(None);
    }
    let user_data = doc
        .get("user_data")
        .and_then(Value::as_str)
        .map(|s| s.as_bytes().to_vec());
    let hostname = doc
        .get("hostname")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(str::to_owned);
    let ssh_keys = match doc.get("public_keys") {
        Some(Value::Array(keys)) => keys
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let (network, problems) = network(&doc);
    Ok(Some(Droplet {
        user_data,
        metadata: Metadata {
            instance_id: doc.get("droplet_id").and_then(|id| match id {
                Value::String(s) => Metadata::clean_instance_id(s),
                other => Metadata::clean_instance_id(&other.to_string()),
            }),
            hostname,
            ssh_keys,
            network,
        },
        problems,
    }))
}

/// The droplet's interfaces and nameservers as a `rancher.network` fragment.
pub(crate) fn network(doc: &Value) -> (Option<yaml_serde::Value>, Vec<String>) {
    let mut b = NetworkBuilder::default();
    let mut problems = Vec::new();
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    for (kind, public) in [("public", true), ("private", false)] {
        let Some(Value::Array(ifaces)) = doc.get("interfaces").and_then(|i| i.get(kind)) else {
            continue;
        };
        for (i, iface) in ifaces.iter().enumerate() {
            let Some(mac) = s(iface.get("mac")) else {
                problems.push(format!("interfaces.{kind}[{i}] has no mac; skipped"));
                continue;
            };
            let key = format!("mac={}", mac.to_ascii_lowercase());
            b.interface(&key);
            for family in ["ipv4", "anchor_ipv4"] {
                let Some(v4) = iface.get(family) else {
                    continue;
                };
                let Some(addr) = s(v4.get("ip_address")) else {
                    continue;
                };
                match cidr(&addr, s(v4.get("netmask")).as_deref()) {
                    Ok(c) => b.address(&key, c),
                    Err(e) => problems.push(format!("interfaces.{kind}[{i}].{family}: {e}")),
                }
                // The anchor address's gateway is for floating IPs only.
                if let (true, "ipv4", Some(gw)) = (public, family, s(v4.get("gateway"))) {
                    b.gateway(&key, &gw);
                }
            }
            if let Some(v6) = iface.get("ipv6") {
                if let Some(addr) = s(v6.get("ip_address")) {
                    let prefix = v6.get("cidr").and_then(Value::as_u64).unwrap_or(64);
                    b.address(&key, format!("{}/{prefix}", addr.to_ascii_lowercase()));
                    if let (true, Some(gw)) = (public, s(v6.get("gateway"))) {
                        b.gateway(&key, &gw.to_ascii_lowercase());
                    }
                }
            }
        }
    }
    if let Some(Value::Array(ns)) = doc.get("dns").and_then(|d| d.get("nameservers")) {
        b.nameservers(ns.iter().filter_map(Value::as_str));
    }
    (b.build(), problems)
}
