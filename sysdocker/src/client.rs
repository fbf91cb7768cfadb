//! Connecting to a dockerd over its unix socket, with a bounded wait for its API to answer.

use std::time::{Duration, Instant};

use bollard::Docker;

use crate::error::{Error, Result};

/// Per-request ceiling inside bollard; our own waits are shorter and explicit.
const REQUEST_TIMEOUT_SECS: u64 = 3600;

/// A connected daemon: the bollard client and the address it came from (for messages).
#[derive(Debug, Clone)]
pub struct DaemonClient {
    pub docker: Docker,
    pub host: String,
}

impl DaemonClient {
    pub(crate) fn err(&self, source: bollard::errors::Error) -> Error {
        Error::Docker {
            socket: self.host.clone(),
            source,
        }
    }
}

/// Connects to `host` (`unix:///path` or a bare path), waiting up to `timeout` for the API to
/// answer, then negotiates the API version (dockerd 20.10 speaks 1.41, bollard defaults higher).
pub async fn connect(host: &str, timeout: Duration) -> Result<DaemonClient> {
    let path = host.strip_prefix("unix://").unwrap_or(host).to_string();
    let deadline = host::deadline::after(timeout);
    let mut last_error;
    loop {
        match try_connect(&path).await {
            Ok(docker) => {
                return Ok(DaemonClient {
                    docker,
                    host: format!("unix://{path}"),
                })
            }
            Err(e) => last_error = e,
        }
        if Instant::now() >= deadline {
            tracing::debug!(socket = %path, error = %last_error, "daemon not answering");
            return Err(Error::DaemonTimeout {
                socket: path,
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn try_connect(path: &str) -> std::result::Result<Docker, bollard::errors::Error> {
    let docker =
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)?;
    let docker = tokio::time::timeout(Duration::from_secs(5), docker.negotiate_version())
        .await
        .map_err(|_| bollard::errors::Error::RequestTimeoutError)??;
    Ok(docker)
}

/// The daemon's engine version, as `docker version` shows it under Server.
pub async fn engine_version(client: &DaemonClient) -> Result<String> {
    let version = client.docker.version().await.map_err(|e| client.err(e))?;
    Ok(version.version.unwrap_or_else(|| "unknown".into()))
}

/// True when the daemon at `client` answers a ping within two seconds.
pub async fn answers(client: &DaemonClient) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), client.docker.ping()).await,
        Ok(Ok(_))
    )
}
