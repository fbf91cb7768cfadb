//! User-data at a URL: `url:URL`, and `cmdline`, which takes the URL from the kernel argument
//! `cloud-config-url=URL`. http and https (rustls, the webpki roots); proxies from the
//! environment apply. A 404 or nothing listening means not present.

use crate::error::ProbeError;
use crate::fetched::Fetched;
use crate::http::{Http, Peer};
use crate::probe::{absent_or, Ctx, Probed};
use os_config::metadata::Metadata;

/// The kernel argument `cmdline` reads.
pub const CMDLINE_KEY: &str = "cloud-config-url";

pub(crate) fn probe_url(ctx: &Ctx, url: &str) -> Result<Probed, ProbeError> {
    let http = Http::new(ctx, Peer::Url)?;
    match http.get(url, &[]) {
        Ok(Some(body)) => Ok(Probed::found(Fetched::new(
            ctx.name,
            url,
            Some(body),
            Metadata::default(),
            Vec::new(),
        ))),
        Ok(None) => Ok(Probed::NotPresent(format!("{url}: HTTP 404"))),
        Err(e) => absent_or(e),
    }
}

pub(crate) fn probe_cmdline(ctx: &Ctx) -> Result<Probed, ProbeError> {
    let text = match &ctx.opts.cmdline {
        Some(t) => t.clone(),
        None => std::fs::read_to_string("/proc/cmdline").map_err(|source| ProbeError::Io {
            path: "/proc/cmdline".into(),
            source,
        })?,
    };
    match cloud_config_url(&text) {
        Some(url) => probe_url(ctx, &url),
        None => Ok(Probed::NotPresent(format!(
            "no {CMDLINE_KEY}= on the kernel command line"
        ))),
    }
}

/// The value of the last `cloud-config-url=` argument (before any `--`), unquoted.
pub fn cloud_config_url(cmdline: &str) -> Option<String> {
    os_config::cmdline::tokenize(cmdline)
        .into_iter()
        .take_while(|t| t != "--")
        .filter_map(|t| {
            let v = t.strip_prefix(CMDLINE_KEY)?.strip_prefix('=')?;
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            (!v.is_empty()).then(|| v.to_owned())
        })
        .last()
}

#[cfg(test)]
mod tests {
    use super::cloud_config_url;

    #[test]
    fn finds_the_url_argument() {
        assert_eq!(
            cloud_config_url("console=ttyS0 cloud-config-url=http://10.0.2.2:8000/cc.yml quiet"),
            Some("http://10.0.2.2:8000/cc.yml".into())
        );
        assert_eq!(
            cloud_config_url("cloud-config-url=\"https://h/a b\" rancher.debug=true"),
            Some("https://h/a b".into())
        );
        assert_eq!(
            cloud_config_url("cloud-config-urls=x cloud-config-url="),
            None
        );
        assert_eq!(cloud_config_url("a -- cloud-config-url=http://x/"), None);
    }
}
