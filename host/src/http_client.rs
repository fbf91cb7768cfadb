//! The one definition of how ros builds an HTTP client: TLS through rustls only, reqwest's
//! redirect limit stated, proxies from the environment unless a caller says never, and an
//! optional `ros-<component>/<version>` user agent. Each caller keeps its own time bounds.

use std::time::Duration;

/// Redirects followed before giving up (reqwest's own default, stated so it cannot drift).
pub const MAX_REDIRECTS: usize = 10;

/// Whether requests may go through the proxies named in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxies {
    /// Link-local services (metadata servers) are never reached through a proxy.
    Never,
    FromEnvironment,
}

/// Which redirects a client follows (at most `MAX_REDIRECTS` either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// To any URL.
    Any,
    /// Only to the same scheme, host and port: requests that carry a credential in a header of
    /// their own (the IMDSv2 token) must not take it elsewhere; reqwest strips only standard
    /// authorization headers on a cross-host redirect.
    SameOrigin,
}

/// What differs between callers; everything else is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Sent as `ros-<component>/<version>`; `None` sends no User-Agent header.
    pub component: Option<&'static str>,
    /// Bound on establishing the connection; `None` leaves it to the total timeout.
    pub connect_timeout: Option<Duration>,
    /// Bound on a whole request, body included; `None` means unbounded.
    pub timeout: Option<Duration>,
    pub proxies: Proxies,
    pub redirects: Redirects,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            component: None,
            connect_timeout: None,
            timeout: None,
            proxies: Proxies::FromEnvironment,
            redirects: Redirects::Any,
        }
    }
}

impl Settings {
    /// The redirect policy reqwest is given.
    fn redirect_policy(&self) -> reqwest::redirect::Policy {
        match self.redirects {
            Redirects::Any => reqwest::redirect::Policy::limited(MAX_REDIRECTS),
            Redirects::SameOrigin => reqwest::redirect::Policy::custom(|attempt| {
                let origin = |u: &reqwest::Url| u.origin();
                let from = attempt.previous().last().map(origin);
                if attempt.previous().len() > MAX_REDIRECTS {
                    attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
                } else if from.is_some_and(|f| f != origin(attempt.url())) {
                    let to = attempt.url().to_string();
                    attempt.error(format!("redirect to another host refused: {to}"))
                } else {
                    attempt.follow()
                }
            }),
        }
    }

    /// The User-Agent header value, if any.
    pub fn user_agent(&self) -> Option<String> {
        self.component
            .map(|c| format!("ros-{c}/{}", env!("CARGO_PKG_VERSION")))
    }
}

// The blocking and async builders have the same methods but no common trait.
macro_rules! shared {
    ($builder:expr, $s:expr) => {{
        let s: &Settings = $s;
        let mut b = $builder.use_rustls_tls().redirect(s.redirect_policy());
        if let Some(agent) = s.user_agent() {
            b = b.user_agent(agent);
        }
        if let Some(t) = s.connect_timeout {
            b = b.connect_timeout(t);
        }
        if s.proxies == Proxies::Never {
            b = b.no_proxy();
        }
        b
    }};
}

/// A blocking client. Without a total timeout it has none (reqwest's blocking default is 30 s).
pub fn blocking(s: &Settings) -> Result<reqwest::blocking::Client, reqwest::Error> {
    shared!(reqwest::blocking::Client::builder(), s)
        .timeout(s.timeout)
        .build()
}

/// An async client for a caller that already runs tokio.
pub fn asynchronous(s: &Settings) -> Result<reqwest::Client, reqwest::Error> {
    let mut b = shared!(reqwest::Client::builder(), s);
    if let Some(t) = s.timeout {
        b = b.timeout(t);
    }
    b.build()
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("downloading {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("downloading {url}: {source}")]
    Read { url: String, source: std::io::Error },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("downloading {url}: larger than the limit of {limit} bytes; stopped and removed")]
    TooLarge { url: String, limit: u64 },
    #[error("downloading {url}: not finished after {} s; stopped and removed", limit.as_secs())]
    TimedOut { url: String, limit: Duration },
}

