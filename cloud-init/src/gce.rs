//! Google Compute Engine's metadata server (`http://metadata.google.internal`, which is
//! 169.254.169.254), under `/computeMetadata/v1/`. Every request carries
//! `Metadata-Flavor: Google`, and the answer must carry it too, or the server is not GCE's.
//! User-data is the `user-data` instance attribute; SSH keys are the instance's and (unless
//! `block-project-ssh-keys` is true) the project's `ssh-keys` attributes, one `user:key` a line.

use crate::error::ProbeError;
use crate::fetched::Fetched;
use crate::http::{Http, Peer};
use crate::probe::{absent_or, Ctx, Probed};
use reqwest::Method;

pub const FLAVOR_HEADER: &str = "Metadata-Flavor";
pub const FLAVOR: &str = "Google";
const HEADERS: &[(&str, &str)] = &[(FLAVOR_HEADER, FLAVOR)];

pub(crate) fn probe(ctx: &Ctx) -> Result<Probed, ProbeError> {
    let base = format!(
        "{}/computeMetadata/v1",
        ctx.opts.gce_url.trim_end_matches('/')
    );
    let http = Http::new(ctx, Peer::MetadataService)?;

    let id_url = format!("{base}/instance/id");
    let resp = match http.request(Method::GET, &id_url, HEADERS) {
        Ok(r) => r,
        Err(e) => return absent_or(e),
    };
    let flavor = resp
        .headers
        .get(FLAVOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if resp.status != 200 || flavor != FLAVOR {
        return Ok(Probed::NotPresent(format!(
            "{id_url}: HTTP {} without `{FLAVOR_HEADER}: {FLAVOR}` (not a GCE metadata server)",
            resp.status
        )));
    }

    let ud_url = format!("{base}/instance/attributes/user-data");
    let user_data = http.get(&ud_url, HEADERS)?;
    let hostname = http
        .get_text(&format!("{base}/instance/hostname"), HEADERS)?
        .filter(|h| !h.is_empty());
    let mut ssh_keys = Vec::new();
    let instance_keys = http.get_text(&format!("{base}/instance/attributes/ssh-keys"), HEADERS)?;
    ssh_keys.extend(parse_ssh_keys(instance_keys.as_deref().unwrap_or("")));
    let block = http
        .get_text(
            &format!("{base}/instance/attributes/block-project-ssh-keys"),
            HEADERS,
        )?
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !block {
        let project_keys =
            http.get_text(&format!("{base}/project/attributes/ssh-keys"), HEADERS)?;
        for k in parse_ssh_keys(project_keys.as_deref().unwrap_or("")) {
            if !ssh_keys.contains(&k) {
                ssh_keys.push(k);
            }
        }
    }
    let instance_id = String::from_utf8_lossy(&resp.body).trim().to_owned();
    Ok(Probed::found(Fetched::from_service(
        ctx.name,
        &ud_url,
        user_data,
        Some(instance_id),
        hostname,
        ssh_keys,
    )))
}

/// `user:ssh-rsa AAAA... comment` lines to the keys (the user names are GCE's, not ours).
pub fn parse_ssh_keys(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (user, key) = l.split_once(':')?;
            (!user.contains(char::is_whitespace) && !key.trim().is_empty())
                .then(|| key.trim().to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ssh_key_lines() {
        assert_eq!(
            super::parse_ssh_keys(
                "alice:ssh-ed25519 AAAA alice@x\n\nbad line\nbob:ssh-rsa BBBB google-ssh {\"userName\":\"bob\"}\n"
            ),
            vec![
                "ssh-ed25519 AAAA alice@x",
                "ssh-rsa BBBB google-ssh {\"userName\":\"bob\"}"
            ]
        );
    }
}
