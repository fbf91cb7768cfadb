//! Probing the configured datasources (`rancher.cloud_init.datasources`) and saving what the
//! first one in line returned as configuration layers (`datasources` crate). With nothing
//! found, what an earlier boot saved stays in effect.

use crate::{Datasource, ProbeOptions, ProbeReport};
use std::path::Path;
use std::time::{Duration, Instant};

/// netconf writes this after its first apply, DHCP wait included (`netconf::apply::APPLIED_MARKER`).
const NETCONF_APPLIED: &str = "/run/ros/netconf/applied";
/// Beyond `dhcp_timeout`: netconf's own start and the static configuration.
const NETCONF_SLACK: Duration = Duration::from_secs(15);

/// Probes, logs one line per datasource, and saves the winner's data under `root`. `before` is
/// the configuration as it stood before this save (the caller loaded it once).
pub fn read_and_save(root: &Path, before: &os_config::model::CloudConfig) {
    let names = &before.rancher.cloud_init.datasources;
    if needs_network(names) {
        let dhcp = before.rancher.network.dhcp_timeout.unwrap_or(10);
        wait_for_network(Duration::from_secs(dhcp).saturating_add(NETCONF_SLACK));
    }
    let report = crate::probe_all(names, &ProbeOptions::default());
    log_report(&report);
    let Some(fetched) = report.fetched() else {
        tracing::info!(datasources = ?names, elapsed_ms = report.elapsed.as_millis() as u64,
            "cloud-init: no datasource answered; keeping what was saved before");
        return;
    };
    // save_fetched logs each diagnostic and file once.
    crate::save_fetched(root, fetched);
}

/// True when a configured datasource asks a server (or the cmdline names a URL).
fn needs_network(names: &[String]) -> bool {
    crate::source::expand(names)
        .iter()
        .any(|(_, ds)| matches!(ds, Ok(d) if !d.is_local() || matches!(d, Datasource::Cmdline)))
}

/// The network service starts just before cloud-init and may still be waiting for DHCP;
/// probing now would find the network unreachable. Bounded: without a network, boot goes on.
fn wait_for_network(limit: Duration) {
    let start = Instant::now();
    while !Path::new(NETCONF_APPLIED).exists() {
        if start.elapsed() >= limit {
            tracing::warn!(
                waited_s = limit.as_secs(),
                "cloud-init: the network service has not finished its first apply; probing anyway"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    tracing::info!(
        waited_ms = start.elapsed().as_millis() as u64,
        "cloud-init: network configured"
    );
}

fn log_report(report: &ProbeReport) {
    for s in &report.sources {
        match &s.outcome {
            crate::Outcome::Failed(_) | crate::Outcome::TimedOut => {
                tracing::warn!("cloud-init: {s}")
            }
            _ => tracing::info!("cloud-init: {s}"),
        }
    }
    tracing::info!(
        elapsed_ms = report.elapsed.as_millis() as u64,
        chosen = report
            .fetched()
            .map(|f| f.source.as_str())
            .unwrap_or("none"),
        "cloud-init: datasources probed"
    );
}