/// Bounds of one download, beyond the client's connect and per-read timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes the body may have; a bigger one (by Content-Length or as it arrives) is refused.
    pub max_bytes: u64,
    /// Time from the request to the last byte; checked between reads, so a read that stalls
    /// is bounded by `Settings::timeout` on top of this.
    pub total: Duration,
}

/// Fetches `url` into the file `out` (created, or truncated) and syncs it; returns its size.
/// On any error after `out` was created, it is removed: no partial file is left behind.
pub fn download(
    s: &Settings,
    url: &str,
    out: &std::path::Path,
    bounds: Bounds,
) -> Result<u64, DownloadError> {
    let start = std::time::Instant::now();
    let http = |source| DownloadError::Http {
        url: url.to_owned(),
        source,
    };
    let too_large = || DownloadError::TooLarge {
        url: url.to_owned(),
        limit: bounds.max_bytes,
    };
    let resp = blocking(s)
        .and_then(|c| c.get(url).send())
        .and_then(|r| r.error_for_status())
        .map_err(http)?;
    // Refused before a byte is written when the server says how much it will send.
    if resp.content_length().is_some_and(|n| n > bounds.max_bytes) {
        return Err(too_large());
    }
    let result = copy_bounded(resp, url, out, bounds, start);
    if result.is_err() {
        let _ = std::fs::remove_file(out);
    }
    result
}

