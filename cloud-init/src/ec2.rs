//! Amazon EC2's instance metadata service (IMDS). IMDSv2 first: `PUT /latest/api/token` with
//! `X-aws-ec2-metadata-token-ttl-seconds`, then every GET carries the token in
//! `X-aws-ec2-metadata-token`. When the token request is refused (403/404/405 or any other
//! status), reset, or unanswered, IMDSv1's plain GETs follow. The service counts as present
//! when `/latest/meta-data/instance-id` answers.

use crate::error::ProbeError;
use crate::fetched::Fetched;
use crate::http::{Http, Peer};
use crate::probe::{absent_or, not_this_service, Ctx, Probed};
use reqwest::Method;

pub const TOKEN_PATH: &str = "/latest/api/token";
pub const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
pub const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// Six hours, as cloud-init asks.
const TOKEN_TTL: &str = "21600";

pub(crate) fn probe(ctx: &Ctx) -> Result<Probed, ProbeError> {
    let base = ctx.opts.ec2_url.trim_end_matches('/');
    let http = Http::new(ctx, Peer::MetadataService)?;
    let token = match token(&http, base) {
        Ok(t) => t,
        Err(e) => return absent_or(e),
    };
    let auth: Vec<(&str, &str)> = match &token {
        Some(t) => vec![(TOKEN_HEADER, t.as_str())],
        None => Vec::new(),
    };

    let id_url = format!("{base}/latest/meta-data/instance-id");
    let instance_id = match http.get_text(&id_url, &auth) {
        Ok(Some(id)) if !id.is_empty() => {
            tracing::debug!(instance_id = %id, imds_v2 = token.is_some(), "ec2: metadata service found");
            id
        }
        Ok(_) => {
            return Ok(Probed::NotPresent(format!(
                "{id_url}: no instance-id (not an EC2 metadata service)"
            )))
        }
        Err(e) => return not_this_service(e, "an EC2 metadata service"),
    };

    let ud_url = format!("{base}/latest/user-data");
    let user_data = http.get(&ud_url, &auth)?;
    let md = format!("{base}/latest/meta-data");
    let hostname = match http.get_text(&format!("{md}/local-hostname"), &auth)? {
        Some(h) if !h.is_empty() => Some(h),
        _ => http
            .get_text(&format!("{md}/hostname"), &auth)?
            .filter(|h| !h.is_empty()),
    };
    let mut ssh_keys = Vec::new();
    if let Some(list) = http.get_text(&format!("{md}/public-keys/"), &auth)? {
        for index in public_key_indices(&list) {
            let key_url = format!("{md}/public-keys/{index}/openssh-key");
            if let Some(keys) = http.get_text(&key_url, &auth)? {
                ssh_keys.extend(
                    keys.lines()
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned),
                );
            }
        }
    }
    Ok(Probed::found(Fetched::from_service(
        ctx.name,
        &ud_url,
        user_data,
        Some(instance_id),
        hostname,
        ssh_keys,
    )))
}

/// The key directories of a `public-keys/` listing: `0=my-key` lines give `0`. Apart from the
/// probe so the fuzz target reaches it.
pub fn public_key_indices(list: &str) -> Vec<&str> {
    list.lines()
        .map(|line| {
            line.split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_end_matches('/')
                .trim_end()
        })
        .filter(|index| !index.is_empty())
        .collect()
}

/// The IMDSv2 token, or `None` for IMDSv1. An error means nothing is listening (or the
/// token request failed in a way no fallback helps).
fn token(http: &Http, base: &str) -> Result<Option<String>, ProbeError> {
    let url = format!("{base}{TOKEN_PATH}");
    // Leave the IMDSv1 fallback time when the PUT goes unanswered (a container behind a
    // hop limit of 1 never sees the answer).
    let cap = http.budget() / 2;
    match http.request_within(Method::PUT, &url, &[(TOKEN_TTL_HEADER, TOKEN_TTL)], cap) {
        Ok(r) if (200..300).contains(&r.status) => {
            let t = String::from_utf8_lossy(&r.body).trim().to_owned();
            if t.is_empty() {
                tracing::info!(url, "ec2: empty IMDSv2 token; using IMDSv1");
                Ok(None)
            } else {
                Ok(Some(t))
            }
        }
        Ok(r) => {
            tracing::info!(
                url,
                status = r.status,
                "ec2: IMDSv2 token refused; using IMDSv1"
            );
            Ok(None)
        }
        Err(e @ (ProbeError::Transport { .. } | ProbeError::Timeout { .. })) => {
            tracing::info!(url, error = %e, "ec2: IMDSv2 token request failed; using IMDSv1");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "0 /" gave "0 ", and the index went into the key's URL.
    #[test]
    fn key_indices_carry_no_spaces_or_slashes() {
        assert_eq!(
            public_key_indices("0=my-key\n1/\n 2 /\n=\n\n"),
            vec!["0", "1", "2"]
        );
    }
}
