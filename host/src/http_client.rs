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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            component: None,
            connect_timeout: None,
            timeout: None,
            proxies: Proxies::FromEnvironment,
        }
    }
}

impl Settings {
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
        let mut b = $builder
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS));
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
        };
        assert!(blocking(&s).is_ok());
        assert!(blocking(&Settings::default()).is_ok());
        assert!(asynchronous(&s).is_ok());
    }
}