fn copy_bounded(
    mut body: impl std::io::Read,
    url: &str,
    out: &std::path::Path,
    bounds: Bounds,
    start: std::time::Instant,
) -> Result<u64, DownloadError> {
    use std::io::Write;
    let write = |source| DownloadError::Write {
        path: out.to_path_buf(),
        source,
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let mut f = std::fs::File::create(out).map_err(write)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        if start.elapsed() > bounds.total {
            return Err(DownloadError::TimedOut {
                url: url.to_owned(),
                limit: bounds.total,
            });
        }
        let n = body.read(&mut buf).map_err(|source| DownloadError::Read {
            url: url.to_owned(),
            source,
        })?;
        if n == 0 {
            break;
        }
        total = total.saturating_add(n as u64);
        if total > bounds.max_bytes {
            return Err(DownloadError::TooLarge {
                url: url.to_owned(),
                limit: bounds.max_bytes,
            });
        }
        f.write_all(buf.get(..n).unwrap_or_default())
            .map_err(write)?;
    }
    f.sync_all().map_err(write)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_names_the_component_and_version() {
        let s = Settings {
            component: Some("cloud-init"),
            ..Settings::default()
        };
        assert_eq!(
            s.user_agent().as_deref(),
            Some(concat!("ros-cloud-init/", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(Settings::default().user_agent(), None);
    }

    #[test]
    fn both_kinds_build() {
        let s = Settings {
            component: Some("test"),
            connect_timeout: Some(Duration::from_secs(1)),
            timeout: Some(Duration::from_secs(2)),
            proxies: Proxies::Never,
            redirects: Redirects::SameOrigin,
        };
        assert!(blocking(&s).is_ok());
        assert!(blocking(&Settings::default()).is_ok());
        assert!(asynchronous(&s).is_ok());
    }

    fn bounds(max_bytes: u64) -> Bounds {
        Bounds {
            max_bytes,
            total: Duration::from_secs(60),
        }
    }

    #[test]
    fn download_refuses_a_body_over_the_size_bound_and_leaves_no_file() {
        use test_support::http_server::{HttpServer, Reply};
        let server = HttpServer::start(|r| match r.path.as_str() {
            "/big" => Reply::ok(vec![1u8; 200_000]),
            _ => Reply::not_found(),
        });
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("download.bundle");
        let s = Settings {
            proxies: Proxies::Never,
            ..Settings::default()
        };
        let url = format!("{}/big", server.url());
        // By Content-Length: refused before the file exists.
        let e = download(&s, &url, &out, bounds(199_999)).unwrap_err();
        assert!(
            matches!(e, DownloadError::TooLarge { limit: 199_999, .. }),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "downloading {url}: larger than the limit of 199999 bytes; stopped and removed"
            )
        );
        assert!(!out.exists());
        // Exactly at the bound is fine.
        assert_eq!(download(&s, &url, &out, bounds(200_000)).unwrap(), 200_000);
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 200_000);
    }

    #[test]
    fn a_body_longer_than_the_bound_or_too_slow_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("d");
        let body: &[u8] = &[3u8; 10_000];
        let start = std::time::Instant::now();
        // A server that sends more than its Content-Length said (or none): the count decides.
        let e = copy_bounded(body, "u", &out, bounds(9_999), start).unwrap_err();
        assert!(matches!(e, DownloadError::TooLarge { .. }), "{e}");
        let expired = Bounds {
            max_bytes: 1 << 20,
            total: Duration::ZERO,
        };
        std::thread::sleep(Duration::from_millis(5));
        let e = copy_bounded(body, "u", &out, expired, start).unwrap_err();
        assert_eq!(
            e.to_string(),
            "downloading u: not finished after 0 s; stopped and removed"
        );
    }

    #[test]
    fn a_server_that_never_answers_is_given_up_and_leaves_no_file() {
        let hole = test_support::http_server::Blackhole::start();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("d");
        let s = Settings {
            connect_timeout: Some(Duration::from_secs(1)),
            timeout: Some(Duration::from_secs(1)),
            proxies: Proxies::Never,
            ..Settings::default()
        };
        let e = download(&s, &hole.url(), &out, bounds(100)).unwrap_err();
        assert!(matches!(e, DownloadError::Http { .. }), "{e}");
        assert!(!out.exists());
    }

    #[test]
    fn same_origin_redirects_never_carry_the_header_to_another_host() {
        use test_support::http_server::{HttpServer, Reply};
        let other = HttpServer::start(|_| Reply::ok("elsewhere"));
        let to_other = format!("{}/stolen", other.url());
        let server = HttpServer::start(move |r| match r.path.as_str() {
            "/away" => Reply::status(302, "").with_header("Location", &to_other),
            "/here" => Reply::status(302, "").with_header("Location", "/data"),
            "/data" => Reply::ok("data"),
            _ => Reply::not_found(),
        });
        let get = |redirects, path: &str| {
            let s = Settings {
                proxies: Proxies::Never,
                redirects,
                ..Settings::default()
            };
            blocking(&s)
                .unwrap()
                .get(format!("{}{path}", server.url()))
                .header("X-aws-ec2-metadata-token", "secret")
                .send()
        };

        let e = get(Redirects::SameOrigin, "/away").unwrap_err();
        assert!(e.is_redirect(), "{e:?}");
        assert!(other.requests().is_empty());
        // A redirect on the same host is still followed, header and all.
        let r = get(Redirects::SameOrigin, "/here").unwrap();
        assert_eq!(r.text().unwrap(), "data");
        let seen = server.requests();
        let data = seen.iter().find(|r| r.path == "/data").unwrap();
        assert_eq!(data.header("X-aws-ec2-metadata-token"), Some("secret"));

        // What the policy prevents: reqwest carries a custom header to the other host.
        let r = get(Redirects::Any, "/away").unwrap();
        assert_eq!(r.text().unwrap(), "elsewhere");
        let stolen = other.requests();
        assert_eq!(stolen.len(), 1);
        assert_eq!(stolen[0].header("X-aws-ec2-metadata-token"), Some("secret"));
    }

    #[test]
    fn download_writes_the_body_and_refuses_an_error_status() {
        use test_support::http_server::{HttpServer, Reply};
        let server = HttpServer::start(|r| match r.path.as_str() {
            "/bundle" => Reply::ok(vec![7u8; 100_000]),
            _ => Reply::not_found(),
        });
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sub/download.bundle");
        let s = Settings {
            proxies: Proxies::Never,
            ..Settings::default()
        };
        let n = download(
            &s,
            &format!("{}/bundle", server.url()),
            &out,
            bounds(1 << 20),
        )
        .unwrap();
        assert_eq!(n, 100_000);
        assert_eq!(std::fs::read(&out).unwrap(), vec![7u8; 100_000]);
        let e = download(
            &s,
            &format!("{}/missing", server.url()),
            &out,
            bounds(1 << 20),
        )
        .unwrap_err();
        assert!(matches!(e, DownloadError::Http { .. }), "{e}");
        assert!(e.to_string().contains("/missing"), "{e}");
    }
}
