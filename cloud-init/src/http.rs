//! HTTP for the datasources: one blocking client per probe (built by `host::http_client`),
//! with a connect timeout and a deadline that bounds every request the probe makes, bodies
//! included, and a size limit.

use crate::error::ProbeError;
use crate::probe::Ctx;
use host::http_client::{self, Proxies, Redirects, Settings};
use reqwest::blocking::Client;
use reqwest::Method;
use std::io::Read;
use std::time::{Duration, Instant};

pub(crate) struct Http {
    client: Client,
    deadline: Instant,
    budget: Duration,
    max_bytes: u64,
}

/// Who a probe asks, which decides its proxies and redirects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// A link-local metadata service: never through a proxy, and redirects only to the same
    /// host, so the IMDSv2 token in a header cannot be sent elsewhere.
    MetadataService,
    /// A `url:` or `cloud-config-url`: the environment's proxies, any redirect.
    Url,
}

#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Http {
    pub fn new(ctx: &Ctx, peer: Peer) -> Result<Http, ProbeError> {
        let opts = ctx.opts;
        let (proxies, redirects) = match peer {
            Peer::MetadataService => (Proxies::Never, Redirects::SameOrigin),
            Peer::Url => (Proxies::FromEnvironment, Redirects::Any),
        };
        let client = http_client::blocking(&Settings {
            component: Some("cloud-init"),
            connect_timeout: Some(opts.connect_timeout),
            timeout: Some(ctx.budget),
            proxies,
            redirects,
        })
        .map_err(|e| ProbeError::Spawn(format!("HTTP client: {}", chain(&e))))?;
        Ok(Http {
            client,
            deadline: ctx.deadline,
            budget: ctx.budget,
            max_bytes: opts.max_bytes,
        })
    }

    /// The probe's whole time budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// One request, whatever its status; errors only for transport failures and limits.
    pub fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ProbeError> {
        self.request_within(method, url, headers, self.budget)
    }

    /// `request`, given at most `cap` of what is left of the probe's time.
    pub fn request_within(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        cap: Duration,
    ) -> Result<Response, ProbeError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let limit = remaining.min(cap);
        let after = if limit < remaining {
            limit
        } else {
            self.budget
        };
        let timeout = || ProbeError::Timeout {
            url: url.to_owned(),
            after,
        };
        if limit.is_zero() {
            return Err(timeout());
        }
        let mut req = self.client.request(method.clone(), url).timeout(limit);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        tracing::debug!(%method, url, "datasource request");
        let resp = req.send().map_err(|e| classify(url, &e, timeout()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        resp.take(self.max_bytes + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut || Instant::now() >= self.deadline {
                    timeout()
                } else {
                    ProbeError::Transport {
                        url: url.to_owned(),
                        message: format!("reading the body: {}", chain(&e)),
                    }
                }
            })?;
        if body.len() as u64 > self.max_bytes {
            return Err(ProbeError::TooLarge {
                url: url.to_owned(),
                limit: self.max_bytes,
            });
        }
        tracing::debug!(url, status, bytes = body.len(), "datasource response");
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// GET: the body on 2xx, `None` on 404, an error otherwise.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Option<Vec<u8>>, ProbeError> {
        let resp = self.request(Method::GET, url, headers)?;
        match resp.status {
            200..=299 => Ok(Some(resp.body)),
            404 => Ok(None),
            status => Err(ProbeError::Status {
                url: url.to_owned(),
                status,
            }),
        }
    }

    /// `get` as UTF-8 text (trimmed).
    pub fn get_text(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Option<String>, ProbeError> {
        match self.get(url, headers)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(|s| Some(s.trim().to_owned()))
                .map_err(|_| ProbeError::BadResponse {
                    url: url.to_owned(),
                    message: "the response is not UTF-8 text".into(),
                }),
        }
    }
}

fn classify(url: &str, e: &reqwest::Error, timeout: ProbeError) -> ProbeError {
    // reqwest counts DNS and TLS failures as connect errors too; only "nothing there"
    // (refused, unreachable, no answer to the SYN) means the datasource is absent.
    if e.is_connect() && (e.is_timeout() || nothing_there(e)) {
        ProbeError::Connect {
            url: url.to_owned(),
            message: chain(e),
        }
    } else if e.is_timeout() {
        timeout
    } else {
        ProbeError::Transport {
            url: url.to_owned(),
            message: chain(e),
        }
    }
}

fn nothing_there(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::*;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ConnectionRefused
                    | HostUnreachable
                    | NetworkUnreachable
                    | TimedOut
                    | AddrNotAvailable
            ) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// An error's causes, innermost last, without reqwest's own "error sending request for url".
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}
