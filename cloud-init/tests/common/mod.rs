//! What the datasource tests share: the loopback servers (from test-support) and probe
//! options with short timeouts.

#![allow(dead_code, unused_imports)]

use std::time::Duration;
pub use test_support::http_server::{closed_port_url, Blackhole, HttpServer, Reply, Request};

/// Options pointing every metadata service at `url`, with short timeouts for tests.
pub fn options(url: &str) -> cloud_init::ProbeOptions {
    cloud_init::ProbeOptions {
        connect_timeout: Duration::from_secs(2),
        probe_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(10),
        cmdline: Some(String::new()),
        ..cloud_init::ProbeOptions::default()
    }
    .with_metadata_url(url)
}

pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
