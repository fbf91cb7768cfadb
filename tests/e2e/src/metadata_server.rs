//! An EC2-style instance metadata service on loopback, for a guest to reach through QEMU's
//! `guestfwd`. It speaks IMDSv2: `PUT /latest/api/token` hands out a token, and every GET must
//! carry it. Each request is recorded so a test can check what the guest asked.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qemu_harness::Error;

const TOKEN: &str = "ros-e2e-imds-token";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
}

/// Serves `routes` (path → body) until dropped.
pub struct MetadataServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl MetadataServer {
    pub fn start(routes: BTreeMap<String, String>) -> Result<MetadataServer, Error> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::Io {
            what: "binding the metadata server".into(),
            source: e,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Io {
                what: "metadata server address".into(),
                source: e,
            })?
            .port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let routes = Arc::new(routes);
        // Detached: the thread dies with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = Arc::clone(&routes);
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve(stream, &routes, &seen));
            }
        });
        Ok(MetadataServer { port, requests })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve(stream: TcpStream, routes: &BTreeMap<String, String>, seen: &Mutex<Vec<Request>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut out = stream;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = match (parts.next(), parts.next()) {
        (Some(m), Some(p)) => (m.to_owned(), p.to_owned()),
        _ => return,
    };
    let mut token = None;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "x-aws-ec2-metadata-token" => token = Some(value.to_owned()),
                "content-length" => length = value.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if let Ok(mut s) = seen.lock() {
        s.push(Request {
            method: method.clone(),
            path: path.clone(),
            token: token.clone(),
        });
    }
    let (status, reply) = if method == "PUT" && path == "/latest/api/token" {
        ("200 OK", TOKEN.to_owned())
    } else if token.as_deref() != Some(TOKEN) {
        ("401 Unauthorized", String::new())
    } else {
        match routes.get(&path) {
            Some(b) => ("200 OK", b.clone()),
            None => ("404 Not Found", String::new()),
        }
    };
    // One request per connection: QEMU's guestfwd runs one `nc` per guest connection, and
    // a closed connection is the one behaviour every client handles the same way.
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(reply.as_bytes());
    let _ = out.flush();
}
