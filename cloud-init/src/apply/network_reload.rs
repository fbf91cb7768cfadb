//! The network service started before cloud-init saved the user-data, so a `rancher.network`
//! that changed with it must reach netconf now: SIGHUP makes it re-read and apply the
//! difference (docs/networking.md), through System Docker so the service is addressed by name.

use os_config::model::NetworkConfig;
use std::time::Duration;
use sysdocker::daemon::DaemonSpec;
use sysdocker::scope::Scope;

const SERVICE: &str = "network";

/// Signals the network service when `before` and `after` differ; failures are logged.
pub fn notify_if_changed(before: &NetworkConfig, after: &NetworkConfig) {
    if before == after {
        return;
    }
    let host = DaemonSpec::defaults(Scope::System).host();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let client = sysdocker::client::connect(&host, Duration::from_secs(10))
                    .await
                    .map_err(|e| e.to_string())?;
                let opts = bollard::query_parameters::KillContainerOptionsBuilder::default()
                    .signal("SIGHUP")
                    .build();
                client
                    .docker
                    .kill_container(SERVICE, Some(opts))
                    .await
                    .map_err(|e| e.to_string())
            })
        });
    match result {
        Ok(()) => tracing::info!(
            service = SERVICE,
            "rancher.network changed with the user-data; network service told to re-apply"
        ),
        Err(e) => {
            tracing::warn!(service = SERVICE, error = %e, "rancher.network changed, but the network service could not be told; it applies at its next start")
        }
    }
}
