//! An EC2-style instance metadata service on loopback, for a guest to reach through QEMU's
//! `guestfwd`. It speaks IMDSv2: `PUT /latest/api/token` hands out a token, and every GET must
//! carry it. Each request is recorded so a test can check what the guest asked. The HTTP side
//! is test-support's server (one request per connection, as QEMU's guestfwd `nc` wants).

use std::collections::BTreeMap;

use qemu_harness::Error;
use test_support::http_server::{HttpServer, Reply};

const TOKEN: &str = "ros-e2e-imds-token";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
}

/// Serves `routes` (path → body) until dropped.
pub struct MetadataServer {
    server: HttpServer,
}

impl MetadataServer {
    pub fn start(routes: BTreeMap<String, String>) -> Result<MetadataServer, Error> {
        let server = HttpServer::start(move |req| {
            if req.method == "PUT" && req.path == "/latest/api/token" {
                Reply::ok(TOKEN)
            } else if req.header(TOKEN_HEADER) != Some(TOKEN) {
                Reply::status(401, "")
            } else {
                match routes.get(&req.path) {
                    Some(body) => Reply::ok(body.clone()),
                    None => Reply::status(404, ""),
                }
            }
            .with_header("Content-Type", "text/plain")
        });
        Ok(MetadataServer { server })
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.server
            .requests()
            .into_iter()
            .map(|r| Request {
                token: r.header(TOKEN_HEADER).map(str::to_owned),
                method: r.method,
                path: r.path,
            })
            .collect()
    }
}
